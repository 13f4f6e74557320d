"""Binary-tree and chain (ring) broadcast / reduce, and the double-binary-tree all-reduce.

The trees are in-order binary trees (Sanders, Speck & Traeff, Parallel Computing 2009; NCCL's
double binary tree): node ``x = 1..p`` has level ``h = ctz(x)``, children ``x -/+ 2^(h-1)`` and
parent ``x +/- 2^h``; nodes past ``p`` are removed and their left subtree moves up. Odd ``x``
(half the nodes) are leaves. The second tree of the double tree is the first shifted by one
rank, so for even ``p`` every rank is an inner node in at most one of the two trees (for odd
``p`` one rank is a leaf in both).

One step may not write an element twice, so a parent takes its two children in two steps: a
node of level h sends up in step ``2h`` (left child) or ``2h+1`` (right child). Not pipelined:
each tree moves its whole share in one message per edge and direction.
"""

import numpy as np

from ..schedule import Schedule, Step
from .base import blocks, check_root, cost_axis, register, register_phase


def inorder_tree(p):
    """Parent (``-1`` at the root), level and is-right-child of nodes ``x = 1..p`` (index x-1)."""
    x = np.arange(1, p + 1, dtype=np.int64)
    level = np.zeros(p, np.int64)
    low = x & -x
    while (low > 1).any():  # ctz(x) without floating point
        level += low > 1
        low = np.where(low > 1, low >> 1, low)
    top = int(p).bit_length() - 1  # the root is x = 2^top
    cur, h = x.copy(), level.copy()
    parent = np.full(p, -1, np.int64)
    todo = h < top
    while todo.any():
        up = np.where((cur >> (h + 1)) & 1 == 0, cur + (1 << h), cur - (1 << h))
        found = todo & (up <= p)
        parent[found] = up[found]
        todo &= ~found
        cur, h = np.where(todo, up, cur), np.where(todo, h + 1, h)
    right = (parent > 0) & (parent < x)
    return parent, level, right


class Tree:
    """A binary tree on ranks ``0..p-1``: ``parent`` (-1 at the root), send-up step, depth."""

    def __init__(self, p, shift=0):
        parent_x, level, right = inorder_tree(p)
        node_rank = (np.arange(p, dtype=np.int64) + shift) % p  # rank of node x = index + 1
        self.p = p
        self.parent = np.full(p, -1, np.int64)
        has = parent_x > 0
        self.parent[node_rank[has]] = node_rank[parent_x[has] - 1]
        self.up_step = np.full(p, -1, np.int64)
        self.up_step[node_rank] = np.where(has, 2 * level + right, -1)
        self.root = int(node_rank[np.flatnonzero(~has)[0]])
        depth = np.zeros(p, np.int64)
        anc = self.parent.copy()
        while (anc >= 0).any():
            depth += anc >= 0
            anc = np.where(anc >= 0, self.parent[np.maximum(anc, 0)], -1)
        self.depth = depth

    @property
    def n_up(self):
        """Steps of the reduction toward the root."""
        return int(self.up_step.max()) + 1 if self.p > 1 else 0

    @property
    def n_down(self):
        """Steps of the broadcast from the root."""
        return int(self.depth.max())

    def up_parts(self, t, off, ln, axis=None):
        """(src, dst, n, src_off, dst_off) of the ranks sending up in step ``t``.

        ``off``, ``ln``: per-rank segment arrays. With an ``axis`` the tree runs on every line
        of the axis at once (tree nodes are axis positions); without, on ranks ``0..p-1``.
        """
        pos, ranks, parent = self._on(axis)
        m = self.up_step[pos] == t
        return ranks[m], parent[m], ln[m], off[m], off[m]

    def down_parts(self, t, off, ln, axis=None):
        """The broadcast from the root: the ranks at depth ``t`` (1..) receive from parents."""
        pos, ranks, parent = self._on(axis)
        m = self.depth[pos] == t
        return parent[m], ranks[m], ln[m], off[m], off[m]

    def _on(self, axis):
        """Tree position, rank and parent rank (the rank itself at the root) of every rank."""
        if axis is None:
            ranks = np.arange(self.p, dtype=np.int64)
            return ranks, ranks, np.where(self.parent >= 0, self.parent, ranks)
        return axis.pos, axis.ranks, axis.rank_at(np.where(self.parent >= 0, self.parent,
                                                           np.arange(self.p))[axis.pos])


