"""The implicit graph of a topology's links, for the search around failures.

Nodes and moves as ``kernels/pathsearch.py`` describes them, numbered from the level table
and the spare blocks (:func:`layout`) without storing a graph: :func:`neighbours` lists the
nodes one move away from a node (moves are symmetric), :func:`move` writes the link ids of
one move, as the routing kernels name them (``kernels/routing.py``), and :func:`endpoint`
is the node an NPU's traffic starts and ends at.
"""

import numpy as np

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
    RING,
)
from .routing import cross

#: Slots of :func:`layout`: NPUs, runs, first spare node, first LRS node (-1: the LRS are a
#: run's backplane), that run, NPUs per spare group, nodes in all, oversubscribed levels,
#: then per run its first and last level, NPUs per group and first node, then per
#: oversubscribed level the level and its first core node.
G_N, G_RUNS, G_SPARE0, G_LRS0, G_SPRUN, G_SPG, G_NODES, G_POOLS, G_RUN0 = range(9)
#: Kinds of node (:func:`node_kind`).
NPU, BACKPLANE, SPARE, LRS, CORE = 0, 1, 2, 3, 4
#: Links one move writes at most (a switch with a core pool: up, core up, core down, down).
MOVE_HOPS = 4


@kernel
def layout(lv, fp):
    """The node numbering (slots ``G_*``) of a topology's level table and spare blocks."""
    n = lv[0, C_NPUS]
    runs = pools = 0
    for i in range(lv.shape[0]):
        runs += lv[i, C_RUN_FIRST] == i
        pools += lv[i, C_POOL_NPUS] > 0
    geo = np.full(G_RUN0 + 4 * runs + 2 * pools, -1, np.int64)
    node, k = n, 0
    for i in range(lv.shape[0]):
        if lv[i, C_RUN_FIRST] == i:
            g = lv[i, C_STRIDE]
            geo[G_RUN0 + 4 * k:G_RUN0 + 4 * k + 4] = (i, lv[i, C_RUN_LAST], g, node)
            if fp[1] > 0 and fp[6] == 1 and lv[i, C_ACCESS] == fp[4]:
                geo[G_SPRUN] = k
            node += n // g
            k += 1
    b = G_RUN0 + 4 * runs
    for i in range(lv.shape[0]):
        if lv[i, C_POOL_NPUS] > 0:
            geo[b], geo[b + 1] = i, node
            node += n // (lv[i, C_STRIDE] * lv[i, C_SIZE])
            b += 2
    geo[G_N], geo[G_RUNS], geo[G_SPG], geo[G_POOLS] = n, runs, fp[1], pools
    if fp[1] > 0:
        geo[G_SPARE0] = node
        node += n // fp[1]
        if fp[6] == 0:
            geo[G_LRS0] = node
            node += n // fp[1]
    geo[G_NODES] = node
    return geo


@kernel
def _run(geo, k):
    """(first level, last level, NPUs per group, first backplane node) of run ``k``."""
    b = G_RUN0 + 4 * k
    return geo[b], geo[b + 1], geo[b + 2], geo[b + 3]


@kernel
def _pool(geo, p):
    """(level, first core node) of the ``p``-th oversubscribed level."""
    b = G_RUN0 + 4 * geo[G_RUNS] + 2 * p
    return geo[b], geo[b + 1]


@kernel
def node_kind(x, geo, lv):
    """(kind, which, index) of node ``x``: an NPU; a BACKPLANE of run ``which`` (index: its
    group); the CORE of oversubscribed level ``which``'s span ``index``; a SPARE or an LRS
    (index: the spare group)."""
    n = geo[G_N]
    if x < n:
        return NPU, -1, x
    for k in range(geo[G_RUNS]):
        _, _, g, node0 = _run(geo, k)
        if x < node0 + n // g:
            return BACKPLANE, k, x - node0
    for p in range(geo[G_POOLS]):
        i, node0 = _pool(geo, p)
        if x < node0 + n // (lv[i, C_STRIDE] * lv[i, C_SIZE]):
            return CORE, i, x - node0
    if x < geo[G_SPARE0] + n // geo[G_SPG]:
        return SPARE, -1, x - geo[G_SPARE0]
    return LRS, -1, x - geo[G_LRS0]


@kernel
def _core_of(i, geo):
    """First core node of oversubscribed level ``i``."""
    for p in range(geo[G_POOLS]):
        if _pool(geo, p)[0] == i:
            return _pool(geo, p)[1]
    return -1


@kernel
def max_degree(lv, geo):
    """Room for the neighbours of any node."""
    npu = 2
    best = 0
    for i in range(lv.shape[0]):
        if lv[i, C_TRUNK] == 0:
            npu += lv[i, C_SIZE]
        if lv[i, C_POOL_NPUS] > 0:
            best = max(best, lv[i, C_STRIDE] * lv[i, C_SIZE])
    best = max(best, npu + geo[G_RUNS] + max(geo[G_SPG], 0))
    for k in range(geo[G_RUNS]):
        first, last, g, _ = _run(geo, k)
        deg = g + 2
        for j in range(first, last + 1):
            deg += lv[j, C_SIZE]
        best = max(best, deg)
    return best


