"""One record per collective: the facts every other module reads from here.

In the spirit of nccl-tests' ``struct testColl``: whether a collective reduces, has a root,
is made of one block per rank, its bandwidth factors, where its inputs and outputs sit in
the per-rank working buffer, how a size in bytes becomes an element count, and the working
buffer an algorithm needs unless it says otherwise.

Sizes follow nccl-tests (its ``max(sendBytes, recvBytes)``, the ``size`` column): ``nbytes``
is the per-rank buffer of all_reduce, broadcast, reduce and sendrecv, the full gathered
output of all_gather, gather and hypercube, the full input of reduce_scatter and scatter,
and the per-rank send buffer of alltoall (of alltoallv: what a rank sends on average, its
per-pair sizes scaled to it, :mod:`ubemu.traffic`). ``count = nbytes // itemsize``, rounded
down to a multiple of the rank count for the collectives made of one block per rank (whose
nccl-tests ``count`` column is then ``count / n``, the count each rank passes).

Working buffer of rank r (``count`` elements of the collective; ``b = count / n``)::

    all_reduce      in buf[0:count]                    out buf[0:count]
    reduce_scatter  in buf[0:count] (n blocks)         out block r: buf[r*b:(r+1)*b]
    all_gather      in block r: buf[r*b:(r+1)*b]       out buf[0:count]
    alltoall        in buf[0:count], block j to j      out buf[count:2*count], block j from j
    alltoallv       in buf[0:S], block j at sdispl     out buf[S:S+R], block i at rdispl
                    (S, R: the largest send and receive; the displacements as MPI_Alltoallv's)
    broadcast       in root's buf[0:count]             out buf[0:count]
    reduce          in buf[0:count]                    out root's buf[0:count]
    sendrecv        in buf[0:count], to rank r+1       out buf[count:2*count], from rank r-1
    gather          in block r: buf[r*b:(r+1)*b]       out root's buf[0:count]
    scatter         in root's buf[0:count] (n blocks)  out block r: buf[r*b:(r+1)*b]
    hypercube       in block r: buf[r*b:(r+1)*b]       out buf[0:count] (an all-gather)
"""

import operator
from dataclasses import dataclass

from .errors import UbemuError, choices_error

#: Where a collective's outputs sit in the working buffer (the module docstring's table):
#: ``full`` buf[0:count] of every rank, ``block`` block r of rank r, ``second``
#: buf[count:2*count] of every rank, ``root`` the root's buf[0:count] alone.
OUT_PLACES = ("full", "block", "second", "root")


