"""Links as physical objects (ubemu.machine.linkmap): reverse directions, ends, an NPU's links."""

import numpy as np
import pytest

from ubemu.errors import UbemuError
from ubemu.machine import linkmap
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import resolve_topology

TOPOS = ["ub-mesh-rack", "torus:4x4", "ring:2,ring:5", "ub-mesh-pod", "atlas950-superpod",
         "switch:8,switch:4:oversub=2"]


@pytest.mark.parametrize("topo", TOPOS)
def test_reverse_is_an_involution_that_swaps_the_ends(topo):
    t = resolve_topology(topo)
    ids = np.arange(t.n_links)
    back = linkmap.reverse(t, ids)
    assert np.array_equal(linkmap.reverse(t, back), ids) and not np.any(back == ids)
    src, dst = linkmap.ends(t, ids)
    rs, rd = linkmap.ends(t, back)
    assert np.array_equal(src, rd) and np.array_equal(dst, rs)


@pytest.mark.parametrize("topo", TOPOS[:3])
def test_ends_of_a_one_hop_route_are_its_npus(topo):
    t = resolve_topology(topo)
    pairs = [(a, b) for a in range(t.n_npus) for b in range(t.n_npus) if a != b]
    src, dst = (np.array(x) for x in zip(*pairs))
    paths, hops, _ = t.route(src, dst)
    one = hops == 1
    s, d = linkmap.ends(t, paths[one, 0])
    assert np.array_equal(s, src[one]) and np.array_equal(d, dst[one])


def test_an_npus_links_are_every_link_it_ends():
    t = resolve_topology("ub-mesh-rack")
    ids = linkmap.npu_links(t, [9])
    src, dst = linkmap.ends(t, np.arange(t.n_links))
    assert set(ids.tolist()) == set(np.flatnonzero((src == 9) | (dst == 9)).tolist())
    assert ids.size == 4 * 7  # 7 board and 7 rack peers, both directions


def test_link_between_names_and_checks():
    t = resolve_topology("ub-mesh-rack")
    ab = linkmap.link_between(t, "rack:1-9")
    assert linkmap.ends(t, ab)[0].tolist() == [1, 9]
    assert np.array_equal(ab, linkmap.link_between(t, "rack:1.0-1.1"))  # coordinates
    assert linkmap.name(t, ab[0]) == "rack link NPU 1 -> NPU 9"
    with pytest.raises(UbemuError, match="not joined"):
        linkmap.link_between(t, "board:1-9")
    ring = resolve_topology("ring:8")
    with pytest.raises(UbemuError, match="not joined"):
        linkmap.link_between(ring, "level0:0-2")
    sw = resolve_topology("atlas950-superpod")
    up = linkmap.link_between(sw, "superpod:70")
    assert linkmap.name(sw, up[0]) == "superpod.up port of NPU 70"
    assert linkmap.name(sw, linkmap.link_between(sw, "rack.access:5")[0]) == \
        "rack.access_up port of NPU 5"


def test_a_level_name_with_a_port_suffix_is_still_a_mesh():
    """Level names may hold dots: a full mesh named ``b.up`` has mesh links, not ports."""
    topo = resolve_topology("full_mesh:4:name=b.up,switch:4")
    assert [linkmap.role(topo, c) for c in topo.link_classes] == [None, "up", "down"]
    assert linkmap.reverse(topo, [0]).tolist() == [3]  # 0 -> 1 runs back as 1 -> 0
    assert with_faults(topo, "links=2,seed=1").faults.failed_links.size == 2
