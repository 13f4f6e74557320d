"""Schedules as data: Step.make, validate(), split_even, same_array."""

import numpy as np
import pytest

from ubemu.errors import UbemuError
from ubemu.schedule import Schedule, Step, same_array, split_even


def _schedule(steps, n=3, buf_count=8, n_steps=None, data=True):
    return Schedule("all_reduce", "test", n, buf_count, buf_count, lambda: iter(steps),
                    n_steps=len(steps) if n_steps is None else n_steps, data=data)


def test_make_broadcasts_scalars_and_drops_empty_transfers():
    st = Step.make([0, 1, 2], [1, 2, 0], [2, 0, 3], 0, [4, 5, 6], reduce=True)
    assert st.src.tolist() == [0, 2] and st.dst_off.tolist() == [4, 6]
    assert st.src_off.tolist() == [0, 0] and st.reduce.tolist() == [True, True]
    assert Step.make([0], [1], 4).src_off is None  # timing only: no offsets


def test_a_valid_schedule_passes():
    steps = [Step.make([0, 1], [1, 2], 4, [0, 4], [0, 4], reduce=True)]
    assert _schedule(steps).validate() is not None


@pytest.mark.parametrize("step,match", [
    (Step.make([0], [3], 1, 0, 0), "dst rank out of range"),
    (Step.make([0], [1], 4, 6, 0), "src_off range outside buffer"),
    (Step.make([0, 2], [1, 1], 4, 0, [0, 2]), "two transfers write rank 1 elements 2..4"),
])
def test_validate_names_the_step_and_problem(step, match):
    with pytest.raises(UbemuError, match=f"step 0: {match}"):
        _schedule([step]).validate()


def test_validate_checks_the_step_count_and_local_reduces():
    with pytest.raises(UbemuError, match="n_steps says 2"):
        _schedule([Step.make([0], [1], 1, 0, 0)], n_steps=2).validate()
    with pytest.raises(UbemuError, match="itself"):
        _schedule([Step.make([1], [1], 1, 0, 4, reduce=True)]).validate()
    _schedule([Step.make([1], [1], 1, 0, 4)]).validate()  # a local copy is allowed


@pytest.mark.parametrize("count,parts", [(10, 3), (2, 5), (0, 4), (12, 4)])
def test_split_even_gives_the_first_blocks_one_more(count, parts):
    off, ln = split_even(count, parts)
    assert ln.sum() == count and ln.max() - ln.min() <= 1
    assert np.all(np.diff(ln) <= 0)
    assert off.tolist() == np.concatenate(([0], np.cumsum(ln)[:-1])).tolist()


def test_same_array():
    a = np.arange(1000)
    assert same_array(a, a[:]) and same_array(a, a.copy())
    b = a.copy()
    b[999] = -1
    assert not same_array(a, b) and not same_array(a, a[:10])
