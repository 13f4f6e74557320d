"""All-Path Routing's structured detours (kernels/detours.py): spread over the intact
alternatives by a hash of the pair, not stacked on one neighbour's ports."""

import collections

import numpy as np
from ubemu.kernels.detours import spread

from ubemu.machine import linkmap
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import resolve_topology


def _second_npus(t, src, dst):
    """The NPU each route reaches first (the relay of a detour)."""
    paths, hops, _ = t.route(src, dst)
    reached = [linkmap.ends(t, paths[k, :hops[k]])[1] for k in range(src.size)]
    return [int(r[r >= 0][0]) for r in reached]


def test_a_failed_switch_port_is_borrowed_around_through_every_neighbour():
    """NPU 0's port on the outer switch failed: its 63 transfers to the other units step to
    a neighbour on the inner switch, cross there, and step back (detour c). They used to go
    all through NPU 1's port; now each of the 7 neighbours carries a share, also under an
    all-to-all, where every NPU of unit 0 reaches the other units' NPU 0 through it."""
    t = with_faults(resolve_topology("switch:8,switch:64"), "link=level1:0", "apr")
    dst = np.arange(8, 512, 8)
    relays = collections.Counter(_second_npus(t, np.zeros_like(dst), dst))
    assert set(relays) == set(range(1, 8))
    assert max(relays.values()) <= 2 * -(-dst.size // 7)
    intact = resolve_topology("switch:8,switch:64")
    n = t.n_npus  # under all-to-all the detours add at most twice an even share to a port
    src, dst = np.divmod(np.arange(n * n), n)
    keep = src != dst
    up = next(c for c in t.link_classes if c.name == "level1.up")

    def port_loads(topo):
        ids = topo.route(src[keep], dst[keep])[0].ravel()
        ids = ids[(ids >= up.first_id) & (ids < up.first_id + up.count)]
        return np.bincount(ids - up.first_id, minlength=up.count)

    extra = port_loads(t)[1:8] - port_loads(intact)[1:8]
    detoured = keep & (src < 8) & (dst >= 8) & (dst % 8 == 0)  # unit 0 -> NPU 0's level
    assert extra.sum() == detoured.sum() == 8 * 63
    assert extra.max() <= 2 * -(-extra.sum() // 7)


def test_third_npus_of_a_full_mesh_spread_over_the_pairs():
    """Three failed links of a full mesh of 8: the pairs they join detour through a third
    NPU chosen by the pair's hash, not all through the same one."""
    t = with_faults(resolve_topology("full_mesh:8"),
                    "link=level0:0-1,link=level0:2-3,link=level0:4-5", "apr")
    pairs = np.array([(0, 1), (1, 0), (2, 3), (3, 2), (4, 5), (5, 4)])
    mids = _second_npus(t, pairs[:, 0], pairs[:, 1])
    assert len(set(mids)) >= 3 and all(m not in p for m, p in zip(mids, pairs.tolist()))


def test_spread_is_a_hash_of_the_pair():
    starts = [spread(a, b, 7) for a in range(64) for b in range(64) if a != b]
    counts = np.bincount(starts, minlength=7)
    assert counts.min() > 0.8 * len(starts) / 7  # even over the candidates
    assert spread(3, 5, 8) == spread(3, 5, 8) and 0 <= spread(10**6, 7, 65) < 65
