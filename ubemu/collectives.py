"""One record per collective: the facts every other module reads from here.

In the spirit of nccl-tests' ``struct testColl``: whether a collective reduces, has a root,
is made of one block per rank, its bus-bandwidth factor, where its inputs and outputs sit in
the per-rank working buffer, how a size in bytes becomes an element count, and the working
buffer an algorithm needs unless it says otherwise.

Sizes follow nccl-tests: ``nbytes`` is the per-rank buffer of all_reduce, broadcast and reduce,
the full gathered output of all_gather, the full input of reduce_scatter and the per-rank send
buffer of alltoall (of alltoallv: what a rank sends on average, its per-pair sizes scaled to
it, :mod:`ubemu.traffic`). ``count = nbytes // itemsize``, rounded down to a multiple of the
rank count for the collectives made of one block per rank.

Working buffer of rank r (``count`` elements of the collective; ``b = count / n``)::

    all_reduce      in buf[0:count]                    out buf[0:count]
    reduce_scatter  in buf[0:count] (n blocks)         out block r: buf[r*b:(r+1)*b]
    all_gather      in block r: buf[r*b:(r+1)*b]       out buf[0:count]
    alltoall        in buf[0:count], block j to j      out buf[count:2*count], block j from j
    alltoallv       in buf[0:S], block j at sdispl     out buf[S:S+R], block i at rdispl
                    (S, R: the largest send and receive; the displacements as MPI_Alltoallv's)
    broadcast       in root's buf[0:count]             out buf[0:count]
    reduce          in buf[0:count]                    out root's buf[0:count]
"""

import operator
from dataclasses import dataclass

from .errors import UbemuError, choices_error


@dataclass(frozen=True)
class Collective:
    """The facts of one collective.

    Attributes
    ----------
    name : str
    reducing : bool
        Combines the ranks' values with a reduction op.
    rooted : bool
        Has a root rank (broadcast, reduce).
    blocked : bool
        ``count`` is ``n`` equal blocks, one per rank (all_gather, reduce_scatter, alltoall).
    busbw_num, busbw_den : int
        nccl-tests' bus-bandwidth factor ``busbw_num (n-1) / (busbw_den n)``; 0/0 means 1
        (broadcast and reduce).
    buffer_counts : int
        Working-buffer length in units of ``count`` unless an algorithm registers more.
    min_send_fraction : float
        Least bytes a rank must send, as a fraction of ``nbytes (n-1)/n`` (no in-network
        reduction): the bound every algorithm's traffic is above.
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
    summary: str

    def busbw_factor(self, n_ranks):
        """nccl-tests' factor: busbw = algbw x factor (0 for a single rank, except rooted)."""
        if self.busbw_num == 0:
            return 1.0
        if n_ranks <= 1:
            return 0.0
        return self.busbw_num * (n_ranks - 1) / (self.busbw_den * n_ranks)

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
        return (n_ranks, count // n_ranks) if self.name == "all_gather" else (n_ranks, count)

    def output_shape(self, n_ranks, count, traffic=None):
        """Shape of the outputs ``emulate`` returns (reduce: the root's row alone)."""
        if self.name == "alltoallv":
            return (n_ranks, _uniform(traffic, n_ranks, count).out_count)
        if self.name == "reduce_scatter":
            return (n_ranks, count // n_ranks)
        if self.name == "reduce":
            return (count,)
        return (n_ranks, count)

    def count_from_inputs(self, inputs_shape):
        """The ``count`` implied by inputs of shape ``(n, m)``."""
        n, m = inputs_shape
        return n * m if self.name == "all_gather" else m

    def redop_label(self, op):
        """What nccl-tests prints as redop: the op, or ``none`` without a reduction."""
        return op if self.reducing else "none"

    def min_send_bytes(self, nbytes, n_ranks):
        """Least bytes one rank sends over links in any algorithm (a lower bound)."""
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
}
#: name, reducing, rooted, blocked, busbw factor (num, den), buffer counts, min send fraction
COLLECTIVES = {row[0]: Collective(*row, _SUMMARIES[row[0]]) for row in (
    ("all_reduce", True, False, False, 2, 1, 1, 2.0),
    ("all_gather", False, False, True, 1, 1, 1, 1.0),
    ("reduce_scatter", True, False, True, 1, 1, 1, 1.0),
    ("alltoall", False, False, True, 1, 1, 2, 1.0),
    ("alltoallv", False, False, False, 1, 1, 2, 0.0),
    ("broadcast", False, True, False, 0, 0, 1, 0.0),
    ("reduce", True, True, False, 0, 0, 1, 0.0),
)}
NAMES = tuple(COLLECTIVES)


def get(name):
    """The record of collective ``name``; an unknown name lists the valid ones."""
    try:
        return COLLECTIVES[name]
    except (KeyError, TypeError):
        raise choices_error("collective", name, NAMES) from None
