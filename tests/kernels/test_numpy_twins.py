"""The NumPy twins (``kernels/numpy_routing.py``, ``kernels/numpy_timing.py``) equal the Numba
kernels bit for bit: routes, link and NPU accumulators, drained figures, pattern profiles, and
every registered algorithm timed on several machines; and the side is chosen as documented."""

import numpy as np
import pytest
from ubemu.kernels import numpy_routing, numpy_timing, routing, select, timing
from ubemu.kernels.codes import INNET_MULTICAST, INNET_REDUCE

from ubemu import simulate
from ubemu.algorithms import REGISTRY
from ubemu.algorithms.ring import KERNEL_MIN_RANKS, shifted_blocks
from ubemu.machine.faults import NO_FAULTS
from ubemu.machine.spec import load_topology
from ubemu.timing.timer import StepTimer

TOPOLOGIES = ["ub-mesh-pod", "full_mesh:4,ring:5,switch:3:oversub=2",
              "full_mesh:2,full_mesh:3:trunk,switch:4:trunk", "ring:2,ring:6,switch:2",
              "atlas960-supercluster", "switch:8,switch:8:planes=2"]


def _pairs(topo, t, seed, runs=True):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, topo.n_npus, t), rng.integers(0, topo.n_npus, t)
    if runs:  # runs of one (src, dst) pair (one message), local copies, empty transfers
        rep = rng.integers(1, 4, t)
        src, dst = np.repeat(src, rep)[:t], np.repeat(dst, rep)[:t]
        local = rng.random(t) < 0.05
        dst[local] = src[local]
    n = rng.integers(0, 60, t) * (rng.random(t) > 0.1)
    return src.astype(np.int64), dst.astype(np.int64), n.astype(np.int64), rng.random(t) < 0.5


@pytest.mark.parametrize("spec", TOPOLOGIES)
def test_routes_are_the_kernels(spec):
    topo = load_topology(spec)
    src, dst, _, _ = _pairs(topo, 5000, 1, runs=False)
    width = topo.route_hops
    outs = []
    for module in (routing, numpy_routing):
        out = (np.empty((src.size, width), np.int64), np.empty(src.size, np.int64),
               np.empty(src.size))
        module.route_many(src, dst, topo.level_table, topo.lat_ns, 7.0, *out)
        outs.append(out)
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


def _accumulators(topo):
    return {"load": np.zeros(topo.n_links), "touched": np.empty(topo.n_links, np.int64),
            "red_bytes": np.zeros(2 * topo.n_npus),
            "red_touched": np.empty(2 * topo.n_npus, np.int64)}


@pytest.mark.parametrize("spec", TOPOLOGIES)
@pytest.mark.parametrize("messages,fill", [(True, (300.0, 0.02)), (False, (0.0, 0.0))])
def test_accumulate_and_drain_are_the_kernels(spec, messages, fill):
    """Two steps added (a window), then drained: every accumulator and figure alike."""
    topo = load_topology(spec)
    npus = np.random.default_rng(3).permutation(topo.n_npus).astype(np.int64)
    classes = topo.link_classes
    class_first = np.array([c.first_id for c in classes], np.int64)
    cap = np.array([c.bw_GBps * 1e9 * 0.9 for c in classes])
    got = []
    for module in (timing, numpy_timing):
        acc = _accumulators(topo)
        nt, nr, lat = 0, 0, []
        for seed, scale in ((5, 1.0), (6, 3.0)):
            src, dst, n, red = _pairs(topo, 3000, seed)
            err = np.zeros(4, np.int64)
            nt, nr, step_lat = module.accumulate(
                src, dst, n, red, npus, 2, scale, topo.level_table, topo.lat_ns, 4.0,
                *NO_FAULTS, acc["load"], acc["touched"], nt, acc["red_bytes"],
                acc["red_touched"], nr, np.empty(topo.route_hops, np.int64), messages, *fill,
                err)
            lat.append(step_lat)
        state = (nt, acc["touched"][:nt].copy(), acc["load"].copy(), acc["red_bytes"].copy(),
                 np.sort(acc["red_touched"][:nr]), lat)
        busy, nbytes = np.zeros(len(classes)), np.zeros(len(classes))
        figures = module.drain(class_first, cap, acc["load"], acc["touched"], nt,
                               acc["red_bytes"], acc["red_touched"], nr, busy, nbytes, 1e-6,
                               2e-7, np.zeros(0))
        got.append((state, figures, busy, nbytes, acc["load"].any(), acc["red_bytes"].any()))
    (s0, f0, b0, n0, l0, r0), (s1, f1, b1, n1, l1, r1) = got
    assert s0[0] == s1[0] and s0[5] == s1[5]
    for a, b in zip(s0[1:5], s1[1:5]):
        assert np.array_equal(a, b)
    assert f0 == f1 and np.array_equal(b0, b1) and np.array_equal(n0, n1)
    assert not (l0 or l1 or r0 or r1)  # reset


