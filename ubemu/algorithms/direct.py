"""Direct (mesh one-shot) collectives over a full-mesh domain: every rank talks to every peer.

HCCL's "Mesh" algorithm for a server / full-mesh domain (CANN HCCL ``coll_algo_intro``; all-reduce
cost ``2a + (2/p) n b + ((p-1)/p) n g``): reduce-scatter by sending block j straight to rank j,
all-gather by sending one's own block straight to every peer.

How it maps onto the schedule format. A step may not write one destination range twice, and
there is no local reduction, so the ``p-1`` blocks that rank j must add into its block j arrive
in ``p-1`` steps: at step k (``k = 1 .. p-1``) the rank at position q sends block ``q+k`` to
the rank at ``q+k``. Each step uses a different link of every rank (rank q -> q+k), so on a
full mesh these ``p-1`` steps occupy disjoint links and a real one-shot overlaps them; the
schedule says so in ``Schedule.windows = [(0, p-1)]`` (a half-open step range timed as one
window). We chose this over a format change (several reductions into
one range per step, or local reductions from scratch slots) so the data plane, the validator
and the kernels stay as they are; summation at rank j runs in the order ``j-1, j-2, ...``.
The all-gather needs no such split: it is one step of ``p(p-1)`` transfers into disjoint
ranges. All-to-all is one step: rank r copies its block j to rank j's output block r, and its
own block r into its own output (a local copy, ``src == dst``: no link).

Steps and bytes sent per rank (``S`` bytes): reduce-scatter ``p-1`` steps (one concurrent
window), ``S (p-1)/p``; all-gather 1 step, ``S (p-1)/p``; all-reduce ``p`` steps,
``2 S (p-1)/p``; all-to-all 1 step, ``S (p-1)/p`` over links (plus the local block).

Gather and scatter the way nccl-tests and NCCL up to 2.27 run them (``src/gather.cu``,
``src/scatter.cu``: one ``ncclSend``/``ncclRecv`` per peer in a group): one step, every rank
sends its block to the root (the root receives ``S (p-1)/p`` as ``p-1`` messages), or the
root sends block j to rank j.
"""

import numpy as np

from ..schedule import AllPairs, Schedule
from ..timing.shapes import Sizes
from .base import blocks, chain_cost, check_root, register, register_phase
from .flat import flat_schedule, make_step


def rs_windows(p):
    """The reduce-scatter's ``p-1`` link-disjoint steps, one concurrent window (p > 2)."""
    return [(0, p - 1)] if p > 2 else []


