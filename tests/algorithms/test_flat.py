"""The flat algorithms generated from axis phases (bidir ring, halving-doubling, recursive
doubling, NHR, direct, multi-ring): step counts and bytes per rank against their docstrings'
formulas, more rank counts, timing-only schedules against data ones, and the phase contract on
uneven segments."""

import math
from collections import Counter

import numpy as np
import pytest

from tests.helpers import link_elements, run_against_reference
from tests.interpret import interpret
from tests.reference import reduce_rows
from ubemu.algorithms import build_schedule
from ubemu.algorithms.base import PHASES, blocks
from ubemu.machine.comm import Comm
from ubemu.schedule import Schedule, steps_counted

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


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6, 7, 9, 16, 31, 100, 128])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_step_counts(key, p):
    coll, name = key
    count = 4 * p
    for data in (True, False):
        sched = build_schedule(coll, name, Comm.flat(p), count, data=data)
        assert sched.n_steps == expected_steps(coll, name, p)
        assert sum(steps_counted(st) for st in sched.steps()) == sched.n_steps


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


@pytest.mark.parametrize("p", [5, 6, 7, 9, 10, 11, 13, 17])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_more_rank_counts(key, p):
    coll, name = key
    counts = [p, 2 * p] if coll != "all_reduce" else [2, p - 1, 3 * p + 2]
    for count in counts:
        run_against_reference(coll, name, Comm.flat(p), count)


def _step_bytes(sched):
    """Per step occurrence, a window's steps summed (they are timed as one; a compact
    all-pairs step may stand for a whole window): Counter of (src, dst, reduce) -> elements
    (local copies, which cross no link, left out: a compact all-pairs step does not list
    them)."""
    units, k, stop = [], 0, -1
    ends = dict(sched.windows)
    for st in sched.steps():
        c = Counter()
        for s, d, n, r in zip(st.src.tolist(), st.dst.tolist(), st.n.tolist(),
                              st.reduce.tolist()):
            if s != d or r:
                c[(s, d, r)] += n
        for _ in range(st.repeat):
            if k < stop:
                units[-1].update(c)
            else:
                units.append(Counter(c))
                stop = ends.get(k, -1)
            k += getattr(st, "span", 1)
    return units


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
