"""The one record per collective: nccl-tests' factors and counts, shapes, bounds."""

import numpy as np
import pytest

from ubemu import collectives
from ubemu.errors import UbemuError


def test_busbw_factors_match_nccl_tests():
    # nccl-tests' PERFORMANCE.md factors, on 8 ranks: hand-computed.
    get = collectives.get
    assert get("all_reduce").busbw_factor(8) == pytest.approx(14 / 8)
    for coll in ("all_gather", "reduce_scatter", "alltoall"):
        assert get(coll).busbw_factor(8) == pytest.approx(7 / 8)
    for coll in ("broadcast", "reduce"):
        assert get(coll).busbw_factor(8) == 1.0 == get(coll).busbw_factor(1)
    assert get("all_reduce").busbw_factor(1) == 0.0


@pytest.mark.parametrize("nbytes", [1000, np.int64(1000), np.uint16(1000), np.int32(1000)])
def test_element_count_of_any_integer_type(nbytes):
    assert collectives.get("all_reduce").element_count(nbytes, 4, 8) == 250
    assert collectives.get("all_gather").element_count(nbytes, 4, 8) == 248  # whole blocks
    assert collectives.get("all_reduce").element_count(1024.0, 4, 8) == 256  # a whole float


@pytest.mark.parametrize("bad", [-1, 1.5, "1K", True, None])
def test_element_count_refuses_what_is_not_a_size(bad):
    with pytest.raises(UbemuError, match="nbytes must be an integer >= 0"):
        collectives.get("all_reduce").element_count(bad, 4, 8)


def test_shapes_and_flags():
    ag, rs, red = (collectives.get(c) for c in ("all_gather", "reduce_scatter", "reduce"))
    assert ag.input_shape(4, 12) == (4, 3) and ag.output_shape(4, 12) == (4, 12)
    assert rs.input_shape(4, 12) == (4, 12) and rs.output_shape(4, 12) == (4, 3)
    assert red.output_shape(4, 12) == (12,) and red.rooted and red.reducing
    assert ag.count_from_inputs((4, 3)) == 12 and rs.count_from_inputs((4, 12)) == 12
    assert collectives.get("alltoall").buffer_counts == 2
    assert ag.redop_label("sum") == "none" and rs.redop_label("max") == "max"
    with pytest.raises(UbemuError, match="multiple of the rank count"):
        ag.check_count(6, 4)


def test_least_bytes_sent_is_the_bandwidth_bound():
    assert collectives.get("all_reduce").min_send_bytes(800, 8) == 2 * 800 * 7 / 8
    assert collectives.get("alltoall").min_send_bytes(800, 8) == 800 * 7 / 8
    assert collectives.get("broadcast").min_send_bytes(800, 8) == 0.0


def test_unknown_collective_lists_the_valid_ones():
    with pytest.raises(UbemuError, match="unknown collective 'allreduce'; did you mean "
                                         "'all_reduce'\\? valid: all_reduce, all_gather"):
        collectives.get("allreduce")