def _cost(reduce):
    """The reduce-scatter's window (position q sends block q+k to q+k) and the all-gather's
    one step (block q to every peer): every peer at once, rank by rank where blocks differ."""

    def cost(model, ax, c, isz):
        p = ax.p
        if c % p and not model.can_vector(ax, p * (p - 1)):  # bounds (the blocks not cut)
            return model.every_peer_between(ax, c // p * isz, -(-c // p) * isz, reduce)
        blk = model.cut(c, p)
        if not isinstance(blk, np.ndarray):
            return model.every_peer(ax, blk * isz, reduce)
        vec = blk * isz  # one vector, rotated: the step is gathered at once
        return model.step([(ax, k, Sizes(vec, k if reduce else 0)) for k in range(1, p)],
                          reduce)

    return cost


@register_phase("reduce_scatter", "direct", n_steps=lambda s: s - 1, local_ok=True,
                windows=rs_windows, cost=_cost(True),
                flat="mesh one-shot reduce-scatter: p-1 link-disjoint steps")
def direct_reduce_scatter_phase(axis, seg_off, seg_len, data=True):
    """Direct reduce-scatter along ``axis``: ``p-1`` link-disjoint steps (one window), ``S
    (p-1)/p`` bytes sent per rank; at step k position q sends block q+k to q+k. Timing only on
    a whole line: the window as one compact :class:`~ubemu.schedule.AllPairs` (each rank
    receives its block from every other)."""
    s = axis.size
    if not data and _one_line(axis) and s > 1:  # the window as one compact step
        yield AllPairs(blocks(seg_off, seg_len, s, axis.pos)[1], reduce=True, to_receiver=True,
                       span=s - 1)
        return
    for k in range(1, s):
        off, ln = blocks(seg_off, seg_len, s, (axis.pos + k) % s)
        yield make_step(axis.ranks, axis.peer(k), ln, off, off, True, data)


@register_phase("all_gather", "direct", n_steps=lambda s: int(s > 1), local_ok=True,
                cost=_cost(False), flat="mesh one-shot all-gather: 1 step")
def direct_all_gather_phase(axis, seg_off, seg_len, data=True):
    """Direct all-gather along ``axis``: one step, every rank sends its block to every peer,
    ``S (p-1)/p`` bytes sent per rank."""
    s = axis.size
    if s < 2:
        return
    off, ln = blocks(seg_off, seg_len, s, axis.pos)
    if not data and _one_line(axis):
        yield AllPairs(ln)  # p(p-1) transfers in O(p) memory
        return
    rep = s - 1
    pos = axis.pos[:, None]
    shift = ((pos + np.arange(1, s, dtype=np.int64)) % s - pos) * axis.stride
    dst = (axis.ranks[:, None] + shift).ravel()
    yield make_step(np.repeat(axis.ranks, rep), dst, np.repeat(ln, rep), np.repeat(off, rep),
                    np.repeat(off, rep), False, data)


@register_phase("all_reduce", "direct", n_steps=lambda s: s - 1 + int(s > 1), local_ok=True,
                windows=rs_windows, cost=chain_cost(_cost(True), _cost(False)),
                flat="mesh one-shot: direct reduce-scatter (p-1 link-disjoint steps) + direct "
                     "all-gather")
def direct_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Direct all-reduce along ``axis``: direct reduce-scatter, then direct all-gather; ``p``
    steps (``p-1`` overlap on a full mesh), ``2 S (p-1)/p`` bytes sent per rank."""
    yield from direct_reduce_scatter_phase(axis, seg_off, seg_len, data)
    yield from direct_all_gather_phase(axis, seg_off, seg_len, data)


def _one_line(axis):
    """The axis is the whole communicator as one line, ranks ``0..p-1`` in order."""
    return axis.stride == 1 and axis.n_ranks == axis.size


def _alltoall_phase(count):
    def phase(axis, seg_off, seg_len, data=True):
        p = axis.size
        b = count // p
        if not data and _one_line(axis):
            yield AllPairs(np.full(p, b, np.int64))  # the own block: a local copy, no link
            return
        j = np.arange(p, dtype=np.int64)
        src = np.repeat(axis.ranks, p)
        dst = np.tile(j, p)  # a flat axis: the rank at position j is j
        src_off = np.tile(j * b, p)
        dst_off = count + src * b
        yield make_step(src, dst, b, src_off, dst_off, False, data)

    return phase


def _alltoall_cost(model, c, isz):
    ax = model.flat_axis()
    return model.every_peer(ax, (c // ax.p) * isz)  # the own block: a local copy


@register("alltoall", "direct", "mesh one-shot all-to-all: 1 step", cost=_alltoall_cost)
def direct_alltoall(comm, count, data=True):
    """Direct all-to-all: 1 step, ``S (p-1)/p`` bytes sent per rank over links.

    Block j of rank r goes to rank j's output block r; the own block is a local copy.
    """
    return flat_schedule(comm, count, "alltoall", "direct", (_alltoall_phase(count),), 1, data)


def _rooted_one_step(collective, comm, count, data, root):
    """The one step of direct gather (every block to the root) or scatter (from it)."""
    check_root(comm, root)
    n, b = comm.n, count // comm.n
    if collective == "gather":
        src = comm.senders[comm.senders != root]
        dst, blk = np.full_like(src, root), src
    else:
        dst = np.arange(n, dtype=np.int64) if root in comm.senders else np.zeros(0, np.int64)
        dst = dst[dst != root]
        src, blk = np.full_like(dst, root), dst
    step = make_step(src, dst, b, blk * b, blk * b, False, data)
    n_steps = int(n > 1)
    return Schedule(collective, "direct", n, count, None, lambda: iter([step] * n_steps),
                    n_steps, root=root, data=data)


@register("gather", "direct", "every rank sends its block to the root at once: 1 step",
          local_ok=True)
def direct_gather(comm, count, data=True, root=0):
    """Direct gather: 1 step, rank r sends ``S/p`` to the root, which receives ``p-1``
    messages, ``S (p-1)/p`` bytes."""
    return _rooted_one_step("gather", comm, count, data, root)


@register("scatter", "direct", "the root sends block j to rank j, all at once: 1 step",
          local_ok=True)
def direct_scatter(comm, count, data=True, root=0):
    """Direct scatter: 1 step, the root sends ``p-1`` messages of ``S/p``, ``S (p-1)/p``
    bytes."""
    return _rooted_one_step("scatter", comm, count, data, root)
