"""The few collectives the engine needs between processes: over MPI, or within one process.

Both classes have the same methods; the engine and the timing and data planes call them
without knowing which they hold. :func:`exchange` gives the job's own.
"""

import time

import numpy as np

from .env import active

#: Seconds a process waiting asleep for process 0 (:meth:`MPIExchange.scatter_asleep`)
#: sleeps between looks.
POLL_S = 0.002
#: MPI tag of what :meth:`MPIExchange.scatter_asleep` sends.
TAG_ASLEEP = 7703


class MPIExchange:
    """The collectives over ``MPI.COMM_WORLD`` (or ``comm``)."""

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def alltoallv(self, send, send_counts, recv_counts=None):
        """Send ``send`` in consecutive pieces of ``send_counts[q]`` elements to process q.

        Returns the received elements (in sender order) and the count from each sender;
        ``recv_counts`` may be given when the receiver already knows them.
        """
        send = np.ascontiguousarray(send)
        item = send.dtype.itemsize
        send_counts = np.asarray(send_counts, np.int64)
        if recv_counts is None:
            recv_counts = np.empty(self.size, np.int64)
            self.comm.Alltoall(send_counts, recv_counts)
        recv_counts = np.asarray(recv_counts, np.int64)
        recv = np.empty(int(recv_counts.sum()), send.dtype)
        sc, rc = send_counts * item, recv_counts * item
        sd = np.concatenate(([0], np.cumsum(sc)[:-1]))
        rd = np.concatenate(([0], np.cumsum(rc)[:-1]))
        byte = self.MPI.BYTE
        self.comm.Alltoallv([send.view(np.uint8), (sc.tolist(), sd.tolist()), byte],
                            [recv.view(np.uint8), (rc.tolist(), rd.tolist()), byte])
        return recv, recv_counts

    def allgather(self, vec):
        """Every process's float64 vector (same length everywhere), rows in process order."""
        vec = np.ascontiguousarray(vec, np.float64)
        out = np.empty((self.size, vec.size), np.float64)
        self.comm.Allgather(vec, out)
        return out

    def allreduce(self, vec, combine):
        """Element-wise ``combine`` (``sum prod max min``) of every process's ``vec``."""
        vec = np.ascontiguousarray(vec)
        out = np.empty_like(vec)
        op = {"sum": self.MPI.SUM, "prod": self.MPI.PROD, "max": self.MPI.MAX,
              "min": self.MPI.MIN}[combine]
        self.comm.Allreduce(vec, out, op=op)
        return out

    def _v_spec(self, buf, counts):
        counts = np.asarray(counts, np.int64)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return [buf, (counts.tolist(), displs.tolist()), self.MPI.BYTE]

    def scatterv(self, send, counts, recv):
        """Process 0's bytes ``send`` cut in consecutive pieces of ``counts[q]`` into each
        process's ``recv`` (uint8 arrays; ``send`` is None elsewhere)."""
        spec = self._v_spec(send, counts) if self.rank == 0 else None
        self.comm.Scatterv(spec, [recv, self.MPI.BYTE], root=0)

    def gatherv(self, send, counts, recv):
        """Every process's bytes ``send`` (``counts[q]`` from process q) stacked into process
        0's ``recv`` (None elsewhere)."""
        spec = self._v_spec(recv, counts) if self.rank == 0 else None
        self.comm.Gatherv([send, self.MPI.BYTE], spec, root=0)

    def gather(self, obj):
        """Process 0 gets the list of every process's ``obj``; the others None."""
        return self.comm.gather(obj, root=0)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def bulk(self):
        """The communicator sending its pickles with their arrays out of band
        (:mod:`mpi4py.util.pkl5`): a gigabyte of arrays (a timed part of a million-NPU
        operation) goes without being copied into one pickle first (1 s instead of 13 s for
        0.6 GB while process 0 works)."""
        from mpi4py.util import pkl5

        return pkl5.Intracomm(self.comm)

    def scatter_asleep(self, make):
        """On process 0, send ``make(q)`` to every other process ``q`` (returns None); on
        the others, what process 0 sent this one, waited for asleep: polling every
        :data:`POLL_S`, not spinning in MPI: a process waiting long for process 0's work (a
        step played, a last task) keeps no core busy."""
        bulk = self.bulk()
        if self.rank == 0:
            for q in range(1, self.size):
                bulk.send(make(q), dest=q, tag=TAG_ASLEEP)
            return None
        while not self.comm.Iprobe(source=0, tag=TAG_ASLEEP):
            time.sleep(POLL_S)
        return bulk.recv(source=0, tag=TAG_ASLEEP)

    def bcast_asleep(self, obj):
        """:meth:`bcast` whose receivers wait asleep (:meth:`scatter_asleep`)."""
        got = self.scatter_asleep(lambda q: obj)
        return obj if self.rank == 0 else got


class LocalExchange:
    """The collectives of :class:`MPIExchange` for a job of one process, without MPI."""

    rank, size = 0, 1

    def alltoallv(self, send, send_counts, recv_counts=None):
        return np.ascontiguousarray(send), np.asarray(send_counts, np.int64)

    def allgather(self, vec):
        return np.asarray(vec, np.float64)[None, :]

    def allreduce(self, vec, combine):
        return np.asarray(vec)

    def scatterv(self, send, counts, recv):
        recv[:] = send

    def gatherv(self, send, counts, recv):
        recv[:] = send

    def gather(self, obj):
        return [obj]

    def bcast(self, obj):
        return obj

    def bcast_asleep(self, obj):
        return obj


_EXCHANGE = None
_LOCAL = LocalExchange()


def exchange():
    """The job's exchange: :class:`MPIExchange` in a multi-process job (mpi4py imported on
    first use), else (also inside :func:`ubemu.parallel.env.alone`) :class:`LocalExchange`."""
    global _EXCHANGE
    if not active():
        return _LOCAL
    if _EXCHANGE is None:
        _EXCHANGE = MPIExchange()
    return _EXCHANGE
