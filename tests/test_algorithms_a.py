"""Checks specific to the bidir-ring, halving-doubling, recursive-doubling, NHR, direct and
multi-ring families: step counts and bytes per rank against their closed forms, non-powers of
two, the per-axis phases on uneven segments, and timing-only schedules against data ones."""

import math
from collections import Counter

import numpy as np
import pytest

from tests.helpers import link_elements
from tests.reference import expected, reduce_rows
from ubemu.algorithms import Comm, build_schedule
from ubemu.algorithms.base import PHASES, blocks
from ubemu.algorithms.multi_ring import grid_rings
from ubemu.errors import UbemuError
from ubemu.interpret import interpret
from ubemu.layout import input_shape, pack_inputs, unpack_outputs
from ubemu.schedule import Schedule, Step

MINE = ("ring_bidir", "halving_doubling", "recursive_doubling", "nhr", "direct", "multi_ring")
KEYS = [(c, a) for c, a in [
    ("all_reduce", "ring_bidir"), ("reduce_scatter", "ring_bidir"), ("all_gather", "ring_bidir"),
    ("all_reduce", "halving_doubling"), ("reduce_scatter", "halving_doubling"),
    ("all_gather", "halving_doubling"), ("all_reduce", "recursive_doubling"),
    ("all_gather", "recursive_doubling"), ("all_reduce", "nhr"), ("reduce_scatter", "nhr"),
    ("all_gather", "nhr"), ("all_reduce", "direct"), ("reduce_scatter", "direct"),
    ("all_gather", "direct"), ("alltoall", "direct"), ("all_reduce", "multi_ring")]]


def _lg(p):
    return int(math.floor(math.log2(p)))


def _pow2(p):
    return p & (p - 1) == 0


def expected_steps(coll, name, p):
    """Step counts written out from the docstrings' formulas."""
    fold = 0 if _pow2(p) else 2
    if name in ("ring_bidir", "multi_ring"):
        return (2 if coll == "all_reduce" else 1) * (p - 1)
    if name == "halving_doubling":
        return (2 if coll == "all_reduce" else 1) * _lg(p) + fold
    if name == "recursive_doubling":
        return _lg(p) + fold
    if name == "nhr":
        return (2 if coll == "all_reduce" else 1) * math.ceil(math.log2(p))
    return {"all_reduce": p, "reduce_scatter": p - 1, "all_gather": 1, "alltoall": 1}[coll] \
        if p > 1 else {"all_reduce": 0, "reduce_scatter": 0, "all_gather": 0, "alltoall": 1}[coll]


def _run(coll, name, comm, count, seed=0, **opts):
    sched = build_schedule(coll, name, comm, count, **opts)
    sched.validate()
    rng = np.random.default_rng(seed)
    inputs = rng.integers(-1000, 1000, size=input_shape(coll, comm.n, count))
    buf = pack_inputs(sched, inputs.astype(np.int64))
    interpret(sched, buf, "sum")
    np.testing.assert_array_equal(unpack_outputs(sched, buf), expected(coll, inputs, "sum"))
    return sched


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6, 7, 9, 16, 31, 100, 128])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_step_counts(key, p):
    coll, name = key
    count = 4 * p
    for data in (True, False):
        sched = build_schedule(coll, name, Comm.flat(p), count, data=data)
        assert sched.n_steps == expected_steps(coll, name, p)
        assert sum(st.repeat for st in sched.steps()) == sched.n_steps


