"""Lower bounds and brackets of :mod:`ubemu.algorithms.bounds` against the step-level model."""

import pytest

import ubemu
from ubemu.algorithms import REGISTRY, algorithm_names
from ubemu.algorithms.bounds import candidate_bounds, closed_form, lower_bound_s, model_of
from ubemu.errors import UbemuError
from ubemu.machine.spec import resolve_topology, with_params

#: Atlas 960's three switched levels (trunked rack and SuperPoD, scale-out) and software
#: costs, small: 120 and 192 ranks (not powers of two: halving-doubling folds).
_SMALL_960 = ("switch:{}@1100GBps/300ns:trunk:access=1100GBps:access_lat=150ns:name=rack,"
              "switch:{}@1100GBps/1500ns:trunk:name=superpod,switch:5@100GBps/3000ns:name=cluster")
_COSTS = ["overhead_ns=2700", "send_overhead_ns=1110", "recv_overhead_ns=165"]


def small_960(rack, pod):
    return with_params(resolve_topology(_SMALL_960.format(rack, pod)), _COSTS)


@pytest.mark.parametrize("topo", ["switch:12", "ub-mesh-rack", "ring-8", "nvl72",
                                  "switch:8@50GiBps/1us"])
@pytest.mark.parametrize("collective", ["all_reduce", "all_gather", "reduce_scatter"])
def test_lower_bounds_never_exceed_the_step_model(topo, collective):
    """With one element or more per rank every timed step of a flat phase moves data: the
    bound counts its message ends and a latency; without, only its overhead."""
    model = model_of(topo)
    n = model.n
    for count in (n // 2 or 1, n, 7 * n + 3, 4096 * n + 5):
        if collective != "all_reduce" and count % n:
            continue
        for name in algorithm_names(collective):
            alg = REGISTRY[(collective, name)]
            try:
                bound = lower_bound_s(model, alg, count, 4, {})
                t = ubemu.simulate(collective, 4 * count, topo, name).time_s
            except UbemuError:
                continue  # cannot run here
            assert bound <= t * (1 + 1e-9), (name, count, bound, t)


def test_candidates_ranked_by_their_tops_alone():
    """``low=False``: an uneven bracket's low end is not worked out (None); the winner's is
    then the lower pass alone, equal to the whole bracket's."""
    model = model_of("ub-mesh-rack")
    count = 1001
    tops, _, _ = candidate_bounds(model, "all_reduce", count, 4, {}, prune=False, low=False)
    full, _, _ = candidate_bounds(model, "all_reduce", count, 4, {}, prune=False)
    assert tops["ring"][0] is None
    for name, (lo, hi, _why, proto) in tops.items():
        assert hi == full[name][1] and proto == full[name][3]
        if lo is not None:
            assert lo == full[name][0]
    alg = REGISTRY[("all_reduce", "ring")]
    hi = tops["ring"][1]
    assert closed_form(model, alg, count, 4, {}, "simple", high_s=hi)[:2] == \
        closed_form(model, alg, count, 4, {})[:2] != (hi, hi)


@pytest.mark.parametrize("rack,pod", [(4, 6), (8, 6), (4, 3)])
def test_auto_picks_what_simulate_picks_on_folded_multilevel_groups(rack, pod):
    """Flat algorithms over three switched levels, rank counts that fold, counts below and
    above the fold's chunk count (some chunks empty) and uneven: ``estimate``'s pick is
    ``simulate``'s, its time within its bracket (exact where it says so)."""
    topo = small_960(rack, pod)
    n = topo.n_npus
    p2 = 1 << (n.bit_length() - 1)
    for count in (p2 // 2, p2 // 2 + 3, 3 * p2 + 1, 50 * p2 + 37, 4096 * n + 5):
        est = ubemu.estimate("all_reduce", 4 * count, topo)
        sim = ubemu.simulate("all_reduce", 4 * count, topo)
        assert est.algorithm == sim.algorithm, (count, est, sim.algorithm)
        assert est.low_s * (1 - 1e-9) <= sim.time_s <= est.time_s * (1 + 1e-9)
        if est.exact:
            assert est.time_s == pytest.approx(sim.time_s, rel=1e-9)


def _outlined_cases():
    """(algorithm key, topology, group) for every ``fixed_outline`` algorithm on each of five
    topologies where it runs (in-switch reduction needs a switch that reduces)."""
    places = [("ub-mesh-rack", None), ("dgx-h100-multinode", None), ("nvl72", None),
              ("switch:4,full_mesh:3:trunk", None), ("ub-mesh-pod", "unit=rack")]
    for key in sorted(k for k, a in REGISTRY.items() if a.fixed_outline):
        check = REGISTRY[key].check
        for topo, group in places:
            if not (check and check(model_of(topo, group).comm)):
                yield key, topo, group


@pytest.mark.parametrize("key,topo,group", list(_outlined_cases()))
def test_a_fixed_outline_does_not_depend_on_the_count(key, topo, group):
    """An algorithm registered with ``fixed_outline`` (its lower bound outlines it once per
    group and options) builds schedules of one step count, windows and in-switch levels at
    every count, with every option set it takes; its lower bound asked of a fresh model at
    each count is the one a model keeping the outline gives."""
    alg = REGISTRY[key]
    model = model_of(topo, group)
    n = model.n
    counts = [0, 1, n - 1, n, 3 * n + 1, 4096 * n + 5] if key[0] == "all_reduce" \
        else [0, n, 3 * n, 4096 * n]
    option_sets = [{}, {"chunk": 1 << 16}] + (
        [{"channels": 2}, {"channels": 4, "per_level": "nhr"}] if "channels" in alg.options
        else [{"heavy_axis": "outer"}] if "heavy_axis" in alg.options else [])
    compared = 0
    for options in option_sets:
        outlines = set()
        for count in counts:
            sched = ubemu.algorithms.build_schedule(key[0], key[1], model.comm, count,
                                                    data=False, **options)
            outlines.add((sched.n_steps, tuple(sched.windows),
                          bool(sched.notes.get("in_switch"))))
            kept = lower_bound_s(model, alg, count, 4, options)
            fresh = lower_bound_s(_fresh(topo, group), alg, count, 4, options)
            assert kept == fresh, (options, count)
            compared += 1
        assert len(outlines) == 1, (options, outlines)
    assert compared == len(option_sets) * len(counts)


def _fresh(topo, group):
    """A model of ``group`` on ``topo`` that keeps nothing from before."""
    from ubemu.machine.groups import group_of
    from ubemu.timing.costmodel import CostModel

    topology = resolve_topology(topo)
    return CostModel(topology, group_of(topology, group))
