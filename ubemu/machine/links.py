"""Implicit link ids: the link classes of a topology and the level table the routing reads.

Links are never stored one by one. Each level owns a block of directed link ids, and an id is
computed from coordinates (``kernels/routing.py`` does it inside Numba). NPU ``r`` has the
coordinate ``c_i = (r // stride_i) % size_i`` on level ``i``:

- ``full_mesh``: on each line (the ``size`` units differing only in ``c_i``), one directed link
  per ordered pair ``(a, b)``: ``off + line*s*(s-1) + a*(s-1) + (b if b < a else b-1)``.
- ``ring``: links to the neighbours ``+1`` and ``-1``: ``off + line*2s + dir*s + a``
  (a ring of 2 has one link each way: ``off + line*2 + a``).
- ``switch``: one uplink and one downlink per NPU (``off + r``, ``off + N + r``), the NPU's own
  port. With oversubscription the traffic then crosses a core *pool* shared by the ports of
  one leaf (``off + 2N + r // P`` up, ``off + 2N + N/P + r' // P`` down), of capacity
  ``P x port / oversub``: a leaf is a unit of the level below when it holds several NPUs
  (``P = stride``: a rack's uplinks into a Clos), else the whole switch (``P = size``).
- ``trunk=True``: the level's links join whole groups of ``g`` NPUs (a rack-to-rack cable
  shared by the rack's NPUs) instead of single NPUs. ``g`` is the stride of the first level of
  the *run* of consecutive trunk levels this level belongs to (UB-Mesh's pod: ``board, rack,
  row(trunk), column(trunk)``: the row and column cables both join racks). A trunk switch has
  one uplink and one downlink per group (``off + r // g``). An NPU reaches a run's cables
  through its own *access* port into the group's backplane switches (UB-Mesh: x16 of its 72
  lanes to the rack's low-radix switches): after the levels' links, each run owns an uplink
  and a downlink per NPU (``acc + r``, ``acc + N + r``). A transfer that crosses a run goes
  up its source's access port, over the run's cables, and down its destination's access port;
  the backplane switches deliver it to any NPU of the group, so the levels below the run are
  not crossed on the way.

In general ``line = (r // (stride*size)) * (stride // g) + (r % stride) // g`` with ``g = 1``
for ordinary levels.
"""

from dataclasses import dataclass

import numpy as np

from ..kernels.codes import KIND_OF_FABRIC, LEVEL_COLUMNS


@dataclass(frozen=True)
class LinkClass:
    """A set of links with the same role and capacity (for reports)."""

    name: str
    level: int
    first_id: int
    count: int
    bw_GBps: float


def pool_npus(level, stride):
    """NPUs whose ports share one core pool of an oversubscribed switch level (0: no pool)."""
    if level.fabric != "switch" or level.trunk or level.oversub <= 1:
        return 0
    return stride if stride > 1 else level.size


def trunk_runs(levels):
    """``(first, last)`` level index of every run of consecutive trunk levels."""
    runs, i = [], 0
    while i < len(levels):
        if levels[i].trunk:
            j = i
            while j + 1 < len(levels) and levels[j + 1].trunk:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    return runs


def run_access(levels, first, last):
    """(GBps, ns) of the access port of the trunk run ``first..last``: the value a level of
    the run gives (levels that give one must agree), else the first level's link bandwidth
    and no latency. Returns None when two levels disagree."""
    given = {(lv.access_GBps, lv.access_lat_ns) for lv in levels[first:last + 1]
             if lv.access_GBps or lv.access_lat_ns}
    if len(given) > 1:
        return None
    bw, lat = given.pop() if given else (0.0, 0.0)
    return bw or levels[first].link_GBps, lat


def _level_classes(lv, i, offset, n, stride, g):
    label = lv.name or f"level{i}"
    lines = n // (stride * lv.size) * (stride // g)
    if lv.fabric == "full_mesh":
        return [LinkClass(label, i, offset, lines * lv.size * (lv.size - 1), lv.link_GBps)]
    if lv.fabric == "ring":
        per_line = 2 if lv.size == 2 else (2 * lv.size if lv.size > 2 else 0)
        return [LinkClass(label, i, offset, lines * per_line, lv.link_GBps)]
    count = n // g if lv.trunk else n
    cap = lv.link_GBps / lv.oversub if lv.trunk else lv.link_GBps
    out = [LinkClass(f"{label}.up", i, offset, count, cap),
           LinkClass(f"{label}.down", i, offset + count, count, cap)]
    p = pool_npus(lv, stride)
    if p:
        pools, cap = n // p, lv.link_GBps * p / lv.oversub
        out += [LinkClass(f"{label}.core_up", i, offset + 2 * n, pools, cap),
                LinkClass(f"{label}.core_down", i, offset + 2 * n + pools, pools, cap)]
    return out


def build(levels, n):
    """(link classes, level table int64 (levels, columns), latencies float (levels, 2)).

    ``lat[i, 0]`` is level i's latency; ``lat[i, 1]`` the latency of one access crossing of
    the trunk run that starts at level i (0 elsewhere).
    """
    table = np.zeros((len(levels), len(LEVEL_COLUMNS)), np.int64)
    lat = np.zeros((len(levels), 2))
    classes, offset, stride, g = [], 0, 1, 1
    runs = {i: (a, b) for a, b in trunk_runs(levels) for i in range(a, b + 1)}
    for i, lv in enumerate(levels):
        g = (g if i and levels[i - 1].trunk else stride) if lv.trunk else 1
        p = pool_npus(lv, stride)
        first, last = runs.get(i, (-1, -1))
        table[i] = [dict(kind=KIND_OF_FABRIC[lv.fabric], size=lv.size, stride=stride,
                         offset=offset, trunk=g if lv.trunk else 0, npus=n, pool_npus=p,
                         pools=n // p if p else 0, run_first=first, run_last=last,
                         access=0)[c] for c in LEVEL_COLUMNS]
        lat[i, 0] = lv.lat_ns
        classes += _level_classes(lv, i, offset, n, stride, g)
        offset = classes[-1].first_id + classes[-1].count
        stride *= lv.size
    for first, last in trunk_runs(levels):
        label = levels[first].name or f"level{first}"
        bw, lat[first, 1] = run_access(levels, first, last)
        table[first:last + 1, LEVEL_COLUMNS.index("access")] = offset
        classes += [LinkClass(f"{label}.access_up", first, offset, n, bw),
                    LinkClass(f"{label}.access_down", first, offset + n, n, bw)]
        offset += 2 * n
    return tuple(classes), table, lat
