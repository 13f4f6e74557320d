"""The step-level timing model against closed forms (docs/sources.md, "Algorithm references") and a
NumPy reference built from materialised routes."""

import math
from dataclasses import replace

import numpy as np
import pytest

from ubemu.algorithms import REGISTRY, build_schedule
from ubemu.api import simulate
from ubemu.collectives import get
from ubemu.machine.comm import Comm
from ubemu.machine.spec import load_topology, topology_from_dict, with_params
from ubemu.schedule import AllPairs, ShiftSteps, Step
from ubemu.timing.timer import StepTimer
from ubemu.timing.usage import MESSAGES
from ubemu.timing.walk import time_schedule

GIB = 2**30
B_REF = 50 * GIB  # 50 GiB/s in B/s
A_REF = 1e-6


def _time(collective, name, topo, p, count, itemsize=4, **options):
    sched = build_schedule(collective, name, Comm.flat(p), count, data=False, **options)
    return time_schedule(sched, topo, None, itemsize)


def _topo(kind, p):
    return load_topology(f"{kind}:{p}@50GiBps/1us")


# -- the reference numbers of docs/sources.md, "Algorithm references" -----------------------
@pytest.mark.parametrize("name,p,want_us", [("ring", 64, 164.45), ("ring", 1024, 2085.0),
                                            ("halving_doubling", 1024, 59.02),
                                            ("halving_doubling", 8192, 65.06)])
