"""The search over working links (kernels/pathsearch.py): a pair is refused exactly when a
plain breadth-first search over the link graph (tests/linkgraph.py, from
ubemu.machine.linkmap) finds no path, and every route it returns walks working links."""

import numpy as np
import pytest
from ubemu.kernels import codes, detours, faultroute

from tests.linkgraph import endpoint, link_graph, reachable, walk
from ubemu.errors import UbemuError
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import resolve_topology

# every preset kind: full mesh, 2D full mesh (with its spare), torus and ring, a switch of
# planes, two-level switches, oversubscribed cores over parallel lines, trunks with access
# ports, a trunk ring, and the pod whose spares enter the racks' backplanes
KINDS = ["full_mesh:6", "ub-mesh-rack", "torus-8x8", "ring:8", "nvl72", "dgx-h100-multinode",
         "switch:8:oversub=2,switch:4:oversub=2", "ring:3,switch:4:oversub=2",
         "full_mesh:4,full_mesh:4:trunk,switch:4:trunk", "switch:4,full_mesh:3:trunk,ring:3:trunk",
         "ub-mesh-pod"]


def _routes(t, src, dst):
    """route_ft for every pair: (paths, hops, codes), refusals included."""
    out = np.empty((src.size, t.route_hops), np.int64)
    hops, lat, code = np.empty(src.size, np.int64), np.empty(src.size), np.empty(src.size,
                                                                                 np.int64)
    faultroute.route_many_ft(src, dst, t.level_table, t.lat_ns, float(t.params.hop_lat_ns),
                             *t.faults.arrays, out, hops, lat, code)
    return out, hops, code


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spec", KINDS)
def test_refused_exactly_when_no_path_exists(spec, seed):
    """Random failed links (2 % to half of them) and NPUs; 12 sources to every NPU (or to
    400 of them)."""
    base = resolve_topology(spec)
    rng = np.random.default_rng([seed, len(spec)])
    cables = base.n_links // 2
    k = max(1, int(cables * rng.choice([0.02, 0.1, 0.3, 0.5])))
    t = with_faults(base, f"links={k},npus={seed},seed={seed}", "apr")
    graph = link_graph(t)
    n = t.n_npus
    dst = np.arange(n) if n <= 400 else rng.choice(n, 400, replace=False)
    refused = routed = 0
    for s in rng.choice(n, min(n, 12), replace=False).tolist():
        paths, hops, code = _routes(t, np.full(dst.size, s), dst)
        if endpoint(t, s) is None:
            assert (code[dst != s] == codes.ENDPOINT_FAILED).all()
            continue
        seen = reachable(t, graph, s)
        for j, d in enumerate(dst.tolist()):
            if d == s:
                continue
            if endpoint(t, d) is None:
                assert code[j] == codes.ENDPOINT_FAILED
            elif endpoint(t, d) in seen:
                assert code[j] == codes.OK, (s, d)
                walk(t, graph, s, d, paths[j, :hops[j]].tolist())
                routed += 1
            else:
                assert code[j] == codes.UNREACHABLE, (s, d)
                refused += 1
    assert routed > 0


def test_the_audits_torus_pair_is_routed():
    """32 random failed links on torus-8x8: NPU 0 -> 45 was refused while 0-1-2-3-59-60-52-
    44-45 is intact; the search finds a path as short (8 links)."""
    t = with_faults(resolve_topology("torus-8x8"), "links=32,seed=0", "apr")
    paths, hops, code = _routes(t, np.array([0]), np.array([45]))
    assert code[0] == codes.OK and hops[0] == 8
    walk(t, link_graph(t), 0, 45, paths[0, :8].tolist())


def test_a_refusal_names_the_cut():
    t = with_faults(resolve_topology("torus-8x8"), "links=64,seed=678", "apr")
    with pytest.raises(UbemuError, match=(
            r"faults cut NPU \d+ off from NPU \d+: NPUs 38, 45, 46 \(3\) can no longer reach "
            r"the rest of the machine; the failed links between them: torus.0 link NPU 38 -> "
            r"NPU 39, .* \(8 in all\)")):
        t.route(np.array([52]), np.array([38]))


