"""The partition math in one process: P "processes" as threads exchanging through memory.

The partitioned data plane must leave every rank's row exactly as the single-process execute
kernel does, and the partitioned timer must give bit-identical times and usage.
"""

import threading

import numpy as np
import pytest

from ubemu import partition
from ubemu.algorithms import Comm, build_schedule
from ubemu.execute import execute
from ubemu.timing import time_schedule
from ubemu.topospec import load_topology


class ThreadExchange:
    """The collectives of ``partition.MPIExchange`` between threads of one process."""

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


def test_block_partition_contiguous_and_even():
    b = [partition.Block(10, 4, p) for p in range(4)]
    assert [(x.lo, x.hi) for x in b] == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert np.array_equal(b[0].owner(np.arange(10)), [0, 0, 0, 1, 1, 1, 2, 2, 3, 3])


def test_group_by_owner_stable():
    order, counts = partition.group_by_owner(np.array([2, 0, 2, 1, 0]),
                                             np.array([5, 1, 7, 2, 3]), 3)
    assert order.tolist() == [1, 4, 3, 0, 2]
    assert counts.tolist() == [4, 2, 12]


def test_env_detection(monkeypatch):
    for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        monkeypatch.delenv(v, raising=False)
    assert partition.world_size() == 1 and not partition.active() and partition.is_root()
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "3")
    assert partition.world_size() == 4 and partition.active() and not partition.is_root()


CASES = [("all_reduce", "ring", (8,), 37, "float32", "sum"),
         ("all_reduce", "hierarchical", (4, 3, 2), 50, "float64", "sum"),
         ("all_reduce", "halving_doubling", (12,), 29, "bfloat16", "max"),
         ("all_gather", "bruck", (10,), 30, "int32", "sum"),
         ("alltoall", "pairwise", (6,), 36, "float16", "sum"),
         ("reduce_scatter", "ring_bidir", (9,), 45, "int64", "prod")]


@pytest.mark.parametrize("n_procs", [2, 3, 4])
@pytest.mark.parametrize("coll,alg,dims,count,dtype,op", CASES)
def test_execute_local_equals_execute(coll, alg, dims, count, dtype, op, n_procs):
    from ubemu.dtypes import get_dtype

    comm = Comm(dims)
    sched = build_schedule(coll, alg, comm, count)
    dt = get_dtype(dtype)
    rng = np.random.default_rng(1)
    raw = rng.integers(-3, 4, size=(comm.n, sched.buf_count))
    if dtype == "bfloat16":
        from ubemu.dtypes import from_float64

        full = from_float64(raw.astype(np.float64), dt)
    else:
        full = raw.astype(dt.storage)
    want = execute(sched, full.copy(), op, dtype)

    def work(ex):
        block = partition.Block(comm.n, n_procs, ex.rank)
        mine = full[block.lo:block.hi].copy()
        return partition.execute_local(sched, mine, block, ex, op, dtype)

    got = np.concatenate(run_threads(n_procs, work))
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


TIMED = [("ub-mesh-rack", "all_reduce", "hierarchical", 4096, {}),
         ("ub-mesh-rack", "all_reduce", "direct", 1 << 16, {}),  # concurrent_steps windows
         ("ub-mesh-pod", "all_reduce", "hierarchical", 1 << 16,  # windows inside hierarchical
          {"per_level": ("direct", "direct", "ring", "halving_doubling")}),
         ("atlas950-superpod", "alltoall", "hierarchical", 8192 * 64, {}),
         ("cloudmatrix384", "all_gather", "ring", 384 * 100, {})]


@pytest.mark.parametrize("n_procs", [2, 4])
@pytest.mark.parametrize("topo,coll,alg,count,options", TIMED)
def test_partitioned_timing_bit_identical(topo, coll, alg, count, options, n_procs):
    from ubemu.dataplane import comm_for

    tp = load_topology(topo)
    comm = comm_for(tp)
    sched = build_schedule(coll, alg, comm, count, data=False, **options)
    want = time_schedule(sched, tp, comm, 4)

    def work(ex):
        return partition.time_schedule(sched, tp, comm, 4, ex=ex)

    for got in run_threads(n_procs, work):
        assert got[0] == want[0]
        assert got[2] == want[2]
        assert got[1] == want[1]


def test_key_owners_follow_the_npu_blocks():
    """Every key has one owner, and a process owns the links and NPUs of its own block."""
    tp = load_topology("ub-mesh-rack")
    n_keys = tp.n_links + tp.n_npus
    for n_procs in (1, 2, 3, 8):
        for p in range(n_procs):
            block = partition.Block(tp.n_npus, n_procs, p)
            bounds, owners = partition._key_owners(tp, block)
            assert bounds[0] == 0 and np.all(np.diff(bounds) >= 0) and bounds[-1] < n_keys
            npu_keys = tp.n_links + np.arange(block.lo, block.hi)
            at = np.searchsorted(bounds, npu_keys, side="right") - 1
            assert np.all(owners[at] == p)
    # on 2 processes, each half of the rack owns the board links (level 0) of its NPUs
    block = partition.Block(tp.n_npus, 2, 0)
    bounds, owners = partition._key_owners(tp, block)
    board = tp.link_classes[0]
    first_half = np.arange(board.first_id, board.first_id + board.count // 2)
    assert np.all(owners[np.searchsorted(bounds, first_half, side="right") - 1] == 0)


@pytest.mark.parametrize("n_procs", [1, 2, 3])
@pytest.mark.parametrize("coll,alg,count,dtype,op", [
    ("all_reduce", "hierarchical", 640, "float32", "sum"),
    ("all_reduce", "direct", 64 * 4, "bfloat16", "sum"),  # windows; random run too
    ("alltoall", "multipath", 64 * 3, "int32", "sum"),
    ("reduce_scatter", "ring", 64 * 5, "float16", "avg")])
def test_time_and_verify_equals_the_separate_runs(coll, alg, count, dtype, op, n_procs):
    """One walk that times and checks gives the figures of timing and checking apart."""
    from ubemu.dataplane import comm_for, emulate_verify
    from ubemu.dtypes import get_dtype

    tp = load_topology("ub-mesh-rack")
    comm = comm_for(tp)
    itemsize = get_dtype(dtype).itemsize
    want_time = time_schedule(build_schedule(coll, alg, comm, count, data=False), tp, comm,
                              itemsize)
    want_checks = emulate_verify(coll, alg, comm, count, dtype=dtype, op=op, seed=4)

    def work(ex):
        return partition.time_and_verify(coll, alg, comm, count, tp, dtype, op, seed=4, ex=ex)

    for _, time_s, usage, bottleneck, checks in run_threads(n_procs, work):
        assert (time_s, usage, bottleneck) == want_time
        assert checks == want_checks and checks[0] == 0
