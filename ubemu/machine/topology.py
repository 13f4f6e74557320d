"""The topology model: ordered levels, mixed-radix coordinates, routing, aggregate figures.

Level ``i`` groups ``size_i`` units of level ``i-1``; level-0 units are NPUs. NPU ``r`` has
coordinates ``c_i = (r // stride_i) % size_i`` with ``stride_i = size_0 * ... * size_{i-1}``.
Links are implicit: their ids are computed from coordinates (:mod:`ubemu.machine.links`).
"""

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import UbemuError, choices_error
from ..kernels.codes import KIND_OF_FABRIC
from . import links
from .links import LinkClass  # noqa: F401  (part of the topology's interface)

FABRICS = tuple(KIND_OF_FABRIC)
MAX_NPUS = 1 << 24
#: Level names may use these characters only (they appear in the string form and reports).
NAME_RE = re.compile(r"[A-Za-z0-9_.+-]*")


def exact_text(x):
    """Shortest text that reads back as exactly ``x`` (``56``, ``61.111111111111114``)."""
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


@dataclass(frozen=True)
class Level:
    """One level of the hierarchy.

    Parameters
    ----------
    fabric : {'full_mesh', 'ring', 'switch'}
    size : int
        Units of the level below joined by this level.
    bw_GBps : float
        Bandwidth of one link, per direction, in 1e9 B/s.
    lat_ns : float
        Time a message needs to cross this level from NPU to NPU (per hop on a ring).
    links : int
        Parallel links bundled into one logical link (its capacity is ``bw_GBps * links``).
    trunk : bool
        Links join whole groups (shared by all NPUs of a unit) instead of single NPUs.
    planes : int
        Independent switch planes (switch only); multiplies the uplink capacity.
    oversub : float
        Switch oversubscription (>= 1): the core behind a leaf's ports carries ``1/oversub``
        of their sum, a pool the leaf's ports share (:mod:`ubemu.machine.links`).
    name : str
        Human name (``board``, ``rack``, ...).
    access_GBps : float
        Trunk levels: bandwidth per direction of an NPU's access port into the group's
        switches, through which it reaches the trunk run's cables (0: as another level of the
        run gives, else the run's first level's link bandwidth). The levels of one run share
        one port, so the ones that give it must agree.
    access_lat_ns : float
        Trunk levels: latency of one crossing of that port (up or down).
    efficiency : float
        Fraction of this level's link bandwidth that point-to-point copies get (0: the
        topology's ``params.efficiency``).
    innet_efficiency : float
        A switch level whose switches reduce in the network (NVLink SHARP, InfiniBand SHARP)
        declares the fraction of its link bandwidth that in-switch reduction and multicast get
        (0: it does not reduce; :mod:`ubemu.algorithms.innet`).
    innet_lat_ns : float
        Latency of one in-switch reduction or multicast across the level (it replaces
        ``lat_ns`` for them; 0: ``lat_ns``).
    ll_bw_factor, ll128_bw_factor : float
        The level's own bandwidth factor of the low-latency protocols (0: the topology's,
        :mod:`ubemu.timing.protocols`).
    """

    fabric: str
    size: int
    bw_GBps: float
    lat_ns: float
    links: int = 1
    trunk: bool = False
    planes: int = 1
    oversub: float = 1.0
    name: str = ""
    access_GBps: float = 0.0
    access_lat_ns: float = 0.0
    efficiency: float = 0.0
    innet_efficiency: float = 0.0
    innet_lat_ns: float = 0.0
    ll_bw_factor: float = 0.0
    ll128_bw_factor: float = 0.0

    @property
    def reduces(self):
        """The level's switches reduce in the network."""
        return self.innet_efficiency > 0

    @property
    def link_GBps(self):
        """Capacity of one logical link of this level, per direction, GB/s."""
        return self.bw_GBps * self.links * (self.planes if self.fabric == "switch" else 1)

    @property
    def neighbours(self):
        """Directed links leaving one unit on this level (full mesh and ring)."""
        if self.fabric == "full_mesh":
            return self.size - 1
        if self.fabric == "ring":
            return min(self.size - 1, 2)
        return 1

    @property
    def spec(self):
        """The level in the string form with every field filled in (parses back to ``self``)."""
        bw, lat = exact_text(self.bw_GBps), exact_text(self.lat_ns)
        s = f"{self.fabric}:{self.size}@{bw}GBps/{lat}ns"
        for key, default in (("links", 1), ("planes", 1), ("oversub", 1.0)):
            if getattr(self, key) != default:
                s += f":{key}={exact_text(getattr(self, key))}"
        s += ":trunk" if self.trunk else ""
        if self.access_GBps:
            s += f":access={exact_text(self.access_GBps)}GBps"
        if self.access_lat_ns:
            s += f":access_lat={exact_text(self.access_lat_ns)}ns"
        for key in ("efficiency", "innet_efficiency", "innet_lat_ns", "ll_bw_factor",
                    "ll128_bw_factor"):
            if getattr(self, key):
                s += f":{key}={exact_text(getattr(self, key))}"
        return s + (f":name={self.name}" if self.name else "")

    def check(self, where):
        """Raise :class:`UbemuError` unless every field is in range."""
        if self.fabric not in FABRICS:
            raise choices_error("fabric", self.fabric, FABRICS, where)
        for key, lo in (("size", 1), ("links", 1), ("planes", 1)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise UbemuError(f"{where}: {key} must be an integer >= {lo}, got {v!r}")
        for key, lo, strict in (("bw_GBps", 0, True), ("lat_ns", 0, False),
                                ("oversub", 1, False), ("access_GBps", 0, False),
                                ("access_lat_ns", 0, False), ("efficiency", 0, False),
                                ("innet_efficiency", 0, False), ("innet_lat_ns", 0, False),
                                ("ll_bw_factor", 0, False), ("ll128_bw_factor", 0, False)):
            v = getattr(self, key)
            ok = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            if not ok or not math.isfinite(v) or (v <= lo if strict else v < lo):
                bound = f"> {lo}" if strict else f">= {lo}"
                raise UbemuError(f"{where}: {key} must be a finite number {bound}, got {v!r}")
        if not isinstance(self.trunk, (bool, np.bool_)):
            raise UbemuError(f"{where}: trunk must be true or false, got {self.trunk!r}")
        if not isinstance(self.name, str) or not NAME_RE.fullmatch(self.name):
            raise UbemuError(f"{where}: name must be letters, digits or _ . + -, "
                             f"got {self.name!r}")
        if self.fabric != "switch" and (self.planes != 1 or self.oversub != 1):
            raise UbemuError(f"{where}: planes and oversub apply to fabric 'switch' only")
        if not self.trunk and (self.access_GBps or self.access_lat_ns):
            raise UbemuError(f"{where}: access and access_lat apply to trunk levels only")
        for key in ("efficiency", "innet_efficiency", "ll_bw_factor", "ll128_bw_factor"):
            if getattr(self, key) > 1:
                raise UbemuError(f"{where}: {key} must be <= 1, got {getattr(self, key)!r}")
        if self.innet_efficiency and (self.fabric != "switch" or self.trunk):
            raise UbemuError(f"{where}: innet_efficiency applies to non-trunk switch levels "
                             f"only (the switches reduce)")
        if self.innet_lat_ns and not self.innet_efficiency:
            raise UbemuError(f"{where}: innet_lat_ns applies to a level with innet_efficiency")

    @property
    def max_hops(self):
        """Links crossed by the longest minimal route through this level."""
        if self.size == 1:
            return 0
        if self.fabric == "full_mesh":
            return 1
        if self.fabric == "ring":
            return self.size // 2
        return 4 if (self.oversub > 1 and not self.trunk) else 2


@dataclass(frozen=True)
class TopologyParams:
    """Topology-wide timing parameters (none of them set by the short string form).

    Parameters
    ----------
    overhead_ns : float
        Fixed software cost per algorithm step (the alpha of the NPU's runtime).
    send_overhead_ns, recv_overhead_ns : float
        Cost per message at the sender and at the receiver (LogGP's o): an NPU that sends k
        messages and receives m in a step is busy ``k send + m recv`` in it.
    fill_bytes, fill_GBps : float
        A message's first ``min(m, fill_bytes)`` bytes cross at ``fill_GBps`` before the rest
        streams: a pipeline's first chunk through one channel (0: none).
    hop_lat_ns : float
        Extra latency per link crossed (routers, forwarding NPUs).
    reduce_GBps : float
        Rate at which an NPU reduces incoming data (bytes of input per second); 0 = free.
    efficiency : float
        Fraction of link bandwidth left after protocol overhead (0 < efficiency <= 1); a
        level's own ``efficiency`` replaces it there.
    launch_ns : float
        Cost of launching one collective (kernel launch, setup), paid once per collective.
    ll_sw_factor, ll_bw_factor, ll128_sw_factor, ll128_bw_factor : float
        The low-latency protocols (NCCL's LL and LL128; :mod:`ubemu.timing.protocols`): a
        step's software costs (``overhead_ns`` and the per-message overheads) times the
        ``sw`` factor, its link bandwidth times the ``bw`` factor. 0: the protocol is not
        offered (only ``simple``, the costs as given).
    channels : float
        Most channels the library runs an algorithm on (an integer >= 1): the default of the
        algorithms' ``channels`` option (:mod:`ubemu.algorithms.channels`).
    channel_bytes : float
        Fewest bytes per channel before the default uses fewer channels (NCCL's rule).
    chunk_bytes : float
        Pipeline chunk of the algorithms that pipeline (their ``chunk`` option's default;
        0: not pipelined).
    slices : float
        Slices each step's data moves in (>= 1; NCCL: 2): a step's latency and software
        costs then overlap the previous step's last slices (:mod:`ubemu.timing.timer`).
    """

    overhead_ns: float = 0.0
    send_overhead_ns: float = 0.0
    recv_overhead_ns: float = 0.0
    fill_bytes: float = 0.0
    fill_GBps: float = 0.0
    hop_lat_ns: float = 0.0
    reduce_GBps: float = 0.0
    efficiency: float = 1.0
    launch_ns: float = 0.0
    ll_sw_factor: float = 0.0
    ll_bw_factor: float = 0.0
    ll128_sw_factor: float = 0.0
    ll128_bw_factor: float = 0.0
    channels: float = 1.0
    channel_bytes: float = 0.0
    chunk_bytes: float = 0.0
    slices: float = 1.0


@dataclass(frozen=True)
class Spare:
    """One hot-spare NPU per unit of a level (UB-Mesh's 64+1 rack), behind the unit's
    low-radix switches (LRS).

    Parameters
    ----------
    level : str
        The level whose units each hold one spare (``rack``).
    bw_GBps : float
        Bandwidth per direction of the spare's port into the LRS (and of each NPU's port into
        them, where the topology does not model those as a trunk run's access ports).
    lat_ns : float
        Latency of one crossing of the LRS between the spare and an NPU of its unit.
    """

    level: str
    bw_GBps: float
    lat_ns: float = 0.0
    level_index: int = -1


@dataclass(frozen=True, eq=False)
class Topology:
    """A hierarchical network of NPUs; see the module docstring for the link-id scheme.

    ``spare`` (a :class:`Spare`) gives every unit of a level a hot spare; ``faults`` (a
    :class:`ubemu.machine.faults.FaultSet`, set by :func:`ubemu.machine.faults.with_faults`) marks
    what failed and adds the spares' links once one serves; ``npu`` (a
    :class:`ubemu.machine.npu.NPU`, the ``[npu]`` table) is what one NPU computes and holds.
    ``library`` names the collective library that runs on the machine (``auto`` chooses
    among its algorithms, :mod:`ubemu.algorithms.libraries`; empty: every algorithm).
    """

    levels: tuple
    name: str = "custom"
    params: TopologyParams = field(default_factory=TopologyParams)
    description: str = ""
    source: str = ""
    notes: tuple = ()
    spare: Spare = None
    faults: object = None
    npu: object = None
    library: str = ""

    def __post_init__(self):
        if not isinstance(self.levels, tuple) or not self.levels:
            raise UbemuError(f"topology {self.name!r}: needs a non-empty tuple of levels")
        for i, lv in enumerate(self.levels):
            if not isinstance(lv, Level):
                raise UbemuError(f"topology {self.name!r}: level {i} is not a Level")
            lv.check(f"topology {self.name!r}: level {i}")
        n = int(np.prod([int(lv.size) for lv in self.levels], dtype=object))
        if n > MAX_NPUS:
            raise UbemuError(f"topology {self.name!r}: {n:,} NPUs is beyond the supported "
                             f"range 1..{MAX_NPUS:,}")
        runs = links.trunk_runs(self.levels)
        for first, last in runs:
            if links.run_access(self.levels, first, last) is None:
                raise UbemuError(f"topology {self.name!r}: the trunk levels {first}..{last} "
                                 f"share one access port; give them the same access and "
                                 f"access_lat")
        classes, table, lat = links.build(self.levels, n)
        if self.spare is not None:
            from .groups import level_index

            i = level_index(self, self.spare.level) if self.spare.level_index < 0 else \
                self.spare.level_index
            object.__setattr__(self, "spare", replace(self.spare, level_index=i))
        if self.faults is not None:
            classes += self.faults.extra_classes
        object.__setattr__(self, "n_npus", n)
        object.__setattr__(self, "n_links", classes[-1].first_id + classes[-1].count)
        object.__setattr__(self, "link_classes", classes)
        object.__setattr__(self, "level_table", table)
        object.__setattr__(self, "lat_ns", lat)
        object.__setattr__(self, "trunk_runs", tuple(runs))

    # -- coordinates -------------------------------------------------------------------------
    @property
    def sizes(self):
        """Units per level, innermost first."""
        return tuple(lv.size for lv in self.levels)

    @property
    def strides(self):
        """NPUs per unit of the level below each level (mixed-radix place values)."""
        return tuple(int(s) for s in self.level_table[:, 2])

    def coords(self, ranks):
        """Coordinates of NPUs, shape ``(len(ranks), n_levels)``, innermost first."""
        r = np.asarray(ranks, np.int64)
        return (r[..., None] // self.level_table[:, 2]) % self.level_table[:, 1]

    def ranks(self, coords):
        """NPU ranks from coordinates (inverse of :meth:`coords`)."""
        c = np.asarray(coords, np.int64)
        return c @ self.level_table[:, 2]

    def group(self, spec=None, **keys):
        """A process group on this topology (see :func:`ubemu.machine.groups.group_of`)."""
        from .groups import group_of

        return group_of(self, spec, **keys)

    @property
    def spare_group_npus(self):
        """NPUs of one spare's unit (0: no spares)."""
        if self.spare is None:
            return 0
        i = self.spare.level_index
        return int(self.level_table[i, 1] * self.level_table[i, 2])

    # -- links ---------------------------------------------------------------------------------
    @property
    def route_hops(self):
        """Room one route needs: the diameter, or a detour's chain of three minimal routes and
        the spares' ports under faults."""
        return max(self.diameter_hops, 1) + (0 if self.faults is None else
                                            2 * max(self.diameter_hops, 1) + 4)

    @property
    def trunk_group_npus(self):
        """NPUs sharing one trunk port on each level (1 for ordinary levels)."""
        return tuple(max(int(t), 1) for t in self.level_table[:, 4])

    @property
    def diameter_hops(self):
        """Links crossed by the longest minimal route. A route that crosses a trunk run goes
        up and down an access port and skips the levels below the run."""
        best = sum(lv.max_hops for lv in self.levels if not lv.trunk)  # no run crossed
        for k, (first, _) in enumerate(self.trunk_runs):
            crossing = sum(lv.max_hops for lv in self.levels[first:])
            best = max(best, crossing + 2 * (len(self.trunk_runs) - k))
        return best

    def link_class_of(self, link_ids):
        """Index into :attr:`link_classes` of each link id."""
        firsts = np.array([c.first_id for c in self.link_classes], np.int64)
        return np.searchsorted(firsts, np.asarray(link_ids, np.int64), side="right") - 1

    def level_efficiency(self, level):
        """Point-to-point efficiency of ``level``'s links (its own, else the topology's)."""
        return self.levels[level].efficiency or self.params.efficiency

    def class_efficiency(self):
        """Point-to-point efficiency of each link class (an access port: its run's first
        level's; a spare's port: the topology's)."""
        spare = ("spare_up", "spare_down", "lrs_up", "lrs_down")
        return np.array([self.params.efficiency if c.name.rsplit(".", 1)[-1] in spare
                         else self.level_efficiency(c.level) for c in self.link_classes])

    def link_capacity_GBps(self):
        """Per-link capacity, GB/s per direction, as a flat array indexed by link id."""
        return np.concatenate([np.full(c.count, c.bw_GBps) for c in self.link_classes])

    def link_latency_ns(self):
        """Per-link latency (the level's ``lat_ns``, an access port's own) as a flat array
        indexed by link id."""
        return np.concatenate([np.full(c.count, self.lat_ns[c.level, int("access" in c.name)])
                               for c in self.link_classes])

    def route(self, src, dst):
        """Dimension-ordered minimal routes, innermost level first (under :attr:`faults`:
        their routing; a route that cannot be made raises its one-line error).

        Returns
        -------
        paths : int64 array (n, route_hops), link ids padded with -1
        n_hops : int64 array (n,)
        lat_ns : float64 array (n,), path latency
        """
        from ..kernels import select

        src = np.ascontiguousarray(src, np.int64)
        dst = np.ascontiguousarray(dst, np.int64)
        if src.shape != dst.shape or src.ndim != 1:
            raise UbemuError("route: src and dst must be 1-D arrays of the same length")
        for name, a in (("src", src), ("dst", dst)):
            if a.size and (a.min() < 0 or a.max() >= self.n_npus):
                raise UbemuError(f"route: {name} NPU out of range 0..{self.n_npus - 1}")
        out = (np.empty((src.size, self.route_hops), np.int64), np.empty(src.size, np.int64),
               np.empty(src.size, np.float64))
        if self.faults is None:
            kernels = select.routing(self.n_npus, n_items=src.size)
            kernels.route_many(src, dst, self.level_table, self.lat_ns,
                               float(self.params.hop_lat_ns), *out)
            return out
        from ..kernels import faultroute
        from .faultreport import explain

        codes = np.empty(src.size, np.int64)
        faultroute.route_many_ft(src, dst, self.level_table, self.lat_ns,
                                 float(self.params.hop_lat_ns), *self.faults.arrays, *out,
                                 codes)
        bad = np.flatnonzero(codes)
        if bad.size:
            raise explain(self, int(src[bad[0]]), int(dst[bad[0]]))
        return out

    # -- aggregate figures ------------------------------------------------------------------
    def injection_GBps(self):
        """Bandwidth one NPU can send, per direction: the sum of its own links (a trunk run's
        access port counted once)."""
        own = sum(lv.neighbours * lv.link_GBps for lv in self.levels
                  if lv.size > 1 and not lv.trunk)
        return own + sum(self.access_GBps(first) for first, _ in self.trunk_runs)

    def access_GBps(self, level):
        """Bandwidth per direction of an NPU's access port into the trunk run that holds
        ``level`` (:func:`ubemu.machine.links.run_access`)."""
        first, last = next(r for r in self.trunk_runs if r[0] <= level <= r[1])
        return links.run_access(self.levels, first, last)[0]

    def trunk_share_GBps(self, level=None):
        """Per-NPU share, per direction, of the trunk links that several NPUs share (a
        rack-to-rack cable): of ``level``, or summed over the levels when None."""
        if level is None:
            return sum(self.trunk_share_GBps(i) for i in range(len(self.levels)))
        lv, g = self.levels[level], self.trunk_group_npus[level]
        return lv.neighbours * lv.link_GBps / lv.oversub / g if lv.trunk and g > 1 else 0.0

    def bisection_GBps(self):
        """One-direction capacity across a cut that halves the outermost level (size > 1)."""
        outer = [i for i, lv in enumerate(self.levels) if lv.size > 1]
        if not outer:
            return 0.0
        i = outer[-1]
        lv, stride, g = self.levels[i], self.strides[i], self.trunk_group_npus[i]
        half_lo, half_hi = lv.size // 2, lv.size - lv.size // 2
        lines = self.n_npus // (stride * lv.size) * (stride // g)
        if lv.fabric == "full_mesh":
            return lines * half_lo * half_hi * lv.link_GBps
        if lv.fabric == "ring":
            return lines * min(lv.size - 1, 2) * lv.link_GBps
        return lines * half_lo * lv.link_GBps / lv.oversub  # a switch port per line (trunk: per g)

    def describe_levels(self):
        """The string form of each level, every field filled (``full_mesh:8@56GBps/150ns``)."""
        return [lv.spec for lv in self.levels]
