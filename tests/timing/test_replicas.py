"""Replicas timed from one replica per shape (ubemu.timing.replicas) against routing each one.

The figures must be bit for bit those of routing every replica's transfers: the time (an exact
Fraction), per-class usage, the bottleneck and every recorded segment (the links and how much
of each the unit uses), also where replicas share links (pools, a pod's row cables) and where
groups straddle a unit boundary (two shapes).
"""

import numpy as np
import pytest
from ubemu.kernels import select

from ubemu.machine import linkmap
from ubemu.machine.spec import preset_names, resolve_topology
from ubemu.schedule import AllPairs
from ubemu.timing import replicas as replica_timing
from ubemu.workloads.ops import Op
from ubemu.workloads.profile import profile_op

CASES = [
    # (topology, op keyword arguments)
    ("ub-mesh-rack", dict(collective="all_reduce", group="unit=board", every=True,
                          algorithm="ring")),
    ("ub-mesh-pod", dict(collective="all_reduce", group="one_per=rack", every=True,
                         algorithm="ring")),  # 64 groups sharing the row and column cables
    ("ub-mesh-pod", dict(collective="alltoall", group="unit=rack", every=True,
                         algorithm="hierarchical")),
    ("full_mesh:4,switch:4@100GBps/1us:oversub=4", dict(collective="all_reduce",
                                                       group="one_per=level0", every=True,
                                                       algorithm="ring")),  # shared pools
    ("ring:6,ring:4,full_mesh:3", dict(collective="alltoall", group="unit=level0",
                                       every=True, algorithm="pairwise")),
    ("ring:6,ring:4,full_mesh:3", dict(collective="reduce_scatter", group="one_per=level0",
                                       every=True, algorithm="direct")),  # windows
    # 12-NPU groups of consecutive NPUs on 8 x 6 x 3: groups straddle the 48-NPU units
    ("switch:8:trunk,switch:6:trunk,switch:3@50GBps", dict(
        collective="alltoall", npus=np.arange(144).reshape(12, 12), algorithm="direct")),
    ("switch:8:trunk,switch:6:trunk,switch:3@50GBps", dict(
        collective="all_gather", npus=np.arange(144).reshape(12, 12)[::-1],
        algorithm="recursive_doubling")),
]


def _profile(spec, kwargs, shortcut, monkeypatch):
    """The op's profile, and how many steps took the shortcut; every step is a compact
    Replicas step (small parts), so both runs time the same steps."""
    monkeypatch.setattr(AllPairs, "PART_TRANSFERS", 8)
    monkeypatch.setattr(replica_timing, "MIN_REPLICAS", 4 if shortcut else 1 << 62)
    used = []
    real = replica_timing.ReplicaSymmetry._accumulate_replicas

    def spy(self, *args):
        used.append(1)
        return real(self, *args)

    monkeypatch.setattr(replica_timing.ReplicaSymmetry, "_accumulate_replicas", spy)
    prof = profile_op(Op("op", nbytes=3 << 20, **kwargs), resolve_topology(spec))
    return prof, len(used)


def _segments(prof):
    out = []
    for s in prof.segments:
        order = np.argsort(s.ids)
        out.append((s.ids[order].tolist(), s.use[order].tolist(), s.bw_s, s.fixed_s, s.k,
                    s.class_bytes.tolist()))
    return out


@pytest.mark.parametrize("side", ["numpy", "numba"])  # kernels/shifts.py or its twin
@pytest.mark.parametrize("spec,kwargs", CASES)
def test_one_replica_per_shape_gives_the_figures_of_routing_all(spec, kwargs, side,
                                                                monkeypatch):
    with select.forced(side):
        fast, used = _profile(spec, kwargs, True, monkeypatch)
    slow, unused = _profile(spec, kwargs, False, monkeypatch)
    assert fast.n_groups >= 4 and used > 0 and unused == 0
    assert fast.time == slow.time
    assert fast.usage == slow.usage and fast.bottleneck == slow.bottleneck
    assert _segments(fast) == _segments(slow)


def test_shapes_of_straddling_groups():
    topo = resolve_topology("switch:8:trunk,switch:6:trunk,switch:3")
    rows = np.arange(144).reshape(12, 12)
    shapes = replica_timing.replica_shapes(topo, rows)
    # group g starts at NPU 12 g, at position 0 or 4 of an 8-NPU unit: the groups at 0 cover
    # one unit and half the next, those at 4 half a unit, a whole one: two shapes
    assert sorted(len(m) for _, m, _ in shapes) == [6, 6]
    assert sorted(rep for rep, _, _ in shapes) == [0, 1]
    for rep, members, shifts in shapes:
        assert np.array_equal(linkmap.shift_npus(topo, rows[rep], shifts), rows[members])


def test_every_group_its_own_shape_is_routed_one_by_one():
    topo = resolve_topology("switch:8,switch:6")
    rng = np.random.default_rng(3)
    rows = rng.permutation(48).reshape(6, 8)
    assert replica_timing.replica_shapes(topo, rows) is None


@pytest.mark.parametrize("spec", [*preset_names(), "full_mesh:4,ring:5,switch:3:oversub=2",
                                  "ring:2,full_mesh:3,switch:4:trunk", "ring:6,ring:4,full_mesh:3",
                                  "switch:8:trunk,switch:6:trunk,switch:3@50GBps",
                                  "ring:2,ring:2,full_mesh:2"])
def test_a_coordinate_shift_maps_routes_onto_routes(spec):
    """The property the shortcut rests on, against routing the moved ends directly."""
    topo = resolve_topology(spec)
    rng = np.random.default_rng(1)
    sizes = np.array([lv.size for lv in topo.levels])
    src, dst = rng.integers(0, topo.n_npus, (2, 2000))
    paths, _, lat = topo.route(src, dst)
    for v in rng.integers(0, sizes, (4, sizes.size)):
        v = v[None, :]
        moved_paths, _, moved_lat = topo.route(linkmap.shift_npus(topo, src, v)[0],
                                               linkmap.shift_npus(topo, dst, v)[0])
        want = np.full_like(paths, -1)
        want[paths >= 0] = linkmap.shift_links(topo, paths[paths >= 0], v)[0]
        assert np.array_equal(want, moved_paths) and np.array_equal(lat, moved_lat)
