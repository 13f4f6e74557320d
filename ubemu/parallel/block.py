"""The contiguous block partition of a communicator's ranks over the job's processes.

Process ``p`` of ``P`` owns ranks ``starts[p]:starts[p+1]`` (``split_even``). Ranks are
mixed-radix, innermost level first, so a block holds whole boards / racks and most traffic
stays inside a process.
"""

import numpy as np

from ..schedule import split_even


class Block:
    """Contiguous block partition of ``n`` ranks over ``n_procs`` processes; this is ``proc``.

    Attributes
    ----------
    starts : int64 array (n_procs + 1,)
        First rank of each process (``starts[-1] == n``).
    lo, hi : int
        This process's ranks ``lo:hi``.
    """

    def __init__(self, n, n_procs=1, proc=0):
        off, _ = split_even(int(n), int(n_procs))
        self.n, self.n_procs, self.proc = int(n), int(n_procs), int(proc)
        self.starts = np.append(off, int(n)).astype(np.int64)
        self.lo, self.hi = int(self.starts[proc]), int(self.starts[proc + 1])

    @classmethod
    def of(cls, n, ex):
        """This process's block of ``n`` ranks in the job of exchange ``ex``."""
        return cls(n, ex.size, ex.rank)

    @property
    def n_local(self):
        return self.hi - self.lo

    @property
    def whole(self):
        """True when this process owns every rank (a job of one process)."""
        return self.n_procs == 1

    def owner(self, ranks):
        """Process owning each rank (int64 array)."""
        return np.searchsorted(self.starts, ranks, side="right").astype(np.int64) - 1

    def local(self, ranks):
        """Boolean mask: the rank is owned by this process."""
        return (ranks >= self.lo) & (ranks < self.hi)


def group_by_owner(owners, sizes, n_procs):
    """Stable order of items grouped by owner, and the summed ``sizes`` per owner."""
    order = np.argsort(owners, kind="stable")
    cs = np.concatenate(([0], np.cumsum(sizes[order])))
    edges = np.searchsorted(owners[order], np.arange(n_procs + 1), side="left")
    return order, cs[edges[1:]] - cs[edges[:-1]]


def scatter_rows(full, block, ex, cols, dtype):
    """Process 0's ``full`` (n, cols) array cut into the blocks' rows (others pass None)."""
    dtype = np.dtype(dtype)
    mine = np.empty((block.n_local, cols), dtype)
    counts = np.diff(block.starts) * cols * dtype.itemsize
    send = np.ascontiguousarray(full, dtype).view(np.uint8).reshape(-1) if ex.rank == 0 \
        else None
    ex.scatterv(send, counts, mine.view(np.uint8).reshape(-1))
    return mine


def gather_rows(mine, block, ex):
    """The blocks' rows ``mine`` (n_local, cols) stacked on process 0 (None elsewhere)."""
    mine = np.ascontiguousarray(mine)
    cols, item = mine.shape[1], mine.dtype.itemsize
    full = np.empty((block.n, cols), mine.dtype) if ex.rank == 0 else None
    ex.gatherv(mine.view(np.uint8).reshape(-1), np.diff(block.starts) * cols * item,
               full.view(np.uint8).reshape(-1) if full is not None else None)
    return full
