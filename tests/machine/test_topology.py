"""Topology: coordinates, routes and link ids against hand counts and a pure-Python reference.

``ref_route`` below recomputes every route from coordinates with plain integers, written from
the link-id scheme in ubemu/links.py's docstring, and also names each hop physically
(which NPUs or trunk groups it joins). The bijection tests use only the physical names.
"""

import itertools

import numpy as np
import pytest

from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology, parse_topology_string
from ubemu.machine.topology import Level, Topology, TopologyParams


def _runs(topo):
    """(first, last) of each run of consecutive trunk levels."""
    flags = [lv.trunk for lv in topo.levels]
    starts = [i for i, t in enumerate(flags) if t and (i == 0 or not flags[i - 1])]
    ends = [i for i, t in enumerate(flags) if t and (i == len(flags) - 1 or not flags[i + 1])]
    return list(zip(starts, ends))


def ref_route(topo, src, dst):
    """Links of the dimension-ordered route as ``[(link_id, physical_key), ...]``."""
    sizes = [lv.size for lv in topo.levels]
    n = int(np.prod(sizes))
    strides = [int(np.prod(sizes[:i])) for i in range(len(sizes))]
    groups, offsets, pools, off = [], [], [], 0
    for i, lv in enumerate(topo.levels):
        j = i
        while lv.trunk and j > 0 and topo.levels[j - 1].trunk:
            j -= 1
        g = strides[j] if lv.trunk else 1
        groups.append(g)
        offsets.append(off)
        s, st = lv.size, strides[i]
        lines = n // (st * s) * (st // g)
        pool = (st if st > 1 else s) if lv.fabric == "switch" and not lv.trunk and \
            lv.oversub > 1 else 0
        pools.append(pool)
        if lv.fabric == "full_mesh":
            off += lines * s * (s - 1)
        elif lv.fabric == "ring":
            off += lines * (2 if s == 2 else 2 * s if s > 2 else 0)
        elif lv.trunk:
            off += 2 * (n // g)
        else:
            off += 2 * n + (2 * (n // pool) if pool else 0)
    runs = _runs(topo)
    access = {}
    for first, _ in runs:  # each run's access ports after every level's links
        access[first] = off
        off += 2 * n
    assert off == topo.n_links

    def coord(r, i):
        return r // strides[i] % sizes[i]

    crossed = [(a, b) for a, b in runs if any(coord(src, i) != coord(dst, i)
                                              for i in range(a, b + 1))]
    hops, cur = [], src
    i = crossed[0][0] if crossed else 0  # levels below a crossed run: the backplane's
    while i < len(topo.levels):
        run = [r for r in crossed if r[0] == i]
        if run:
            first, last = run[0]
            hops.append((access[first] + cur, ("access_up", first, cur)))
            for j in range(first, last + 1):
                cur = _hop(topo, j, cur, dst, strides, groups, offsets, pools, n, hops)
            for j in range(0, last + 1):  # the destination group's switches deliver
                cur += (coord(dst, j) - coord(cur, j)) * strides[j]
            hops.append((access[first] + n + cur, ("access_down", first, cur)))
            i = last + 1
            continue
        cur = _hop(topo, i, cur, dst, strides, groups, offsets, pools, n, hops)
        i += 1
    assert cur == dst
    return hops


def _hop(topo, i, cur, dst, strides, groups, offsets, pools, n, hops):
    """Append level i's links from ``cur`` toward ``dst``; return the NPU reached."""
    lv = topo.levels[i]
    s, st, g, o, pool = lv.size, strides[i], groups[i], offsets[i], pools[i]
    a, b = cur // st % s, dst // st % s
    if a == b:
        return cur
    nxt = cur + (b - a) * st
    line = cur // (st * s) * (st // g) + cur % st // g
    if lv.fabric == "full_mesh":
        hops.append((o + line * s * (s - 1) + a * (s - 1) + (b if b < a else b - 1),
                     (i, cur // g, nxt // g)))
    elif lv.fabric == "ring":
        fwd = (b - a) % s
        direction, step = (0, 1) if fwd <= s - fwd else (1, -1)
        pos, p = a, cur
        for _ in range(min(fwd, s - fwd)):
            q = p + ((pos + step) % s - pos) * st
            lid = o + line * 2 + pos if s == 2 else o + line * 2 * s + direction * s + pos
            hops.append((lid, (i, p // g, q // g)))
            pos, p = (pos + step) % s, q
        assert p == nxt
    elif lv.trunk:
        hops += [(o + cur // g, ("up", i, cur // g)),
                 (o + n // g + nxt // g, ("down", i, nxt // g))]
    else:
        hops.append((o + cur, ("up", i, cur)))
        if pool:  # the core pool of the leaf: a unit below, or the whole switch
            hops += [(o + 2 * n + cur // pool, ("core_up", i, cur // pool)),
                     (o + 2 * n + n // pool + nxt // pool, ("core_down", i, nxt // pool))]
        hops.append((o + n + nxt, ("down", i, nxt)))
    return nxt


def all_pairs(n):
    src, dst = np.divmod(np.arange(n * n, dtype=np.int64), n)
    return src, dst


SMALL = [
    "full_mesh:4,full_mesh:3",
    "ring:5,ring:4",
    "ring:2,ring:3,ring:1",
    "torus:3x4x2",
    "full_mesh:2,ring:4:trunk,full_mesh:3:trunk",
    "full_mesh:3,switch:4:oversub=2",
    "ring:3,switch:2:trunk,switch:3",
    "full_mesh:2,full_mesh:2,full_mesh:3:trunk,full_mesh:3:trunk",
    "switch:4,switch:3:oversub=1.5,ring:3:trunk",
    "switch:3:planes=2:links=2,full_mesh:2:trunk,switch:2:trunk:oversub=2",
    "ub-mesh-rack",
]


@pytest.mark.parametrize("spec", SMALL)
def test_routes_match_reference_and_links_are_a_bijection(spec):
    topo = load_topology(spec)
    src, dst = all_pairs(topo.n_npus)
    paths, n_hops, _ = topo.route(src, dst)
    id_to_key, key_to_id = {}, {}
    for k in range(src.size):
        ref = ref_route(topo, int(src[k]), int(dst[k]))
        assert n_hops[k] == len(ref)
        assert list(paths[k, :n_hops[k]]) == [lid for lid, _ in ref]
        assert (paths[k, n_hops[k]:] == -1).all()
        for lid, key in ref:
            id_to_key.setdefault(lid, set()).add(key)
            key_to_id.setdefault(key, set()).add(lid)
    assert all(len(v) == 1 for v in id_to_key.values()), "a link id names two links"
    assert all(len(v) == 1 for v in key_to_id.values()), "a link has two ids"
    assert sorted(id_to_key) == list(range(topo.n_links)), "ids not exactly 0..n_links-1"


@pytest.mark.parametrize("spec", ["ub-mesh-pod", "atlas950-superpod", "cloudmatrix384",
                                  "dgx-h100-multinode", "atlas960-supercluster"])
def test_routes_of_presets_match_reference_on_random_pairs(spec):
    topo = load_topology(spec)
    rng = np.random.default_rng(1)
    src = rng.integers(0, topo.n_npus, 300)
    dst = np.where(np.arange(300) % 3 == 0, src ^ 1, rng.integers(0, topo.n_npus, 300))
    dst = np.minimum(dst, topo.n_npus - 1)
    paths, n_hops, _ = topo.route(src, dst)
    for k in range(src.size):
        ref = [lid for lid, _ in ref_route(topo, int(src[k]), int(dst[k]))]
        assert list(paths[k, :n_hops[k]]) == ref
    assert paths.max() < topo.n_links


def _hops(spec):
    topo = load_topology(spec)
    src, dst = all_pairs(topo.n_npus)
    return topo, topo.coords(src), topo.coords(dst), topo.route(src, dst)[1]


def test_ub_mesh_rack_hops():
    topo, cs, cd, hops = _hops("ub-mesh-rack")
    same_board = cs[:, 1] == cd[:, 1]
    same_index = cs[:, 0] == cd[:, 0]
    assert hops.max() == 2 and topo.diameter_hops == 2
    distinct = ~(same_board & same_index)
    assert (hops[distinct & (same_board | same_index)] == 1).all()
    assert (hops[~same_board & ~same_index] == 2).all()
    assert (hops[~distinct] == 0).all()


def test_ub_mesh_pod_hops():
    """Inside a rack: one mesh hop per level that differs. Between racks: the source's
    access port, one trunk cable per rack level that differs, the destination's access port
    (the rack's backplane switches reach any NPU, so no mesh hop)."""
    topo, cs, cd, hops = _hops("ub-mesh-pod")
    racks = (cs[:, 2:] != cd[:, 2:]).sum(axis=1)
    want = np.where(racks > 0, 2 + racks, (cs[:, :2] != cd[:, :2]).sum(axis=1))
    assert (hops == want).all()
    assert hops.max() == 4 and topo.diameter_hops == 4


@pytest.mark.parametrize("spec, per_level", [
    ("switch:16", [2]),
    ("switch:4,switch:4:oversub=2", [2, 4]),
    ("full_mesh:3,switch:16:oversub=4", [1, 4]),  # one pool for the whole switch
    ("ring:4,switch:5:planes=7", [2, 2]),
])
def test_switch_levels_add_two_hops_or_four_when_oversubscribed(spec, per_level):
    topo, cs, cd, hops = _hops(spec)
    want = np.zeros_like(hops)
    for i, h in enumerate(per_level):
        levels_hops = h if topo.levels[i].fabric != "ring" else \
            np.minimum((cd[:, i] - cs[:, i]) % 4, (cs[:, i] - cd[:, i]) % 4)
        want += np.where(cs[:, i] != cd[:, i], levels_hops, 0)
    assert (hops == want).all()
    assert hops.max() == topo.diameter_hops


@pytest.mark.parametrize("sizes", [(7, 6), (2, 5), (8,), (3, 1, 4)])
def test_ring_levels_take_the_shorter_way(sizes):
    topo = parse_topology_string(",".join(f"ring:{s}" for s in sizes))
    src, dst = all_pairs(topo.n_npus)
    cs, cd = topo.coords(src), topo.coords(dst)
    d = (cd - cs) % np.array(sizes)
    want = np.minimum(d, np.array(sizes) - d).sum(axis=1)
    assert (topo.route(src, dst)[1] == want).all()
    assert topo.diameter_hops == sum(s // 2 for s in sizes)


def test_path_latency_counts_levels_and_hops():
    levels = (Level("full_mesh", 4, 56.0, 150.0), Level("ring", 5, 56.0, 70.0),
              Level("switch", 3, 100.0, 1000.0, oversub=2.0))
    topo = Topology(levels, params=TopologyParams(hop_lat_ns=5.0))
    src, dst = all_pairs(topo.n_npus)
    cs, cd = topo.coords(src), topo.coords(dst)
    ring = np.minimum((cd[:, 1] - cs[:, 1]) % 5, (cs[:, 1] - cd[:, 1]) % 5)
    _, hops, lat = topo.route(src, dst)
    want = 150.0 * (cs[:, 0] != cd[:, 0]) + 70.0 * ring + 1000.0 * (cs[:, 2] != cd[:, 2])
    np.testing.assert_allclose(lat, want + 5.0 * hops)


@pytest.mark.parametrize("spec", ["ub-mesh-pod", "torus:3x4x5", "atlas960-supercluster"])
def test_coords_ranks_round_trip(spec):
    topo = load_topology(spec)
    r = np.unique(np.r_[np.arange(min(topo.n_npus, 5000)),
                        np.random.default_rng(0).integers(0, topo.n_npus, 5000),
                        topo.n_npus - 1])
    c = topo.coords(r)
    want = np.stack(np.unravel_index(r, topo.sizes[::-1])[::-1], axis=1)
    assert (c == want).all()
    assert (topo.ranks(c) == r).all()


def test_link_classes_tile_the_id_space_and_capacities():
    topo = load_topology("full_mesh:4,switch:3:oversub=2:links=2,full_mesh:2:trunk:"
                         "access=20GBps,switch:5:oversub=4")
    ends = [c.first_id + c.count for c in topo.link_classes]
    assert [c.first_id for c in topo.link_classes] == [0, *ends[:-1]]
    assert ends[-1] == topo.n_links
    cap = topo.link_capacity_GBps()
    assert cap.shape == (topo.n_links,)
    # 120 NPUs: 30 boards x 12 mesh links; 120 up + 120 down at 2 x 56; 30 core pools up and
    # down at 4 NPUs x 112 / 2 (a board is the leaf); 5 trunk pairs (groups of 12 NPUs) at
    # 56; the 5-unit switch: 120 up + 120 down at 56 and a pool per 24-NPU unit (5) at
    # 24 x 56 / 4; then the trunk run's access ports, 120 up and 120 down at 20
    assert [c.count for c in topo.link_classes] == [360, 120, 120, 30, 30, 10, 120, 120, 5,
                                                    5, 120, 120]
    assert [c.bw_GBps for c in topo.link_classes] == [56, 112, 112, 224, 224, 56, 56, 56,
                                                      24 * 56 / 4, 24 * 56 / 4, 20, 20]
    assert [c.name for c in topo.link_classes][-2:] == ["level2.access_up",
                                                        "level2.access_down"]
    ids = np.arange(topo.n_links)
    assert (np.diff(topo.link_class_of(ids)) >= 0).all()
    assert topo.link_class_of([0, 359, 360, 629, 630]).tolist() == [0, 0, 1, 3, 4]
    one = load_topology("switch:16@50GBps:oversub=4")  # single NPUs: the switch is the leaf
    assert [(c.count, c.bw_GBps) for c in one.link_classes][2:] == [(1, 200.0), (1, 200.0)]


def test_aggregate_figures_by_hand():
    rack = load_topology("ub-mesh-rack")
    assert rack.injection_GBps() == 14 * 56
    assert rack.bisection_GBps() == 8 * 4 * 4 * 56   # 8 lines, 16 links each way
    pod = load_topology("ub-mesh-pod")
    assert pod.trunk_share_GBps() == pytest.approx(2 * 3 * 1792 / 64)
    assert pod.bisection_GBps() == pytest.approx(4 * 2 * 2 * 1792)  # 4 columns, 4 trunks
    torus = load_topology("torus:8x8")
    assert torus.bisection_GBps() == 8 * 2 * 56 and torus.injection_GBps() == 4 * 56
    sw = load_topology("full_mesh:2,switch:8:oversub=4")
    assert sw.bisection_GBps() == pytest.approx(4 * 2 * 56 / 4)


def test_string_form_round_trip_of_describe_levels():
    for spec in SMALL + ["atlas960-supercluster", "dgx-h100", "cloudmatrix384"]:
        topo = load_topology(spec)
        again = parse_topology_string(",".join(topo.describe_levels()))
        assert again.levels == topo.levels


def test_route_rejects_bad_ranks():
    topo = load_topology("ring:4")
    with pytest.raises(UbemuError, match="dst NPU out of range 0..3"):
        topo.route([0], [4])
    with pytest.raises(UbemuError, match="same length"):
        topo.route([0, 1], [1])


def test_topology_validates_levels_built_by_hand():
    with pytest.raises(UbemuError, match="unknown fabric 'mesh'; did you mean 'full_mesh'\\? "
                                         "valid: full_mesh, ring"):
        Topology((Level("mesh", 4, 1.0, 1.0),))
    with pytest.raises(UbemuError, match="size must be an integer >= 1"):
        Topology((Level("ring", 0, 1.0, 1.0),))
    with pytest.raises(UbemuError, match="bw_GBps must be a finite number > 0"):
        Topology((Level("ring", 4, float("inf"), 1.0),))
    with pytest.raises(UbemuError, match="beyond the supported range"):
        Topology(tuple(Level("switch", 1 << 13, 1.0, 1.0) for _ in range(2)))


def test_route_many_compiles_once():
    from ubemu.kernels import routing

    topo = load_topology("ub-mesh-pod")
    for n in (1, 10, 1000):
        topo.route(np.zeros(n, np.int64), np.arange(n) % topo.n_npus)
    assert len(routing.route_many.signatures) == 1


def test_every_level_pair_of_ub_mesh_rack_is_used():
    topo = load_topology("ub-mesh-rack")
    # boards are the 8 NPUs sharing c1; NPU (c0, c1) reaches the 7 others of its board directly
    for c0, c1 in itertools.product(range(8), repeat=2):
        r = topo.ranks([c0, c1])
        peers = topo.ranks([[x, c1] for x in range(8) if x != c0])
        assert (topo.route(np.full(7, r), peers)[1] == 1).all()
