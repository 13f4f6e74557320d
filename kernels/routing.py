"""Dimension-ordered minimal routing onto implicit link ids.

A topology is passed as ``lv``, an int64 array of shape (n_levels, columns), one row per level,
innermost first, with the columns of :data:`.codes.LEVEL_COLUMNS`, and ``lat_ns``
(n_levels, 2): each level's latency and, on the first level of a trunk run, the latency of one
crossing of the run's access port. Link ids are computed from coordinates, never looked up
(``ubemu/links.py`` gives the scheme).
"""

from ._jit import kernel
from .codes import (
    C_ACCESS,
    C_KIND,
    C_NPUS,
    C_OFFSET,
    C_POOL_NPUS,
    C_POOLS,
    C_RUN_FIRST,
    C_RUN_LAST,
    C_SIZE,
    C_STRIDE,
    C_TRUNK,
    FULL_MESH,
    RING,
)


@kernel(inline="always")
def _line(r, size, stride, group):
    """Index of the line (the ``size`` units joined by one fabric) that NPU ``r`` sits on.

    ``group`` is the number of NPUs sharing one port (1, or the trunk group).
    """
    return (r // (stride * size)) * (stride // group) + (r % stride) // group


@kernel(inline="always")
def with_levels(cur, dst, lv, first, last):
    """``cur`` with the coordinates of levels ``first..last`` taken from ``dst``."""
    for j in range(first, last + 1):
        size = lv[j, C_SIZE]
        stride = lv[j, C_STRIDE]
        cur += ((dst // stride) % size - (cur // stride) % size) * stride
    return cur


@kernel(inline="always")
def _differs(a, b, lv, first, last):
    """True when NPUs ``a`` and ``b`` differ on a level in ``first..last``."""
    for j in range(first, last + 1):
        if (a // lv[j, C_STRIDE]) % lv[j, C_SIZE] != (b // lv[j, C_STRIDE]) % lv[j, C_SIZE]:
            return True
    return False


@kernel
def route_one(src, dst, lv, lat_ns, hop_lat_ns, out):
    """Route one transfer; write its link ids to ``out``.

    Levels are crossed innermost first. A trunk run that the transfer crosses is entered
    through the access port of the NPU where the transfer is (levels below the run are not
    crossed: the group's backplane switches deliver to any of its NPUs), and left through the
    access port of the NPU with the destination's coordinates up to the run.

    Returns
    -------
    (n_hops, path_lat_ns)
        Links written to ``out[:n_hops]`` and the path's latency: each level crossed adds its
        latency (per hop on rings), each access crossing its run's, every link ``hop_lat_ns``.
    """
    n = 0
    lat = 0.0
    cur = src
    n_levels = lv.shape[0]
    skip_below = n_levels  # levels below the lowest crossed trunk run are not crossed
    for i in range(n_levels):
        first = lv[i, C_RUN_FIRST]
        if first == i and _differs(cur, dst, lv, i, lv[i, C_RUN_LAST]):
            skip_below = i
            break
    i = skip_below if skip_below < n_levels else 0
    while i < n_levels:
        size = lv[i, C_SIZE]
        stride = lv[i, C_STRIDE]
        a = (cur // stride) % size
        b = (dst // stride) % size
        first = lv[i, C_RUN_FIRST]
        if first == i and _differs(cur, dst, lv, i, lv[i, C_RUN_LAST]):
            last = lv[i, C_RUN_LAST]
            npus = lv[i, C_NPUS]
            out[n] = lv[i, C_ACCESS] + cur
            n += 1
            for j in range(i, last + 1):
                h, nxt = cross(cur, dst, j, lv, out, n)
                if h:
                    n += h
                    lat += lat_ns[j, 0] * (1 if lv[j, C_KIND] != RING else h)
                cur = nxt
            cur = with_levels(cur, dst, lv, 0, last)
            out[n] = lv[i, C_ACCESS] + npus + cur
            n += 1
            lat += 2 * lat_ns[i, 1]
            i = last + 1
            continue
        if a != b:
            h, cur = cross(cur, dst, i, lv, out, n)
            n += h
            lat += lat_ns[i, 0] * (1 if lv[i, C_KIND] != RING else h)
        i += 1
    return n, lat + hop_lat_ns * n


@kernel(inline="always")
def cross(cur, dst, i, lv, out, n):
    """Cross level ``i`` from NPU ``cur`` toward ``dst``'s coordinate there: write its links
    from ``out[n]`` on; (links written, NPU reached)."""
    size = lv[i, C_SIZE]
    stride = lv[i, C_STRIDE]
    a = (cur // stride) % size
    b = (dst // stride) % size
    if a == b:
        return 0, cur
    kind = lv[i, C_KIND]
    off = lv[i, C_OFFSET]
    trunk = lv[i, C_TRUNK]
    group = max(trunk, 1)
    nxt = cur + (b - a) * stride
    if kind == FULL_MESH:
        line = _line(cur, size, stride, group)
        out[n] = off + line * size * (size - 1) + a * (size - 1) + (b if b < a else b - 1)
        return 1, nxt
    if kind == RING:
        line = _line(cur, size, stride, group)
        if size == 2:
            out[n] = off + line * 2 + a
            return 1, nxt
        d = (b - a) % size
        step, hops, direction = 1, d, 0
        if d > size - d:
            step, hops, direction = size - 1, size - d, 1
        pos = a
        base = off + line * 2 * size + direction * size
        for k in range(hops):
            out[n + k] = base + pos
            pos = (pos + step) % size
        return hops, nxt
    npus = lv[i, C_NPUS]
    if trunk:
        out[n] = off + cur // group
        out[n + 1] = off + npus // group + nxt // group
        return 2, nxt
    out[n] = off + cur
    h = 1
    p = lv[i, C_POOL_NPUS]
    if p:
        out[n + 1] = off + 2 * npus + cur // p
        out[n + 2] = off + 2 * npus + lv[i, C_POOLS] + nxt // p
        h = 3
    out[n + h] = off + npus + nxt
    return h + 1, nxt


@kernel
def route_many(src, dst, lv, lat_ns, hop_lat_ns, paths, n_hops, path_lat_ns):
    """Route every (src[k], dst[k]); fill ``paths[k, :n_hops[k]]`` (rest -1) and latencies."""
    for k in range(src.shape[0]):
        row = paths[k]
        h, lat = route_one(src[k], dst[k], lv, lat_ns, hop_lat_ns, row)
        for j in range(h, row.shape[0]):
            row[j] = -1
        n_hops[k] = h
        path_lat_ns[k] = lat

