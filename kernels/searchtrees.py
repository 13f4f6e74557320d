"""The search trees of ``kernels/pathsearch.py``, kept and shared across a batch of routes.

A search from both ends grows a breadth-first tree from the source over the open moves out
of each node, and one from the destination over the open moves into each node. How a tree
grows is fixed by its root and direction alone (the other side only decides when to stop),
so one store serves a whole batch (``route_many_ft``): each tree is grown pop by pop as far
as some pair needs and replayed for every other pair with the same source (or destination);
likewise it remembers whether the minimal route between two NPUs is intact. Routes come out
the same as from a fresh store (a single ``route_ft``), only sooner.

The store is a typed list of int64 arrays (slots ``S_*``): three open-addressing tables
(a tree's node -> its position, (direction, root) -> tree, (u, v) -> minimal route intact)
and per tree its nodes in the order they were reached, each one's parent's position (the
root's entry: the direction) and ``tails``: ``[pops, nodes after pop 0, after pop 1, ...]``.
"""

import numpy as np
from numba.typed import List

from ._jit import kernel
from .detours import first_down
from .moves import G_NODES, layout, move, neighbours

#: Slots of the store: counts (trees, entries in the three tables), the layout, the tables.
S_META, S_GEO, S_POS, S_TREE, S_MEMO = 0, 1, 2, 4, 6
#: First per-tree slot; each tree has three (nodes, parents, tails).
S_TREES = 8
#: Entries in the meta slot: trees, the entries of the three tables, whether shared.
M_TREES, M_POS, M_TREE, M_MEMO, M_SHARED = range(5)


@kernel
def slot(keys, k):
    """The slot of key ``k`` in an open-addressing table (linear probing), or its free slot."""
    mask = keys.shape[0] - 1
    x = np.uint64(k) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing, its high bits
    i = np.int64(x ^ (x >> np.uint64(32))) & mask  # folded down: keys t * nodes + x spread
    while keys[i] != -1 and keys[i] != k:
        i = (i + 1) & mask
    return i


@kernel
def get(keys, vals, k):
    """The value of key ``k`` in the table (``keys``, ``vals``), -1 when absent."""
    i = slot(keys, k)
    return vals[i] if keys[i] == k else -1


@kernel
def rehashed(keys, vals):
    """The table (``keys``, ``vals``) in twice the slots."""
    grown_k = np.full(2 * keys.shape[0], -1, np.int64)
    grown_v = np.empty(2 * keys.shape[0], np.int64)
    for j in range(keys.shape[0]):
        if keys[j] != -1:
            i = slot(grown_k, keys[j])
            grown_k[i], grown_v[i] = keys[j], vals[j]
    return grown_k, grown_v


@kernel
def put(keys, vals, count, k, v):
    """The table with ``k -> v`` set: (keys, vals, count), grown while half full."""
    if 2 * (count + 1) > keys.shape[0]:
        keys, vals = rehashed(keys, vals)
    i = slot(keys, k)
    if keys[i] != k:
        count += 1
    keys[i], vals[i] = k, v
    return keys, vals, count


@kernel
def doubled(q):
    """``q`` copied into twice the room."""
    grown = np.empty(2 * q.shape[0], q.dtype)
    grown[:q.shape[0]] = q
    return grown


@kernel
def push(q, t, x):
    """``q`` with ``q[t] = x``, doubled when full."""
    if t == q.shape[0]:
        q = doubled(q)
    q[t] = x
    return q


@kernel
def opened(x, y, lv, lat_ns, hop_lat_ns, down, fp, flat, geo, scratch):
    """Whether the move from node ``x`` to node ``y`` crosses no failed link."""
    h, _ = move(x, y, lv, lat_ns, hop_lat_ns, fp, flat, geo, scratch, 0)
    return first_down(scratch, 0, h, down) < 0


@kernel
def new_store(lv, fp, shared):
    """An empty store for the topology's level table and spare blocks; ``shared``: it
    serves a batch (it remembers the minimal routes it checked, else only the trees)."""
    st = List()
    st.append(np.array([0, 0, 0, 0, shared], np.int64))
    st.append(layout(lv, fp))
    for _ in range(3):
        st.append(np.full(64, -1, np.int64))
        st.append(np.empty(64, np.int64))
    return st


