"""Workloads (ubemu.workloads.run): operations alone equal simulate, shared links by hand."""

import numpy as np
import pytest

from ubemu.api import simulate
from ubemu.errors import UbemuError
from ubemu.workloads.ops import Op
from ubemu.workloads.run import run_workload

RING = "ring:8@50GBps/1us"
GiB = 2**30
EVEN, ODD = "start=0,stride=2,count=4", "start=1,stride=2,count=4"


def _ring_alone_s(nbytes):
    """Ring all-reduce of 4 ranks on every other NPU of RING: 6 steps of a quarter of the
    buffer over one 50 GB/s link each, 2 hops of 1 us per step."""
    return 6 * (nbytes / 4 / 50e9), 6 * 2e-6


@pytest.mark.parametrize("collective, algorithm, topo, group", [
    ("all_reduce", "ring", RING, EVEN),
    ("all_reduce", "hierarchical", "ub-mesh-rack", None),
    ("alltoall", "direct", "ub-mesh-rack", "unit=board"),
    ("reduce_scatter", "direct", "ub-mesh-pod", "one_per=rack"),
    ("all_gather", "auto", "dgx-h100", None),
    ("broadcast", "binary_tree", "torus:4x4", None),
])
def test_one_operation_takes_exactly_the_time_of_simulate(collective, algorithm, topo, group):
    res = run_workload([Op("x", collective, 4 * 2**20, group=group, algorithm=algorithm)],
                       topo)
    alone = simulate(collective, 4 * 2**20, topo, algorithm, group=group)
    (op,) = res.ops
    assert op.duration_s == alone.time_s and op.end_s == res.makespan_s
    assert op.algorithm == alone.algorithm and op.bottleneck == alone.bottleneck
    assert not op.slowed and op.slowdown == 1.0


def test_two_rings_on_the_same_links_take_twice_the_bandwidth_term():
    bw_s, fixed_s = _ring_alone_s(GiB)
    res = run_workload([Op("even", "all_reduce", GiB, group=EVEN, algorithm="ring"),
                        Op("odd", "all_reduce", GiB, group=ODD, algorithm="ring")], RING)
    for op in res.ops:
        assert op.alone_s == pytest.approx(bw_s + fixed_s, rel=1e-12)
        assert op.duration_s == pytest.approx(2 * bw_s + fixed_s, rel=1e-9)
        assert op.slowed and op.bottleneck == "level0"
    assert res.makespan_s == pytest.approx(2 * bw_s + fixed_s, rel=1e-9)


def test_after_runs_them_one_by_one_without_slowdown():
    bw_s, fixed_s = _ring_alone_s(GiB)
    res = run_workload([Op("even", "all_reduce", GiB, group=EVEN, algorithm="ring"),
                        Op("odd", "all_reduce", GiB, group=ODD, algorithm="ring",
                           after=("even",), gap_s=1e-3)], RING)
    even, odd = res.ops
    assert odd.start_s == even.end_s + 1e-3
    assert odd.duration_s == even.duration_s == pytest.approx(bw_s + fixed_s, rel=1e-12)
    assert res.exposed_s == pytest.approx(2 * (bw_s + fixed_s), rel=1e-12)  # gap not counted


