"""The implicit link graph of the search (kernels/moves.py): every move is symmetric and
walks, link by link, the graph built independently from ubemu.machine.linkmap."""

import numpy as np
import pytest
from ubemu.kernels import moves

from tests.linkgraph import link_graph
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import resolve_topology


def _name(t, geo, x):
    """tests/linkgraph.py's name of kernel node ``x``."""
    kind, which, idx = moves.node_kind(x, geo, t.level_table)
    if kind == moves.NPU:
        return int(x)
    if kind == moves.BACKPLANE:
        return ("bp", int(which), int(idx))
    if kind == moves.CORE:
        return ("core", int(which), int(idx) * t.strides[which] * t.sizes[which])
    return ("spare" if kind == moves.SPARE else "lrs", int(idx))


@pytest.mark.parametrize("spec,faults,kinds", [
    ("ub-mesh-rack", "npu=9", {moves.SPARE, moves.LRS}),  # a spare behind the rack's LRS
    ("ub-mesh-pod", "npu=70", {moves.BACKPLANE, moves.SPARE}),  # it enters the backplane
    ("switch:8:oversub=2,switch:4:oversub=2", "link=level0:1", {moves.CORE}),  # two kinds
    ("full_mesh:4,ring:4:trunk", "link=level0:0-1", {moves.BACKPLANE}),
    ("torus:3x4", "link=torus.0:0-1", set())])
def test_moves_are_symmetric_and_walk_the_link_graph(spec, faults, kinds):
    t = with_faults(resolve_topology(spec), faults, "apr")
    tail, head = link_graph(t)
    lv, fp = t.level_table, t.faults.fp
    geo = moves.layout(lv, fp)
    nbr, back = np.empty(moves.max_degree(lv, geo), np.int64), np.empty(
        moves.max_degree(lv, geo), np.int64)
    out = np.empty(moves.MOVE_HOPS, np.int64)
    seen = set()
    for x in range(int(geo[moves.G_NODES])):
        seen.add(moves.node_kind(x, geo, lv)[0])
        for y in nbr[:moves.neighbours(x, lv, geo, nbr)].tolist():
            assert x in back[:moves.neighbours(y, lv, geo, back)]
            h, _ = moves.move(x, y, lv, t.lat_ns, 0.0, fp, t.faults.flat, geo, out, 0)
            node = _name(t, geo, x)
            for k in out[:h].tolist():
                assert tail[k] == node, (x, y, k)
                node = head[k]
            assert node == _name(t, geo, y)
    assert seen == kinds | {moves.NPU}
