"""Bidirectional ring: every block split in two halves, one sent clockwise, one counter-clockwise.

Both rings advance in the same steps, so every link of the ring carries traffic in both
directions at once (HCCL's "double ring"; Patarasuk & Yuan, JPDC 2009, for the single ring).
On ``p`` ranks and ``S`` bytes: reduce-scatter and all-gather take ``p-1`` steps each and
all-reduce ``2(p-1)``, exactly as the ring, and every rank still sends ``S (p-1)/p`` bytes per
phase, but each direction of a link carries only half a block (``S/(2p)``) per step. Block
``b`` of ``L`` elements is cut into ``ceil(L/2)`` elements for the clockwise ring and
``floor(L/2)`` for the counter-clockwise one, so any ``count`` works.
"""

import numpy as np

from .base import blocks, chain_cost, register_phase
from .flat import make_step


def _halves(seg_off, seg_len, s, b_cw, b_ccw):
    """(offset, length) of the clockwise half of block ``b_cw`` and the other half of ``b_ccw``."""
    o1, l1 = blocks(seg_off, seg_len, s, b_cw)
    o2, l2 = blocks(seg_off, seg_len, s, b_ccw)
    h2 = (l2 + 1) // 2
    return o1, (l1 + 1) // 2, o2 + h2, l2 - h2


def _bidir_steps(axis, seg_off, seg_len, data, shift, reduce):
    s = axis.size
    src = np.concatenate([axis.ranks, axis.ranks])
    dst = np.concatenate([axis.peer(1), axis.peer(-1)])
    for k in range(s - 1):
        o1, n1, o2, n2 = _halves(seg_off, seg_len, s, (axis.pos - k - shift) % s,
                                 (axis.pos + k + shift) % s)
        off = np.concatenate([o1, o2])
        yield make_step(src, dst, np.concatenate([n1, n2]), off, off, reduce, data)


def _cost(reduce):
    """``p-1`` steps. Blocks of ``b`` or ``b+1`` elements have one half alike (``b`` even: the
    second, else the first), so every step is a rotation of the first: the same figures."""

    def cost(model, ax, c, isz):
        blk = model.cut(c, ax.p)
        msgs = [(ax, 1, model.sized((blk + 1) // 2, isz)), (ax, -1, model.sized(blk // 2, isz))]
        return (ax.p - 1) * model.step(msgs, reduce)

    return cost


@register_phase("reduce_scatter", "ring_bidir", n_steps=lambda s: s - 1, local_ok=True,
                cost=_cost(True), flat="bidirectional ring reduce-scatter, p-1 steps")
def bidir_reduce_scatter_phase(axis, seg_off, seg_len, data=True):
    """Two ring reduce-scatters in opposite directions on the two halves of every block:
    ``p-1`` steps, ``S (p-1)/p`` bytes sent per rank.

    At step k the rank at position q sends the first half of block ``q-k-1`` to ``q+1`` and the
    second half of block ``q+k+1`` to ``q-1``; both receivers add them in.
    """
    yield from _bidir_steps(axis, seg_off, seg_len, data, shift=1, reduce=True)


@register_phase("all_gather", "ring_bidir", n_steps=lambda s: s - 1, local_ok=True,
                cost=_cost(False), flat="bidirectional ring all-gather, p-1 steps")
def bidir_all_gather_phase(axis, seg_off, seg_len, data=True):
    """Two ring all-gathers in opposite directions on the two halves of every block:
    ``p-1`` steps, ``S (p-1)/p`` bytes sent per rank."""
    yield from _bidir_steps(axis, seg_off, seg_len, data, shift=0, reduce=False)


@register_phase("all_reduce", "ring_bidir", n_steps=lambda s: 2 * (s - 1), local_ok=True,
                cost=chain_cost(_cost(True), _cost(False)),
                flat="bidirectional ring: half of each block each way, 2(p-1) steps")
def bidir_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Bidirectional ring reduce-scatter, then all-gather: ``2(p-1)`` steps, ``2 S (p-1)/p``
    bytes sent per rank."""
    yield from bidir_reduce_scatter_phase(axis, seg_off, seg_len, data)
    yield from bidir_all_gather_phase(axis, seg_off, seg_len, data)
