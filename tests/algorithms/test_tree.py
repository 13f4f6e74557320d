"""Trees and chains: the double binary tree's step counts, broadcast and reduce."""

import numpy as np
import pytest

from tests.helpers import data_and_timing
from tests.interpret import interpret
from ubemu.algorithms import build_schedule
from ubemu.data.layout import pack_inputs, unpack_outputs
from ubemu.machine.comm import Comm


def dbt_closed_form(p):
    lg = int(np.floor(np.log2(p)))
    return 3 * lg - 1 + (p >= 3 * 2 ** (lg - 1))


@pytest.mark.parametrize("p", [2, 3, 4, 6, 7, 8, 9, 12, 16, 24, 64])
def test_double_binary_tree(p):
    count = 2 * p + 2
    sched, sent = data_and_timing("all_reduce", "double_binary_tree", Comm.flat(p), count)
    assert sched.n_steps == dbt_closed_form(p)
    assert sent.sum() == 2 * (p - 1) * count  # each tree edge: its half up and down
    if p % 2 == 0:
        assert sent.max() <= 2 * count


def test_double_binary_tree_hand_counts():
    # p = 8: L = 3, up 2L-1 = 5 steps, down 3; p = 12: 12 >= 3*4 so up 6 steps
    assert build_schedule("all_reduce", "double_binary_tree", 8, 16).n_steps == 8
    assert build_schedule("all_reduce", "double_binary_tree", 12, 24).n_steps == 9


@pytest.mark.parametrize("p", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("root", [0, 3])
def test_broadcast_reduce_trees_and_chains(p, root):
    root %= p
    count = 11
    for coll in ("broadcast", "reduce"):
        tree, sent = data_and_timing(coll, "binary_tree", Comm.flat(p), count, root=root)
        lg = int(np.floor(np.log2(p)))
        assert tree.n_steps <= (lg if coll == "broadcast" else 2 * lg)
        assert sent.sum() == (p - 1) * count
        if coll == "reduce":
            assert sent[root] == 0 and (np.delete(sent, root) == count).all()
        chain, sent = data_and_timing(coll, "ring", Comm.flat(p), count, root=root, chunks=4)
        assert chain.n_steps == (4 + p - 2 if p > 1 else 0)
        assert sent.sum() == (p - 1) * count and sent.max() <= count
        # data result for a nonzero root (test_algorithms only uses root 0)
        rng = np.random.default_rng(p)
        for sched in (tree, chain):
            inputs = rng.integers(-9, 9, size=(p, count))
            buf = pack_inputs(sched, inputs)
            interpret(sched, buf)
            out = unpack_outputs(sched, buf)
            want = (np.broadcast_to(inputs[root], (p, count)) if coll == "broadcast"
                    else inputs.sum(axis=0))
            np.testing.assert_array_equal(out, want)
