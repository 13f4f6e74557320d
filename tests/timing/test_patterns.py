"""Repeated patterns timed from one routing (ubemu.timing.patterns) equal routing every step."""

import numpy as np
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


def _copies_spy(monkeypatch):
    """Record every k that :meth:`PatternProfiles._copies` finds."""
    found = []
    real = patterns.PatternProfiles._copies
    monkeypatch.setattr(patterns.PatternProfiles, "_copies",
                        lambda self, *a: found.append(real(self, *a)) or found[-1])
    return found


@pytest.mark.parametrize("topo", ["switch:8,switch:16", "atlas950-superpod",
                                  "switch:16@100GBps/1us:planes=4,switch:8@50GBps:planes=2"])
@pytest.mark.parametrize("options", [{"channels": 2}, {"channels": 3, "chunk": 1 << 16}])
@pytest.mark.parametrize("costs", [[], ["send_overhead_ns=500", "recv_overhead_ns=3000",
                                        "fill_bytes=65536", "fill_GBps=20", "reduce_GBps=300"]])
def test_channels_copying_one_pattern_equal_routing_every_step(monkeypatch, topo, options,
                                                               costs):
    """Channels of a hierarchical all-reduce on switch levels send between the same pairs:
    a joined step is k copies of one pattern, profiled once (one copy routed) and timed
    from the copies' sums; the figures equal routing every transfer of every step."""
    from ubemu.machine.spec import with_params

    tp = with_params(load_topology(topo), costs) if costs else load_topology(topo)
    nbytes = (1 << 22) + 4 * 13  # uneven blocks: every step its own sizes
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 10**12)
    want = simulate("all_reduce", nbytes, tp, "hierarchical", **options)
    found = _copies_spy(monkeypatch)
    monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", 1)
    got = simulate("all_reduce", nbytes, tp, "hierarchical", **options)
    assert (got.time_s, got.bottleneck) == (want.time_s, want.bottleneck)
    assert [u.busy_s for u in got.usage] == [u.busy_s for u in want.usage]
    assert [u.bytes for u in got.usage] == [u.bytes for u in want.usage]
    assert options["channels"] in found  # the copies were found


@pytest.mark.parametrize("messages", [False, True])
def test_copies_joined_at_their_seam_count_their_messages(monkeypatch, messages):
    """Two copies of a pattern whose last pair is its first: joined, the seam's two transfers
    are one message; the profile then routes both copies. Links the pattern uses twice
    (a pair sent twice) add up; the figures equal routing every step."""
    from ubemu.machine.spec import with_params
    from ubemu.schedule import Step

    tp = load_topology("switch:4,switch:4")
    if messages:
        tp = with_params(tp, ["send_overhead_ns=700", "recv_overhead_ns=2000"])
    src = np.array([0, 5, 9, 0, 0, 5, 9, 0])
    dst = np.array([7, 2, 14, 7, 7, 2, 14, 7])
    steps = [Step(src, dst, np.arange(1, 9) * m, None, None, np.zeros(8, bool), channels=2)
             for m in (1000, 3000, 2000)]
    times = []
    for min_transfers in (10**12, 1):
        monkeypatch.setattr(patterns, "PATTERN_MIN_TRANSFERS", min_transfers)
        found = _copies_spy(monkeypatch)
        timer = StepTimer(tp)
        for st in steps:
            timer.step_time(st, 4)
        times.append((timer.time_s, timer.busy_s.tolist()))
    assert times[0] == times[1]
    assert 2 in found