def test_reference_numbers(name, p, want_us):
    t, _, bottleneck = _time("all_reduce", name, _topo("switch", p), p, 2**20 // 4)
    digits = len(str(want_us).split(".")[1])
    assert t * 1e6 == pytest.approx(want_us, abs=0.5 * 10.0**-digits)  # as printed
    S = 2**20
    assert t == pytest.approx(ring_ar(p, S) if name == "ring" else hd_ar(p, S), rel=1e-9)
    assert bottleneck in ("level0.up", "level0.down")


# -- closed forms: S bytes, p ranks, a per message, B per link -------------------------------
def ring_ar(p, S):
    return 2 * (p - 1) * (A_REF + S / (p * B_REF))


def ring_half(p, S):
    return (p - 1) * (A_REF + S / (p * B_REF))


def hd_ar(p, S):
    return 2 * math.log2(p) * A_REF + 2 * S * (p - 1) / (p * B_REF)


def rd_ag(p, S):
    return math.log2(p) * A_REF + S * (p - 1) / (p * B_REF)


def bruck_a2a(p, S):
    steps = (p - 1).bit_length()
    moved = sum(bin(i).count("1") for i in range(1, p))  # blocks moved over all steps
    return steps * A_REF + S / (p * B_REF) * moved


CASES = [  # (collective, algorithm, closed form, fabrics, rank counts)
    ("all_reduce", "ring", ring_ar, ("switch", "full_mesh", "ring"), (2, 3, 64, 1024, 8192)),
    ("all_gather", "ring", ring_half, ("switch", "full_mesh", "ring"), (2, 3, 64, 1024)),
    ("reduce_scatter", "ring", ring_half, ("switch", "full_mesh", "ring"), (2, 3, 64, 1024)),
    ("all_reduce", "halving_doubling", hd_ar, ("switch", "full_mesh"), (2, 64, 1024, 8192)),
    ("all_gather", "recursive_doubling", rd_ag, ("switch", "full_mesh"), (2, 64, 1024, 8192)),
    ("alltoall", "pairwise", ring_half, ("switch", "full_mesh"), (2, 3, 64, 256)),
    ("alltoall", "bruck", bruck_a2a, ("switch", "full_mesh"), (2, 3, 64, 1000, 8192)),
]


@pytest.mark.parametrize("collective,name,form,fabrics,ps", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_closed_forms(collective, name, form, fabrics, ps):
    for fabric in fabrics:
        for p in ps:
            if fabric != "switch" and p > 1024:
                continue  # kept quick: p(p-1) links on a full mesh; 8,192 on the switch
            count = p * 256  # S divisible into p blocks
            S = count * 4
            t, _, _ = _time(collective, name, _topo(fabric, p), p, count)
            assert t == pytest.approx(form(p, S), rel=1e-9), (fabric, p)


def test_direct_all_reduce_is_one_shot_on_a_full_mesh():
    # HCCL's Mesh cost without the reduction term: 2a + 2 S / (p B); the p-1 reduce-scatter
    # steps form one concurrent window (notes["concurrent_steps"]).
    p, count = 8, 8 * 1024
    t, _, _ = _time("all_reduce", "direct", _topo("full_mesh", p), p, count)
    assert t == pytest.approx(2 * A_REF + 2 * count * 4 / (p * B_REF), rel=1e-9)


def test_params_overhead_reduction_efficiency():
    topo = topology_from_dict({"params": {"overhead_ns": 500, "reduce_GBps": 100,
                                          "efficiency": 0.8},
                               "level": [{"fabric": "switch", "size": 16, "bw_GBps": 50,
                                          "lat_ns": 1000}]}, "test")
    p, count = 16, 16 * 1000
    S = count * 4
    t, usage, _ = _time("all_reduce", "ring", topo, p, count)
    step = 1e-6 + 0.5e-6 + S / p / (50e9 * 0.8)
    want = 2 * (p - 1) * step + (p - 1) * (S / p) / 100e9
    assert t == pytest.approx(want, rel=1e-12)
    up = next(u for u in usage if u.name.endswith(".up"))
    assert up.bytes == pytest.approx(2 * (p - 1) * S)  # every rank sends 2 S (p-1)/p
    assert up.busy_s == pytest.approx(2 * (p - 1) * S / p / 40e9)


def test_repeat_counts_a_step_k_times():
    topo = _topo("switch", 8)
    st = Step.make(np.arange(8), (np.arange(8) + 1) % 8, 100)
    one = StepTimer(topo)
    t1 = one.step_time(st, 4)
    st3 = Step.make(np.arange(8), (np.arange(8) + 1) % 8, 100, repeat=3)
    three = StepTimer(topo)
    three.step_time(st3, 4)
    assert three.time_s == pytest.approx(3 * t1)
    assert three.n_steps == 3
    assert three.bytes.sum() == pytest.approx(3 * one.bytes.sum())


# -- the kernel against a NumPy reference from materialised routes ---------------------------
TOPOLOGIES = ["ub-mesh-pod", "full_mesh:4,ring:5,switch:3:oversub=2",
              "full_mesh:2,full_mesh:3:trunk,switch:4:trunk", "ring:2,ring:6,switch:2"]


@pytest.mark.parametrize("spec", TOPOLOGIES)
def test_kernel_matches_numpy_reference(spec):
    topo = load_topology(spec)
    rng = np.random.default_rng(1)
    t = 500
    src = rng.integers(0, topo.n_npus, t)
    dst = rng.integers(0, topo.n_npus, t)
    n = rng.integers(0, 50, t)
    red = rng.random(t) < 0.5
    st = Step(src, dst, n, None, None, red)
    timer = StepTimer(topo)
    dt = timer.step_time(st, 2)
    # reference
    paths, hops, lat_ns = topo.route(src, dst)
    load = np.zeros(topo.n_links)
    nb = (n * 2).astype(float)
    for h in range(paths.shape[1]):
        ok = (paths[:, h] >= 0) & (n > 0)
        np.add.at(load, paths[ok, h], nb[ok])
    cap = topo.link_capacity_GBps() * 1e9 * topo.params.efficiency
    red_b = np.zeros(topo.n_npus)
    np.add.at(red_b, dst[red & (n > 0)], nb[red & (n > 0)])
    # LogGP ends: every transfer here is its own message (random pairs, no consecutive runs)
    par = topo.params
    moved = (n > 0) & (src != dst)
    assert not ((src[1:] == src[:-1]) & (dst[1:] == dst[:-1])).any()
    sends = np.bincount(src[moved], minlength=topo.n_npus)
    recvs = np.bincount(dst[moved], minlength=topo.n_npus)
    cpu_s = (sends * par.send_overhead_ns + recvs * par.recv_overhead_ns).max() * 1e-9
    from ubemu.kernels.timing import receive_tail_s

    send_s, recv_s = par.send_overhead_ns * 1e-9, par.recv_overhead_ns * 1e-9
    tail_s = max(receive_tail_s(float(m), float(k), send_s, recv_s) for k, m in zip(sends, recvs))
    net_s = (load / cap).max() + lat_ns[n > 0].max() * 1e-9 + send_s + max(recv_s, tail_s)
    want = max(cpu_s, net_s) + par.overhead_ns * 1e-9
    if topo.params.reduce_GBps > 0:
        want += red_b.max() / (topo.params.reduce_GBps * 1e9)
    assert dt == pytest.approx(want, rel=1e-12)
    cls = topo.link_class_of(np.arange(topo.n_links))
    for k in range(len(topo.link_classes)):
        assert timer.bytes[k] == pytest.approx(load[cls == k].sum())
        assert timer.busy_s[k] == pytest.approx((load / cap)[cls == k].max(initial=0.0))
    assert not timer.load.any() and not timer.red_bytes.any()  # touched links reset


def test_an_incast_queues_its_receive_costs_after_the_data():
    """15 NPUs send one message each to NPU 0 (it sends none): they share its downlink
    fairly, complete together, and its 15 receive costs follow the data one by one."""
    topo = with_params(load_topology("switch:16@50GBps/1us"),
                       ["send_overhead_ns=2000", "recv_overhead_ns=1000"])
    b = 100_000
    dt = StepTimer(topo).step_time(Step.make(np.arange(1, 16), 0, b // 4), 4)
    assert dt == pytest.approx(15 * b / 50e9 + 1e-6 + 2e-6 + 15 * 1e-6, rel=1e-12)
    # a ring step: one message in, one out: one receive after the data, as before
    ring = StepTimer(topo).step_time(Step.make(np.arange(16), (np.arange(16) + 1) % 16,
                                               b // 4), 4)
    assert ring == pytest.approx(b / 50e9 + 1e-6 + 2e-6 + 1e-6, rel=1e-12)


def test_direct_alltoall_with_receive_costs_as_smpi_times_it():
    """The issue's case: 64 ranks on one switch, 1 MiB, 1 us per received message: SMPI's
    basic_linear all-to-all takes 84.66 us (peer/analytic.py reproduces SMPI to 1e-13; the
    16-byte envelope aside), the 63 receives queue after the data."""
    topo = with_params(load_topology("switch:64@50GBps/1us"), ["recv_overhead_ns=1000"])
    res = simulate("alltoall", 2**20, topo, "direct", dtype="int32")
    assert res.time_s == pytest.approx(1e-6 + 63 * 16384 / 50e9 + 63e-6, rel=1e-12)
    assert res.time_s == pytest.approx(84.66e-6, rel=1e-3)
    assert res.bottleneck == MESSAGES


def test_window_adds_loads_and_charges_one_latency():
    topo = _topo("switch", 4)
    a = Step.make([0, 1], [1, 2], 1000)
    b = Step.make([0, 2], [3, 3], 1000)
    timer = StepTimer(topo)
    timer.begin_window()
    timer.add_to_window(a, 4)
    timer.add_to_window(b, 4)
    dt = timer.end_window()
    # NPU 0's uplink and NPU 3's downlink carry two messages; one latency
    assert dt == pytest.approx(2 * 4000 / B_REF + A_REF)
    assert timer.n_steps == 2 and not timer.load.any()


# -- calibrated and 2D presets ---------------------------------------------------------------
def test_dgx_h100_ring_busbw():
    from ubemu.api import simulate

    res = simulate("all_reduce", 2**30, "dgx-h100", "ring")
    assert res.busbw_GBps < 450
    assert res.busbw_GBps == pytest.approx(370, rel=0.10)


@pytest.mark.parametrize("name", ["direct", "multipath"])
def test_ub_mesh_alltoall_uses_both_dimensions(name):
    from ubemu.machine.groups import group_of

    topo = load_topology("ub-mesh-rack")
    comm = group_of(topo)
    sched = build_schedule("alltoall", name, comm, 64 * 1024, data=False)
    _, usage, _ = time_schedule(sched, topo, comm.npus, 4)
    by_name = {u.name: u for u in usage}
    for cls in ("board", "rack"):
        assert by_name[cls].bytes > 0 and by_name[cls].busy_s > 0
        assert 0 < by_name[cls].utilisation <= 1


def test_bottleneck_names_the_npus_messages_when_they_outlast_the_links():
    """direct all-gather on 8 ranks: 7 messages out per rank; at 20 us each they take longer
    than any link, and the bottleneck says so; without them a link class is named."""
    slow = simulate("all_gather", 8 * 1024, "switch:8@50GBps/1us", "direct")
    assert slow.bottleneck in ("level0.up", "level0.down")
    topo = load_topology("switch:8@50GBps/1us")
    costed = replace(topo, params=replace(topo.params, send_overhead_ns=20_000))
    res = simulate("all_gather", 8 * 1024, costed, "direct")
    assert res.bottleneck == MESSAGES and res.time_s == pytest.approx(7 * 20e-6, rel=1e-9)


@pytest.mark.parametrize("spec", ["ub-mesh-rack", "switch:8:oversub=2,switch:4:oversub=2",
                                  "full_mesh:4,full_mesh:4:trunk,switch:4:trunk",
                                  "ring:2,ring:6,switch:2"])
def test_compact_steps_time_as_their_explicit_transfers(spec):
    """Every registered algorithm: the timing-only schedule (compact AllPairs steps, merged
    repeats) and the data schedule (every transfer explicit) give identical figures."""
    topo = load_topology(spec)
    n = topo.n_npus
    compact = 0
    for key, alg in sorted(REGISTRY.items()):
        comm = Comm.flat(n)
        if alg.check and alg.check(comm):
            continue
        count = n * 12 if get(key[0]).blocked else n * 12 + 3
        timing = build_schedule(*key, comm, count, data=False)
        compact += any(isinstance(st, AllPairs) for st in timing.steps())
        data = build_schedule(*key, comm, count)
        assert time_schedule(timing, topo) == time_schedule(data, topo), key
    assert compact >= 3  # direct all-to-all, all-gather, all-reduce


# -- the links a group uses (per-group utilisation) ------------------------------------------
def _links_crossed(topo, sched, npus):
    """Distinct links per class that the explicit transfers of ``sched`` cross (a reference
    routed with Topology.route, transfer by transfer)."""
    seen = np.zeros(topo.n_links, bool)
    for step in sched.steps():
        for part in step.parts() if hasattr(step, "parts") else [step]:
            moved = (part.n > 0) & (part.src != part.dst)
            paths, _, _ = topo.route(npus[part.src[moved]], npus[part.dst[moved]])
            seen[paths[paths >= 0]] = True
    return np.bincount(topo.link_class_of(np.flatnonzero(seen)),
                       minlength=len(topo.link_classes))


@pytest.mark.parametrize("spec,group,collective,name", [
    ("ub-mesh-pod", "unit=rack", "alltoall", "direct"),  # every peer: one AllPairs step
    ("ub-mesh-pod", "one_per=rack", "all_reduce", "ring"),  # repeated patterns
    ("ub-mesh-pod", "unit=board", "all_reduce", "hierarchical"),
    ("atlas950-superpod", "unit=rack", "all_reduce", "halving_doubling"),
    ("full_mesh:4,ring:5,switch:3:oversub=2", "levels=level0+level2", "reduce_scatter", "direct"),
    ("ub-mesh-rack", None, "alltoall", "direct"),  # the whole machine: the symmetry shortcut
])
def test_links_used_are_the_links_the_transfers_cross(spec, group, collective, name):
    from ubemu.machine.groups import group_of

    topo = load_topology(spec)
    comm = group_of(topo, group)
    count = comm.n * 1024
    t, usage, _ = time_schedule(build_schedule(collective, name, comm, count, data=False),
                                topo, comm.npus, 4)
    want = _links_crossed(topo, build_schedule(collective, name, comm, count), comm.npus)
    assert [u.links_used for u in usage] == want.tolist()
    assert [u.links for u in usage] == [c.count for c in topo.link_classes]
    for u, c in zip(usage, topo.link_classes):
        cap = c.bw_GBps * 1e9 * topo.params.efficiency
        assert u.utilisation == pytest.approx(u.bytes / (cap * c.count * t), rel=1e-12)
        assert u.group_utilisation == pytest.approx(
            u.bytes / (cap * u.links_used * t) if u.links_used else 0.0, rel=1e-12)
        assert u.group_utilisation <= 1 + 1e-9


def test_a_cabinet_running_its_ports_flat_out():
    """The issue's case: one 64-NPU cabinet of the 8,192-NPU Atlas 950 SuperPoD, direct
    all-reduce of 1 GiB: 0.78 % of the machine's rack ports, but 99.5 % of its own 64."""
    res = simulate("all_reduce", GIB, "atlas950-superpod", "direct", group="unit=rack")
    port = {u.name: u for u in res.usage}["rack.access_up"]
    assert (port.links_used, port.links) == (64, 8192)
    assert port.utilisation == pytest.approx(port.group_utilisation * 64 / 8192, rel=1e-12)
    # a one-shot step: every port carries 63/64 GiB in 2097.152 us of a 2107.5 us run (the
    # rest: latencies, per-step and per-message costs, the 63 arrivals' receive tail)
    busy = 63 * GIB / 64 / 1008e9
    assert port.busy_s == pytest.approx(busy * 2, rel=1e-12)  # reduce-scatter + all-gather
    assert port.group_utilisation == pytest.approx(2 * busy / res.time_s, rel=1e-12)
    assert round(port.utilisation * 100, 2) == 0.78 and round(port.group_utilisation, 3) == 0.995


@pytest.mark.parametrize("group", [None, np.arange(4096)])
def test_links_used_at_8192_npus(group):
    """A ring over 4,096 or 8,192 NPUs (compact shift steps): the links of its one pattern."""
    topo = load_topology("atlas950-superpod")
    count = 3 * 8192 + 5  # blocks of two sizes: the compact form
    res = simulate("all_reduce", 4 * count, topo, "ring", group=group)
    sched = build_schedule("all_reduce", "ring", Comm.flat(4096 if group is not None
                                                           else 8192), count, data=False)
    step = next(iter(sched.steps()))
    assert isinstance(step, ShiftSteps)  # timed by ubemu.timing.shifts, never step by step
    npus = np.arange(topo.n_npus)
    paths, _, _ = topo.route(npus[step.src], npus[step.dst])
    want = np.bincount(topo.link_class_of(np.unique(paths[paths >= 0])),
                       minlength=len(topo.link_classes))
    assert [u.links_used for u in res.usage] == want.tolist()
    assert max(want) > 0
