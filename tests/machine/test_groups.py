"""Process groups laid onto topologies, and their communicators."""

import numpy as np
import pytest

from ubemu.errors import UbemuError
from ubemu.machine.groups import group_of, parse_group
from ubemu.machine.spec import load_topology

# 8 (board) x 8 (rack) x 4 (pod): NPU r = c0 + 8 c1 + 64 c2
TOPO = load_topology("full_mesh:8:name=board,full_mesh:8:name=rack,switch:4:name=pod")


def test_whole_topology():
    comm = group_of(TOPO)
    assert comm.dims == (8, 8, 4)
    assert comm.fabrics == ("full_mesh", "full_mesh", "switch")
    np.testing.assert_array_equal(comm.npus, np.arange(256))


def test_size_one_levels_are_dropped():
    comm = group_of(load_topology("full_mesh:8,ring:1,switch:2"))
    assert comm.dims == (8, 2) and comm.fabrics == ("full_mesh", "switch")


def test_unit_groups():
    g = TOPO.group(unit="board", at=8 * 3 + 5)  # the board holding NPU 29
    np.testing.assert_array_equal(g.npus, np.arange(24, 32))
    assert g.dims == (8,) and g.fabrics == ("full_mesh",) and g.levels == (0,)
    rack = group_of(TOPO, {"unit": "rack", "at": 70})
    np.testing.assert_array_equal(rack.npus, np.arange(64, 128))
    assert rack.dims == (8, 8) and rack.levels == (0, 1)


def test_one_per_unit_groups():
    g = TOPO.group(one_per="rack", at=3)  # one NPU per rack across the pod
    np.testing.assert_array_equal(g.npus, [3, 67, 131, 195])
    assert g.dims == (4,) and g.fabrics == ("switch",)
    g = TOPO.group(one_per="board", within="rack", at=66)
    np.testing.assert_array_equal(g.npus, 66 + 8 * np.arange(8))
    g = TOPO.group(one_per="board", at=1)  # rack and pod levels: an 8 x 4 grid
    assert g.dims == (8, 4) and g.levels == (1, 2)
    np.testing.assert_array_equal(g.npus[:10], [1, 9, 17, 25, 33, 41, 49, 57, 65, 73])


def test_levels_strided_explicit_and_string_forms():
    g = TOPO.group(levels="board+pod", at=9)
    assert g.dims == (8, 4)
    np.testing.assert_array_equal(g.npus[:9], [8, 9, 10, 11, 12, 13, 14, 15, 72])
    g = group_of(TOPO, "start=0,stride=8,count=8")
    np.testing.assert_array_equal(g.npus, np.arange(0, 64, 8))
    assert g.dims == (8,) and g.levels == (1,)
    g = group_of(TOPO, [0, 2, 4, 6])  # a subset of one board: still that level's fabric
    assert g.dims == (4,) and g.fabrics == ("full_mesh",)
    g = group_of(TOPO, "npus=0+9+18")  # differs on two levels, not a grid: flat
    assert g.dims == (3,) and g.fabrics is None and g.levels == ()
    g = group_of(TOPO, [1, 0, 9, 8])  # not in grid order: flat
    assert g.dims == (4,) and g.levels == ()
    assert parse_group("unit=board,at=8") == {"unit": "board", "at": "8"}


def test_comm_follows_group():
    comm = group_of(TOPO, {"unit": "rack", "at": 128})
    assert comm.dims == (8, 8) and comm.n == 64
    np.testing.assert_array_equal(comm.npus, np.arange(128, 192))


@pytest.mark.parametrize("spec,match", [
    ([0, 256], "NPU 256 is not in topology"),
    ([-1, 3], "NPU -1 is not in topology"),
    ([4, 5, 4], "NPU 4 appears more than once"),
    ({"unit": "shelf"}, "unknown level 'shelf'; valid: board, rack, pod"),
    ({"team": 3}, "unknown group key 'team'; valid: unit"),
    ({"unit": "board", "stride": 2}, "exactly one of"),
    ({"one_per": "rack", "within": "board"}, "must be a level above"),
    ({"unit": "board", "at": 999}, "at=999 is not an NPU"),
    ("unit", "expected key=value"),
    ([], "non-empty list"),
    ([0.5, 1], "integer NPU ids"),
])
def test_bad_groups(spec, match):
    with pytest.raises(UbemuError, match=match):
        group_of(TOPO, spec)
