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
``budget`` nodes and by the route buffer: a path longer than ``out`` is not taken. Each
side's tree grows the same way whatever the other end, so a batch of routes keeps the trees
and the minimal routes it checked (``kernels/searchtrees.py``) and replays them for the next
pair with the same source or destination.
"""

import numpy as np

from . import searchtrees as trees
from ._jit import kernel
from .codes import OK, UNREACHABLE
from .detours import first_down
from .moves import G_N, G_NODES, MOVE_HOPS, endpoint, layout, max_degree, move, neighbours
from .routing import route_one

#: Minimal routes tried from each newly reached NPU: to the far end and to this many of
#: the first NPUs reached from it.
ANCHORS = 4
#: Nodes a search may reach before it gives up (code UNREACHABLE, link -2).
BUDGET = 1 << 21


@kernel
def _chain(tr, pos, nodes):
    """The nodes of tree ``tr`` from position ``pos`` up to its root: (nodes, count)."""
    order, parent = tr[0], tr[1]
    m = 0
    while True:
        nodes = trees.push(nodes, m, order[pos])
        m += 1
        if pos == 0:
            return nodes, m
        pos = parent[pos]


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
def _assemble(f, u, mid_h, mid_lat, b, v, lv, lat_ns, hop_lat_ns, fp, flat, geo, buf, out):
    """The path from the root of the forward tree ``f`` to its node at position ``u``, the
    ``mid_h`` links already in ``buf[0:mid_h]`` (a minimal route), and on from the backward
    tree ``b``'s node at position ``v`` to its root, into ``out``: (hops, latency), or
    (-1, 0) when it does not fit."""
    nodes, m = _chain(f, u, np.empty(16, np.int64))
    pre = np.empty(buf.shape[0], np.int64)
    n, lat = _emit(nodes, m, True, lv, lat_ns, hop_lat_ns, fp, flat, geo, pre, 0)
    if n < 0 or n + mid_h > out.shape[0]:
        return -1, 0.0
    out[:n] = pre[:n]
    out[n:n + mid_h] = buf[:mid_h]
    n += mid_h
    nodes, m = _chain(b, v, nodes)
    n2, lat2 = _emit(nodes, m, False, lv, lat_ns, hop_lat_ns, fp, flat, geo, pre, 0)
    if n2 < 0 or n + n2 > out.shape[0]:
        return -1, 0.0
    out[n:n + n2] = pre[:n2]
    return n + n2, lat + mid_lat + lat2


@kernel
def search(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out, budget):
    """A path from NPU ``s`` to NPU ``d`` over working links into ``out`` (module
    docstring): :func:`search_in` with a store of its own."""
    return search_in(trees.new_store(lv, fp, 0), s, d, lv, lat_ns, hop_lat_ns, down, state, fp,
                     flat, out, budget)


@kernel
def search_in(st, s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out, budget):
    """:func:`search` growing and replaying the trees of store ``st``
    (``kernels/searchtrees.py``), which a batch of routes shares.

    Returns
    -------
    (hops, latency_ns, code, link)
        ``code`` OK, or UNREACHABLE: no path (``link`` -1), none within ``out``'s length
        (-3) or the search gave up after ``budget`` nodes (-2).
    """
    if trees.size(st) > budget:  # a batch's store holds about one long search at most
        trees.clear(st)
    geo = st[trees.S_GEO]
    ends = (endpoint(s, state, geo), endpoint(d, state, geo))
    f, b = trees.tree(st, 0, ends[0]), trees.tree(st, 1, ends[1])  # out of s, into d
    work = (trees.load(st, f), trees.load(st, b), trees.table(st, trees.S_POS),
            trees.table(st, trees.S_MEMO))
    found, work = _replay(work, st[trees.S_META][trees.M_SHARED], ends, lv, lat_ns, hop_lat_ns,
                          down, state, fp, flat, geo, out, budget)
    trees.save(st, work[0])
    trees.save(st, work[1])
    trees.save_table(st, trees.S_POS, work[2])
    trees.save_table(st, trees.S_MEMO, work[3])
    return found


@kernel
def _replay(work, shared, ends, lv, lat_ns, hop_lat_ns, down, state, fp, flat, geo, out,
            budget):
    """The search of :func:`search_in` over ``work`` (the forward and backward trees, the
    tables of positions and of minimal routes): (its answer, ``work`` grown)."""
    f, b, pos, (mk, mv, mc) = work
    g, n_npus = geo[G_NODES], geo[G_N]
    nbr = np.empty(max_degree(lv, geo), np.int64)
    scratch = np.empty(MOVE_HOPS, np.int64)
    buf = np.empty(out.shape[0] + 3 * MOVE_HOPS, np.int64)  # a minimal route, then the path
    heads, tails = np.zeros(2, np.int64), np.ones(2, np.int64)  # per side: pops, nodes
    # per side: the positions of its end and of the first NPUs it reached
    anchors = np.full((2, ANCHORS + 1), -1, np.int64)
    for side in range(2):
        anchors[side, 0] = 0 if ends[side] < n_npus else -1  # NPUs only
    counts = np.ones(2, np.int64)
    too_long = False
    while heads[0] < tails[0] and heads[1] < tails[1]:
        if tails[0] + tails[1] > budget:
            return (0, 0.0, UNREACHABLE, -2), (f, b, pos, (mk, mv, mc))
        side = 0 if tails[0] - heads[0] <= tails[1] - heads[1] else 1  # smaller frontier
        other = 1 - side
        mine, theirs = (f, b) if side == 0 else (b, f)
        mine, pos = trees.grow(mine, pos, heads[side] + 1, lv, lat_ns, hop_lat_ns, down, fp,
                               flat, geo, nbr, scratch)
        if side == 0:
            f = mine
        else:
            b = mine
        first, end = trees.span(mine, heads[side])
        heads[side] += 1
        tails[side] = end
        order, their_order, base = mine[0], theirs[0], theirs[3] * g
        keys, vals = pos[0], pos[1]
        for p in range(first, end):
            y = order[p]
            i = trees.slot(keys, base + y)
            q = vals[i] if keys[i] == base + y else -1
            if 0 <= q < tails[other]:  # the searches meet
                u, v = (p, q) if side == 0 else (q, p)
                h, lat = _assemble(f, u, 0, 0.0, b, v, lv, lat_ns, hop_lat_ns, fp, flat, geo,
                                   buf, out)
                if h >= 0:
                    return (h, lat, OK, -1), (f, b, pos, (mk, mv, mc))
                too_long = True
            if y >= n_npus or (state.shape[0] and state[y] != 0):
                continue
            for a in range(counts[other]):  # a minimal route to the other side
                q = anchors[other, a]
                if q < 0:
                    continue
                z = their_order[q]
                x1, x2 = (y, z) if side == 0 else (z, y)
                key = x1 * n_npus + x2
                ok = -1
                if shared:
                    i = trees.slot(mk, key)
                    ok = mv[i] if mk[i] == key else -1
                if ok != 0:
                    mid_h, mid_lat = route_one(x1, x2, lv, lat_ns, hop_lat_ns, buf)
                if ok < 0:
                    ok = 1 if first_down(buf, 0, mid_h, down) < 0 else 0
                    if shared:
                        mk, mv, mc = trees.put(mk, mv, mc, key, ok)
                if ok == 0:
                    continue
                u, v = (p, q) if side == 0 else (q, p)
                h, lat = _assemble(f, u, mid_h, mid_lat, b, v, lv, lat_ns, hop_lat_ns, fp,
                                   flat, geo, buf, out)
                if h >= 0:
                    return (h, lat, OK, -1), (f, b, pos, (mk, mv, mc))
                too_long = True
            if counts[side] <= ANCHORS:
                anchors[side, counts[side]] = p
                counts[side] += 1
    return (0, 0.0, UNREACHABLE, -3 if too_long else -1), (f, b, pos, (mk, mv, mc))


@kernel
def component(start, lv, lat_ns, hop_lat_ns, down, fp, flat, budget):
    """The nodes reachable from node ``start`` over working links (at most ``budget``; the
    last entry -1 when it stopped there)."""
    geo = layout(lv, fp)
    nbr = np.empty(max_degree(lv, geo), np.int64)
    scratch = np.empty(MOVE_HOPS, np.int64)
    keys, vals, count = trees.put(np.full(64, -1, np.int64), np.empty(64, np.int64), 0, start,
                             start)
    q = np.full(64, start, np.int64)
    h, t = 0, 1
    while h < t:
        x = q[h]
        h += 1
        for k in range(neighbours(x, lv, geo, nbr)):
            y = nbr[k]
            if trees.get(keys, vals, y) >= 0 or not trees.opened(
                    x, y, lv, lat_ns, hop_lat_ns, down, fp, flat, geo, scratch):
                continue
            if t >= budget:
                q = trees.push(q, t, -1)
                return q[:t + 1]
            keys, vals, count = trees.put(keys, vals, count, y, x)
            q = trees.push(q, t, y)
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
        keys, vals, count = trees.put(keys, vals, count, x, 0)
    found = np.empty(16, np.int64)
    m = 0
    for x in nodes:
        for k in range(neighbours(x, lv, geo, nbr)):
            y = nbr[k]
            if trees.get(keys, vals, y) >= 0:
                continue
            h, _ = move(x, y, lv, lat_ns, hop_lat_ns, fp, flat, geo, scratch, 0)
            j = first_down(scratch, 0, h, down)
            if j >= 0:
                found = trees.push(found, m, scratch[j])
                m += 1
    return np.unique(found[:m])