@pytest.mark.parametrize("p", [2, 4, 8, 16, 64])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_bytes_per_rank_powers_of_two(key, p):
    coll, name = key
    count = 3 * p * p  # equal blocks, also for multi_ring's phi(p) parts of p blocks
    sched = build_schedule(coll, name, Comm.flat(p), count, data=False)
    per = {"all_reduce": 2 * count * (p - 1) // p}.get(coll, count * (p - 1) // p)
    if (coll, name) == ("all_reduce", "recursive_doubling"):
        per = count * _lg(p)
    np.testing.assert_array_equal(link_elements(sched), per)


@pytest.mark.parametrize("p", [3, 5, 6, 7, 12, 13, 33])
def test_nhr_sends_p_minus_1_blocks_any_p(p):
    count = 2 * p
    for coll, phases in (("reduce_scatter", 1), ("all_gather", 1), ("all_reduce", 2)):
        sched = build_schedule(coll, "nhr", Comm.flat(p), count)
        np.testing.assert_array_equal(link_elements(sched), phases * 2 * (p - 1))


@pytest.mark.parametrize("p, shares", [(5, [2, 1, 1]), (8, [4, 2, 1]), (12, [6, 3, 1, 1])])
def test_nhr_distances_and_shares(p, shares):
    sched = build_schedule("reduce_scatter", "nhr", Comm.flat(p), p)
    for t, st in enumerate(sched.steps()):
        np.testing.assert_array_equal((st.src - st.dst) % p, 2 ** t)  # ring distance 2^t
        np.testing.assert_array_equal(np.bincount(st.src, st.n, minlength=p), shares[t])
    sched = build_schedule("all_gather", "nhr", Comm.flat(p), p)
    for t, st in enumerate(sched.steps()):
        np.testing.assert_array_equal((st.dst - st.src) % p, 2 ** (len(shares) - 1 - t))
        np.testing.assert_array_equal(np.bincount(st.src, st.n, minlength=p), shares[::-1][t])


@pytest.mark.parametrize("p", [3, 5, 6, 7, 12])
def test_halving_doubling_fold_bytes(p):
    """Thakur et al.'s fold: odd ranks of the first 2r send S, the rest as on p2 ranks."""
    p2 = 1 << _lg(p)
    r = p - p2
    count = 5 * p2
    sent = link_elements(build_schedule("all_reduce", "halving_doubling", Comm.flat(p), count))
    pos = np.arange(p)
    want = np.where(pos < 2 * r, count, 0) + np.where(
        (pos >= 2 * r) | (pos % 2 == 0), 2 * count * (p2 - 1) // p2, 0)
    want[(pos < 2 * r) & (pos % 2 == 1)] = count
    np.testing.assert_array_equal(sent, want)


def test_ring_bidir_halves_each_way():
    p, count = 6, 6 * 5  # blocks of 5 elements: 3 clockwise, 2 counter-clockwise
    for st in build_schedule("reduce_scatter", "ring_bidir", Comm.flat(p), count).steps():
        cw = (st.dst - st.src) % p == 1
        np.testing.assert_array_equal(np.bincount(st.src[cw], st.n[cw], minlength=p), 3)
        np.testing.assert_array_equal(np.bincount(st.src[~cw], st.n[~cw], minlength=p), 2)


def test_direct_steps_use_disjoint_links():
    p = 7
    sched = build_schedule("all_reduce", "direct", Comm.flat(p), 3 * p)
    steps = list(sched.steps())
    assert sched.notes["concurrent_steps"] == [(0, p - 1)]
    links = [set(zip(st.src.tolist(), st.dst.tolist())) for st in steps[:p - 1]]
    assert sum(map(len, links)) == len(set().union(*links)) == p * (p - 1)
    assert steps[-1].n_transfers == p * (p - 1)  # one-shot all-gather


@pytest.mark.parametrize("p", [1, 2, 5])
def test_direct_alltoall_local_copy(p):
    sched = _run("alltoall", "direct", Comm.flat(p), 3 * p)
    (st,) = list(sched.steps())
    assert int((st.src == st.dst).sum()) == p


def test_self_reduce_rejected():
    bad = Schedule("all_reduce", "bad", 2, 4, 4,
                   lambda: iter([Step.make([0], [0], 2, 0, 2, reduce=True)]), n_steps=1)
    with pytest.raises(UbemuError, match="reduces into itself"):
        bad.validate()


@pytest.mark.parametrize("dims, n_rings", [((8,), 4), ((64,), 32), ((12,), 4), ((2,), 1),
                                           ((7,), 6), ((8, 8), 4), ((4, 3), 2), ((8, 8, 4), 2),
                                           ((2, 2, 4), 2), ((3, 3), 6)])
def test_multi_ring_rings_are_link_disjoint(dims, n_rings):
    orders = grid_rings(dims)
    n = int(np.prod(dims))
    assert len(orders) == n_rings
    for o in orders:  # each ring visits every rank once
        np.testing.assert_array_equal(np.sort(o), np.arange(n))
    links = [(int(a), int(b)) for o in orders for a, b in zip(o, np.roll(o, -1))]
    assert len(links) == len(set(links))  # no directed link serves two rings
    if any(a % 2 == 0 for a in dims if a > 1) or len(dims) == 1:
        strides = np.cumprod((1,) + tuple(dims[:-1]))
        src, dst = np.array(links).T
        coord = lambda r: (r[:, None] // strides) % np.array(dims)  # noqa: E731
        assert ((coord(src) != coord(dst)).sum(axis=1) == 1).all()  # a direct full-mesh hop
    sched = build_schedule("all_reduce", "multi_ring", Comm(dims), 5 * n)
    assert sched.notes["n_rings"] == n_rings


def test_multi_ring_n_rings_option():
    _run("all_reduce", "multi_ring", Comm.flat(8), 29, n_rings=3)
    with pytest.raises(UbemuError, match="n_rings must be in 1..4"):
        build_schedule("all_reduce", "multi_ring", Comm.flat(8), 16, n_rings=5)


@pytest.mark.parametrize("p", [5, 6, 7, 9, 10, 11, 13, 17])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_more_rank_counts(key, p):
    coll, name = key
    counts = [p, 2 * p] if coll != "all_reduce" else [2, p - 1, 3 * p + 2]
    for count in counts:
        _run(coll, name, Comm.flat(p), count)


def _step_bytes(sched):
    """Per step occurrence: Counter of (src, dst, reduce) -> elements."""
    out = []
    for st in sched.steps():
        c = Counter()
        for s, d, n, r in zip(st.src.tolist(), st.dst.tolist(), st.n.tolist(),
                              st.reduce.tolist()):
            c[(s, d, r)] += n
        out += [c] * st.repeat
    return out


@pytest.mark.parametrize("p", [6, 8])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_timing_schedule_matches_data_schedule(key, p):
    coll, name = key
    count = 7 * p + (3 if coll == "all_reduce" else 0)  # uneven blocks where allowed
    data = build_schedule(coll, name, Comm.flat(p), count)
    timing = build_schedule(coll, name, Comm.flat(p), count, data=False)
    timing.validate()
    assert _step_bytes(data) == _step_bytes(timing)


PHASE_KEYS = sorted(k for k in PHASES if k[1] in MINE)


@pytest.mark.parametrize("dims, d", [((3, 5), 1), ((4, 6), 1), ((8, 3), 0)])
@pytest.mark.parametrize("key", PHASE_KEYS, ids="-".join)
def test_phase_contract_on_uneven_segments(key, dims, d):
    """A phase along axis d, each line with its own segment, as ``hierarchical`` uses it."""
    kind, name = key
    comm = Comm(dims)
    axis = comm.axis(d)
    other = (axis.ranks // axis.stride // axis.size) * axis.stride + axis.ranks % axis.stride
    seg_off = 3 + 2 * other
    seg_len = 1 + 3 * other  # uneven lengths, some shorter than the axis
    buf_count = int((seg_off + seg_len).max()) + 2
    phase = PHASES[key]
    steps = list(phase.steps(axis, seg_off, seg_len, True))
    assert len(steps) == phase.n_steps(axis.size)
    sched = Schedule(kind, name, comm.n, buf_count, buf_count, lambda: iter(steps), len(steps))
    timing = Schedule(kind, name, comm.n, buf_count, buf_count,
                      lambda: phase.steps(axis, seg_off, seg_len, False), len(steps), data=False)
    assert _step_bytes(timing) == _step_bytes(sched)
    sched.validate()
    rng = np.random.default_rng(1)
    buf = rng.integers(-99, 99, size=(comm.n, buf_count))
    start = buf.copy()
    interpret(sched, buf, "sum")
    bo, bl = blocks(seg_off, seg_len, axis.size, axis.pos)
    for r in range(comm.n):
        line = axis.ranks[other == other[r]]
        lo, hi = seg_off[r], seg_off[r] + seg_len[r]
        if kind == "reduce_scatter":
            a, b = bo[r], bo[r] + bl[r]
            np.testing.assert_array_equal(buf[r, a:b], reduce_rows(start[line, a:b], "sum"))
        elif kind == "all_reduce":
            np.testing.assert_array_equal(buf[r, lo:hi], reduce_rows(start[line, lo:hi], "sum"))
        else:
            want = np.concatenate([start[q, bo[q]:bo[q] + bl[q]] for q in line])
            np.testing.assert_array_equal(buf[r, lo:hi], want)
        np.testing.assert_array_equal(buf[r, :lo], start[r, :lo])  # outside the segment
        np.testing.assert_array_equal(buf[r, hi:], start[r, hi:])
