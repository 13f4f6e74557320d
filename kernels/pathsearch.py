"""All-Path Routing's last resort: a breadth-first search over the working links.

When no structured detour (``kernels/detours.py``) is intact, :func:`search` looks for any
path: a pair is refused only when the faults really disconnect it. The graph is implicit,
like the link ids:

- nodes: every NPU; each trunk run's backplane of every group (entered and left over the
  NPUs' access ports, joined to the other groups' by the run's cables); the core of each
  oversubscribed switch level's span (the leaves under one core: its NPUs reach it over
  their port and their leaf's core link); with spares, each spare group's spare and, where
  they are not the backplane, its low-radix switches (LRS);
- moves: an NPU to another over one level that is not a trunk (a full-mesh link, a ring
  neighbour, a switch's up and down ports), an NPU to its backplanes, its cores and its LRS
  and back, a backplane to another group's over one level of its run, a spare to its LRS;
  a move is open when none of its links failed.

The graph is ``kernels/moves.py``'s. The search runs from both ends at once, the end with
the smaller frontier first, so it spends its time where the failures are: an NPU newly
reached from the source tries its minimal route to the destination and to the first NPUs
reached from the destination (and the other way round), which ends the search as soon as it
has left the failed region; the two searches meeting ends it too; one side running out of
nodes proves the pair disconnected (that side's nodes are the cut). It is bounded by
``budget`` nodes and by the route buffer: a path longer than ``out`` is not taken. Visited
nodes are kept in small open-addressing tables (node -> parent), grown as needed.
"""

import numpy as np

from ._jit import kernel
from .codes import OK, UNREACHABLE
from .detours import first_down
from .moves import G_N, MOVE_HOPS, endpoint, layout, max_degree, move, neighbours
from .routing import route_one

#: Minimal routes tried from each newly reached NPU: to the far end and to this many of
#: the first NPUs reached from it.
ANCHORS = 4
#: Nodes a search may reach before it gives up (code UNREACHABLE, link -2).
BUDGET = 1 << 21


@kernel
def _open(x, y, lv, lat_ns, hop_lat_ns, down, fp, flat, geo, scratch):
    """Whether the move from ``x`` to ``y`` crosses no failed link."""
    h, _ = move(x, y, lv, lat_ns, hop_lat_ns, fp, flat, geo, scratch, 0)
    return first_down(scratch, 0, h, down) < 0


@kernel
def _push(q, t, x):
    if t == q.shape[0]:
        grown = np.empty(2 * t, np.int64)
        grown[:t] = q
        q = grown
    q[t] = x
    return q


@kernel
def _slot(keys, k):
    """The slot of key ``k`` in an open-addressing table (linear probing), or its free slot."""
    mask = keys.shape[0] - 1
    i = (k * 2654435761) & mask
    while keys[i] != -1 and keys[i] != k:
        i = (i + 1) & mask
    return i


@kernel
def _get(keys, vals, k):
    """The value of node ``k`` in the table (``keys``, ``vals``), -1 when absent."""
    i = _slot(keys, k)
    return vals[i] if keys[i] == k else -1


@kernel
def _put(keys, vals, count, k, v):
    """The table with ``k -> v`` set: (keys, vals, count), grown while half full."""
    if 2 * (count + 1) > keys.shape[0]:
        old_k, old_v = keys, vals
        keys, vals = np.full(2 * keys.shape[0], -1, np.int64), np.empty(2 * keys.shape[0],
                                                                          np.int64)
        for j in range(old_k.shape[0]):
            if old_k[j] != -1:
                i = _slot(keys, old_k[j])
                keys[i], vals[i] = old_k[j], old_v[j]
    i = _slot(keys, k)
    if keys[i] != k:
        count += 1
    keys[i], vals[i] = k, v
    return keys, vals, count


@kernel
def _chain(keys, vals, x, end, nodes):
    """The nodes from ``x`` along the parents in the table to ``end`` into ``nodes``; their
    count."""
    m = 0
    while True:
        nodes[m] = x
        m += 1
        if x == end:
            return m
        x = _get(keys, vals, x)


