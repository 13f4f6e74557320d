"""Operations timed alone (ubemu.workloads.profile): replicas, recorded segments, equal figures."""

import numpy as np
import pytest

from ubemu.api import simulate
from ubemu.machine.groups import every_group
from ubemu.machine.spec import resolve_topology
from ubemu.workloads.ops import Op
from ubemu.workloads.profile import profile_op


@pytest.mark.parametrize("topo, spec, shape", [
    ("ub-mesh-rack", "unit=board", (8, 8)),
    ("ub-mesh-rack", "one_per=board", (8, 8)),
    ("ub-mesh-pod", "one_per=rack", (64, 16)),
    ("ub-mesh-pod", "one_per=board,within=rack", (128, 8)),
    ("ub-mesh-pod", "levels=board+column", (32, 32)),
])
def test_every_group_covers_every_npu_once_with_translates(topo, spec, shape):
    t = resolve_topology(topo)
    comm, rows = every_group(t, spec)
    assert rows.shape == shape and comm.n == shape[1]
    assert np.array_equal(np.sort(rows.reshape(-1)), np.arange(t.n_npus))
    assert np.array_equal(rows[0], comm.npus)
    assert (np.diff(rows - rows[:, :1], axis=0) == 0).all()  # same shape everywhere


@pytest.mark.parametrize("collective, algorithm, topo, group", [
    ("alltoall", "direct", "ub-mesh-rack", None),  # symmetric AllPairs
    ("all_reduce", "ring", "ub-mesh-rack", "one_per=board"),  # repeated patterns
    ("all_reduce", "hierarchical", "ub-mesh-pod", None),
    ("reduce_scatter", "direct", "dgx-h100", None),  # windows
])
def test_recording_routes_everything_yet_gives_simulate_figures(collective, algorithm, topo,
                                                                 group):
    t = resolve_topology(topo)
    prof = profile_op(Op("x", collective, 2**22, group=group, algorithm=algorithm), t)
    sim = simulate(collective, 2**22, t, algorithm, group=group)
    assert prof.time_s == sim.time_s and prof.bottleneck == sim.bottleneck
    assert [u.bytes for u in prof.usage] == [u.bytes for u in sim.usage]
    total = sum(s.k * (s.bw_s + s.fixed_s) for s in prof.segments)
    assert total == pytest.approx(sim.time_s, rel=1e-12)
    for s in prof.segments:
        assert np.unique(s.ids).size == s.ids.size
        if s.ids.size:
            assert s.use.max() == pytest.approx(1.0, rel=1e-12)


def test_every_replica_loads_its_own_links():
    t = resolve_topology("ub-mesh-rack")
    one = profile_op(Op("x", "all_reduce", 2**20, group="unit=board", algorithm="ring"), t)
    every = profile_op(Op("x", "all_reduce", 2**20, group="unit=board", every=True,
                          algorithm="ring"), t)
    assert every.n_groups == 8 and every.time == one.time
    assert every.usage[0].bytes == 8 * one.usage[0].bytes
    assert every.segments[0].ids.size == 8 * one.segments[0].ids.size


def test_simulate_every_checks_one_group_and_times_all():
    res = simulate("all_reduce", 2**16, "ub-mesh-rack", "ring", group="one_per=board",
                   every=True, verify=True)
    assert res.wrong == 0 and res.notes["groups"] == 8
    assert res.time_s == simulate("all_reduce", 2**16, "ub-mesh-rack", "ring",
                                  group="one_per=board").time_s  # full mesh: no link shared