def test_routes_whose_minimal_route_is_intact_do_not_change():
    base = resolve_topology("ub-mesh-pod")
    t = with_faults(base, "links=3%,npus=2,seed=5", "apr")
    rng = np.random.default_rng(3)
    src, dst = rng.integers(0, t.n_npus, (2, 20000))
    keep = (t.faults.state[src] == 0) & (t.faults.state[dst] == 0)
    paths, hops, _ = t.route(src[keep], dst[keep])
    minimal, mhops, _ = base.route(src[keep], dst[keep])
    intact = ~t.faults.down[np.where(minimal >= 0, minimal, 0)].any(axis=1)
    assert intact.mean() > 0.5
    assert np.array_equal(paths[intact, :minimal.shape[1]], minimal[intact])


@pytest.mark.parametrize("spec,faults", [("ub-mesh-pod", "links=40%,npus=2,seed=1"),
                                         ("ub-mesh-superpod", "links=30%,seed=0"),
                                         ("torus-8x8", "links=40%,npus=1,seed=2")])
def test_a_batch_routes_each_pair_as_it_alone_would(spec, faults):
    """route_many_ft shares its searches' trees and checked minimal routes across the pairs
    (kernels/searchtrees.py): every route, code and latency equals route_ft's for the pair
    on its own (a fresh search), over pairs that share sources and destinations."""
    t = with_faults(resolve_topology(spec), faults, "apr")
    rng = np.random.default_rng(7)
    ends = rng.choice(t.n_npus, 24, replace=False)
    src, dst = rng.choice(ends, (2, 600))
    out = np.empty((src.size, t.route_hops), np.int64)
    hops, lat, code = np.empty(src.size, np.int64), np.empty(src.size), np.empty(src.size,
                                                                                 np.int64)
    args = (t.level_table, t.lat_ns, float(t.params.hop_lat_ns), *t.faults.arrays)
    faultroute.route_many_ft(src, dst, *args, out, hops, lat, code)
    searched = 0
    for k in range(src.size):
        row = np.full(t.route_hops, -1, np.int64)
        h, lt, c, _ = faultroute.route_ft(src[k], dst[k], *args, row)
        assert (h, lt, c) == (hops[k], lat[k], code[k]), (src[k], dst[k])
        assert np.array_equal(row[:h], out[k, :h])
        if src[k] != dst[k] and (t.faults.state.size == 0 or not t.faults.state[[src[k],
                                                                                  dst[k]]].any()):
            searched += detours.leg(src[k], dst[k], *args[:4], codes.APR, row,
                                    0)[2] == codes.UNREACHABLE
    assert searched > 10  # the pairs no structured detour routes: the searches shared


def test_a_full_store_is_cleared_and_routes_stay_the_same():
    """A store holding more than the search's budget starts afresh: same answer as alone."""
    from ubemu.kernels import pathsearch, searchtrees

    t = with_faults(resolve_topology("ub-mesh-superpod"), "links=30%,seed=0", "apr")
    args = (t.level_table, t.lat_ns, float(t.params.hop_lat_ns), *t.faults.arrays)
    store = searchtrees.new_store(t.level_table, t.faults.arrays[2], 1)
    buf = np.empty(t.route_hops, np.int64)
    rng = np.random.default_rng(1)
    for s, d in rng.integers(0, t.n_npus, (40, 2)).tolist():
        pathsearch.search_in(store, s, d, *args, buf, pathsearch.BUDGET)
    held = searchtrees.size(store)
    assert held > 1000
    s, d = 3, t.n_npus - 5
    alone = np.full(t.route_hops, -1, np.int64)
    expect = pathsearch.search(s, d, *args, alone, held - 1)
    got = pathsearch.search_in(store, s, d, *args, buf, held - 1)
    assert got == expect and searchtrees.size(store) < held
    assert np.array_equal(buf[:got[0]], alone[:got[0]])