@kernel
def clear(st):
    """Forget every tree and remembered route."""
    while len(st) > S_TREES:
        st.pop()
    st[S_META][:M_SHARED] = 0
    for b in (S_POS, S_TREE, S_MEMO):
        st[b] = np.full(64, -1, np.int64)
        st[b + 1] = np.empty(64, np.int64)


@kernel
def size(st):
    """Entries the store holds (its tables' entries)."""
    meta = st[S_META]
    return meta[M_POS] + meta[M_TREE] + meta[M_MEMO]


@kernel
def tree(st, direction, root):
    """Tree id of ``root`` (direction 0: moves out of it, 1: into it), made when new."""
    meta, g = st[S_META], st[S_GEO][G_NODES]
    key = direction * g + root
    t = get(st[S_TREE], st[S_TREE + 1], key)
    if t >= 0:
        return t
    t = meta[M_TREES]
    meta[M_TREES] += 1
    st[S_TREE], st[S_TREE + 1], meta[M_TREE] = put(st[S_TREE], st[S_TREE + 1], meta[M_TREE],
                                                   key, t)
    st.append(np.full(16, root, np.int64))
    st.append(np.full(16, direction, np.int64))  # the root's entry: the direction
    st.append(np.zeros(16, np.int64))
    st[S_POS], st[S_POS + 1], meta[M_POS] = put(st[S_POS], st[S_POS + 1], meta[M_POS],
                                                t * g + root, 0)
    return t


@kernel
def load(st, t):
    """Tree ``t`` as a tuple to work on: (nodes in the order reached, each one's parent's
    position, tails, id); :func:`save` puts it back."""
    b = S_TREES + 3 * t
    return st[b], st[b + 1], st[b + 2], t


@kernel
def save(st, tr):
    b = S_TREES + 3 * tr[3]
    st[b], st[b + 1], st[b + 2] = tr[0], tr[1], tr[2]


@kernel
def table(st, b):
    """The table at slots ``b``, ``b + 1`` as (keys, vals, count); :func:`save_table` puts
    it back."""
    return st[b], st[b + 1], st[S_META][M_POS + (b - S_POS) // 2]


@kernel
def save_table(st, b, tab):
    st[b], st[b + 1] = tab[0], tab[1]
    st[S_META][M_POS + (b - S_POS) // 2] = tab[2]


@kernel(inline="always")
def span(tr, k):
    """The positions tree ``tr``'s pop ``k`` (grown) reached: (first, end)."""
    return (tr[2][k] if k else 1), tr[2][k + 1]


@kernel(inline="always")
def grow(tr, pos, pops, lv, lat_ns, hop_lat_ns, down, fp, flat, geo, nbr, scratch):
    """Tree ``tr`` grown until it made ``pops`` pops, and the table of positions ``pos``
    with its new nodes: (tree, table)."""
    order, parent, tails, t = tr
    if tails[0] >= pops:
        return tr, pos
    keys, vals, count = pos
    base = t * geo[G_NODES]
    n = tails[tails[0]] if tails[0] else 1
    down_to = parent[0] == 1
    while tails[0] < pops:  # the calls below take few arrays: each costs a reference count
        k = tails[0]
        x = order[k]
        for q in range(neighbours(x, lv, geo, nbr)):
            y = nbr[q]
            if keys[slot(keys, base + y)] == base + y:
                continue
            a, c = (y, x) if down_to else (x, y)
            if not opened(a, c, lv, lat_ns, hop_lat_ns, down, fp, flat, geo, scratch):
                continue
            if n == order.shape[0]:
                order, parent = doubled(order), doubled(parent)
            order[n], parent[n] = y, k
            if 2 * (count + 1) > keys.shape[0]:
                keys, vals = rehashed(keys, vals)
            i = slot(keys, base + y)
            keys[i], vals[i] = base + y, n
            count += 1
            n += 1
        if k + 2 > tails.shape[0]:
            tails = doubled(tails)
        tails[k + 1] = n
        tails[0] = k + 1
    return (order, parent, tails, t), (keys, vals, count)
