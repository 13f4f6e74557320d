"""Ring reduce-scatter, all-gather and all-reduce (Patarasuk & Yuan, JPDC 2009).

On a ring of ``p`` ranks and ``S`` bytes: reduce-scatter and all-gather take ``p-1`` steps each,
every rank sending ``S/p`` bytes per step; all-reduce chains them (``2(p-1)`` steps,
``2 S (p-1)/p`` bytes sent per rank). Uneven splits (``count % p != 0``, even ``count < p``)
give blocks that differ by one element. Closed form: ``(p-1)`` steps, each sending every
block once (rank by rank where they differ: :class:`~ubemu.timing.costmodel.Sizes`).
"""

import numpy as np

from ..schedule import ShiftSteps, Step
from ..timing.shapes import Cost
from .base import blocks, chain_cost, register_phase
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


def _phase_cost(model, ax, c, isz, reduce):
    """``p-1`` steps, each a rotation of the first (every block sent once to the next rank:
    the same figures); counting the work, a large ring's steps are routed once
    (:class:`~ubemu.schedule.ShiftSteps`: the pattern, twice)."""
    step = model.step([(ax, 1, model.sized(model.cut(c, ax.p), isz))], reduce)
    if model.counting and ShiftSteps.fits(ax.p, c):
        return Cost(float(step) * (ax.p - 1), 2 * step.transfers, step.peak, step.held,
                    (ax.p - 1) * step.transfers)
    return (ax.p - 1) * step


def _rs_cost(model, ax, c, isz):
    return _phase_cost(model, ax, c, isz, True)


def _ag_cost(model, ax, c, isz):
    return _phase_cost(model, ax, c, isz, False)


@register_phase("reduce_scatter", "ring", n_steps=lambda s: s - 1, local_ok=True,
                cost=_rs_cost, flat="ring reduce-scatter, p-1 steps")
def ring_reduce_scatter_phase(axis, seg_off, seg_len, data=True, direction=1):
    """Ring reduce-scatter along ``axis``: ``p-1`` steps, ``S (p-1)/p`` bytes sent per rank.

    At step k the rank at position q sends block ``q - direction*(k+1)`` to its neighbour at
    ``q + direction`` and the receiver adds it in; the rank at position q ends with block q.
    """
    return _ring_steps(axis, seg_off, seg_len, data, direction, 1, True)


@register_phase("all_gather", "ring", n_steps=lambda s: s - 1, local_ok=True, cost=_ag_cost,
                flat="ring all-gather, p-1 steps")
def ring_all_gather_phase(axis, seg_off, seg_len, data=True, direction=1):
    """Ring all-gather along ``axis``: ``p-1`` steps, ``S (p-1)/p`` bytes sent per rank; the
    rank at position q starts with block q."""
    return _ring_steps(axis, seg_off, seg_len, data, direction, 0, False)


@register_phase("all_reduce", "ring", n_steps=lambda s: 2 * (s - 1), local_ok=True,
                cost=chain_cost(_rs_cost, _ag_cost),
                flat="ring reduce-scatter then ring all-gather, 2(p-1) steps")
def ring_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Ring all-reduce along ``axis``: reduce-scatter then all-gather, ``2(p-1)`` steps,
    ``2 S (p-1)/p`` bytes sent per rank."""
    yield from ring_reduce_scatter_phase(axis, seg_off, seg_len, data)
    yield from ring_all_gather_phase(axis, seg_off, seg_len, data)
