"""Protocols (ubemu.timing.protocols): what a topology offers, the step rule under a
protocol's factors, auto's choice by size, per-level bandwidth factors, and the errors."""

import pytest

import ubemu
from ubemu.errors import UbemuError
from ubemu.estimator import estimate
from ubemu.machine.spec import load_topology, with_params
from ubemu.timing.protocols import class_factors, offered, resolve

RING = "switch:8@100GBps/1us"
LL = ["overhead_ns=2000", "send_overhead_ns=500", "recv_overhead_ns=500",
      "ll_sw_factor=0.1", "ll_bw_factor=0.5"]


def test_offered_and_resolved():
    t = with_params(load_topology(RING), LL)
    assert offered(load_topology(RING).params) == {"simple": (1.0, 1.0)}
    assert offered(t.params) == {"simple": (1.0, 1.0), "ll": (0.1, 0.5)}
    assert [p[0] for p in resolve("auto", t.params)] == ["simple", "ll"]
    assert [p[0] for p in resolve("auto", t.params, ("simple",))] == ["simple"]
    with pytest.raises(UbemuError, match="protocol 'll128': the topology does not offer it"):
        resolve("ll128", t.params)
    with pytest.raises(UbemuError, match="protocol 'LL'.*valid: auto, simple, ll128, ll"):
        ubemu.simulate("all_reduce", 1024, t, "ring", protocol="LL")


def test_the_step_rule_under_ll_by_hand():
    """A ring step: link time / bw factor + latency + (message costs + overhead) x sw."""
    t = with_params(load_topology(RING), LL)
    S = 8 * 4 * 1000
    res = ubemu.simulate("all_reduce", S, t, "ring", protocol="ll")
    step = (S / 8) / (100e9 * 0.5) + 1e-6 + 0.1 * (1e-6 + 2e-6)
    assert res.time_s == pytest.approx(14 * step, rel=1e-12)
    assert res.notes["protocol"] == "ll"
    assert estimate("all_reduce", S, t, "ring", protocol="ll").time_s == pytest.approx(
        res.time_s, rel=1e-12)
    simple = ubemu.simulate("all_reduce", S, t, "ring", protocol="simple")
    assert simple.time_s == pytest.approx(14 * ((S / 8) / 100e9 + 1e-6 + 3e-6), rel=1e-12)
    # auto: the fastest of the two, and both times reported
    auto = ubemu.simulate("all_reduce", S, t, "ring")
    assert auto.time_s == min(res.time_s, simple.time_s)
    assert set(auto.notes["protocol_times"]) == {"simple", "ll"}


def test_auto_switches_to_simple_with_size():
    t = with_params(load_topology(RING), LL)
    small = ubemu.simulate("all_reduce", 4096, t, "ring")
    big = ubemu.simulate("all_reduce", 1 << 28, t, "ring")
    assert (small.notes["protocol"], big.notes["protocol"]) == ("ll", "simple")
    assert estimate("all_reduce", 4096, t, "ring").protocol == "ll"


def test_a_level_of_its_own_bandwidth_factor():
    t = with_params(load_topology("switch:4@100GBps/1us,switch:2@10GBps:ll_bw_factor=0.05"), LL)
    names = [c.name for c in t.link_classes]
    f = dict(zip(names, class_factors(t, "ll", 0.5)))
    assert f["level0.up"] == 0.5 and f["level1.up"] == 0.05
    assert class_factors(t, "simple", 1.0) is None
    for alg in ("ring", "hierarchical"):
        sim = ubemu.simulate("all_reduce", 1 << 20, t, alg, protocol="ll")
        est = estimate("all_reduce", 1 << 20, t, alg, protocol="ll")
        assert est.time_s == pytest.approx(sim.time_s, rel=1e-9)
        busy = {u.name: u.busy_s for u in sim.usage}
        assert sim.bottleneck == "level1.up" and busy["level1.up"] > 0


def test_launch_cost_once_per_collective():
    t = load_topology(RING)
    with_launch = with_params(t, ["launch_ns=5000"])
    for alg in ("ring", "direct"):
        a = ubemu.simulate("all_reduce", 1 << 16, t, alg).time_s
        b = ubemu.simulate("all_reduce", 1 << 16, with_launch, alg).time_s
        assert b - a == pytest.approx(5e-6, rel=1e-9)
        assert estimate("all_reduce", 1 << 16, with_launch, alg).time_s == pytest.approx(b)
