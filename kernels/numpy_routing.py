"""The NumPy twin of :mod:`.routing`: dimension-ordered minimal routes of many transfers at once.

Small runs are routed here, without Numba (:mod:`.select` decides): the same rule as
:func:`.routing.route_one`, written over arrays of transfers one level at a time, so a level
costs a few array operations whatever the transfer count. Routes and latencies are the
kernel's to the bit (the latency sums are made in the kernel's order;
``tests/kernels/test_numpy_twins.py``). No faults: under failures the kernels route.
"""

import numpy as np

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


def _coord(r, lv, i):
    return (r // lv[i, C_STRIDE]) % lv[i, C_SIZE]


def _differs(a, b, lv, first, last):
    out = np.zeros(a.shape, bool)
    for j in range(first, last + 1):
        out |= _coord(a, lv, j) != _coord(b, lv, j)
    return out


def _with_levels(cur, dst, lv, first, last):
    for j in range(first, last + 1):
        cur = cur + (_coord(dst, lv, j) - _coord(cur, lv, j)) * lv[j, C_STRIDE]
    return cur


class _Routes:
    """Routes under construction: ``paths`` (t, width) padded with -1, hops and latency."""

    def __init__(self, t, width):
        self.paths = np.full((t, width), -1, np.int64)
        self.n = np.zeros(t, np.int64)
        self.lat = np.zeros(t)

    def write(self, idx, links):
        """Append ``links`` (one per transfer ``idx``) to those transfers' paths."""
        self.paths[idx, self.n[idx]] = links
        self.n[idx] += 1

    def cross(self, idx, cur, dst, lv, lat_ns, i):
        """:func:`.routing._cross` of level ``i`` for the transfers ``idx`` at ``cur``
        (their current NPUs) toward ``dst``; adds the level's latency where it is crossed.
        Returns the NPUs reached."""
        size, stride, kind = lv[i, C_SIZE], lv[i, C_STRIDE], lv[i, C_KIND]
        a, b = _coord(cur, lv, i), _coord(dst, lv, i)
        move = a != b
        idx, cur, a, b = idx[move], cur[move], a[move], b[move]
        nxt = cur + (b - a) * stride
        off, trunk = lv[i, C_OFFSET], lv[i, C_TRUNK]
        group = max(trunk, 1)
        line = (cur // (stride * size)) * (stride // group) + (cur % stride) // group
        hops = np.ones(idx.size, np.int64)
        if kind == FULL_MESH:
            self.write(idx, off + line * size * (size - 1) + a * (size - 1)
                       + np.where(b < a, b, b - 1))
        elif kind == RING and size == 2:
            self.write(idx, off + line * 2 + a)
        elif kind == RING:
            d = (b - a) % size
            back = d > size - d
            step = np.where(back, size - 1, 1)
            hops = np.where(back, size - d, d)
            base = off + line * 2 * size + back * size
            pos = a
            for k in range(int(hops.max(initial=0))):
                on = hops > k
                self.write(idx[on], base[on] + pos[on])
                pos = (pos + step) % size
        elif trunk:
            npus = lv[i, C_NPUS]
            self.write(idx, off + cur // group)
            self.write(idx, off + npus // group + nxt // group)
        else:
            npus, pool = lv[i, C_NPUS], lv[i, C_POOL_NPUS]
            self.write(idx, off + cur)
            if pool:
                self.write(idx, off + 2 * npus + cur // pool)
                self.write(idx, off + 2 * npus + lv[i, C_POOLS] + nxt // pool)
            self.write(idx, off + npus + nxt)
        self.lat[idx] += lat_ns[i, 0] * (hops if kind == RING else 1)
        return move, nxt


def route_arrays(src, dst, lv, lat_ns, hop_lat_ns, width):
    """Routes of every ``(src[k], dst[k])`` (NPU ids): ``(paths (t, width) padded with -1,
    hops, path latency in ns)``, as :func:`.routing.route_many` fills them."""
    src = np.asarray(src, np.int64)
    dst = np.asarray(dst, np.int64)
    r = _Routes(src.size, width)
    cur = src.copy()
    n_levels = lv.shape[0]
    # levels below the lowest trunk run a transfer crosses are not crossed (route_one)
    done = np.full(src.size, -1, np.int64)  # levels up to done[k] are behind transfer k
    seen = np.zeros(src.size, bool)
    for i in range(n_levels):
        if lv[i, C_RUN_FIRST] == i:
            hit = ~seen & _differs(src, dst, lv, i, lv[i, C_RUN_LAST])
            done[hit] = i - 1
            seen |= hit
    done[~seen] = -1
    for i in range(n_levels):
        live = np.flatnonzero(done < i)
        if lv[i, C_RUN_FIRST] == i:
            last = lv[i, C_RUN_LAST]
            idx = live[_differs(cur[live], dst[live], lv, i, last)]
            if idx.size:  # up the access port, across the run's levels, down the port
                c, d = cur[idx], dst[idx]
                r.write(idx, lv[i, C_ACCESS] + c)
                for j in range(i, last + 1):
                    moved, nxt = r.cross(idx, c, d, lv, lat_ns, j)
                    c = c.copy()
                    c[moved] = nxt
                c = _with_levels(c, d, lv, 0, last)
                r.write(idx, lv[i, C_ACCESS] + lv[i, C_NPUS] + c)
                r.lat[idx] += 2 * lat_ns[i, 1]
                cur[idx] = c
                done[idx] = last
            continue
        moved, nxt = r.cross(live, cur[live], dst[live], lv, lat_ns, i)
        cur[live[moved]] = nxt
    return r.paths, r.n, r.lat + hop_lat_ns * r.n


def route_many(src, dst, lv, lat_ns, hop_lat_ns, paths, n_hops, path_lat_ns):
    """:func:`.routing.route_many` (same arguments and outputs) over arrays."""
    p, h, lat = route_arrays(src, dst, lv, lat_ns, hop_lat_ns, paths.shape[1])
    paths[:] = p
    n_hops[:] = h
    path_lat_ns[:] = lat