@kernel
def _emit(nodes, m, backwards, lv, lat_ns, hop_lat_ns, fp, flat, geo, buf, n):
    """The moves along ``nodes[:m]`` (reversed with ``backwards``) written from ``buf[n]``:
    (position after, latency), or (-1, 0) when ``buf`` is too short."""
    lat = 0.0
    for q in range(m - 1):
        x, y = (nodes[m - 1 - q], nodes[m - 2 - q]) if backwards else (nodes[q], nodes[q + 1])
        if n + MOVE_HOPS > buf.shape[0]:
            return -1, 0.0
        h, lt = move(x, y, lv, lat_ns, hop_lat_ns, fp, flat, geo, buf, n)
        n += h
        lat += lt
    return n, lat


@kernel
def _assemble(trees, u, s, mid_h, mid_lat, v, d, lv, lat_ns, hop_lat_ns, fp, flat, geo, buf,
              nodes, out):
    """The path s .. u (forward tree), the ``mid_h`` links already in ``buf[0:mid_h]`` (a
    minimal route from u to v), v .. d (backward tree) into ``out``: (hops, latency) or
    (-1, 0) when it does not fit. ``trees``: the forward and backward tables' keys and
    values."""
    fk, fv, bk, bv = trees
    m = _chain(fk, fv, u, s, nodes)
    pre = np.empty(buf.shape[0], np.int64)
    n, lat = _emit(nodes, m, True, lv, lat_ns, hop_lat_ns, fp, flat, geo, pre, 0)
    if n < 0 or n + mid_h > out.shape[0]:
        return -1, 0.0
    out[:n] = pre[:n]
    out[n:n + mid_h] = buf[:mid_h]
    n += mid_h
    m = _chain(bk, bv, v, d, nodes)
    n2, lat2 = _emit(nodes, m, False, lv, lat_ns, hop_lat_ns, fp, flat, geo, pre, 0)
    if n2 < 0 or n + n2 > out.shape[0]:
        return -1, 0.0
    out[n:n + n2] = pre[:n2]
    return n + n2, lat + mid_lat + lat2


@kernel
def search(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out, budget):
    """A path from NPU ``s`` to NPU ``d`` over working links into ``out`` (module docstring).

    Returns
    -------
    (hops, latency_ns, code, link)
        ``code`` OK, or UNREACHABLE: no path (``link`` -1), none within ``out``'s length
        (-3) or the search gave up after ``budget`` nodes (-2).
    """
    geo = layout(lv, fp)
    ends = (endpoint(s, state, geo), endpoint(d, state, geo))
    nbr = np.empty(max_degree(lv, geo), np.int64)
    scratch = np.empty(MOVE_HOPS, np.int64)
    buf = np.empty(out.shape[0] + 3 * MOVE_HOPS, np.int64)  # a minimal route, then the path
    nodes = np.empty(64, np.int64)
    # per side (0 from s, 1 from d): its tree (node -> parent) and its queue
    fk, fv, nf = _put(np.full(64, -1, np.int64), np.empty(64, np.int64), 0, ends[0], ends[0])
    bk, bv, nb = _put(np.full(64, -1, np.int64), np.empty(64, np.int64), 0, ends[1], ends[1])
    qf, qb = np.full(64, ends[0], np.int64), np.full(64, ends[1], np.int64)
    hf, tf, hb, tb = 0, 1, 0, 1
    anchors = np.full((2, ANCHORS + 1), -1, np.int64)  # per side: its end, its first NPUs
    for side in range(2):
        anchors[side, 0] = ends[side] if ends[side] < geo[G_N] else -1  # NPUs only
    counts = np.ones(2, np.int64)
    too_long = False
    while hf < tf and hb < tb:
        if nf + nb > budget:
            return 0, 0.0, UNREACHABLE, -2
        side = 0 if tf - hf <= tb - hb else 1  # the smaller frontier first
        if side == 0:
            x = qf[hf]
            hf += 1
        else:
            x = qb[hb]
            hb += 1
        if nodes.shape[0] <= nf + nb:
            nodes = np.empty(2 * (nf + nb + 1), np.int64)
        for q in range(neighbours(x, lv, geo, nbr)):
            y = nbr[q]
            if _get(fk, fv, y) >= 0 if side == 0 else _get(bk, bv, y) >= 0:
                continue
            a, b = (x, y) if side == 0 else (y, x)
            if not _open(a, b, lv, lat_ns, hop_lat_ns, down, fp, flat, geo, scratch):
                continue
            if side == 0:
                fk, fv, nf = _put(fk, fv, nf, y, x)
                qf = _push(qf, tf, y)
                tf += 1
                met = _get(bk, bv, y) >= 0
            else:
                bk, bv, nb = _put(bk, bv, nb, y, x)
                qb = _push(qb, tb, y)
                tb += 1
                met = _get(fk, fv, y) >= 0
            if met:  # the searches meet
                h, lat = _assemble((fk, fv, bk, bv), y, ends[0], 0, 0.0, y, ends[1], lv,
                                   lat_ns, hop_lat_ns, fp, flat, geo, buf, nodes, out)
                if h >= 0:
                    return h, lat, OK, -1
                too_long = True
            if y >= geo[G_N] or (state.shape[0] and state[y] != 0):
                continue
            for t in range(counts[1 - side]):  # a minimal route to the other side
                z = anchors[1 - side, t]
                if z < 0:
                    continue
                u, v = (y, z) if side == 0 else (z, y)
                mid_h, mid_lat = route_one(u, v, lv, lat_ns, hop_lat_ns, buf)
                if first_down(buf, 0, mid_h, down) >= 0:
                    continue
                h, lat = _assemble((fk, fv, bk, bv), u, ends[0], mid_h, mid_lat, v, ends[1],
                                   lv, lat_ns, hop_lat_ns, fp, flat, geo, buf, nodes, out)
                if h >= 0:
                    return h, lat, OK, -1
                too_long = True
            if counts[side] <= ANCHORS:
                anchors[side, counts[side]] = y
                counts[side] += 1
    return 0, 0.0, UNREACHABLE, -3 if too_long else -1