@kernel
def _along(base, j, lv, buf, m):
    """The units of level ``j`` next to the one of NPU ``base`` (ring: the two neighbours):
    their NPUs (``base`` moved along ``j``) appended to ``buf`` from ``m``."""
    st, sz = lv[j, C_STRIDE], lv[j, C_SIZE]
    bj = (base // st) % sz
    if lv[j, C_KIND] == RING and sz > 2:
        buf[m] = base + ((bj + 1) % sz - bj) * st
        buf[m + 1] = base + ((bj - 1) % sz - bj) * st
        return m + 2
    for c in range(sz):
        if c != bj:
            buf[m] = base + (c - bj) * st
            m += 1
    return m


@kernel
def neighbours(x, lv, geo, buf):
    """Nodes one move away from ``x`` (moves are symmetric): written to ``buf``; the count."""
    kind, k, idx = node_kind(x, geo, lv)
    m = 0
    if kind == NPU:
        for i in range(lv.shape[0]):
            if lv[i, C_POOL_NPUS] > 0 and lv[i, C_SIZE] > 1:  # its span's core
                buf[m] = _core_of(i, geo) + x // (lv[i, C_STRIDE] * lv[i, C_SIZE])
                m += 1
            elif lv[i, C_TRUNK] == 0 and lv[i, C_SIZE] > 1:
                m = _along(x, i, lv, buf, m)
        for r in range(geo[G_RUNS]):
            _, _, g, node0 = _run(geo, r)
            buf[m] = node0 + x // g
            m += 1
        if geo[G_LRS0] >= 0:
            buf[m] = geo[G_LRS0] + x // geo[G_SPG]
            m += 1
    elif kind == BACKPLANE:
        first, last, g, node0 = _run(geo, k)
        base = idx * g
        for t in range(g):
            buf[m] = base + t
            m += 1
        for j in range(first, last + 1):
            if lv[j, C_SIZE] > 1:
                m0 = m
                m = _along(base, j, lv, buf, m)
                for q in range(m0, m):
                    buf[q] = node0 + buf[q] // g
        if k == geo[G_SPRUN]:
            buf[m] = geo[G_SPARE0] + idx
            m += 1
    elif kind == CORE:  # every NPU of the span
        span = lv[k, C_STRIDE] * lv[k, C_SIZE]
        for t in range(span):
            buf[m] = idx * span + t
            m += 1
    elif kind == SPARE:
        if geo[G_LRS0] >= 0:
            buf[m] = geo[G_LRS0] + idx
        else:
            buf[m] = _run(geo, geo[G_SPRUN])[3] + idx
        m += 1
    else:
        base = idx * geo[G_SPG]
        for t in range(geo[G_SPG]):
            buf[m] = base + t
            m += 1
        buf[m] = geo[G_SPARE0] + idx
        m += 1
    return m


@kernel
def _level_move(a, b, i, lv, lat_ns, hop_lat_ns, out, n):
    h, _ = cross(a, b, i, lv, out, n)
    return h, lat_ns[i, 0] * (1 if lv[i, C_KIND] != RING else h) + hop_lat_ns * h


@kernel
def move(x, y, lv, lat_ns, hop_lat_ns, fp, flat, geo, out, n):
    """Write the links of the move from node ``x`` to its neighbour ``y`` from ``out[n]``:
    (links, latency in ns)."""
    kx, rx, ix = node_kind(x, geo, lv)
    ky, ry, iy = node_kind(y, geo, lv)
    npus = geo[G_N]
    if kx == CORE or ky == CORE:  # into a span's core: port, leaf's core link; or out
        i = rx if kx == CORE else ry
        off, pool, pools = lv[i, C_OFFSET], lv[i, C_POOL_NPUS], lv[i, C_POOLS]
        if ky == CORE:
            out[n], out[n + 1] = off + x, off + 2 * npus + x // pool
            return 2, lat_ns[i, 0] + 2 * hop_lat_ns
        out[n], out[n + 1] = off + 2 * npus + pools + y // pool, off + npus + y
        return 2, 2 * hop_lat_ns
    if kx == NPU and ky == NPU:
        for i in range(lv.shape[0]):
            st, sz = lv[i, C_STRIDE], lv[i, C_SIZE]
            if (x // st) % sz != (y // st) % sz:
                return _level_move(x, y, i, lv, lat_ns, hop_lat_ns, out, n)
    if kx == BACKPLANE and ky == BACKPLANE:
        first, last, g, _ = _run(geo, rx)
        a, b = ix * g, iy * g
        for j in range(first, last + 1):
            st, sz = lv[j, C_STRIDE], lv[j, C_SIZE]
            if (a // st) % sz != (b // st) % sz:
                return _level_move(a, b, j, lv, lat_ns, hop_lat_ns, out, n)
    if kx == NPU and ky == BACKPLANE:  # up the access port
        first = _run(geo, ry)[0]
        out[n] = lv[first, C_ACCESS] + x
        return 1, lat_ns[first, 1] + hop_lat_ns
    if kx == BACKPLANE and ky == NPU:
        first = _run(geo, rx)[0]
        out[n] = lv[first, C_ACCESS] + npus + y
        return 1, lat_ns[first, 1] + hop_lat_ns
    if kx == SPARE:  # a spare into its LRS, or back
        out[n] = fp[2] + ix
        return 1, flat[0] + hop_lat_ns
    if ky == SPARE:
        out[n] = fp[3] + iy
        return 1, flat[0] + hop_lat_ns
    out[n] = fp[4] + x if kx == NPU else fp[5] + y  # an NPU's own port into the LRS
    return 1, hop_lat_ns


@kernel
def endpoint(npu, state, geo):
    """The node an NPU's traffic starts or ends at: itself, or its group's spare (-1: failed,
    no spare)."""
    st = state[npu] if state.shape[0] else 0
    if st == 0:
        return npu
    if st == 2:
        return geo[G_SPARE0] + npu // geo[G_SPG]
    return -1