@pytest.mark.parametrize("spec", TOPOLOGIES[:4])
def test_pattern_kernels_are_the_kernels(spec):
    topo = load_topology(spec)
    src, dst, n, red = _pairs(topo, 2000, 9, runs=False)
    n = np.maximum(n, 1)
    classes = topo.link_classes
    class_first = np.array([c.first_id for c in classes], np.int64)
    cap = np.array([c.bw_GBps * 1e9 for c in classes])
    npus = np.arange(topo.n_npus, dtype=np.int64)
    shared = np.zeros(topo.n_links, bool)
    shared[::3] = True
    got = []
    for module in (timing, numpy_timing):
        path = np.empty(topo.route_hops, np.int64)
        hops, lat = np.zeros((len(classes), src.size), np.int32), np.empty(src.size)
        module.pattern_profile(src, dst, npus, topo.level_table, topo.lat_ns, 1.0, *NO_FAULTS,
                               class_first, path, hops, lat)
        links, trans = np.empty(4 * src.size, np.int64), np.empty(4 * src.size, np.int64)
        m = module.shared_pairs(src, dst, npus, topo.level_table, topo.lat_ns, 1.0,
                                *NO_FAULTS, shared, path, links, trans)
        short = module.shared_pairs(src, dst, npus, topo.level_table, topo.lat_ns, 1.0,
                                    *NO_FAULTS, shared, path, links[:1], trans[:1])
        busy, nbytes = np.zeros(len(classes)), np.zeros(len(classes))
        used = np.flatnonzero(hops.any(axis=1))
        fig = module.pattern_step(n, 4, red, hops, used, cap, busy, nbytes)
        got.append((hops, lat, links[:m], trans[:m], short, fig, busy, nbytes))
    for a, b in zip(*got):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("spec", ["switch:8,switch:4", "switch:8:oversub=2,switch:4"])
@pytest.mark.parametrize("mode", [INNET_REDUCE, INNET_MULTICAST])
def test_innet_and_channel_kernels_are_the_kernels(spec, mode):
    """In-switch steps (sorted by destination or by sender, so runs form), channel patterns'
    routes, and the busy time of links carrying several transfers."""
    topo = load_topology(spec)
    src, dst, n, _ = _pairs(topo, 3000, 11)
    order = np.lexsort((src, dst) if mode == INNET_REDUCE else (dst, src))
    src, dst, n = src[order], dst[order], n[order]
    npus = np.random.default_rng(4).permutation(topo.n_npus).astype(np.int64)
    classes = topo.link_classes
    cap = np.array([c.bw_GBps * 1e9 * 0.9 for c in classes])
    trans = np.random.default_rng(5).integers(0, src.size, 400)
    starts = np.array([0, 3, 3 + 50, 200, 399], np.int64)
    cls = np.array([0, 1, 0, 2, 1], np.int64) % len(classes)
    got = []
    for module in (timing, numpy_timing):
        acc = _accumulators(topo)
        nt, nr, lat = module.accumulate_innet(
            src, dst, n, npus, 2, 3.0, 1.25, mode, 0, topo.level_table, 700.0, 4.0,
            acc["load"], acc["touched"], 0, acc["red_bytes"], acc["red_touched"], 0, True,
            1024.0, 0.05)
        state = (nt, nr, lat, acc["touched"][:nt].copy(), acc["load"].copy(),
                 acc["red_bytes"].copy(), np.sort(acc["red_touched"][:nr]))
        count, last, path_lat = (np.zeros(topo.n_links, np.int32),
                                 np.zeros(topo.n_links, np.int32), np.empty(src.size))
        assert module.slide_links(src, dst, npus, topo.level_table, topo.lat_ns, 1.0,
                                  *NO_FAULTS, np.empty(topo.route_hops, np.int64), count, last,
                                  path_lat, np.zeros(4, np.int64)) == 0
        busy = np.zeros(len(classes))
        module.shared_busy(n, 4, trans, starts, cls, np.full(starts.size, 1.5), cap, busy)
        plain = np.zeros(len(classes))
        module.shared_busy(n, 4, trans, starts, cls, np.zeros(0), cap, plain)
        got.append((state, count, last, path_lat, busy, plain))
    (s0, *rest0), (s1, *rest1) = got
    assert s0[:3] == s1[:3]
    for a, b in zip(s0[3:] + tuple(rest0), s1[3:] + tuple(rest1)):
        assert np.array_equal(a, b)


