"""Channels (ubemu.algorithms.channels): library defaults, data shares, rail-aligned rings,
the flat rings and the hierarchical all-reduce run as k channels."""

import numpy as np
import pytest

import ubemu
from tests.helpers import data_and_timing, run_against_reference
from ubemu.algorithms import build_schedule, get_algorithm
from ubemu.algorithms.channels import (
    axis_stride,
    default_channels,
    library_options,
    rail_orders,
    split,
    zip_channels,
)
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology, with_params
from ubemu.schedule import Step


def test_nccl_channel_rule():
    t = with_params(load_topology("switch:8"), ["channels=16", "channel_bytes=32768"])
    p = t.params
    assert default_channels(p, 8) == 1
    assert default_channels(p, 64 * 1024) == 2          # fewer while nbytes < nc x 32 KiB
    assert default_channels(p, 200 * 1024) == 6
    assert default_channels(p, 1 << 30) == 16
    assert default_channels(load_topology("switch:8").params, 1 << 30) == 1  # no channels


def test_library_options_fill_what_was_left_out():
    t = with_params(load_topology("switch:8"), ["channels=8", "channel_bytes=1024",
                                                "chunk_bytes=65536"])
    ring, hier = get_algorithm("all_reduce", "ring"), get_algorithm("all_reduce", "hierarchical")
    assert library_options(ring, t, 1 << 20, 4, {}) == {"channels": 8}
    assert library_options(ring, t, 1 << 20, 4, {"channels": "auto"}) == {"channels": 8}
    assert library_options(ring, t, 1 << 20, 4, {"channels": 3}) == {"channels": 3}
    assert library_options(hier, t, 1 << 20, 4, {"chunk": 0}) == {"channels": 8, "chunk": 0}
    assert library_options(hier, t, 1 << 20, 4, {})["chunk"] == 65536
    assert library_options(get_algorithm("all_reduce", "direct"), t, 1 << 20, 4, {}) == {}


def test_split_keeps_every_share_but_the_last_a_multiple_of_the_ranks():
    for count, k, p in ((1000, 4, 16), (64 * 4 * 7, 4, 64), (10, 4, 16), (0, 3, 8), (5, 1, 4)):
        off, ln = split(count, k, p)
        assert ln.sum() == count and np.array_equal(off, np.r_[0, np.cumsum(ln)[:-1]])
        assert not np.any(ln[:-1] % p) and (ln[:-1] > 0).all()
        assert len(ln) <= k
    with pytest.raises(UbemuError, match="channels must be an integer >= 1"):
        split(10, 0, 4)