def test_a_smaller_operation_shares_until_it_ends_then_the_larger_runs_alone():
    # both need all of every ring link; the half-size one finishes its bandwidth term at
    # 2 x (bw / 2) = bw; the big one has bw / 2 left and runs alone: it ends at 1.5 bw
    bw_s, fixed_s = _ring_alone_s(GiB)
    res = run_workload([Op("big", "all_reduce", GiB, group=EVEN, algorithm="ring"),
                        Op("small", "all_reduce", GiB // 2, group=ODD, algorithm="ring")],
                       RING)
    big, small = res.ops
    assert small.duration_s == pytest.approx(bw_s + fixed_s, rel=1e-9)
    # the big one's bandwidth term goes on alone while the small one has its latency tail
    assert big.duration_s == pytest.approx(1.5 * bw_s + fixed_s, rel=1e-9)


def test_operations_on_disjoint_links_do_not_slow_each_other():
    ops = [Op(f"board{b}", "all_reduce", GiB, group=f"unit=board,at={8 * b}",
              algorithm="ring") for b in range(8)]
    res = run_workload(ops, "ub-mesh-rack")
    alone = simulate("all_reduce", GiB, "ub-mesh-rack", "ring", group="unit=board")
    assert {op.duration_s for op in res.ops} == {alone.time_s}
    assert not any(op.slowed for op in res.ops)


def test_lockstep_replicas_equal_simulate_every_and_the_separate_operations():
    every = run_workload([Op("tp", "all_reduce", GiB, group="one_per=rack", every=True,
                             algorithm="ring")], "ub-mesh-pod").ops[0]
    sim = simulate("all_reduce", GiB, "ub-mesh-pod", "ring", group="one_per=rack", every=True)
    assert every.duration_s == sim.time_s and every.n_groups == sim.notes["groups"] == 64
    alone = simulate("all_reduce", GiB, "ub-mesh-pod", "ring", group="one_per=rack")
    assert sim.time_s > alone.time_s  # the groups share the pod's row and column links


def test_compute_hides_communication_and_dependencies_order_operations():
    ops = [Op("fwd", "compute", duration_s=0.01),
           Op("tp", "all_reduce", 2**20, group="unit=board", algorithm="ring"),
           Op("bwd", "compute", duration_s=0.02, after=("fwd",)),
           Op("dp", "all_reduce", 2**20, group="one_per=board", algorithm="ring",
              after=("fwd",))]
    res = run_workload(ops, "ub-mesh-rack")
    by = {op.name: op for op in res.ops}
    assert by["bwd"].start_s == by["dp"].start_s == 0.01
    assert res.makespan_s == pytest.approx(0.03)
    assert res.exposed_s == 0.0  # both collectives run under compute
    late = run_workload(ops + [Op("last", "all_gather", 2**20, after=("bwd",),
                                  algorithm="ring")], "ub-mesh-rack")
    assert late.exposed_s == pytest.approx(late.ops[-1].duration_s, rel=1e-12)


def test_repeat_runs_back_to_back():
    one = run_workload([Op("x", "all_reduce", 2**20, algorithm="ring")], "ub-mesh-rack")
    three = run_workload([Op("x", "all_reduce", 2**20, algorithm="ring", repeat=3)],
                         "ub-mesh-rack")
    assert three.makespan_s == pytest.approx(3 * one.makespan_s, rel=1e-12)


def test_usage_adds_every_operation():
    res = run_workload([Op("even", "all_reduce", GiB, group=EVEN, algorithm="ring"),
                        Op("odd", "all_reduce", GiB, group=ODD, algorithm="ring")], RING)
    alone = simulate("all_reduce", GiB, RING, "ring", group=EVEN)
    assert res.usage[0].bytes == 2 * alone.usage[0].bytes
    assert 0 < res.usage[0].utilisation <= 1.0
    assert res.to_dict()["ops"][1]["name"] == "odd"


def test_group_figures_are_over_the_links_the_operations_load():
    """One board's ring alone: the usage simulate gives (its ring's 8 of the 448 board
    links); the 8 boards at once: 8 rings of 8 links, as busy as one; over time, the links
    carrying a bandwidth term run flat out (a ring's every step loads its 8 links alike)."""
    one = run_workload([Op("x", "all_reduce", GiB, group="unit=board", algorithm="ring")],
                       "ub-mesh-rack")
    alone = simulate("all_reduce", GiB, "ub-mesh-rack", "ring", group="unit=board")
    assert one.usage == alone.usage
    board = one.usage[0]
    assert (board.links_used, board.links) == (8, 448)
    assert board.group_utilisation == pytest.approx(board.utilisation * 448 / 8, rel=1e-12)
    ops = [Op(f"b{b}", "all_reduce", GiB, group=f"unit=board,at={8 * b}", algorithm="ring")
           for b in range(8)]
    every = run_workload(ops, "ub-mesh-rack").usage[0]
    assert (every.links_used, every.utilisation) == (64, pytest.approx(8 * board.utilisation))
    assert every.group_utilisation == pytest.approx(board.group_utilisation, rel=1e-12)
    tl = one.timeline()["counters"]
    assert tl["classes"] == ["board", "rack"]
    assert max(g[0] for g in tl["group_utilisation"]) == pytest.approx(1.0, rel=1e-12)
    assert max(u[0] for u in tl["utilisation"]) == pytest.approx(8 / 448, rel=1e-12)
    assert tl["time_s"][0] == 0.0 and tl["group_utilisation"][-1] == [0.0, 0.0]


def test_group_counters_count_shared_links_once():
    """Two rings on the same 8 links at once: each at half speed, the 8 links full (counted
    once, not 16); two boards' rings on disjoint links: 16 links full."""
    shared = run_workload([Op("even", "all_reduce", GiB, group=EVEN, algorithm="ring"),
                           Op("odd", "all_reduce", GiB, group=ODD, algorithm="ring")], RING)
    t, util, group = shared.counters[0]
    assert t == 0.0 and group[0] == pytest.approx(1.0) and util[0] == pytest.approx(0.5)
    apart = run_workload([Op(f"b{b}", "all_reduce", GiB, group=f"unit=board,at={8 * b}",
                             algorithm="ring") for b in (0, 1)], "ub-mesh-rack")
    _, util, group = apart.counters[0]
    assert group[0] == pytest.approx(1.0) and util[0] == pytest.approx(16 / 448)


def test_timeline_columns_hold_every_slice():
    res = run_workload([Op("fwd", "compute", duration_s=1e-3),
                        Op("tp", "all_reduce", 2**24, group="unit=board", every=True,
                           algorithm="halving_doubling", after=("fwd",))], "ub-mesh-rack")
    sl = res.timeline()["slices"]
    assert set(sl["op"]) == {1}  # compute has no steps
    assert sum(sl["steps"]) == 6  # 3 halving + 3 doubling steps
    assert sl["start_s"][0] == pytest.approx(1e-3)
    assert sl["end_s"][-1] == pytest.approx(res.makespan_s)
    assert all(a == pytest.approx(b) for a, b in zip(sl["end_s"], sl["start_s"][1:]))
    assert res.to_dict()["timeline"] == res.timeline()


@pytest.mark.parametrize("ops, match", [
    ([], "no operations"),
    ([Op("a", "all_reduce", 8), Op("a", "all_reduce", 8)], "more than once"),
    ([Op("a", "all_reduce", 8, after=("b",))], "unknown operation in after 'b'"),
    ([Op("a", "all_reduce", 8, after=("b",)), Op("b", "all_reduce", 8, after=("a",))],
     "cycle: a -> b -> a"),
    ([Op("a", "al_reduce", 8)], "did you mean 'all_reduce'"),
    ([Op("a", "all_reduce", 0)], "nbytes must be"),
    ([Op("a", "all_reduce", 8, repeat=0)], "repeat must be"),
    ([Op("a", "all_reduce", 8, group="start=0,count=4", every=True)], "named by levels"),
    ([Op("a", "all_reduce", 64, algorithm="rign")], "rign"),
    ([Op("a", "sendrecv", 64, algorithm="ring")], "one algorithm, 'direct'"),
    ([Op("a", "all_reduce", 64, npus=np.array([[0, 1], [1, 2]]))], "two replicas"),
])
def test_bad_workloads_are_one_line_errors(ops, match):
    with pytest.raises(UbemuError, match=match):
        run_workload(ops, "ub-mesh-rack")


def test_sendrecv_sends_to_the_next_rank():
    res = run_workload([Op("pp", "sendrecv", GiB, group="unit=board")], "ub-mesh-rack")
    # one step: 7 messages of 1 GiB on 7 different 56 GB/s board links, plus the costs
    alone = res.ops[0].alone_s
    assert alone > GiB / 56e9
    assert alone == pytest.approx(GiB / 56e9, rel=0.01)


def test_faults_given_to_the_workload_reach_every_operation():
    ops = [Op("a", "all_reduce", 1 << 24, group="unit=board", algorithm="ring")]
    res = run_workload(ops, "ub-mesh-rack", faults="link=board:0-1", routing="apr")
    want = simulate("all_reduce", 1 << 24, "ub-mesh-rack", "ring", group="unit=board",
                    faults="link=board:0-1", routing="apr")
    assert res.ops[0].end_s == want.time_s
    assert want.time_s > simulate("all_reduce", 1 << 24, "ub-mesh-rack", "ring",
                                  group="unit=board").time_s


def test_groups_of_the_same_ids_but_another_size_are_not_mixed_up():
    """Rows [[0, 1], [2, 3], ...] and [[0, 1, 2, 3], ...] hold the same ids in the same order:
    each keeps its own profile (a planner sweep meets both)."""
    ids = np.arange(64, dtype=np.int64)
    two = run_workload([Op("a", "alltoall", 1 << 20, npus=ids.reshape(32, 2))], "switch:64")
    four = run_workload([Op("a", "alltoall", 1 << 20, npus=ids.reshape(16, 4))], "switch:64")
    alone = simulate("alltoall", 1 << 20, "switch:64", four.ops[0].algorithm,
                     group="start=0,stride=1,count=4")
    assert four.ops[0].duration_s == pytest.approx(alone.time_s, rel=1e-12)
    assert two.ops[0].duration_s != four.ops[0].duration_s


# -- repeats: played once where nothing shares their links ------------------------------------
def _steps_per_op(res):
    steps = [0] * len(res.ops)
    for k, _, n, _, _ in res.slices:
        steps[k] += n
    return steps


def test_repeats_played_at_once_take_the_times_of_playing_them_one_by_one(monkeypatch):
    from ubemu.workloads import run

    ops = [Op("tp", "all_reduce", 1 << 20, group="unit=board", every=True,
              algorithm="halving_doubling",  # several segments per repeat
              repeat=40),
           Op("ep", "alltoall", 4 << 20, algorithm="direct"),  # shares the first repeats
           Op("late", "all_gather", 1 << 20, algorithm="ring", at_s=2e-3, repeat=3),
           Op("bwd", "compute", duration_s=1e-4, after=("tp",)),
           Op("dp", "reduce_scatter", 1 << 22, group="one_per=board", every=True,
              algorithm="ring", after=("tp", "ep"), repeat=25)]
    fast = run_workload(ops, "ub-mesh-rack")
    monkeypatch.setattr(run, "SKIP_REPEATS", False)
    slow = run_workload(ops, "ub-mesh-rack")
    for a, b in zip(fast.ops, slow.ops):
        assert (a.name, a.slowed) == (b.name, b.slowed)
        assert a.start_s == pytest.approx(b.start_s, rel=1e-12, abs=0)
        assert a.end_s == pytest.approx(b.end_s, rel=1e-12, abs=0)
    assert fast.ops[0].slowed  # tp shared its first repeats with ep
    assert fast.makespan_s == pytest.approx(slow.makespan_s, rel=1e-12)
    assert fast.exposed_s == pytest.approx(slow.exposed_s, rel=1e-12)
    assert _steps_per_op(fast) == _steps_per_op(slow)  # the trace counts every step
    assert len(fast.slices) < len(slow.slices) / 4 and len(fast.counters) < len(slow.counters)


def test_a_billion_repeats_alone_cost_what_two_do():
    one = run_workload([Op("x", "all_reduce", 1 << 20, algorithm="direct")], "ub-mesh-rack")
    many = run_workload([Op("x", "all_reduce", 1 << 20, algorithm="direct", repeat=10**9),
                         Op("y", "all_gather", 1 << 20, algorithm="ring", after=("x",),
                            repeat=10**9)], "ub-mesh-rack")
    assert many.ops[0].end_s == 10**9 * one.ops[0].alone_s
    assert len(many.slices) <= 2 * len(one.slices) + 4
    assert _steps_per_op(many)[0] == 10**9 * _steps_per_op(one)[0]


def test_work_is_refused_before_timing_and_the_play_before_playing(monkeypatch):
    from ubemu.workloads import cache, profile

    ops = [Op("tp", "all_reduce", 1 << 20, group="unit=board", every=True, algorithm="direct",
              repeat=10**9),
           Op("ep", "alltoall", 4 << 20, algorithm="direct", repeat=10**6)]
    with pytest.raises(UbemuError, match=r"^work: workload of 2 operations would route about "
                                         r"4\.93e\+03 transfers timing them alone and play "
                                         r"about .* steps together \('tp' and 'ep' repeat "
                                         r"while others share their links\), .* over the limit "
                                         r"of 2e\+09 .*; order the operations with after"):
        run_workload(ops, "ub-mesh-rack")
    timed = []
    monkeypatch.setattr(cache, "profile_op", lambda *a, **k: timed.append(a) or
                        profile.profile_op(*a, **k))
    with pytest.raises(UbemuError, match=r"^work: workload of 2 operations would route about "
                                         r"4\.93e\+03 transfers .* over the limit of 1e\+03"):
        run_workload(ops, "ub-mesh-rack", max_work=1000)
    assert timed == []  # refused before anything was timed


def test_the_play_is_refused_over_the_memory_available(monkeypatch):
    from ubemu.data import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 300 * 2**20)
    ops = [Op("tp", "all_reduce", 1 << 20, group="unit=board", every=True, algorithm="direct",
              repeat=10**6),
           Op("ep", "alltoall", 4 << 20, algorithm="direct", repeat=10**6)]
    with pytest.raises(UbemuError, match=r"^memory: workload of 2 operations would need about "
                                         r".* GiB to time and play .* steps \('tp' and 'ep' "
                                         r"repeat .*, but only 0\.3 GiB is available"):
        run_workload(ops, "ub-mesh-rack", max_work=10**13)


def test_progress_is_told_the_fraction_done():
    seen = []
    run_workload([Op("a", "all_reduce", 1 << 20, algorithm="ring"),
                  Op("b", "all_gather", 1 << 20, algorithm="ring")], "ub-mesh-rack",
                 progress=lambda f, label: seen.append((f, label)))
    assert [label for _, label in seen] == ["timing a alone", "timing b alone"]
    assert seen[0][0] == 0.0 and 0 < seen[1][0] < 1


# -- each distinct operation timed once ------------------------------------------------------
def test_identical_operations_of_a_workload_are_timed_once(monkeypatch):
    from ubemu.workloads import cache, profile

    monkeypatch.setattr(cache, "_cache", {})
    timed = []
    monkeypatch.setattr(cache, "profile_op", lambda op, *a, **k: timed.append(op.name) or
                        profile.profile_op(op, *a, **k))
    ops = [Op("a", "all_reduce", 1 << 20, algorithm="ring"),
           Op("b", "all_reduce", 1 << 20, algorithm="ring", after=("a",)),
           Op("c", "all_gather", 1 << 20, algorithm="ring", after=("b",))]
    res = run_workload(ops, "ub-mesh-rack")
    assert timed == ["a", "c"]
    assert res.ops[1].alone_s == res.ops[0].alone_s and res.ops[1].start_s == res.ops[0].end_s
