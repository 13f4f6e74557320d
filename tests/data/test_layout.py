"""Where inputs and outputs sit in the working buffer (hand-built 2-rank examples)."""

import numpy as np
import pytest

from ubemu.collectives import get
from ubemu.data.layout import pack_inputs, rows_buffer, unpack_outputs
from ubemu.errors import UbemuError
from ubemu.schedule import Schedule


def _sched(collective, count, n=2, buf_count=None, root=0):
    return Schedule(collective, "none", n, count, buf_count or count, lambda: iter(()), 0,
                    root=root)


def test_all_gather_places_each_rank_block_at_its_own_offset():
    sched = _sched("all_gather", 4)
    buf = pack_inputs(sched, np.array([[1, 2], [3, 4]]))
    assert buf.tolist() == [[1, 2, 0, 0], [0, 0, 3, 4]]
    assert get("all_gather").input_shape(2, 4) == (2, 2)
    assert get("all_gather").count_from_inputs((2, 2)) == 4


def test_reduce_scatter_reads_block_r_of_rank_r():
    sched = _sched("reduce_scatter", 4)
    buf = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert unpack_outputs(sched, buf).tolist() == [[1, 2], [7, 8]]


def test_alltoall_output_follows_the_input():
    sched = _sched("alltoall", 4, buf_count=8)
    buf = pack_inputs(sched, np.array([[1, 2, 3, 4], [5, 6, 7, 8]]))
    buf[:, 4:] = [[10, 11, 12, 13], [14, 15, 16, 17]]
    assert buf[:, :4].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert unpack_outputs(sched, buf).tolist() == [[10, 11, 12, 13], [14, 15, 16, 17]]


def test_reduce_returns_the_roots_row():
    sched = _sched("reduce", 3, root=1)
    assert unpack_outputs(sched, np.array([[1, 2, 3], [4, 5, 6]])).tolist() == [4, 5, 6]


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(UbemuError, match="do not match"):
        pack_inputs(_sched("all_reduce", 4), np.zeros((2, 3)))


def test_rows_buffer_runs_in_place_when_the_buffer_is_the_inputs():
    x = np.arange(8).reshape(2, 4)
    assert rows_buffer(_sched("all_reduce", 4), x) is x
    buf = rows_buffer(_sched("alltoall", 4, buf_count=8), x)
    assert buf is not x and buf[:, :4].tolist() == x.tolist() and not buf[:, 4:].any()
