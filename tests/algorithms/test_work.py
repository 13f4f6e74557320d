"""The work prediction against the schedules themselves, and the refusals it drives."""

import pytest

import ubemu
import ubemu.schedule
from tests.cli_helpers import assert_one_error_line, run_main
from ubemu.algorithms import REGISTRY, build_schedule, work
from ubemu.collectives import get
from ubemu.errors import UbemuError
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology

CASES = [("switch:16", None), ("ub-mesh-rack", None), ("ub-mesh-pod", "one_per=rack"),
         ("switch:12", None), ("full_mesh:4,full_mesh:4:trunk,switch:4:trunk", None),
         ("full_mesh:4,ring:5", None)]


def _built(key, comm, count):
    """(transfers summed over the steps as timed, the largest step's) of the real schedule."""
    steps = list(build_schedule(*key, comm, count, data=False).steps())
    return (sum(st.n_transfers * st.repeat for st in steps),
            max((st.n_transfers for st in steps), default=0))


@pytest.mark.parametrize("spec,group", CASES, ids=[f"{s}-{g}" for s, g in CASES])
def test_prediction_matches_the_built_schedule(spec, group):
    """Counted from a closed form: within 25 % of the schedule (which adds local copies);
    otherwise one transfer per rank and step, never below the schedule."""
    topo = load_topology(spec)
    comm = group_of(topo, group)
    counted = 0
    for key, alg in sorted(REGISTRY.items()):
        if alg.check and alg.check(comm):
            continue
        count = comm.n * 96 if get(key[0]).blocked else comm.n * 96 + 5
        pred = work.predict(*key, comm, count, topo, 4)
        transfers, peak = _built(key, comm, count)
        if pred.counted:
            assert 0.75 * transfers <= pred.transfers <= 1.25 * transfers, key
            assert 0.5 * peak <= pred.peak <= 1.25 * max(peak, pred.transfers), key
            counted += 1
        else:
            assert pred.transfers >= transfers and pred.peak >= peak, key
    assert counted >= 10


def test_prediction_at_a_million_npus_is_quick_and_quadratic_only_where_it_should_be():
    topo = load_topology("atlas960-supercluster")
    comm = group_of(topo)
    p = comm.n
    a2a = work.predict("alltoall", "direct", comm, p * 256, topo, 4)
    assert a2a.counted and a2a.transfers == a2a.peak == p * (p - 1)
    # pairwise's p-1 steps are counted as one step times p-1 (summed step by step: seconds)
    pairwise = work.predict("alltoall", "pairwise", comm, p * 256, topo, 4)
    assert pairwise.counted and pairwise.transfers == p * (p - 1) and pairwise.peak == p
    ring = work.predict("all_reduce", "ring", comm, 2**28, topo, 4)
    # a large ring's p-1 steps are timed from one routing of their pattern (ShiftSteps):
    # the pattern is routed twice per phase
    assert ring.transfers == 2 * 2 * p and ring.peak == p
    hier = work.predict("all_reduce", "hierarchical", comm, 2**28, topo, 4)
    assert hier.transfers < 1e9  # 2 (63 + 241 + 64) steps of p transfers


def test_simulate_refuses_over_the_limit_and_auto_leaves_it_out():
    with pytest.raises(UbemuError, match=r"work: alltoall algorithm 'direct' on 64 ranks would "
                                         r"route about 4\.03e\+03 transfers .* over the limit "
                                         r"of 1e\+03"):
        ubemu.simulate("alltoall", 64 * 1024, "ub-mesh-rack", "direct", max_work=1000)
    assert ubemu.simulate("alltoall", 2**26, "ub-mesh-rack").algorithm == "direct"
    res = ubemu.simulate("alltoall", 2**26, "ub-mesh-rack", max_work=1000)
    assert "over the limit" in res.notes["auto_skipped"]["direct"]
    assert res.algorithm not in ("direct", "pairwise", "multipath")


def test_the_command_line_refuses_up_front_with_the_prediction(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["alltoall", "--topo", "atlas960-supercluster", "-b", "1G",
                                 "-e", "1G", "--algo", "direct", "-J", str(out_json)], capsys)
    assert_one_error_line(status, out, err)
    assert "1.01e+12 transfers" in err and "GiB" in err and "hours" in err
    assert "hierarchical" in err and not out_json.exists()
    status, out, err = run_main(["all_reduce", "--max-work", "lots"], capsys)
    assert_one_error_line(status, out, err)
    assert "--max-work must be a positive whole number" in err
    status, out, err = run_main(["all_reduce", "-b", "1K", "-e", "1K", "--algo", "ring",
                                 "--max-work", "1e2"], capsys)
    assert_one_error_line(status, out, err)
    assert "over the limit of 100" in err


@pytest.mark.parametrize("spec", ["switch:2048", "full_mesh:64,full_mesh:32"])
def test_compact_steps_are_held_in_parts(spec):
    """A one-shot all-to-all holds one part at a time when timed (AllPairs), every transfer
    with data; the memory preflight reads which."""
    topo = load_topology(spec)
    comm = group_of(topo)
    pred = work.predict("alltoall", "direct", comm, comm.n * 8, topo, 4)
    assert pred.peak == comm.n * (comm.n - 1)
    assert pred.held == ubemu.schedule.AllPairs.PART_TRANSFERS < pred.peak
    assert pred.step_bytes(data=True) == work.STEP_BYTES * pred.peak
