"""Ring reduce-scatter, all-gather and all-reduce (Patarasuk & Yuan, JPDC 2009).

On a ring of ``p`` ranks and ``S`` bytes: reduce-scatter and all-gather take ``p-1`` steps each,
every rank sending ``S/p`` bytes per step; all-reduce chains them (``2(p-1)`` steps,
``2 S (p-1)/p`` bytes sent per rank). Uneven splits (``count % p != 0``, even ``count < p``)
give blocks that differ by one element. Closed form: ``(p-1)`` steps, each sending every
block once (rank by rank where they differ: :class:`~ubemu.timing.costmodel.Sizes`).

The flat rings take ``channels=k`` (:mod:`.channels`): k rings at once, ring c visiting the
ranks in the order :func:`~.channels.rail_orders` gives. All-reduce: ring c all-reduces
channel c's share of the buffer (:func:`~.channels.split`). Reduce-scatter and all-gather:
ring c moves share c of every rank's block, so the blocks land where the collective wants
them (the rank at ring position q holds block ``order[q]``).
"""

import numpy as np

from ..schedule import ShiftSteps, Step
from ..timing.shapes import Cost
from .base import blocks, register_phase
from .channels import check_channels, places, rail_orders, split
from .flat import make_step


def _ring_steps(axis, seg_off, seg_len, data, direction, first_shift, reduce):
    """Ring steps along ``axis``: at step k the rank at position q sends block
    ``q - direction * (k + first_shift)`` of its segment to its neighbour at ``q + direction``.
    """
    s = axis.size
    nxt = axis.peer(direction)
    seg_len = np.ascontiguousarray(np.broadcast_to(seg_len, axis.pos.shape), np.int64)
    seg_off = np.ascontiguousarray(np.broadcast_to(seg_off, axis.pos.shape), np.int64)
    local = axis.comm.local is not None  # per-process step structure must not differ
    if not data and not local and s > 1 and not np.any(seg_len % s):  # equal blocks
        yield Step.make(axis.ranks, nxt, seg_len // s, reduce=reduce, repeat=s - 1)
        return
    if not data and not local and seg_len.size and (seg_len == seg_len[0]).all() \
            and ShiftSteps.fits(s, int(seg_len[0])):  # one pattern, two block sizes
        yield ShiftSteps(axis.ranks, nxt, axis.pos, s, seg_len[0] // s, seg_len[0] % s,
                         first_shift, direction, reduce)
        return
    for k in range(s - 1):
        off, ln = shifted_blocks(axis.pos, direction * (k + first_shift), s, seg_off, seg_len)
        yield make_step(axis.ranks, nxt, ln, off, off, reduce, data)


#: Lines of fewer ranks cut their blocks with NumPy (:func:`blocks`), larger ones with the
#: kernel of the same rule (one pass instead of several).
KERNEL_MIN_RANKS = 4096


def shifted_blocks(pos, shift, parts, seg_off, seg_len):
    """(offset, length) of block ``(pos - shift) mod parts`` of every rank's segment (fresh
    arrays: steps may be kept)."""
    if pos.size < KERNEL_MIN_RANKS:
        return blocks(seg_off, seg_len, parts, (pos - shift) % parts)
    from ..kernels.blocks import shifted_blocks as kernel

    off, ln = np.empty_like(seg_off), np.empty_like(seg_len)
    kernel(pos, shift, parts, seg_off, seg_len, off, ln)
    return off, ln


def _channel_steps(axis, seg_off, seg_len, data, orders, first_shift, reduce, per_block):
    """Ring steps of ``len(orders)`` channels on a flat ``axis`` (every rank on one segment),
    channel c on ring ``orders[c]``: share c of the segment (``per_block`` False: all-reduce)
    or of every block (True: reduce-scatter, all-gather)."""
    s, k = axis.size, len(orders)
    length = int(np.broadcast_to(seg_len, axis.pos.shape)[0]) if axis.pos.size else 0
    start = int(np.broadcast_to(seg_off, axis.pos.shape)[0]) if axis.pos.size else 0
    inv = places(orders)
    q = inv[:, axis.ranks]  # (k, senders): each sender's place on each ring
    ring = np.arange(k, dtype=np.int64)[:, None]
    src = np.broadcast_to(axis.ranks, q.shape)
    dst = orders[ring, (q + 1) % s]
    local = axis.comm.local is not None
    if per_block:
        share = np.array([blocks(start, length, s, 0)[1] if length else 0], np.int64)
        even = length % s == 0
    else:
        offs, lens = split(length, k, s)
        k = lens.size
        q, src, dst, ring = q[:k], src[:k], dst[:k], ring[:k]
        even = not np.any(lens % s)
    if not data and not local and s > 1 and even:  # every block of one size per channel
        n = (blocks(0, share[0], k, ring)[1] if per_block else lens[:, None] // s)
        yield Step.make(src.ravel(), dst.ravel(), np.broadcast_to(n, q.shape).ravel(),
                        reduce=reduce, repeat=s - 1, channels=k)
        return
    if not data and not local and not per_block and ShiftSteps.fits(s, int(lens[-1])):
        steady = Step.make(src[:-1].ravel(), dst[:-1].ravel(),
                           np.broadcast_to(lens[:-1, None] // s, q[:-1].shape).ravel(),
                           reduce=reduce)
        yield ShiftSteps(src[-1], dst[-1], q[-1], s, lens[-1] // s, lens[-1] % s,
                         first_shift, 1, reduce, steady, k)
        return
    for j in range(s - 1):
        pos = (q - j - first_shift) % s
        if per_block:
            off, ln = blocks(*blocks(start, length, s, orders[ring, pos]), k, ring)
        else:
            off, ln = blocks(offs[:, None], lens[:, None], s, pos)
        yield make_step(src.ravel(), dst.ravel(), ln.ravel(), off.ravel(), off.ravel(),
                        reduce, data, k)


def _flat_setup(comm, channels=1):
    """The flat rings' options: ``channels`` rail-aligned rings (one: the plain ring)."""
    k = check_channels(channels)
    if k == 1:
        return {}, {}
    return {"orders": rail_orders(comm.dims, k)}, {"channels": k}


def _phase_cost(model, ax, c, isz, reduce, direction=1):
    """``p-1`` steps, each a rotation of the first (every block sent once to the next rank:
    the same figures); counting the work, a large ring's steps are routed once
    (:class:`~ubemu.schedule.ShiftSteps`: the pattern, twice)."""
    step = model.step([(ax, direction, model.sized(model.cut(c, ax.p), isz))], reduce)
    if model.counting and ShiftSteps.fits(ax.p, c):
        return _routed_once(step, ax.p - 1)
    return (ax.p - 1) * step


def _routed_once(step, k):
    """``k`` rotations of ``step`` whose pattern is routed once (twice the first step's
    transfers), each applied in a data run."""
    steps = k * step
    return Cost(float(steps), 2 * step.transfers, step.peak, step.held, k * step.transfers,
                hidden=steps.hidden)


def _channel_costs(model, ax, c, isz, channels, per_block, reduce):
    """The first step of the flat channels' rings as ``(msgs, channels with data)``: every rank
    sends one message per channel, its bytes rank by rank (module docstring); the other steps
    are rotations of it."""
    k, p = check_channels(channels), ax.p
    orders = rail_orders(model.dims, k)
    key = ("rails", tuple(model.dims), k)  # both phases of an all-reduce: the same rings
    if model.is_axis(ax):  # one level: ring c visits c, c-1, ...: every channel sends to r-1
        partners = [-1] * k
    else:
        partners = model.memo(key + ("partners",),
                              lambda: [model.ring_partner(order) for order in orders])
    place = model.memo(key + ("places",), lambda: places(orders))  # each rank's ring places
    first = 1 if reduce else 0  # the block sent first: the reduce-scatter's is the next
    if per_block:
        blk = np.broadcast_to(model.cut(c, p), (p,))
        whole = blk[orders[np.arange(k)[:, None], (place - first) % p]]  # (k, ranks)
        sizes = whole // k + (np.arange(k)[:, None] < whole % k)
    else:
        _, lens = split(c, k, p)
        k = lens.size
        blk = np.stack([np.broadcast_to(model.cut(int(n), p), (p,)) for n in lens])
        sizes = np.take_along_axis(blk, (place[:k] - first) % p, axis=1)
    return [(ax, q, model.sized(np.asarray(row, np.int64), isz))
            for q, row in zip(partners, sizes)], k


def _cost(reduce, per_block):
    def cost(model, ax, c, isz, direction=1, channels=1):
        if channels == 1:
            return _phase_cost(model, ax, c, isz, reduce, direction)
        msgs, k = _channel_costs(model, ax, c, isz, channels, per_block, reduce)
        step = model.step(msgs, reduce, engines=k)
        last = int(split(c, k, ax.p)[1][-1])
        if model.counting and not per_block and ShiftSteps.fits(ax.p, last):
            return _routed_once(step, ax.p - 1)
        return (ax.p - 1) * step

    return cost


_rs_cost, _ag_cost = _cost(True, True), _cost(False, True)


def _ar_cost(model, ax, c, isz, direction=1, channels=1):
    """Reduce-scatter then all-gather; flat channels each on their share of the buffer."""
    if channels == 1:
        return _rs_cost(model, ax, c, isz, direction) + _ag_cost(model, ax, c, isz, direction)
    rs, ag = _cost(True, False), _cost(False, False)
    return rs(model, ax, c, isz, channels=channels) + ag(model, ax, c, isz, channels=channels)


@register_phase("reduce_scatter", "ring", n_steps=lambda s: s - 1, local_ok=True,
                cost=_rs_cost, flat="ring reduce-scatter, p-1 steps", flat_setup=_flat_setup)
def ring_reduce_scatter_phase(axis, seg_off, seg_len, data=True, direction=1, orders=None):
    """Ring reduce-scatter along ``axis``: ``p-1`` steps, ``S (p-1)/p`` bytes sent per rank.

    At step k the rank at position q sends block ``q - direction*(k+1)`` to its neighbour at
    ``q + direction`` and the receiver adds it in; the rank at position q ends with block q.
    ``orders``: the flat channels' rings (module docstring).
    """
    if orders is not None:
        return _channel_steps(axis, seg_off, seg_len, data, orders, 1, True, True)
    return _ring_steps(axis, seg_off, seg_len, data, direction, 1, True)


@register_phase("all_gather", "ring", n_steps=lambda s: s - 1, local_ok=True, cost=_ag_cost,
                flat="ring all-gather, p-1 steps", flat_setup=_flat_setup)
def ring_all_gather_phase(axis, seg_off, seg_len, data=True, direction=1, orders=None):
    """Ring all-gather along ``axis``: ``p-1`` steps, ``S (p-1)/p`` bytes sent per rank; the
    rank at position q starts with block q."""
    if orders is not None:
        return _channel_steps(axis, seg_off, seg_len, data, orders, 0, False, True)
    return _ring_steps(axis, seg_off, seg_len, data, direction, 0, False)


@register_phase("all_reduce", "ring", n_steps=lambda s: 2 * (s - 1), local_ok=True,
                cost=_ar_cost, flat_setup=_flat_setup,
                flat="ring reduce-scatter then ring all-gather, 2(p-1) steps")
def ring_all_reduce_phase(axis, seg_off, seg_len, data=True, direction=1, orders=None):
    """Ring all-reduce along ``axis``: reduce-scatter then all-gather, ``2(p-1)`` steps,
    ``2 S (p-1)/p`` bytes sent per rank."""
    if orders is not None:
        yield from _channel_steps(axis, seg_off, seg_len, data, orders, 1, True, False)
        yield from _channel_steps(axis, seg_off, seg_len, data, orders, 0, False, False)
        return
    yield from ring_reduce_scatter_phase(axis, seg_off, seg_len, data, direction)
    yield from ring_all_gather_phase(axis, seg_off, seg_len, data, direction)
