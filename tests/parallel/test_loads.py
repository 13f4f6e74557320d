"""Link loads summed over "processes" (threads): every figure equals the one-process timer's."""

import numpy as np
import pytest

from tests.threads import run_threads
from ubemu.algorithms import build_schedule
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology
from ubemu.parallel.block import Block
from ubemu.parallel.loads import PartitionedLoads, key_owners
from ubemu.timing.walk import time_schedule

TIMED = [("ub-mesh-rack", "all_reduce", "hierarchical", 4096, {}),
         ("ub-mesh-rack", "all_reduce", "ring", 1 << 20, {}),  # repeated-pattern profiles
         ("ub-mesh-rack", "all_reduce", "direct", 1 << 16, {}),  # windows
         ("ub-mesh-pod", "all_reduce", "hierarchical", 1 << 16,  # windows inside hierarchical
          {"per_level": ("direct", "direct", "ring", "halving_doubling")}),
         ("atlas950-superpod", "alltoall", "hierarchical", 8192 * 64, {}),
         ("cloudmatrix384", "all_gather", "ring", 384 * 100, {})]


@pytest.mark.parametrize("n_procs", [2, 4])
@pytest.mark.parametrize("topo,coll,alg,count,options", TIMED)
def test_partitioned_timing_bit_identical(topo, coll, alg, count, options, n_procs):
    tp = load_topology(topo)
    comm = group_of(tp)
    sched = build_schedule(coll, alg, comm, count, data=False, **options)
    want = time_schedule(sched, tp, comm.npus, 4)

    def work(ex):
        loads = PartitionedLoads(tp, Block(comm.n, ex.size, ex.rank), ex)
        return time_schedule(sched, tp, comm.npus, 4, loads)

    for got in run_threads(n_procs, work):
        assert got == want


def test_key_owners_follow_the_npu_blocks():
    """Every key has one owner, and a process owns the links and NPUs of its own block."""
    tp = load_topology("ub-mesh-rack")
    n_keys = tp.n_links + 2 * tp.n_npus  # links, reduced bytes and messages per NPU
    for n_procs in (1, 2, 3, 8):
        for p in range(n_procs):
            block = Block(tp.n_npus, n_procs, p)
            bounds, owners = key_owners(tp, block)
            assert bounds[0] == 0 and np.all(np.diff(bounds) >= 0) and bounds[-1] < n_keys
            npu_keys = tp.n_links + np.arange(block.lo, block.hi)
            at = np.searchsorted(bounds, npu_keys, side="right") - 1
            assert np.all(owners[at] == p)
    # on 2 processes, each half of the rack owns the board links (level 0) of its NPUs
    bounds, owners = key_owners(tp, Block(tp.n_npus, 2, 0))
    board = tp.link_classes[0]
    first_half = np.arange(board.first_id, board.first_id + board.count // 2)
    assert np.all(owners[np.searchsorted(bounds, first_half, side="right") - 1] == 0)