@kernel
def component(start, lv, lat_ns, hop_lat_ns, down, fp, flat, budget):
    """The nodes reachable from node ``start`` over working links (at most ``budget``; the
    last entry -1 when it stopped there)."""
    geo = layout(lv, fp)
    nbr = np.empty(max_degree(lv, geo), np.int64)
    scratch = np.empty(MOVE_HOPS, np.int64)
    keys, vals, count = _put(np.full(64, -1, np.int64), np.empty(64, np.int64), 0, start,
                             start)
    q = np.full(64, start, np.int64)
    h, t = 0, 1
    while h < t:
        x = q[h]
        h += 1
        for k in range(neighbours(x, lv, geo, nbr)):
            y = nbr[k]
            if _get(keys, vals, y) >= 0 or not _open(x, y, lv, lat_ns, hop_lat_ns, down, fp,
                                                     flat, geo, scratch):
                continue
            if t >= budget:
                q = _push(q, t, -1)
                return q[:t + 1]
            keys, vals, count = _put(keys, vals, count, y, x)
            q = _push(q, t, y)
            t += 1
    return q[:t]


@kernel
def cut_links(nodes, lv, lat_ns, hop_lat_ns, down, fp, flat):
    """The failed links that leave the set ``nodes`` (one per move out of it that a failure
    closes: its first failed link), sorted."""
    geo = layout(lv, fp)
    nbr = np.empty(max_degree(lv, geo), np.int64)
    scratch = np.empty(MOVE_HOPS, np.int64)
    keys, vals, count = np.full(64, -1, np.int64), np.empty(64, np.int64), 0
    for x in nodes:
        keys, vals, count = _put(keys, vals, count, x, 0)
    found = np.empty(16, np.int64)
    m = 0
    for x in nodes:
        for k in range(neighbours(x, lv, geo, nbr)):
            y = nbr[k]
            if _get(keys, vals, y) >= 0:
                continue
            h, _ = move(x, y, lv, lat_ns, hop_lat_ns, fp, flat, geo, scratch, 0)
            j = first_down(scratch, 0, h, down)
            if j >= 0:
                found = _push(found, m, scratch[j])
                m += 1
    return np.unique(found[:m])
