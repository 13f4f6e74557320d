"""Hierarchical, tree, Bruck, pairwise and multipath schedules: closed-form step counts and
bytes, per-level combinations, constraints. Correctness on data is in test_algorithms.py."""

import itertools

import numpy as np
import pytest

from tests.helpers import link_elements
from tests.reference import expected
from ubemu.algorithms import Comm, build_schedule
from ubemu.algorithms.base import PHASES
from ubemu.errors import UbemuError
from ubemu.interpret import interpret
from ubemu.layout import input_shape, pack_inputs, unpack_outputs


def run(collective, name, comm, count, **options):
    sched = build_schedule(collective, name, comm, count, **options).validate()
    rng = np.random.default_rng(1)
    inputs = rng.integers(-99, 99, size=input_shape(collective, comm.n, count))
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


def log2_ceil(p):
    return int(np.ceil(np.log2(p))) if p > 1 else 0


@pytest.mark.parametrize("p", [2, 3, 5, 8, 12, 17])
def test_pairwise_and_bruck_closed_forms(p):
    b = 4
    count = p * b
    sched, sent = both("alltoall", "pairwise", Comm.flat(p), count)
    assert sched.n_steps == p - 1
    assert (sent == (p - 1) * b).all()
    sched, sent = both("all_gather", "bruck", Comm.flat(p), count)
    assert sched.n_steps == log2_ceil(p)
    assert (sent == (p - 1) * b).all()
    sched, sent = both("alltoall", "bruck", Comm.flat(p), count)
    assert sched.n_steps == log2_ceil(p)
    popcounts = sum(bin(i).count("1") for i in range(p))
    assert (sent == b * popcounts).all()


def test_bruck_alltoall_steps_hand_count():
    # p = 5: 3 steps; indices 1..4 have 1+1+2+1 = 5 set bits -> 5 blocks sent per rank
    sched, sent = both("alltoall", "bruck", Comm.flat(5), 10)
    assert sched.n_steps == 3 and (sent == 5 * 2).all()


def test_alltoall_one_rank_is_a_local_copy():
    for name in ("pairwise", "bruck", "hierarchical"):
        sched = run("alltoall", name, Comm.flat(1), 3)
        assert link_elements(sched).sum() == 0


