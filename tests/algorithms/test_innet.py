"""In-switch reduction (ubemu.algorithms.innet, kernels.timing.accumulate_innet): the data are
exact, the loads and times are the ones the module docstring gives by hand, and it is refused
where no switch reduces."""

import numpy as np
import pytest
from ubemu.kernels.codes import INNET_MULTICAST, INNET_REDUCE

import ubemu
from ubemu.algorithms import build_schedule
from ubemu.errors import UbemuError
from ubemu.estimator import estimate
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology, with_params

NVS = "switch:8@25GBps/1us:links=18:innet_efficiency=0.5:efficiency=0.8"
TWO = NVS + ",switch:2@50GBps/2us"


@pytest.mark.parametrize("coll", ["all_reduce", "reduce_scatter", "all_gather"])
@pytest.mark.parametrize("topo", [NVS, TWO])
@pytest.mark.parametrize("options", [{}, {"chunk": 4096}])
def test_data_exact(coll, topo, options):
    n = load_topology(topo).n_npus
    for nbytes in (4 * n * 37, 4 * n * 5 + (4 * 3 if coll == "all_reduce" else 0)):
        res = ubemu.simulate(coll, nbytes, topo, "innet", verify=True, **options)
        assert res.wrong == 0
        assert res.notes.get("in_switch") == [0]


def test_in_switch_loads_and_time_by_hand():
    """One switch of 8, S bytes a rank: the reduce-scatter sends S up and S/8 down per rank,
    the multicast S/8 up and S down; each link at the level's point-to-point capacity, so
    in-switch bytes count efficiency / innet_efficiency times."""
    t = load_topology(NVS)
    S = 8 * 4 * 1000
    res = ubemu.simulate("all_reduce", S, t, "innet", chunk=0)
    usage = {u.name: u for u in res.usage}
    ratio = 0.8 / 0.5
    assert usage["level0.up"].bytes == pytest.approx(8 * (S + S / 8) * ratio)
    assert usage["level0.down"].bytes == pytest.approx(8 * (S / 8 + S) * ratio)
    cap = 25e9 * 18 * 0.8
    step = S * ratio / cap + 1e-6  # one window (its busiest port: S up) and its latency
    assert res.time_s == pytest.approx(2 * step, rel=1e-12)
    assert res.n_steps == 8  # the direct reduce-scatter's 7 steps (one window) + 1
    assert estimate("all_reduce", S, t, "innet", chunk=0).time_s == pytest.approx(res.time_s,
                                                                                  rel=1e-12)


def test_innet_steps_carry_every_block_once_per_destination():
    t = load_topology(NVS)
    comm = group_of(t)
    steps = list(build_schedule("all_reduce", "innet", comm, 8 * 10, data=False).steps())
    red, empty, multi = steps
    assert (red.innet, red.via, multi.innet) == (INNET_REDUCE, 0, INNET_MULTICAST)
    assert red.n_transfers == multi.n_transfers == 64  # the own block too
    assert np.array_equal(red.dst, np.repeat(np.arange(8), 8))  # a destination's run
    assert np.array_equal(multi.src, np.repeat(np.arange(8), 8))
    assert empty.n_transfers == 0 and empty.repeat == 6


def test_nvls_tree_on_two_nodes_overlaps_its_phases():
    """NVLSTree-like: in-switch reduction in the node, ring across; pipelined, the slower
    phase sets the pace."""
    t = load_topology(TWO)
    big = 16 << 20
    plain = ubemu.simulate("all_reduce", big, t, "innet", chunk=0)
    piped = ubemu.simulate("all_reduce", big, t, "innet", chunk=256 * 1024)
    assert piped.notes["per_level"] == ("innet", "ring")
    assert piped.time_s < 0.7 * plain.time_s
    est = estimate("all_reduce", big, t, "innet", chunk=256 * 1024)
    assert est.exact and est.time_s == pytest.approx(piped.time_s, rel=1e-9)


def test_refusals():
    with pytest.raises(UbemuError, match="no level of the group reduces"):
        ubemu.simulate("all_reduce", 1024, "switch:8", "innet")
    with pytest.raises(UbemuError, match="innet cannot run on axis 1"):
        ubemu.simulate("all_reduce", 1024, TWO, "hierarchical", per_level="innet")
    ll = with_params(load_topology(NVS), ["ll_sw_factor=0.1", "ll_bw_factor=0.5"])
    with pytest.raises(UbemuError, match="this algorithm runs only simple"):
        ubemu.simulate("all_reduce", 1024, ll, "innet", protocol="ll")
    assert estimate("all_reduce", 1 << 20, ll, "innet").protocol == "simple"
    with pytest.raises(UbemuError, match="not modelled"):
        ubemu.simulate("all_reduce", 1 << 20, NVS, "innet", faults="link=level0:5")
    with pytest.raises(UbemuError, match="innet_efficiency applies to non-trunk switch"):
        load_topology("full_mesh:8:innet_efficiency=0.5")
    with pytest.raises(UbemuError, match="innet_lat_ns applies to a level with"):
        load_topology("switch:8:innet_lat_ns=5")