def test_shifted_blocks_numpy_equals_the_kernel():
    rng = np.random.default_rng(2)
    for n in (10, KERNEL_MIN_RANKS + 3):
        pos = rng.integers(0, 7, n)
        off, ln = rng.integers(0, 100, n), np.sort(rng.integers(0, 50, n))
        small = shifted_blocks(pos[:5], 3, 7, off[:5], ln[:5])
        big = shifted_blocks(pos, 3, 7, off, ln)
        for a, b in zip(small, big):
            assert np.array_equal(a, b[:5])


def _every_algorithm(spec, group=None):
    topo = load_topology(spec)
    out = {}
    for coll, name in sorted(REGISTRY):
        n = topo.n_npus if group is None else topo.group(group).n
        try:
            res = simulate(coll, 4 * n * 37 + 4, topo, name, group=group)
        except Exception as exc:  # the same refusal on both sides
            out[(coll, name)] = str(exc)
            continue
        out[(coll, name)] = (res.time_s, res.usage, res.bottleneck, res.n_steps)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("spec,group", [
    ("ub-mesh-rack", None), ("ub-mesh-pod", "one_per=rack"),
    ("full_mesh:4,ring:5,switch:3:oversub=2", None),
    ("full_mesh:2,full_mesh:3:trunk,switch:4:trunk", None),
    ("dgx-h100-multinode", None), ("ring:12", None)])
def test_every_registered_algorithm_times_alike_on_both_sides(spec, group):
    with select.forced("numba"):
        want = _every_algorithm(spec, group)
    with select.forced("numpy"):
        got = _every_algorithm(spec, group)
    assert got == want
    assert any(isinstance(v, tuple) for v in got.values())


def test_the_side_follows_size_faults_and_the_setting(monkeypatch):
    monkeypatch.delenv(select.ENV, raising=False)
    assert select.timing(64) is numpy_timing
    assert select.timing(select.NUMPY_MAX_NPUS + 1) is timing
    big = select.NUMPY_MAX_NPUS * 10
    assert select.routing(big, n_items=select.NUMPY_MAX_TRANSFERS) is numpy_routing
    assert select.routing(big, n_items=select.NUMPY_MAX_TRANSFERS + 1) is routing
    assert select.timing(64, faulty=True) is timing  # the twins do not route around faults
    with select.forced("numba"):
        assert select.routing(8) is routing
    with select.forced("numpy"):
        assert select.routing(1 << 20) is numpy_routing
        assert select.timing(8, faulty=True) is timing
    monkeypatch.setenv(select.ENV, "numba")
    assert select.timing(8) is timing
    monkeypatch.setenv(select.ENV, "fast")
    with pytest.raises(ValueError, match="UBEMU_KERNELS='fast'"):
        select.mode()


def test_a_small_faulty_run_is_timed_by_the_kernels():
    topo = load_topology("ub-mesh-rack")
    res = {}
    for side in ("numba", "numpy"):
        with select.forced(side):
            res[side] = simulate("all_reduce", 1 << 20, topo, "ring",
                                 faults="link=board:0-1", routing="apr").time_s
            assert StepTimer(topo).kernels() is (numpy_timing if side == "numpy" else timing)
    assert res["numba"] == res["numpy"]