def test_rail_orders_cross_units_on_one_rail_per_channel():
    dims = (8, 2)  # 8 GPUs x 2 nodes: each channel crosses A->B on rail c+1, B->A on rail c
    orders = rail_orders(dims, 8)
    rails_used = set()
    for c, order in enumerate(orders):
        assert sorted(order.tolist()) == list(range(16))
        nxt = np.roll(order, -1)
        crossing = (order // 8) != (nxt // 8)
        assert crossing.sum() == 2
        # a crossing joins the same GPU index of both nodes (a rail, one NIC each side)
        assert np.array_equal(order[crossing] % 8, nxt[crossing] % 8)
        rails_used |= {(int(a // 8), int(a % 8)) for a in order[crossing]}
        assert {int(x % 8) for x in order[crossing]} == {c, (c + 1) % 8}
    assert len(rails_used) == 16  # every NIC of both nodes sends for one channel
    # a grid of 4 x 3 x 2: consecutive ranks differ on one axis (a direct hop)
    for order in rail_orders((4, 3, 2), 4):
        coords = np.stack([order % 4, (order // 4) % 3, order // 12], axis=1)
        diff = (coords != np.roll(coords, -1, axis=0)).sum(axis=1)
        assert sorted(order.tolist()) == list(range(24)) and (diff[:-1] == 1).all()


def test_axis_strides():
    assert [axis_stride("full_mesh", 8, c) for c in range(5)] == [1, -1, 3, -3, 1]
    assert [axis_stride("ring", 8, c) for c in range(3)] == [1, -1, 1]
    assert axis_stride("switch", 8, 5) == 1 and axis_stride("full_mesh", 2, 1) == 1


def test_zip_channels_joins_step_i_of_every_channel():
    a = [Step.make([0], [1], [3], repeat=2), Step.make([1], [0], [4])]
    b = [Step.make([2], [3], [5]), Step.make([2], [3], [5]), Step.make([3], [2], [6])]
    out = list(zip_channels([a, b], 2))
    assert [(s.src.tolist(), s.n.tolist(), s.repeat, s.channels) for s in out] == [
        ([0, 2], [3, 5], 1, 2), ([0, 2], [3, 5], 1, 2), ([1, 3], [4, 6], 1, 2)]
    with pytest.raises(UbemuError, match="differ in length"):
        list(zip_channels([a, b[:1]], 2))


@pytest.mark.parametrize("coll", ["all_reduce", "reduce_scatter", "all_gather"])
@pytest.mark.parametrize("dims,count", [((8, 2), 16 * 5 + 3), ((4, 3), 12 * 24),
                                        ((6,), 6 * 7), ((8, 2), 16 * 4 * 9)])
@pytest.mark.parametrize("k", [2, 3, 8])
def test_flat_ring_channels_are_exact(coll, dims, count, k):
    comm = Comm(dims)
    count = count - count % comm.n if coll != "all_reduce" else count
    sched = run_against_reference(coll, "ring", comm, count, channels=k)
    assert sched.notes["channels"] == k
    data_and_timing(coll, "ring", comm, count, channels=k)


@pytest.mark.parametrize("per_level", ["ring", "direct", "nhr"])
@pytest.mark.parametrize("k", [2, 5])
def test_hierarchical_channels_and_chunks_are_exact(per_level, k):
    for dims, count in (((4, 3), 12 * 10 + 5), ((8, 2), 16 * 6)):
        sched = run_against_reference("all_reduce", "hierarchical", Comm(dims), count,
                                      per_level=per_level, channels=k, chunk=64)
        assert sched.pipelines == ((0, sched.n_steps, 64, max(split(count, k, 12 if
                                                                     dims == (4, 3) else 16)[1])),)


def test_channels_share_links_and_message_costs():
    """Eight rail-aligned channels on 2 nodes cross on every NIC; one channel on one."""
    t = load_topology("dgx-h100-multinode")
    one = ubemu.simulate("all_reduce", 1 << 30, t, "ring", group="start=0,count=16",
                         channels=1)
    eight = ubemu.simulate("all_reduce", 1 << 30, t, "ring", group="start=0,count=16",
                           channels=8)
    nic = {u.name: u for u in eight.usage}["cluster.up"]
    assert eight.time_s < one.time_s / 4
    assert nic.utilisation > 5 * {u.name: u for u in one.usage}["cluster.up"].utilisation
    # each channel's message is its own: k messages an NPU, their costs shared by k engines
    sched = build_schedule("all_reduce", "ring", group_of(t, "start=0,count=16"), 1 << 20,
                           data=False, channels=8)
    assert {s.channels for s in sched.steps()} == {8}


def test_bad_channels_are_refused():
    with pytest.raises(UbemuError, match="channels must be an integer >= 1, got 0"):
        build_schedule("all_reduce", "ring", Comm((4,)), 8, channels=0)
    with pytest.raises(UbemuError, match="chunk must be a whole number of bytes"):
        build_schedule("all_reduce", "hierarchical", Comm((2, 2)), 8, chunk=-1)
    with pytest.raises(UbemuError, match="unknown keyword 'channels'.*algorithm 'direct' "
                                         "takes no options"):
        ubemu.simulate("all_reduce", 1024, "switch:8", "direct", channels=2)