def dbt_steps(size):
    """Steps of the double-binary-tree all-reduce on ``size`` ranks: ``n_up + n_down``.

    With ``L = floor(log2 size)``: ``n_down = L``; ``n_up = 2L - 1``, plus one when
    ``size >= 3 * 2^(L-1)`` (then the root has a right child of level ``L-1``).
    """
    if size < 2:
        return 0
    lg = int(size).bit_length() - 1
    return 3 * lg - 1 + (size >= 3 << (lg - 1))


def _step(parts, reduce, data):
    src, dst, n, so, do = (np.concatenate([np.broadcast_to(np.asarray(part[i], np.int64),
                                                           np.shape(part[0])) for part in parts])
                           for i in range(5))
    if data:
        return Step.make(src, dst, n, so, do, reduce=reduce)
    return Step.make(src, dst, n, reduce=reduce)


def _rooted_tree(p, root):
    """The in-order tree relabelled so that its root is rank ``root``."""
    base = Tree(p)
    return Tree(p, shift=(root - base.root) % p)


@register("broadcast", "binary_tree", "binary tree from the root, floor(log2 p) steps")
def tree_broadcast(comm, count, data=True, root=0):
    """Binary-tree broadcast: ``floor(log2 p)`` steps; an inner node sends ``2 S``, a leaf 0."""
    check_root(comm, root)
    p = comm.n
    tree = _rooted_tree(p, root)
    off, ln = np.zeros(p, np.int64), np.full(p, count, np.int64)

    def steps():
        for t in range(1, tree.n_down + 1):
            yield _step([tree.down_parts(t, off, ln)], False, data)

    return Schedule("broadcast", "binary_tree", p, count, None, steps, n_steps=tree.n_down,
                    root=root, data=data)


@register("reduce", "binary_tree", "binary tree toward the root, 2 floor(log2 p) steps")
def tree_reduce(comm, count, data=True, root=0):
    """Binary-tree reduce: ``2 floor(log2 p)`` steps at most; every non-root sends ``S`` once.

    The two children of a node send in consecutive steps (one step may not reduce into the
    same elements twice).
    """
    check_root(comm, root)
    p = comm.n
    tree = _rooted_tree(p, root)
    off, ln = np.zeros(p, np.int64), np.full(p, count, np.int64)

    def steps():
        for t in range(tree.n_up):
            yield _step([tree.up_parts(t, off, ln)], True, data)

    return Schedule("reduce", "binary_tree", p, count, None, steps, n_steps=tree.n_up,
                    root=root, data=data)


def _dbt_steps(model, ax):
    """Per step of the double binary tree on ``ax``: (key, up, t, messages); computed once."""
    def make():
        axis = cost_axis(model, ax)
        trees = (Tree(ax.p), Tree(ax.p, shift=1))
        lines = axis.n_ranks // ax.p
        out = []
        for up, ts in ((True, range(max(tr.n_up for tr in trees))),
                       (False, range(1, max(tr.n_down for tr in trees) + 1))):
            for t in ts:
                field = [tr.up_step if up else tr.depth for tr in trees]
                sent = sum(int((f == t).sum()) for f in field) * lines
                out.append((("dbt", id(ax), up, t), up, t, sent))
        return axis, trees, out

    return model.memo(("dbt", id(ax)), make)


def _dbt_profile(model, axis, trees, up, t):
    """Route step ``t`` of the reduction (``up``) or the broadcast once: tree A's messages
    in group 0, tree B's in group 1, in the order the step lists them."""
    from ..timing.groupcost import GroupProfile

    zero = np.zeros(axis.n_ranks, np.int64)
    parts = [tr.up_parts(t, zero, zero, axis) if up else tr.down_parts(t, zero, zero, axis)
             for tr in trees]
    npus = model.comm.npus
    return GroupProfile(model.topology, np.concatenate([npus[p[0]] for p in parts]),
                        np.concatenate([npus[p[1]] for p in parts]),
                        np.concatenate([np.full(p[0].size, g) for g, p in enumerate(parts)]),
                        len(parts))