@pytest.mark.parametrize("dims", [(8, 8), (4, 3), (2, 5), (1, 4)])
def test_multipath_closed_form_and_links(dims):
    nx, ny = dims
    p, b = nx * ny, 2
    sched, sent = both("alltoall", "multipath", Comm(dims), p * b)
    assert sched.n_steps == (2 if nx > 1 and ny > 1 else 1)
    assert (sent == (p - 1) * b + (nx - 1) * (ny - 1) * b).all()
    for st in sched.steps():
        link = st.src != st.dst
        s, d = st.src[link], st.dst[link]
        differ = (s % nx != d % nx).astype(int) + (s // nx != d // nx)
        assert (differ == 1).all()


def test_multipath_odd_blocks_and_constraints():
    run("alltoall", "multipath", Comm((3, 4)), 12 * 3)  # halves of 2 and 1 elements
    with pytest.raises(UbemuError, match="2-axis grid"):
        build_schedule("alltoall", "multipath", Comm((2, 2, 2)), 8)
    with pytest.raises(UbemuError, match="full-mesh"):
        build_schedule("alltoall", "multipath", Comm((4, 4), ("full_mesh", "ring")), 16)


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


def ring_steps(dims):
    return sum(d - 1 for d in dims if d > 1)


@pytest.mark.parametrize("dims", [(4, 3), (2, 2, 4), (3, 1, 2), (6,)])
def test_hierarchical_ring_closed_forms(dims):
    comm = Comm(dims)
    p = comm.n
    count = 2 * p
    sched, sent = both("all_reduce", "hierarchical", comm, count)
    assert sched.n_steps == 2 * ring_steps(dims)
    assert (sent == 2 * count * (p - 1) // p).all()
    n_big = sum(d > 1 for d in dims)
    for coll in ("reduce_scatter", "all_gather"):
        sched, sent = both(coll, "hierarchical", comm, count)
        assert sched.n_steps == ring_steps(dims) + (n_big > 1)
        # every rank sends S(p-1)/p in the phases; the permutation adds b where rev(r) != r
        extra = sent - count * (p - 1) // p
        assert set(np.unique(extra)) <= {0, 2}
        assert (extra.sum() > 0) == (n_big > 1)
        sched, sent = both(coll, "hierarchical", comm, count, heavy_axis="outer")
        assert sched.n_steps == ring_steps(dims)
        assert (sent == count * (p - 1) // p).all()
    for level, per_step in (("pairwise", ring_steps(dims)), ("direct", n_big)):
        sched, sent = both("alltoall", "hierarchical", comm, count, per_level=level)
        assert sched.n_steps == max(per_step, 1)
        assert (sent == sum(count * (d - 1) // d for d in dims)).all()


def test_hierarchical_permutation_hand_example():
    # dims (2, 3): after axis 0 then axis 1, rank r = x + 2y holds block 3x + y
    sched = build_schedule("reduce_scatter", "hierarchical", Comm((2, 3)), 6)
    perm = list(sched.steps())[-1]
    assert sorted(zip(perm.src.tolist(), perm.dst.tolist())) == [(1, 3), (2, 1), (3, 4),
                                                                  (4, 2)]


def _names(*kinds):
    return sorted(set.intersection(*({n for k, n in PHASES if k == kind} for kind in kinds)))


def test_hierarchical_per_level_combinations():
    lower = _names("reduce_scatter", "all_gather")
    top = _names("all_reduce")
    assert "ring" in lower and "ring" in top
    tried = 0
    for a, b in itertools.product(lower, top):
        for dims, count in (((4, 3), 31), ((2, 4), 8)):
            try:
                run("all_reduce", "hierarchical", Comm(dims), count, per_level=(a, b))
            except UbemuError as exc:  # a phase's own constraint (message names it)
                assert "cannot run on axis" in str(exc)
                continue
            tried += 1
    assert tried >= len(lower) * len(top)
    for a, b in itertools.product(lower, repeat=2):
        for coll, heavy in itertools.product(("reduce_scatter", "all_gather"), ("inner", "outer")):
            run(coll, "hierarchical", Comm((4, 2)), 16, per_level=(a, b), heavy_axis=heavy)
    run("all_reduce", "hierarchical", Comm((2, 3, 2)), 25, per_level=("ring",) * 3)
    run("alltoall", "hierarchical", Comm((2, 3, 2)), 24, per_level=("direct", "pairwise",
                                                                     "direct"))


def test_hierarchical_bad_options():
    with pytest.raises(UbemuError, match=r"unknown reduce_scatter per-level algorithm 'rnig'; "
                                         r"did you mean 'ring'\? valid: .*ring"):
        build_schedule("all_reduce", "hierarchical", Comm((4, 2)), 8, per_level=("rnig", "ring"))
    with pytest.raises(UbemuError, match=r"unknown all_reduce per-level algorithm 'rnig'"):
        build_schedule("all_reduce", "hierarchical", Comm((4, 2)), 8, per_level=("ring", "rnig"))
    with pytest.raises(UbemuError, match="per_level: 3 names for 2 axes"):
        build_schedule("all_reduce", "hierarchical", Comm((4, 2)), 8, per_level=("ring",) * 3)
    with pytest.raises(UbemuError, match="unknown heavy_axis 'middle'; valid: inner, outer"):
        build_schedule("reduce_scatter", "hierarchical", Comm((4, 2)), 8, heavy_axis="middle")
    with pytest.raises(UbemuError, match="valid: direct, pairwise"):
        build_schedule("alltoall", "hierarchical", Comm((4, 2)), 8, per_level="ring")
