"""All-Path Routing's structured detours: chains of minimal routes around failed links.

:func:`leg` keeps the minimal route when it is intact (``minimal`` then reports the first
failed link on it), else, under ``apr``, takes the first intact one of, in order: (a) the
levels crossed in another order (a level crossed first, at the source); (b) a detour through
a third unit of one level, at the point the minimal route crosses it (a full mesh's two-hop
detour through another NPU; a ring's other way round); (c) a parallel line: one step along
another level (a ring's neighbour), the whole route there, and the step back (a switch
port's failure borrowed around through a neighbour's port). Every candidate is a chain of
minimal routes, so it is a real path; it is taken only when none of its links has failed.
The third unit of (b) and the step of (c) start from a hash of (source, destination) and go
round the intact candidates, so the detours of many pairs spread over them instead of
stacking on one neighbour's ports.
"""

import numpy as np

from ._jit import kernel
from .codes import C_KIND, C_SIZE, C_STRIDE, CROSSES_FAILURE, MINIMAL, OK, RING, UNREACHABLE
from .routing import route_one, with_levels


@kernel(inline="always")
def first_down(out, a, b, down):
    """Index in ``out[a:b]`` of the first failed link, or -1."""
    for j in range(a, b):
        link = out[j]
        if (down[link >> 3] >> (link & 7)) & 1:
            return j
    return -1


@kernel(inline="always")
def spread(a, b, k):
    """Where pair (a, b) starts going round ``k`` candidates (k > 0): a hash of the pair
    (splitmix64's mixing of the two ids)."""
    x = np.uint64(a) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(b) * np.uint64(
        0xC2B2AE3D27D4EB4F)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return np.int64(x % np.uint64(k))


@kernel
def _via(a, w1, w2, b, lv, lat_ns, hop_lat_ns, down, out, n0):
    """The chain of minimal routes a -> w1 -> w2 -> b written from ``out[n0]``:
    (hops, latency), or (-1, 0) when a leg crosses a failed link."""
    n = n0
    lat = 0.0
    prev = a
    for k in range(3):
        nxt = w1 if k == 0 else (w2 if k == 1 else b)
        if nxt == prev:
            continue
        h, lt = route_one(prev, nxt, lv, lat_ns, hop_lat_ns, out[n:])
        if first_down(out, n, n + h, down) >= 0:
            return -1, 0.0
        n += h
        lat += lt
        prev = nxt
    return n - n0, lat


@kernel
def leg(a, b, lv, lat_ns, hop_lat_ns, down, mode, out, n0):
    """Route working NPU ``a`` to working NPU ``b`` from ``out[n0]`` around failed links
    (``out`` holds three minimal routes past ``n0``).

    Returns
    -------
    (hops, latency_ns, code, link)
        ``code`` OK, CROSSES_FAILURE (minimal: ``link`` is the first failed link on the
        route) or UNREACHABLE (apr: no candidate is intact; ``link`` the minimal route's).
    """
    h, lat = route_one(a, b, lv, lat_ns, hop_lat_ns, out[n0:])
    bad = first_down(out, n0, n0 + h, down)
    if bad < 0:
        return h, lat, OK, -1
    link = out[bad]
    if mode == MINIMAL:
        return h, lat, CROSSES_FAILURE, link
    n_levels = lv.shape[0]
    for i in range(n_levels):  # (a) level i crossed first
        st, sz = lv[i, C_STRIDE], lv[i, C_SIZE]
        ai, bi = (a // st) % sz, (b // st) % sz
        if ai != bi:
            w = a + (bi - ai) * st
            h, lat = _via(a, w, w, b, lv, lat_ns, hop_lat_ns, down, out, n0)
            if h >= 0:
                return h, lat, OK, -1
    for i in range(n_levels):  # (b) through a third unit of level i
        st, sz = lv[i, C_STRIDE], lv[i, C_SIZE]
        ai, bi = (a // st) % sz, (b // st) % sz
        if ai == bi or sz < 3:
            continue
        cur = with_levels(a, b, lv, 0, i - 1) if i else a
        start = spread(a, b, sz)
        for t in range(sz):
            c = (start + t) % sz
            if c != ai and c != bi:
                w = cur + (c - ai) * st
                h, lat = _via(a, w, w, b, lv, lat_ns, hop_lat_ns, down, out, n0)
                if h >= 0:
                    return h, lat, OK, -1
    for j in range(n_levels):  # (c) a parallel line one step along level j
        st, sz = lv[j, C_STRIDE], lv[j, C_SIZE]
        if sz < 2:
            continue
        aj, bj = (a // st) % sz, (b // st) % sz
        ring = lv[j, C_KIND] == RING and sz > 2  # a ring's step: to a neighbour
        k = 2 if ring else sz - 1
        start = spread(a, b, k)
        for t in range(k):
            u = (start + t) % k
            c = (aj + (1 - 2 * u if ring else 1 + u)) % sz
            w1, w2 = a + (c - aj) * st, b + (c - bj) * st
            h, lat = _via(a, w1, w2, b, lv, lat_ns, hop_lat_ns, down, out, n0)
            if h >= 0:
                return h, lat, OK, -1
    return 0, 0.0, UNREACHABLE, link
