"""Profiles kept and shared (ubemu.workloads.cache): each distinct operation timed once."""

import pytest

from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology
from ubemu.workloads import cache, profile
from ubemu.workloads.ops import Op
from ubemu.workloads.run import run_workload


def _counting(monkeypatch):
    """The names of the operations timed alone from now on (an empty cache)."""
    monkeypatch.setattr(cache, "_cache", {})
    timed = []
    monkeypatch.setattr(cache, "profile_op", lambda op, *a, **k: timed.append(op.name) or
                        profile.profile_op(op, *a, **k))
    return timed


def test_shared_profiles_time_each_distinct_operation_once_for_every_workload(monkeypatch):
    """A sweep's workloads inside ``shared_profiles``: the same results as each alone, each
    distinct operation timed once (``x`` is ``ring`` under another name), an operation's
    error raised by every workload holding it, every operation's work predicted once."""
    topo = load_topology("ub-mesh-rack")
    ring = Op("ring", "all_reduce", 1 << 20, algorithm="ring")
    bad = Op("bad", "sendrecv", 1 << 20, algorithm="ring")  # refused when timed
    loads = [[ring, Op("ag", "all_gather", 1 << 20, algorithm="ring", after=("ring",))],
             [Op("x", "all_reduce", 1 << 20, algorithm="ring")], [ring, bad]]
    _counting(monkeypatch)
    want = [run_workload(loads[0], topo).to_dict(), run_workload(loads[1], topo).to_dict()]
    with pytest.raises(UbemuError) as alone:
        run_workload(loads[2], topo)
    timed, seen = _counting(monkeypatch), []
    with cache.shared_profiles(loads, topo, on_op=lambda k, n, op: seen.append((k, n, op.name))):
        assert timed == ["ring", "ag", "bad"] and seen == [(0, 3, "ring"), (1, 3, "ag"),
                                                           (2, 3, "bad")]
        assert len(cache._works) == 3
        got = [run_workload(ops, topo).to_dict() for ops in loads[:2]]
        with pytest.raises(UbemuError) as shared:
            run_workload(loads[2], topo)
    assert timed == ["ring", "ag", "bad"] and got == want
    assert str(shared.value) == str(alone.value)
    assert cache._shared == {} and cache._works is None  # gone once the sweep is done


def test_a_profile_is_the_same_operation_on_the_same_topology_only(monkeypatch):
    timed = _counting(monkeypatch)
    a, b = load_topology("ub-mesh-rack"), load_topology("ub-mesh-pod")
    op = Op("a", "all_reduce", 1 << 20, algorithm="ring")
    first = cache.profile(op, a, None)
    assert cache.profile(Op("b", "all_reduce", 1 << 20, algorithm="ring"), a, None) is first
    cache.profile(op, b, None)
    cache.profile(Op("a", "all_reduce", 2 << 20, algorithm="ring"), a, None)
    cache.profile(op, a, 10**9)  # another limit: another key
    assert timed == ["a", "a", "a", "a"]


def test_weight_grows_with_the_npus_and_the_group_size():
    topo = load_topology("ub-mesh-rack")
    pairs = Op("p", "alltoall", 1, npus=[[0, 1], [2, 3]])
    fours = Op("f", "alltoall", 1, npus=[[0, 1, 2, 3]])
    assert cache.weight(pairs, topo) == 8 and cache.weight(fours, topo) == 16
    assert cache.weight(Op("w", "alltoall", 1), topo) == 64
    assert cache.weight(Op("e", "alltoall", 1, group="unit=board", every=True), topo) == 64 * 64
