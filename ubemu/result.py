"""The result of one timed (and optionally verified) collective, and nccl-tests' bandwidths."""

from dataclasses import asdict, dataclass, field

from .collectives import get


@dataclass
class ClassUsage:
    """How busy one link class was over the whole collective.

    ``busy_s`` is the time its most loaded link spent sending; ``utilisation`` the class's
    bytes divided by (its capacity x links x total time), machine-wide; ``links`` counts the
    class's links, ``links_used`` those that carried bytes (the group's), and
    ``group_utilisation`` divides by those alone: a group running its links flat out is at
    1.0 there however small a part of the machine it is.
    """

    name: str
    level: int
    bytes: float
    busy_s: float
    utilisation: float
    links: int = 0
    links_used: int = 0
    group_utilisation: float = 0.0


@dataclass
class Result:
    """One collective on one topology: modelled time, bandwidths, where the time went."""

    collective: str
    algorithm: str
    topology: str
    n_ranks: int
    nbytes: int
    count: int
    dtype: str
    op: str
    time_s: float
    n_steps: int
    usage: list = field(default_factory=list)  # list[ClassUsage]
    bottleneck: str = ""
    wrong: int | None = None
    max_rel_err: float | None = None
    mean_rel_err: float | None = None
    wall_s: float | None = None
    notes: dict = field(default_factory=dict)

    @property
    def algbw_GBps(self):
        """nccl-tests' algbw: bytes of the collective's size per second of modelled time
        (GB/s); for hypercube the ``n-1`` blocks a rank receives, as nccl-tests counts."""
        if self.time_s <= 0:
            return 0.0
        return self.nbytes * get(self.collective).algbw_factor(self.n_ranks) / self.time_s / 1e9

    @property
    def busbw_GBps(self):
        """algbw times nccl-tests' factor: comparable to one rank's link bandwidth."""
        return self.algbw_GBps * get(self.collective).busbw_factor(self.n_ranks)

    @property
    def choice(self):
        """What ran, in a few words: the algorithm (``+tree`` where a level runs the double
        binary tree), its channels and pipeline chunk where it has them, the protocol where
        the topology offers several (``ring ch=24 simple``)."""
        from .units import format_size

        notes = self.notes or {}
        tree = "double_binary_tree" in (notes.get("per_level") or ())
        words = [self.algorithm + ("+tree" if tree and self.algorithm != "double_binary_tree"
                                   else "")]
        if notes.get("channels"):
            words.append(f"ch={notes['channels']}")
        if notes.get("chunk_B"):
            words.append(f"chunk={format_size(notes['chunk_B'])}")
        if notes.get("protocol"):
            words.append(notes["protocol"])
        return " ".join(words)

    def to_dict(self):
        d = asdict(self)
        d["algbw_GBps"], d["busbw_GBps"] = self.algbw_GBps, self.busbw_GBps
        return d
