"""The block partition of ranks over processes, and the rows it moves."""

import numpy as np

from tests.threads import run_threads
from ubemu.parallel.block import Block, gather_rows, group_by_owner, scatter_rows


def test_block_partition_contiguous_and_even():
    b = [Block(10, 4, p) for p in range(4)]
    assert [(x.lo, x.hi) for x in b] == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert np.array_equal(b[0].owner(np.arange(10)), [0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    assert Block(10).whole and not b[0].whole


def test_group_by_owner_stable():
    order, counts = group_by_owner(np.array([2, 0, 2, 1, 0]), np.array([5, 1, 7, 2, 3]), 3)
    assert order.tolist() == [1, 4, 3, 0, 2]
    assert counts.tolist() == [4, 2, 12]


def test_scatter_then_gather_rows_round_trip():
    full = np.arange(7 * 3, dtype=np.int32).reshape(7, 3)

    def work(ex):
        block = Block(7, 3, ex.rank)
        mine = scatter_rows(full if ex.rank == 0 else None, block, ex, 3, np.int32)
        assert np.array_equal(mine, full[block.lo:block.hi])
        return gather_rows(mine, block, ex)

    out = run_threads(3, work)
    assert np.array_equal(out[0], full) and out[1] is None
