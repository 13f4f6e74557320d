"""P "processes" as threads of one process exchanging through memory: the parallel code paths
tested without MPI (the real thing runs in ``tests/mpi``)."""

import threading

import numpy as np


class ThreadExchange:
    """The collectives of ``ubemu.parallel.exchange.MPIExchange`` between threads."""

    def __init__(self, rank, size, board):
        self.rank, self.size, self.board = rank, size, board

    def _swap(self, item):
        b = self.board
        b["barrier"].wait()
        b["slots"][self.rank] = item
        b["barrier"].wait()
        got = list(b["slots"])
        b["barrier"].wait()
        return got

    def alltoallv(self, send, send_counts, recv_counts=None):
        edges = np.concatenate(([0], np.cumsum(send_counts)))
        pieces = [send[edges[q]:edges[q + 1]].copy() for q in range(self.size)]
        every = self._swap(pieces)
        mine = [every[q][self.rank] for q in range(self.size)]
        counts = np.array([m.size for m in mine], np.int64)
        if recv_counts is not None:
            assert np.array_equal(counts, recv_counts)
        return np.concatenate(mine), counts

    def allgather(self, vec):
        return np.array(self._swap(np.asarray(vec, np.float64).copy()))

    def allreduce(self, vec, combine):
        every = self._swap(np.asarray(vec).copy())
        red = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}
        return red[combine].reduce(np.array(every), axis=0)

    def bcast(self, obj):
        return self._swap(obj)[0]

    bcast_asleep = bcast

    def gather(self, obj):
        every = self._swap(obj)
        return every if self.rank == 0 else None

    def scatterv(self, send, counts, recv):
        full = self._swap(send)[0]
        lo = int(np.sum(counts[:self.rank]))
        recv[:] = full[lo:lo + recv.size]

    def gatherv(self, send, counts, recv):
        every = self._swap(send.copy())
        if self.rank == 0:
            recv[:] = np.concatenate(every)


def run_threads(n_procs, fn):
    """Run ``fn(ex)`` in ``n_procs`` threads; return their results in rank order."""
    board = {"barrier": threading.Barrier(n_procs), "slots": [None] * n_procs}
    out, errors = [None] * n_procs, []

    def body(p):
        try:
            out[p] = fn(ThreadExchange(p, n_procs, board))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
            board["barrier"].abort()

    threads = [threading.Thread(target=body, args=(p,)) for p in range(n_procs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out
