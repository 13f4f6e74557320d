"""Faults (ubemu.machine.faults): parsing, what fails, routing under them, spares, and the times."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ubemu.api import simulate
from ubemu.collectives import COLLECTIVES
from ubemu.errors import UbemuError
from ubemu.estimator import estimate
from ubemu.machine import linkmap
from ubemu.machine.faultreport import summary
from ubemu.machine.faults import parse_faults, with_faults
from ubemu.machine.spec import resolve_topology
from ubemu.timing.timer import StepTimer
from ubemu.timing.walk import time_steps


def _usage(res):
    return res.time_s, res.bottleneck, [(u.name, u.bytes, u.busy_s) for u in res.usage]


def test_parse_string_and_table_alike():
    a = parse_faults("link=board:0-1,link=rack:0-8,npu=5,links=0.5%,npus=2,seed=7,spare=off")
    b = parse_faults({"link": ["board:0-1", "rack:0-8"], "npu": 5, "links": "0.5%",
                      "npus": 2, "seed": 7, "spare": False})
    assert a == b
    assert a.links == 0.5 and a.links_percent and not a.spare and a.link == ("board:0-1",
                                                                             "rack:0-8")


@pytest.mark.parametrize("spec, words", [
    ("lonks=3", "did you mean 'links'"), ("links=-1", "links must be"),
    ("links=1.5", "whole number"), ("npus=x", "npus must"), ("spare=maybe", "spare"),
    ("link=board:0-9", "not joined by one board link"), ("link=board", "LEVEL:A-B"),
    ("link=shelf:0-1", "level"), ("npu=64", "out of range"), ("plane=board:1", "planes"),
    ("links=100000", "more than")])
def test_bad_fault_specs_say_what_is_wrong(spec, words):
    with pytest.raises(UbemuError, match=words):
        with_faults(resolve_topology("ub-mesh-rack"), spec)


def test_no_faults_is_the_topology_itself_and_times_are_unchanged():
    t = resolve_topology("ub-mesh-pod")
    assert with_faults(t, None, "apr") is t and with_faults(t, "", "minimal") is t
    for coll in ("all_reduce", "alltoall", "all_gather"):
        base = simulate(coll, 1 << 22, t)
        assert _usage(simulate(coll, 1 << 22, t, routing="apr")) == _usage(base)


def test_failed_planes_keep_the_closed_form_with_fewer_planes():
    t = with_faults(resolve_topology("nvl72"), "plane=rack:9")
    assert t.faults is None and t.levels[0].planes == 9
    full = estimate("all_reduce", 1 << 30, "nvl72", "ring")
    half = estimate("all_reduce", 1 << 30, "nvl72", "ring", faults="plane=rack:9")
    assert half.method == "closed form" and half.time_s > 1.4 * full.time_s
    assert half.time_s == pytest.approx(simulate("all_reduce", 1 << 30, t, "ring").time_s,
                                        rel=1e-9)


def test_a_failed_link_fails_both_directions_and_is_reported():
    t = with_faults(resolve_topology("ub-mesh-rack"), "link=board:0-1")
    down = np.flatnonzero(t.faults.down)
    assert sorted(linkmap.ends(t, down)[0].tolist()) == [0, 1]
    s = summary(t)
    assert s["failed_links"] == {"board": 1} and s["bisection_lost_GBps"] == 0
    assert s["injection_worst_GBps"] == t.injection_GBps() - 56


def test_random_failures_are_reproducible_and_counted():
    t = resolve_topology("ub-mesh-pod")
    a = with_faults(t, "links=1%,npus=3,seed=4")
    b = with_faults(t, "links=1%,npus=3,seed=4")
    c = with_faults(t, "links=1%,npus=3,seed=5")
    assert np.array_equal(a.faults.failed_links, b.faults.failed_links)
    assert not np.array_equal(a.faults.failed_links, c.faults.failed_links)
    cables = sum(cls.count for cls in t.link_classes if linkmap.role(t, cls) is None) // 2 + sum(
        cls.count for cls in t.link_classes if linkmap.role(t, cls) == "up")
    assert a.faults.failed_links.size == round(0.01 * cables)
    assert a.faults.failed_npus.size == 3


def test_eight_npu_mesh_with_link_0_1_cut_all_reduces_correctly():
    """Ring all-reduce of 1 MiB, 8 NPUs, 50 GB/s, 1 us: every step sends 128 KiB on one link.
    Intact: 14 x (131072 B / 50 GB/s + 1 us). Cut 0-1: the 0 -> 1 transfer detours through
    NPU 2 (0 -> 2 -> 1, links the ring leaves idle): same bytes per link, 2 us per step."""
    mesh = "full_mesh:8@50GBps/1us"
    bw_s = 131072 / 50e9
    intact = simulate("all_reduce", 1 << 20, mesh, "ring", verify=True)
    assert intact.time_s == pytest.approx(14 * (bw_s + 1e-6), rel=1e-12)
    with pytest.raises(UbemuError, match="NPU 0 -> NPU 1 crosses the failed"):
        simulate("all_reduce", 1 << 20, mesh, "ring", faults="link=level0:0-1")
    cut = simulate("all_reduce", 1 << 20, mesh, "ring", faults="link=level0:0-1",
                   routing="apr", verify=True)
    assert cut.wrong == 0 and cut.time_s == pytest.approx(14 * (bw_s + 2e-6), rel=1e-12)


@pytest.mark.parametrize("coll", sorted(COLLECTIVES))
def test_a_spare_keeps_every_collective_exact_and_its_cost_shows(coll):
    alone = simulate(coll, 1 << 20, "ub-mesh-rack", "auto" if coll != "all_reduce" else "ring",
                     verify=True)
    # alltoallv's pick, direct, routes 0 -> 13 over the failed NPU 5's board link (as
    # alltoall's direct does; alltoall's pick, multipath, has no alltoallv form): detour
    routing = "apr" if coll == "alltoallv" else "minimal"
    spared = simulate(coll, 1 << 20, "ub-mesh-rack", alone.algorithm, faults="npu=5",
                      routing=routing, verify=True)
    assert spared.wrong == 0 and spared.time_s >= alone.time_s
    names = [u.name for u in spared.usage if u.bytes]
    assert "rack.spare_up" in names or "rack.spare_down" in names


def test_without_the_spare_the_group_must_leave_the_npu_out():
    with pytest.raises(UbemuError, match="NPU 5 of the group failed and no spare"):
        simulate("all_reduce", 1 << 20, "ub-mesh-rack", "ring", faults="npu=5,spare=off")
    res = simulate("all_reduce", 1 << 20, "ub-mesh-rack", "ring", faults="npu=5,spare=off",
                   group="unit=rack,without=5", routing="apr", verify=True)
    assert res.wrong == 0 and res.n_ranks == 63


def test_one_spare_per_rack_the_second_failure_is_not_served():
    t = with_faults(resolve_topology("ub-mesh-pod"), "npu=3,npu=9,npu=70")
    assert t.faults.spared.tolist() == [3, 70] and t.faults.failed_npus.tolist() == [3, 9, 70]


def test_spare_crosses_the_access_ports_between_racks():
    """On the pod the spare's port replaces the failed NPU's access port toward other racks."""
    t = with_faults(resolve_topology("ub-mesh-pod"), "npu=0")
    paths, hops, _ = t.route(np.array([0, 64]), np.array([64, 0]))
    spare_up = next(c for c in t.link_classes if c.name == "rack.spare_up")
    spare_down = next(c for c in t.link_classes if c.name == "rack.spare_down")
    assert paths[0, 0] == spare_up.first_id and paths[1, hops[1] - 1] == spare_down.first_id
    assert hops.tolist() == [3, 3]  # port up, the row cable, port down


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), topo=st.sampled_from(["ub-mesh-rack", "torus:4x4",
                                                          "ub-mesh-pod", "switch:4,switch:4"]),
       coll=st.sampled_from(["all_reduce", "alltoall", "all_gather"]))
def test_no_failed_link_ever_carries_a_byte(seed, topo, coll):
    t = with_faults(resolve_topology(topo), f"links=3%,seed={seed}", "apr")
    try:
        res = simulate(coll, 1 << 16, t, "direct" if coll == "alltoall" else "ring")
    except UbemuError as exc:  # the failures cut an NPU off: said in one line
        assert "cut NPU" in str(exc)
        return
    timer = StepTimer(t)
    timer.capture = []
    from ubemu.algorithms import build_schedule

    sched = build_schedule(coll, res.algorithm, t.group(), res.count, data=False)
    time_steps(sched, sched.steps(), timer, 4)
    assert timer.time_s == res.time_s
    used = np.concatenate([ids for ids, *_ in timer.capture])
    assert not t.faults.down[used].any()


def test_a_failed_plane_of_a_switch_port_slows_that_port_only():
    """Ring all-reduce of 1 MiB on an 8-port switch of 4 planes (100 GB/s each): every step
    sends 128 KiB through each port; NPU 5's port keeps 3 of its 4 planes: 4/3 the time."""
    sw = "switch:8@100GBps/1us:planes=4"
    intact = simulate("all_reduce", 1 << 20, sw, "ring")
    assert intact.time_s == pytest.approx(14 * (131072 / 400e9 + 1e-6), rel=1e-12)
    one = simulate("all_reduce", 1 << 20, sw, "ring", faults="link=level0:5", verify=True)
    assert one.wrong == 0
    assert one.time_s == pytest.approx(14 * (131072 / 400e9 * 4 / 3 + 1e-6), rel=1e-12)
    t = with_faults(resolve_topology(sw), "link=level0:5,link=level0:5")
    assert t.faults.weak_ports[1].tolist() == [2] and summary(t)["failed_links"] == {}
    with pytest.raises(UbemuError, match="faults cut NPU 5 off from every other NPU"):
        simulate("all_reduce", 1 << 20, sw, "ring", routing="apr",
                 faults=",".join(["link=level0:5"] * 4))


def test_random_failures_on_multi_plane_switches_take_single_planes():
    t = with_faults(resolve_topology("nvl72"), "links=10,seed=1")
    ports, lost = t.faults.weak_ports
    assert lost.sum() + 18 * t.faults.failed_links.size == 10 and ports.size
    assert summary(t)["injection_worst_GBps"] < t.injection_GBps()


def test_a_cable_named_either_way_round_is_one_failure():
    t = with_faults(resolve_topology("ub-mesh-rack"), "link=board:1-0,link=board:0-1,links=0")
    assert t.faults.failed_links.size == 1 and summary(t)["failed_links"] == {"board": 1}