def _dbt_cost(model, ax, c, isz):
    """Every step's two groups of messages (tree A's first half of the data, tree B's
    second) from one routing of its pattern (:mod:`ubemu.timing.groupcost`)."""
    if ax.p < 2:
        return 0.0
    axis, trees, steps = _dbt_steps(model, ax)
    model.on_lines(ax)
    sizes = (((c + 1) // 2) * isz, (c // 2) * isz)  # blocks(.., 2, h): the larger first
    group = object()  # a pipeline paces the tree's steps link by link
    return sum(model.profiled_step(key, sent, lambda up=up, t=t: _dbt_profile(
        model, axis, trees, up, t), sizes, reduce=up, group=group)
        for key, up, t, sent in steps)


@register_phase("all_reduce", "double_binary_tree", n_steps=dbt_steps, cost=_dbt_cost,
                link_sums=True,
                flat="two complementary binary trees, each reducing and broadcasting half the "
                     "data")
def dbt_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Double binary tree along ``axis``: tree A (on axis positions) reduces and broadcasts
    the first half of each segment, tree B (A shifted by one position) the second half.

    Flat: ``n_up + n_down`` steps, at most ``2 S`` sent per rank. With ``L = floor(log2 p)``:
    ``n_down = L`` and ``n_up = 2L - 1 + [p >= 3 * 2^(L-1)]`` (:func:`dbt_steps`). Every tree
    edge carries its half once up and once down: ``2 (p-1) S`` over all ranks; for even ``p``
    a rank is inner in one tree (at most 3 halves: up, and down to two children) and a leaf
    in the other (1 half), so at most ``2 S`` per rank.
    """
    s = axis.size
    if s < 2:
        return
    trees = (Tree(s), Tree(s, shift=1))
    halves = [blocks(seg_off, seg_len, 2, h) for h in (0, 1)]
    n_up = max(t.n_up for t in trees)
    for t in range(n_up):
        yield _step([tr.up_parts(t, off, ln, axis) for tr, (off, ln) in zip(trees, halves)],
                    True, data)
    for t in range(1, max(tr.n_down for tr in trees) + 1):
        yield _step([tr.down_parts(t, off, ln, axis) for tr, (off, ln) in zip(trees, halves)],
                    False, data)


def _chain_parts(p, root, count, chunks, toward_root):
    """Pipelined chain root -> root+1 -> ... (or back toward the root): parts per step."""
    chunks = max(1, min(chunks, count))
    offs, lens = blocks(0, count, chunks, np.arange(chunks))
    hops = np.arange(p - 1, dtype=np.int64)  # hop h joins chain positions h and h+1
    for t in range(chunks + p - 2):
        if toward_root:  # position h+1 sends chunk t-(p-2-h) to position h
            c = t - (p - 2 - hops)
            src_pos, dst_pos = hops + 1, hops
        else:  # position h sends chunk t-h to position h+1
            c = t - hops
            src_pos, dst_pos = hops, hops + 1
        ok = (c >= 0) & (c < chunks)
        c = c[ok]
        yield ((src_pos[ok] + root) % p, (dst_pos[ok] + root) % p, lens[c], offs[c], offs[c])


def _chain_schedule(collective, comm, count, data, root, chunks):
    check_root(comm, root)
    p = comm.n
    chunks = p if chunks is None else int(chunks)
    n_chunks = max(1, min(chunks, count))
    n_steps = n_chunks + p - 2 if p > 1 else 0
    reduce = collective == "reduce"

    def steps():
        if p > 1:
            for part in _chain_parts(p, root, count, chunks, reduce):
                yield _step([part], reduce, data)

    return Schedule(collective, "ring", p, count, None, steps, n_steps=n_steps, root=root,
                    data=data, notes={"chunks": n_chunks})


@register("broadcast", "ring", "pipelined chain from the root, chunks + p - 2 steps")
def ring_broadcast(comm, count, data=True, root=0, chunks=None):
    """Pipelined chain broadcast: ``c + p - 2`` steps for ``c`` chunks (default ``c = p``,
    at most ``count``); every rank but the last of the chain sends ``S`` once."""
    return _chain_schedule("broadcast", comm, count, data, root, chunks)


@register("reduce", "ring", "pipelined chain toward the root, chunks + p - 2 steps")
def ring_reduce(comm, count, data=True, root=0, chunks=None):
    """Pipelined chain reduce toward the root: ``c + p - 2`` steps for ``c`` chunks (default
    ``c = p``, at most ``count``); every rank but the root sends ``S`` once."""
    return _chain_schedule("reduce", comm, count, data, root, chunks)
