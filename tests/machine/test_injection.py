"""Every byte an NPU sends or receives crosses links that belong to that NPU: on random
topologies, groups and collectives, no NPU sends or receives faster in any timed step than
the sum of its own links' capacity (its mesh and ring links, its switch ports, its trunk runs'
access ports), with ``efficiency`` applied."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import ubemu
from ubemu.algorithms import REGISTRY, algorithm_names, build_schedule
from ubemu.timing.timer import StepTimer
from ubemu.timing.walk import _windows

LEVEL = st.fixed_dictionaries({
    "fabric": st.sampled_from(["full_mesh", "ring", "switch"]),
    "size": st.integers(1, 4),
    "bw": st.sampled_from([10, 56, 400]),
    "trunk": st.booleans(),
    "oversub": st.sampled_from([1, 2]),
    "access": st.sampled_from([0, 30]),
})


def _topology(levels):
    parts = []
    for i, lv in enumerate(levels):
        spec = f"{lv['fabric']}:{lv['size']}@{lv['bw']}GBps"
        trunk = lv["trunk"] and i > 0
        if lv["fabric"] == "switch" and lv["oversub"] > 1 and not trunk:
            spec += f":oversub={lv['oversub']}"
        if trunk:
            spec += ":trunk" + (f":access={lv['access']}GBps" if lv["access"] else "")
        parts.append(spec)
    topo = ubemu.load_topology(",".join(parts))
    for a, b in topo.trunk_runs:  # the levels of a run share one access port
        if len({(lv.access_GBps, lv.access_lat_ns) for lv in topo.levels[a:b + 1]
                if lv.access_GBps}) > 1:
            return None
    return topo


def own_capacity_Bps(topo):
    """Per NPU, per direction: the sum of its own links' capacity in bytes per second."""
    own = sum(lv.neighbours * lv.link_GBps for lv in topo.levels
              if lv.size > 1 and not lv.trunk)
    own += sum(topo.access_GBps(first) for first, _ in topo.trunk_runs)
    return own * 1e9 * topo.params.efficiency


def timed_units(sched, timer, itemsize):
    """(seconds, bytes sent per NPU, bytes received per NPU) of each timed step or window."""
    n = timer.topology.n_npus
    out, acc, k, windows = [], None, 0, _windows(sched)
    for step in sched.steps():
        moving = step.src != step.dst
        sent = np.bincount(timer.npus[step.src[moving]], step.n[moving] * itemsize, n)
        recv = np.bincount(timer.npus[step.dst[moving]], step.n[moving] * itemsize, n)
        inside = [w for w in windows if w[0] <= k < w[1]]
        if inside:
            if not timer.in_window:
                timer.begin_window()
                acc = [0, np.zeros(n), np.zeros(n)]
            timer.add_to_window(step, itemsize, 1)
            acc[1] += sent
            acc[2] += recv
            if k + 1 == inside[0][1]:
                out.append((timer.end_window(), acc[1], acc[2]))
        else:
            out.append((timer.step_time(step, itemsize, 1), sent, recv))
        k += 1
    return out


@given(levels=st.lists(LEVEL, min_size=1, max_size=3), data=st.data())
def test_no_npu_exceeds_its_own_links(levels, data):
    topo = _topology(levels)
    if topo is None or topo.n_npus < 2:
        return
    collective = data.draw(st.sampled_from(["all_reduce", "all_gather", "reduce_scatter",
                                            "alltoall", "broadcast"]))
    group = data.draw(st.sampled_from([None, {"start": 0, "stride": 2}, {"npus": [0, 1]},
                                       {"unit": f"level{len(topo.levels) - 1}"}]))
    comm = ubemu.group_of(topo, group)
    name = data.draw(st.sampled_from(algorithm_names(collective)))
    alg = REGISTRY[(collective, name)]
    if comm.n < 2 or (alg.check and alg.check(comm)):
        return
    count = comm.n * data.draw(st.integers(1, 40))
    sched = build_schedule(collective, name, comm, count, data=False)
    timer = StepTimer(topo, comm.npus)
    cap = own_capacity_Bps(topo)
    for dt, sent, recv in timed_units(sched, timer, 4):
        assert sent.max() <= dt * cap * (1 + 1e-9), (topo.describe_levels(), name)
        assert recv.max() <= dt * cap * (1 + 1e-9), (topo.describe_levels(), name)


def test_the_issue_cases_stay_within_the_access_port():
    """Trunk groups once reported 6,707 GB/s busbw (1.79 TB/s for two NPUs) on ub-mesh-pod,
    where each NPU reaches the rack-to-rack cables through x16 lanes, 224 GB/s."""
    for group in ("one_per=rack", "npus=0+64"):
        res = ubemu.simulate("all_reduce", 1 << 30, "ub-mesh-pod", "direct", group=group)
        assert res.busbw_GBps <= 224 and res.bottleneck == "row.access_up"