@dataclass(frozen=True)
class Collective:
    """The facts of one collective.

    Attributes
    ----------
    name : str
    reducing : bool
        Combines the ranks' values with a reduction op.
    rooted : bool
        Has a root rank (broadcast, reduce, gather, scatter).
    blocked : bool
        ``count`` is ``n`` equal blocks, one per rank (all_gather, reduce_scatter, alltoall,
        gather, scatter, hypercube).
    busbw_num, busbw_den : int
        nccl-tests' bus-bandwidth factor ``busbw_num (n-1) / (busbw_den n)`` applied to the
        algbw; 0/0 means 1 (broadcast, reduce, sendrecv, hypercube).
    buffer_counts : int
        Working-buffer length in units of ``count`` unless an algorithm registers more.
    min_send_fraction : float
        Least bytes some rank must send or receive, as a fraction of ``nbytes (n-1)/n`` (no
        in-network reduction): the bound every algorithm's traffic is above.
    in_block : bool
        A rank's input is its own block, in place in the buffer (all_gather, gather,
        hypercube); otherwise the whole ``count`` at ``buf[0:count]``.
    root_input : bool
        Only the root's input is read (broadcast, scatter).
    out_place : str
        One of :data:`OUT_PLACES`.
    algbw_own : bool
        nccl-tests' algbw counts the whole ``nbytes``; False for hypercube, whose algbw
        counts the ``n-1`` blocks a rank receives (``nbytes (n-1)/n``).
    in_place_checked : bool
        nccl-tests checks its in-place run (False for sendrecv, whose send and receive would
        overlap in one buffer: its in-place ``#wrong`` says N/A).
    summary : str
    """

    name: str
    reducing: bool
    rooted: bool
    blocked: bool
    busbw_num: int
    busbw_den: int
    buffer_counts: int
    min_send_fraction: float
    in_block: bool
    root_input: bool
    out_place: str
    algbw_own: bool
    in_place_checked: bool
    summary: str

    def busbw_factor(self, n_ranks):
        """nccl-tests' factor: busbw = algbw x factor (0 for a single rank, except rooted)."""
        if self.busbw_num == 0:
            return 1.0
        if n_ranks <= 1:
            return 0.0
        return self.busbw_num * (n_ranks - 1) / (self.busbw_den * n_ranks)

    def algbw_factor(self, n_ranks):
        """nccl-tests' algbw over ``nbytes / time``: 1, or ``(n-1)/n`` (hypercube)."""
        return 1.0 if self.algbw_own else max(n_ranks - 1, 0) / max(n_ranks, 1)

    def element_count(self, nbytes, itemsize, n_ranks):
        """nccl-tests' element count of ``nbytes`` (module docstring); any integer type."""
        if isinstance(nbytes, bool):
            raise UbemuError(f"nbytes must be an integer >= 0, got {nbytes!r}")
        try:
            nbytes = operator.index(nbytes)
        except TypeError:
            ok = False
            try:
                ok = float(nbytes) == int(nbytes)
            except (TypeError, ValueError, OverflowError):
                pass
            if not ok:
                raise UbemuError(f"nbytes must be an integer >= 0, got {nbytes!r}") from None
            nbytes = int(nbytes)
        if nbytes < 0:
            raise UbemuError(f"nbytes must be an integer >= 0, got {nbytes!r}")
        count = nbytes // itemsize
        return count - count % n_ranks if self.blocked else count

    def rank_count(self, count, n_ranks):
        """The count each rank passes: nccl-tests' ``count`` column (``count / n`` for the
        collectives of one block per rank)."""
        return count // max(n_ranks, 1) if self.blocked else count

    def check_count(self, count, n_ranks):
        """Refuse a count that the collective cannot be cut into (one block per rank)."""
        if count < 0:
            raise UbemuError(f"count must be >= 0, got {count}")
        if self.blocked and count % n_ranks:
            raise UbemuError(f"{self.name}: count {count} must be a multiple of the rank count "
                             f"{n_ranks} (one equal block per rank)")

    def input_shape(self, n_ranks, count, traffic=None):
        """Shape of the per-rank inputs (``emulate``'s argument); alltoallv's from its
        :class:`~ubemu.traffic.Traffic` (a row per rank, as long as the largest send;
        default uniform)."""
        if self.name == "alltoallv":
            return (n_ranks, _uniform(traffic, n_ranks, count).in_count)
        return (n_ranks, count // n_ranks) if self.in_block else (n_ranks, count)

    def output_shape(self, n_ranks, count, traffic=None):
        """Shape of the outputs ``emulate`` returns (the root's row alone where only the
        root has outputs; alltoallv's from its traffic)."""
        if self.name == "alltoallv":
            return (n_ranks, _uniform(traffic, n_ranks, count).out_count)
        if self.out_place == "block":
            return (n_ranks, count // n_ranks)
        if self.out_place == "root":
            return (count,)
        return (n_ranks, count)

    def count_from_inputs(self, inputs_shape):
        """The ``count`` implied by inputs of shape ``(n, m)``."""
        n, m = inputs_shape
        return n * m if self.in_block else m

    def redop_label(self, op):
        """What nccl-tests prints as redop: the op, or ``none`` without a reduction."""
        return op if self.reducing else "none"

    def min_send_bytes(self, nbytes, n_ranks):
        """Least bytes one rank sends or receives over links in any algorithm (a lower
        bound)."""
        if n_ranks <= 1:
            return 0.0
        return self.min_send_fraction * nbytes * (n_ranks - 1) / n_ranks


def _uniform(traffic, n_ranks, count):
    """``traffic``, or the uniform one (the all-to-all's) when None."""
    from .traffic import resolve

    return traffic if traffic is not None else resolve(None, n_ranks, count)


_SUMMARIES = {
    "all_reduce": "every rank ends with the reduction of every rank's buffer",
    "all_gather": "every rank ends with every rank's block",
    "reduce_scatter": "rank r ends with block r of the reduction",
    "alltoall": "rank r sends its block j to rank j",
    "alltoallv": "rank i sends rank j its own amount (per-pair sizes: --traffic)",
    "broadcast": "every rank ends with the root's buffer",
    "reduce": "the root ends with the reduction of every rank's buffer",
    "sendrecv": "rank r sends its buffer to rank r+1 and receives rank r-1's (a ring shift)",
    "gather": "the root ends with every rank's block",
    "scatter": "rank r ends with block r of the root's buffer",
    "hypercube": "an all-gather by nccl-tests' hypercube exchange (power-of-two ranks)",
}
#: name, reducing, rooted, blocked, busbw factor (num, den), buffer counts, min send
#: fraction, in_block, root_input, out_place, algbw_own, in_place_checked
COLLECTIVES = {row[0]: Collective(*row, _SUMMARIES[row[0]]) for row in (
    ("all_reduce", True, False, False, 2, 1, 1, 2.0, False, False, "full", True, True),
    ("all_gather", False, False, True, 1, 1, 1, 1.0, True, False, "full", True, True),
    ("reduce_scatter", True, False, True, 1, 1, 1, 1.0, False, False, "block", True, True),
    ("alltoall", False, False, True, 1, 1, 2, 1.0, False, False, "second", True, True),
    ("alltoallv", False, False, False, 1, 1, 2, 0.0, False, False, "second", True, True),
    ("broadcast", False, True, False, 0, 0, 1, 0.0, False, True, "full", True, True),
    ("reduce", True, True, False, 0, 0, 1, 0.0, False, False, "root", True, True),
    ("sendrecv", False, False, False, 0, 0, 2, 1.0, False, False, "second", True, False),
    ("gather", False, True, True, 1, 1, 1, 1.0, True, False, "root", True, True),
    ("scatter", False, True, True, 1, 1, 1, 1.0, False, True, "block", True, True),
    ("hypercube", False, False, True, 0, 0, 1, 1.0, True, False, "full", False, True),
)}
NAMES = tuple(COLLECTIVES)


def get(name):
    """The record of collective ``name``; an unknown name lists the valid ones."""
    try:
        return COLLECTIVES[name]
    except (KeyError, TypeError):
        raise choices_error("collective", name, NAMES) from None
