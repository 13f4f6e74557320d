"""Routing under faults (kernels/faultroute.py): detours hand-checked on small meshes, tori."""

import re

import numpy as np
import pytest
from ubemu.kernels.detours import spread

from ubemu.errors import UbemuError
from ubemu.machine import linkmap
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import resolve_topology


def _hops(t, a, b):
    """The NPUs a route visits, from its links' ends."""
    paths, hops, _ = t.route(np.array([a]), np.array([b]))
    src, dst = linkmap.ends(t, paths[0, :hops[0]])
    assert np.array_equal(src[1:], dst[:-1])  # a chain of links
    return [int(src[0])] + dst.tolist()


def _third(a, b, size):
    """The first third unit tried: from the pair's hash, going round."""
    start = spread(a, b, size)
    return next(c for c in ((start + t) % size for t in range(size)) if c not in (a, b))


def test_full_mesh_detours_through_a_third_npu():
    t = with_faults(resolve_topology("full_mesh:8"), "link=level0:3-5", "apr")
    assert _hops(t, 3, 5) == [3, _third(3, 5, 8), 5]
    assert _hops(t, 5, 3) == [5, _third(5, 3, 8), 3]
    assert _hops(t, 3, 4) == [3, 4]


def test_2d_mesh_crosses_the_other_level_first():
    t = with_faults(resolve_topology("ub-mesh-rack"), "link=board:0-1", "apr")
    assert _hops(t, 0, 9) == [0, 8, 9]  # rack first, then board on the next line
    assert _hops(t, 0, 1) == [0, _third(0, 1, 8), 1]


def test_torus_detours_by_a_parallel_line_or_the_other_dimension_first():
    t = with_faults(resolve_topology("torus:4x4"), "link=torus.0:0-1", "apr")
    # the other way round (0 3 2 1) ties at distance 2 and goes back over 0 -> 1, so a
    # parallel line of dimension 1 serves, as short: to a neighbouring row, across, back
    row = 4 * (1 if spread(0, 1, 2) == 0 else 3)
    assert _hops(t, 0, 1) == [0, row, row + 1, 1]
    assert _hops(t, 1, 3) == [1, 2, 3]  # intact
    assert _hops(t, 0, 5) == [0, 4, 5]  # dimension 1 first
    both = with_faults(resolve_topology("torus:4x4"),
                       "link=torus.0:0-1,link=torus.0:0-3,link=torus.1:0-4", "apr")
    assert _hops(both, 0, 1) == [0, 12, 13, 1]  # one step along dimension 1, back


def test_minimal_names_the_failed_link_and_apr_the_cut():
    t = with_faults(resolve_topology("torus:4x4"), "link=torus.0:0-1")
    with pytest.raises(UbemuError, match="NPU 0 -> NPU 1 crosses the failed torus.0 link"):
        t.route(np.array([0]), np.array([1]))
    alone = "link=torus.0:0-1,link=torus.0:0-3,link=torus.1:0-4,link=torus.1:0-12"
    cut = with_faults(resolve_topology("torus:4x4"), alone, "apr")
    with pytest.raises(UbemuError, match="faults cut NPU 0 off from every other NPU"):
        cut.route(np.array([0]), np.array([1]))
    # a pair both ends of which still have links, but no path: the cut is named
    ring = with_faults(resolve_topology("ring:8"), "link=level0:0-1,link=level0:4-5", "apr")
    with pytest.raises(UbemuError, match=re.escape(
            "faults cut NPU 0 off from NPU 2: NPUs 0, 5, 6, 7 (4) can no longer reach NPUs "
            "1, 2, 3, 4 (4); the failed links between them: level0 link NPU 0 -> NPU 1, "
            "level0 link NPU 5 -> NPU 4")):
        ring.route(np.array([0]), np.array([2]))  # the ring is cut in two halves


def test_apr_without_faults_routes_as_minimal():
    t = resolve_topology("ub-mesh-pod")
    rng = np.random.default_rng(1)
    src, dst = rng.integers(0, t.n_npus, 5000), rng.integers(0, t.n_npus, 5000)
    a = t.route(src, dst)
    b = with_faults(t, None, "apr").route(src, dst)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_apr_routes_are_minimal_where_intact_and_never_cross_a_failure():
    base = resolve_topology("ub-mesh-pod")
    t = with_faults(base, "links=2%,seed=11", "apr")
    rng = np.random.default_rng(2)
    src, dst = rng.integers(0, t.n_npus, 20000), rng.integers(0, t.n_npus, 20000)
    paths, hops, _ = t.route(src, dst)
    minimal, mhops, _ = base.route(src, dst)
    used = paths[paths >= 0]
    assert not t.faults.down[used].any()
    intact = ~t.faults.down[np.where(minimal >= 0, minimal, 0)].any(axis=1)
    assert np.array_equal(paths[intact, :minimal.shape[1]], minimal[intact])
    assert (hops[~intact] >= mhops[~intact]).all()
