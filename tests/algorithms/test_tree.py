"""Trees and chains: the double binary tree's step counts, broadcast and reduce."""

import numpy as np
import pytest

from tests.helpers import link_elements
from tests.interpret import interpret
from tests.reference import expected
from ubemu.algorithms import build_schedule
from ubemu.collectives import get
from ubemu.comm import Comm
from ubemu.layout import pack_inputs, unpack_outputs


def run(collective, name, comm, count, **options):
    sched = build_schedule(collective, name, comm, count, **options).validate()
    rng = np.random.default_rng(1)
    inputs = rng.integers(-99, 99, size=get(collective).input_shape(comm.n, count))
    buf = pack_inputs(sched, inputs)
    interpret(sched, buf)
    np.testing.assert_array_equal(unpack_outputs(sched, buf), expected(collective, inputs))
    return sched


def both(collective, name, comm, count, **options):
    """Data and timing-only schedules; both validate and send the same per-rank totals."""
    data = build_schedule(collective, name, comm, count, **options).validate()
    timing = build_schedule(collective, name, comm, count, data=False, **options).validate()
    assert data.n_steps == timing.n_steps
    sent = link_elements(data)
    np.testing.assert_array_equal(sent, link_elements(timing))
    return data, sent


def dbt_closed_form(p):
    lg = int(np.floor(np.log2(p)))
    return 3 * lg - 1 + (p >= 3 * 2 ** (lg - 1))


@pytest.mark.parametrize("p", [2, 3, 4, 6, 7, 8, 9, 12, 16, 24, 64])
def test_double_binary_tree(p):
    count = 2 * p + 2
    sched, sent = both("all_reduce", "double_binary_tree", Comm.flat(p), count)
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
        tree, sent = both(coll, "binary_tree", Comm.flat(p), count, root=root)
        lg = int(np.floor(np.log2(p)))
        assert tree.n_steps <= (lg if coll == "broadcast" else 2 * lg)
        assert sent.sum() == (p - 1) * count
        if coll == "reduce":
            assert sent[root] == 0 and (np.delete(sent, root) == count).all()
        chain, sent = both(coll, "ring", Comm.flat(p), count, root=root, chunks=4)
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
