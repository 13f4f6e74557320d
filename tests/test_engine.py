"""The engine: a checked run's one walk equals timing and checking apart, in one process and
over "processes" (threads); auto picks the fastest; a broken schedule is caught."""

import pytest

from tests.reference import emulate_verify
from tests.threads import run_threads
from ubemu import engine
from ubemu.algorithms import algorithm_names, build_schedule
from ubemu.data.dtypes import get_dtype
from ubemu.errors import UbemuError
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology
from ubemu.timing.walk import time_schedule

RACK = load_topology("ub-mesh-rack")


@pytest.mark.parametrize("n_procs", [1, 2, 3])
@pytest.mark.parametrize("coll,alg,count,dtype,op", [
    ("all_reduce", "hierarchical", 640, "float32", "sum"),
    ("all_reduce", "direct", 64 * 4, "bfloat16", "sum"),  # windows; shadow and random runs
    ("alltoall", "multipath", 64 * 3, "int32", "sum"),
    ("reduce_scatter", "ring", 64 * 5, "float16", "avg"),
    ("all_reduce", "nhr", 64 * 3, "int64", "max")])  # shadow run
def test_checked_run_equals_the_separate_runs(coll, alg, count, dtype, op, n_procs):
    """One walk that times and checks gives the figures of timing and checking apart."""
    comm = group_of(RACK)
    itemsize = get_dtype(dtype).itemsize
    sched = build_schedule(coll, alg, comm, count, data=False)
    want_time = time_schedule(sched, RACK, comm.npus, itemsize)
    want_checks = emulate_verify(coll, alg, comm, count, dtype=dtype, op=op, seed=4)

    def work(ex):
        return engine.run_checked(coll, alg, comm, count, RACK, dtype, op, seed=4, ex=ex)

    for timed, checks in run_threads(n_procs, work):
        assert (timed.time_s, timed.usage, timed.bottleneck) == want_time
        assert checks == want_checks and checks[0] == 0


def test_time_only_equals_the_timing_plane():
    comm = group_of(RACK, "unit=board")
    timed = engine.time_only("all_gather", "ring", comm, 8 * 100, RACK, 4)
    want = time_schedule(build_schedule("all_gather", "ring", comm, 800, data=False), RACK,
                         comm.npus, 4)
    assert (timed.time_s, timed.usage, timed.bottleneck) == want


def test_choose_picks_the_fastest_candidate_and_says_why_others_were_left_out():
    comm = group_of(load_topology("switch:8"))
    name, timed, notes = engine.choose("alltoall", comm, 8 * 64, load_topology("switch:8"), 4)
    times = notes["auto_candidates"]
    assert name == min(times, key=times.get) and timed.time_s == times[name]
    assert "multipath" in notes["auto_skipped"]  # needs a 2-axis grid


@pytest.mark.parametrize("spec,group", [("ub-mesh-rack", None), ("ub-mesh-pod", "one_per=rack"),
                                        ("switch:8:oversub=2,switch:4:oversub=2", None),
                                        ("dgx-h100", None), ("full_mesh:4,ring:5", None)])
@pytest.mark.parametrize("collective", ["all_reduce", "all_gather", "alltoall"])
def test_pruned_choice_equals_timing_every_candidate(spec, group, collective):
    """The pruning never changes the choice: against timing every algorithm one by one (of
    the topology's library, if it names one), at sizes where latency, messages and bandwidth
    each dominate; a pruned candidate is slower."""
    from ubemu.algorithms.libraries import library_algorithms

    topo = load_topology(spec)
    comm = group_of(topo, group)
    for count in (comm.n, comm.n * 1000, comm.n * 2**18):
        name, timed, notes = engine.choose(collective, comm, count, topo, 4)
        every = {}
        for alg in library_algorithms(topo, collective, algorithm_names(collective)):
            if alg in notes["auto_skipped"]:
                continue
            every[alg] = engine.time_only(collective, alg, comm, count, topo, 4).time_s
        assert name == min(every, key=every.get) and timed.time_s == every[name]
        for alg, low_s in notes["auto_pruned"].items():
            assert low_s <= every[alg] * (1 + 1e-9) and every[alg] > timed.time_s
        assert set(every) == set(notes["auto_candidates"]) | set(notes["auto_pruned"])


@pytest.mark.parametrize("n_procs", [1, 3])
def test_on_root_runs_once_and_gives_every_process_its_result_or_its_error(n_procs):
    calls = []

    def work(ex):
        return engine.on_root(lambda: calls.append(ex.rank) or ex.rank + 41, ex)

    assert run_threads(n_procs, work) == [41] * n_procs and calls == [0]

    def failing(ex):
        def fn():
            raise UbemuError("bad input on process 0")

        with pytest.raises(UbemuError, match="bad input on process 0"):
            engine.on_root(fn, ex)
        return True

    assert run_threads(n_procs, failing) == [True] * n_procs  # nobody left waiting


@pytest.mark.parametrize("verify", [False, True])
def test_progress_is_told_the_fraction_of_steps_done(verify):
    """Timing only: one walk; checked bf16 sum: the exact, shadow and random runs, each a
    third of the way (so a long row's estimate covers all of them)."""
    comm = group_of(RACK)
    seen = []
    if verify:
        engine.run_checked("all_reduce", "ring", comm, 64 * 4, RACK, "bfloat16",
                           progress=seen.append)
    else:
        engine.time_only("all_reduce", "ring", comm, 64 * 4, RACK, 2, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    if verify:
        assert any(abs(f - 1 / 3) < 1e-9 for f in seen) and any(abs(f - 2 / 3) < 1e-9
                                                               for f in seen)
