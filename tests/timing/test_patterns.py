"""Repeated patterns timed from one routing (ubemu.timing.patterns) equal routing every step."""

import pytest
from ubemu.kernels import numpy_timing
from ubemu.kernels import timing as timing_kernels

from ubemu.algorithms import build_schedule
from ubemu.api import simulate
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import load_topology, resolve_topology
from ubemu.schedule import ShiftSteps
from ubemu.timing import patterns
from ubemu.timing.timer import StepTimer
from ubemu.timing.walk import time_steps


@pytest.mark.parametrize("topo,alg,count", [
    ("ub-mesh-pod", "hierarchical", 3 * 2**16 + 5),  # trunks: links carrying several
    ("atlas950-superpod", "hierarchical", 2**20 + 3),  # uneven blocks: one pattern per phase
    ("torus:4x4x4", "ring", 1000),
    ("full_mesh:8,switch:16@224GBps/1us", "nhr", 4096 + 7)])
def test_repeated_pattern_shortcut_equals_routing_every_step(monkeypatch, topo, alg, count):
    """Steps that repeat their (src, dst) pairs are profiled once; figures must not change."""
    import ubemu.timing.walk as timing_mod
    from ubemu.machine.groups import group_of
    from ubemu.machine.topology import TopologyParams

    tp = load_topology(topo)
    tp = type(tp)(tp.levels, tp.name, TopologyParams(reduce_GBps=100.0))
    comm = group_of(tp)
    sched = build_schedule("all_reduce", alg, comm, count, data=False)
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 10**12)
    want = timing_mod.time_schedule(sched, tp, comm.npus, 2)
    calls = []
    for kernels in (timing_kernels, numpy_timing):  # the Numba kernels or their NumPy twins
        monkeypatch.setattr(kernels, "pattern_step",
                            lambda *a, real=kernels.pattern_step: calls.append(1) or real(*a))
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 1)
    got = timing_mod.time_schedule(sched, tp, comm.npus, 2)
    assert got == want
    assert calls  # the shortcut ran (on the pod only for the non-trunk levels)


@pytest.mark.parametrize("topo", ["atlas950-superpod", "ub-mesh-pod",
                                  "switch:16@100GBps/1us:planes=4,switch:8@50GBps:planes=2"])
@pytest.mark.parametrize("min_ranks", [2, 10**9])  # compact rings, or repeated steps
def test_shortcuts_under_faults_equal_timing_every_step(topo, min_ranks, monkeypatch):
    """Repeated patterns and compact rings that detours make share links are timed as the
    steps one by one (a recording timer routes every transfer)."""
    calls = []
    for kernels in (timing_kernels, numpy_timing):
        monkeypatch.setattr(kernels, "shared_pairs",
                            lambda *a, real=kernels.shared_pairs: calls.append(1) or real(*a))
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 1)
    monkeypatch.setattr(ShiftSteps, "MIN_RANKS", min_ranks)
    t = with_faults(resolve_topology(topo), "links=0.2%,seed=3" if "atlas" in topo or "pod"
                    in topo else "links=6,seed=3", "apr")
    res = simulate("all_reduce", (1 << 24) + 4 * 7, t, "hierarchical")
    assert calls  # links that detours share were listed
    sched = build_schedule("all_reduce", "hierarchical", t.group(), res.count, data=False)
    timer = StepTimer(t)
    timer.capture = []
    time_steps(sched, sched.steps(), timer, 4)
    assert timer.time_s == res.time_s
    assert timer.busy_s.tolist() == [u.busy_s for u in res.usage]


@pytest.mark.parametrize("topo,alg", [("torus:4x4x4", "ring_bidir"),
                                      ("torus:4x4x4", "multi_ring"),
                                      ("full_mesh:8,switch:8@50GBps/1us", "hierarchical")])
def test_repeated_patterns_with_receive_queues_equal_routing_every_step(monkeypatch, topo, alg):
    """Steps in which NPUs receive several messages (both ring directions; a level's
    direct phase) under message costs large enough that their receive queue sets the
    step: the profiled pattern carries the receive tail as routing every step gives it."""
    from ubemu.machine.groups import group_of
    from ubemu.machine.spec import with_params
    from ubemu.timing.walk import time_schedule

    monkeypatch.setenv("UBEMU_KERNELS", "numba")  # the kernel spied on below serves
    tp = with_params(load_topology(topo), ["send_overhead_ns=500", "recv_overhead_ns=3000"])
    comm = group_of(tp)
    options = {"per_level": ["direct", "ring"]} if alg == "hierarchical" else {}
    sched = build_schedule("all_reduce", alg, comm, 3 * 2**14 + 5, data=False, **options)
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 10**12)
    want = time_schedule(sched, tp, comm.npus, 4)
    from ubemu.kernels import timing as kernels

    tails, real = [], kernels.pattern_step
    monkeypatch.setattr(kernels, "pattern_step", lambda *a: tails.append(1) or real(*a))
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 1)
    assert time_schedule(sched, tp, comm.npus, 4) == want
    assert tails
