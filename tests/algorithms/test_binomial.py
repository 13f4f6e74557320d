"""Binomial-tree gather and scatter (MPICH): steps, who sends what, any root."""

import numpy as np
import pytest

from tests.helpers import data_and_timing, run_against_reference
from ubemu.algorithms import build_schedule
from ubemu.machine.comm import Comm


@pytest.mark.parametrize("p", [1, 2, 3, 5, 8, 12, 17])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("coll", ["gather", "scatter"])
def test_any_root_against_the_reference(coll, p, where):
    """A subtree's blocks wrap past the buffer's end when the root is not rank 0."""
    root = {"first": 0, "middle": p // 2, "last": p - 1}[where]
    for name in ("binomial_tree", "direct"):
        sched = run_against_reference(coll, name, Comm.flat(p), 3 * p, root=root)
        want = int(p - 1).bit_length() if name == "binomial_tree" else int(p > 1)
        assert sched.n_steps == want  # ceil(log2 p), or one


def test_gather_subtrees_hand_counted():
    # p = 8, root 0: rank v sends the blocks of its subtree once, 2^(trailing zeros of v)
    # blocks: 1, 2, 1, 4, 1, 2, 1; the root receives 7 blocks in 3 messages
    b = 5
    sched, sent = data_and_timing("gather", "binomial_tree", Comm.flat(8), 8 * b)
    assert sent.tolist() == [0, b, 2 * b, b, 4 * b, b, 2 * b, b]
    to_root = [int((st.dst == 0).sum()) for st in sched.steps()]
    assert to_root == [1, 1, 1]
    # rotated by the root, the same shape (relative ranks)
    _, rot = data_and_timing("gather", "binomial_tree", Comm.flat(8), 8 * b, root=3)
    np.testing.assert_array_equal(rot, np.roll(sent, 3))


def test_scatter_mirrors_gather():
    b = 4
    _, gather = data_and_timing("gather", "binomial_tree", Comm.flat(6), 6 * b, root=2)
    sched, scatter = data_and_timing("scatter", "binomial_tree", Comm.flat(6), 6 * b, root=2)
    # every tree edge carries its subtree's blocks once, down (scatter) or up (gather): a
    # rank forwards its subtree but its own block, and sends its whole subtree up
    assert scatter.sum() == gather.sum()
    assert scatter[2] == 5 * b and gather[2] == 0  # the root: all but its own, nothing
    for v in range(6):
        if v != 2:
            assert scatter[v] == gather[v] - b
    first = next(iter(sched.steps()))
    assert first.src.tolist() == [2] and first.n.tolist() == [2 * b]  # v=0 -> v=4: 4,5


def test_direct_is_one_incast_or_one_fan_out():
    g = next(iter(build_schedule("gather", "direct", 6, 12, root=4).steps()))
    assert sorted(g.src.tolist()) == [0, 1, 2, 3, 5] and set(g.dst.tolist()) == {4}
    s = next(iter(build_schedule("scatter", "direct", 6, 12, root=4).steps()))
    assert set(s.src.tolist()) == {4} and sorted(s.dst.tolist()) == [0, 1, 2, 3, 5]
    assert (g.src_off == g.src * 2).all() and (s.dst_off == s.dst * 2).all()  # block j at j
