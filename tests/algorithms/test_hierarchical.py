"""Hierarchical collectives: per-level closed forms, the permutation step, per-level
combinations, bad options."""

import itertools

import numpy as np
import pytest

from tests.helpers import data_and_timing
from tests.helpers import run_against_reference as run_ref
from ubemu.algorithms import build_schedule
from ubemu.algorithms.base import PHASES
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm


def ring_steps(dims):
    return sum(d - 1 for d in dims if d > 1)


@pytest.mark.parametrize("dims", [(4, 3), (2, 2, 4), (3, 1, 2), (6,)])
def test_hierarchical_ring_closed_forms(dims):
    comm = Comm(dims)
    p = comm.n
    count = 2 * p
    sched, sent = data_and_timing("all_reduce", "hierarchical", comm, count)
    assert sched.n_steps == 2 * ring_steps(dims)
    assert (sent == 2 * count * (p - 1) // p).all()
    n_big = sum(d > 1 for d in dims)
    for coll in ("reduce_scatter", "all_gather"):
        sched, sent = data_and_timing(coll, "hierarchical", comm, count)
        assert sched.n_steps == ring_steps(dims) + (n_big > 1)
        # every rank sends S(p-1)/p in the phases; the permutation adds b where rev(r) != r
        extra = sent - count * (p - 1) // p
        assert set(np.unique(extra)) <= {0, 2}
        assert (extra.sum() > 0) == (n_big > 1)
        sched, sent = data_and_timing(coll, "hierarchical", comm, count, heavy_axis="outer")
        assert sched.n_steps == ring_steps(dims)
        assert (sent == count * (p - 1) // p).all()
    for level, per_step in (("pairwise", ring_steps(dims)), ("direct", n_big)):
        sched, sent = data_and_timing("alltoall", "hierarchical", comm, count, per_level=level)
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
                run_ref("all_reduce", "hierarchical", Comm(dims), count, per_level=(a, b))
            except UbemuError as exc:  # a phase's own constraint (message names it)
                assert "cannot run on axis" in str(exc)
                continue
            tried += 1
    assert tried >= len(lower) * len(top)
    for a, b in itertools.product(lower, repeat=2):
        # the in-switch phases need levels that reduce (their data moves as direct's)
        comm = Comm((4, 2), reducing=(True, True)) if "innet" in (a, b) else Comm((4, 2))
        for coll, heavy in itertools.product(("reduce_scatter", "all_gather"), ("inner", "outer")):
            run_ref(coll, "hierarchical", comm, 16, per_level=(a, b), heavy_axis=heavy)
    run_ref("all_reduce", "hierarchical", Comm((2, 3, 2)), 25, per_level=("ring",) * 3)
    run_ref("alltoall", "hierarchical", Comm((2, 3, 2)), 24, per_level=("direct", "pairwise",
                                                                     "direct"))


def test_hierarchical_bad_options():
    with pytest.raises(UbemuError, match=r"unknown reduce_scatter per-level algorithm 'rnig'; "
                                         r"did you mean .ring.\? valid: .*ring"):
        build_schedule("all_reduce", "hierarchical", Comm((4, 2)), 8, per_level=("rnig", "ring"))
    with pytest.raises(UbemuError, match=r"unknown all_reduce per-level algorithm 'rnig'"):
        build_schedule("all_reduce", "hierarchical", Comm((4, 2)), 8, per_level=("ring", "rnig"))
    with pytest.raises(UbemuError, match="per_level: 3 names for 2 axes"):
        build_schedule("all_reduce", "hierarchical", Comm((4, 2)), 8, per_level=("ring",) * 3)
    with pytest.raises(UbemuError, match="unknown heavy_axis 'middle'; valid: inner, outer"):
        build_schedule("reduce_scatter", "hierarchical", Comm((4, 2)), 8, heavy_axis="middle")
    with pytest.raises(UbemuError, match="valid: direct, pairwise"):
        build_schedule("alltoall", "hierarchical", Comm((4, 2)), 8, per_level="ring")


@pytest.mark.parametrize("dims,per_level", [((4, 3, 2), "pairwise"), ((2, 1, 5), "direct"),
                                            ((3, 4), ("direct", "pairwise"))])
def test_hierarchical_alltoall_data_steps_time_as_their_timing_twin(dims, per_level):
    """A checked run times the timing-only schedule instead of these block-by-block steps
    (``time_apart``): both give the same time, usage and bottleneck; and the closed-form
    moves deliver every block, also when only one block of senders is built."""
    from ubemu.machine.spec import load_topology
    from ubemu.timing.walk import time_schedule

    topo = load_topology(",".join(f"full_mesh:{d}" if d > 1 else "ring:1" for d in dims))
    comm = Comm(dims)
    count = comm.n * 3
    data = build_schedule("alltoall", "hierarchical", comm, count, per_level=per_level)
    twin = build_schedule("alltoall", "hierarchical", comm, count, data=False,
                          per_level=per_level)
    assert data.time_apart and not twin.time_apart
    assert time_schedule(data, topo) == time_schedule(twin, topo)
    run_ref("alltoall", "hierarchical", comm, count, per_level=per_level)
    whole = [(st.src, st.dst, st.src_off, st.dst_off) for st in data.steps()]
    half = comm.restricted(comm.n // 3, comm.n)
    for st, part in zip(whole, build_schedule("alltoall", "hierarchical", half, count,
                                              per_level=per_level).steps()):
        mine = st[0] >= comm.n // 3
        assert all(np.array_equal(a[mine], b) for a, b in zip(st, (part.src, part.dst,
                                                                   part.src_off, part.dst_off)))
