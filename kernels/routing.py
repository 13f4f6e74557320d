"""Dimension-ordered minimal routing onto implicit link ids.

A topology is passed as ``lv``, an int64 array of shape (n_levels, 8), one row per level,
innermost first, with the columns of :data:`.codes.LEVEL_COLUMNS`, and ``lat_ns`` (n_levels,).
``C_TRUNK`` is 0 for ordinary levels and, for trunk levels, the NPUs sharing one trunk port.
Link ids are computed from coordinates, never looked up (see ``ubemu.topology``).
"""

import numpy as np

from ._jit import kernel
from .codes import (
    C_GROUPS,
    C_KIND,
    C_NPUS,
    C_OFFSET,
    C_OVERSUB,
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


@kernel
def route_one(src, dst, lv, lat_ns, hop_lat_ns, out):
    """Route one transfer; write its link ids to ``out``.

    Returns
    -------
    (n_hops, path_lat_ns)
        Links written to ``out[:n_hops]`` and the path's latency: each level crossed adds its
        ``lat_ns`` (per hop on rings), and every link adds ``hop_lat_ns``.
    """
    n = 0
    lat = 0.0
    cur = src
    for i in range(lv.shape[0]):
        size = lv[i, C_SIZE]
        stride = lv[i, C_STRIDE]
        a = (cur // stride) % size
        b = (dst // stride) % size
        if a == b:
            continue
        kind = lv[i, C_KIND]
        off = lv[i, C_OFFSET]
        trunk = lv[i, C_TRUNK]
        group = max(trunk, 1)
        nxt = cur + (b - a) * stride
        if kind == FULL_MESH:
            line = _line(cur, size, stride, group)
            out[n] = off + line * size * (size - 1) + a * (size - 1) + (b if b < a else b - 1)
            n += 1
            lat += lat_ns[i]
        elif kind == RING:
            line = _line(cur, size, stride, group)
            if size == 2:
                out[n] = off + line * 2 + a
                n += 1
                lat += lat_ns[i]
            else:
                d = (b - a) % size
                step = 1
                hops = d
                direction = 0
                if d > size - d:
                    step = size - 1
                    hops = size - d
                    direction = 1
                pos = a
                base = off + line * 2 * size + direction * size
                for _ in range(hops):
                    out[n] = base + pos
                    n += 1
                    pos = (pos + step) % size
                lat += lat_ns[i] * hops
        else:  # SWITCH
            if trunk:
                out[n] = off + cur // group
                out[n + 1] = off + lv[i, C_NPUS] // group + nxt // group
                n += 2
            else:
                npus = lv[i, C_NPUS]
                groups = lv[i, C_GROUPS]
                out[n] = off + cur
                n += 1
                if lv[i, C_OVERSUB]:
                    out[n] = off + 2 * npus + cur // stride
                    out[n + 1] = off + 2 * npus + groups + nxt // stride
                    n += 2
                out[n] = off + npus + nxt
                n += 1
            lat += lat_ns[i]
        cur = nxt
    return n, lat + hop_lat_ns * n


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


def empty_routes(n, max_hops):
    """Allocate the outputs of :func:`route_many` for ``n`` transfers."""
    return (np.empty((n, max_hops), np.int64), np.empty(n, np.int64), np.empty(n, np.float64))
