"""NHR, HCCL's nonuniform hierarchical ring (the Ascend 950 default between servers).

Described in Huawei's CANN HCCL documentation (``coll_algo_intro``, "NHR") and source (the
``InsTempAllReduceNHR`` templates): a reduce-scatter and an all-gather of ``ceil(log2 p)``
steps each. Reduce-scatter step ``t`` (``t = 0, 1, ...``): every rank sends to the rank at ring
distance ``2^t`` behind it the blocks ``q - 2^t - j 2^(t+1)`` (mod p), ``j = 0 ..
ceil((p - 2^t) / 2^(t+1)) - 1``, and the receiver reduces them, so the share halves from step
to step and the heaviest step (about half the data) stays between ring neighbours. The
all-gather runs the same pattern backwards (distances ``..., 4, 2, 1``, copying).

On ``p`` ranks and ``S`` bytes every rank sends ``p-1`` blocks per phase, ``S (p-1)/p`` bytes,
in ``ceil(log2 p)`` steps: all-reduce costs ``2 ceil(log2 p)`` steps and ``2 S (p-1)/p``
bytes per rank, HCCL's ``2 ceil(log2 p) a + 2 ((p-1)/p) n b``.

Non-powers of two: no rank idles and nothing is folded; block indices wrap modulo ``p``, so
the steps carry unequal numbers of blocks (``p = 5``: 2, 1, 1 blocks; ``p = 12``: 6, 3, 1, 1)
and some wrap-around blocks are reduced by a rank at a distance that is not a power of two in
the original order. This is the "nonuniform" of the name. The blocks a rank sends in one step
are not contiguous: a data schedule has one transfer per block, a timing-only schedule
(``data=False``) one transfer per rank and step carrying the step's total.
"""

import numpy as np

from ..schedule import PartnerStep
from ..timing.shapes import Sizes
from .base import blocks, register_phase
from .flat import make_step


def nhr_steps(size):
    """Steps of one NHR phase: ``ceil(log2 size)``."""
    return (int(size) - 1).bit_length()


def _sent(seg_len, s, f, gap, nsl):
    """Elements in blocks ``(f - j*gap) mod s``, ``j < nsl``, without listing the blocks.

    ``nsl * gap < s + gap``, so the indices form two decreasing progressions: ``f - j*gap`` while
    ``j*gap <= f``, then ``f + s - j*gap``; a block is one element longer when its index is
    below ``seg_len % s`` (:func:`~ubemu.algorithms.base.blocks`).
    """
    base, extra = seg_len // s, seg_len % s
    n1 = np.minimum(f // gap + 1, nsl)

    def below(a, j0, j1):  # j in [j0, j1) with a - j*gap < extra
        return np.maximum(0, j1 - np.maximum(j0, (a - extra) // gap + 1))

    return nsl * base + below(f, 0, n1) + below(f + s, n1, nsl)


def _nhr_step(axis, seg_off, seg_len, data, dist, first, reduce):
    """Every rank sends the blocks ``first(pos) - j*2*dist`` (mod p) to ``q + dist`` (mod
    p); ``first`` maps the ranks' positions to their first block."""
    s, gap = axis.size, 2 * abs(dist)
    nsl = (s - 1 + abs(dist)) // gap
    if not data and axis.comm.local is None and axis.stride == 1 and axis.n_ranks == s:
        return _compact_step(axis, seg_len, dist, first, reduce, gap, nsl)
    dst = axis.peer(dist)
    if not data:
        return make_step(axis.ranks, dst, _sent(seg_len, s, first(axis.pos) % s, gap, nsl),
                         None, None, reduce, False)
    j = np.arange(nsl, dtype=np.int64)
    blk = (first(axis.pos)[:, None] - j * gap) % s
    off, ln = blocks(seg_off[:, None], seg_len[:, None], s, blk)
    src = np.repeat(axis.ranks, nsl)
    return make_step(src, np.repeat(dst, nsl), ln.ravel(), off.ravel(), off.ravel(), reduce,
                     True)


def _compact_step(axis, seg_len, dist, first, reduce, gap, nsl):
    """The timing-only step of a whole line: a shift by ``dist``, built in closed form; the
    sizes are known without a pass over the ranks when every block is equal, else summed on
    first use (no routing)."""
    s = axis.size

    def make():
        return axis.ranks, axis.peer(dist), _sent(seg_len, s, first(axis.pos) % s, gap, nsl)

    def summary():  # sizes of a line's ranks differ by at most nsl elements: counted
        n = _sent(seg_len, s, first(np.arange(s, dtype=np.int64)) % s, gap, nsl)
        both = ((n > 0) & (np.roll(n, dist) > 0)).any()
        low = int(n.min(initial=0))
        if int(n.max(initial=0)) - low > 4 * n.size:  # lines of different lengths: sorted
            values, counts = np.unique(n, return_counts=True)
            return values, counts, both
        counts = np.bincount(n - low)
        return np.arange(low, low + counts.size), counts, both

    count = int(seg_len[0]) if seg_len.size else 0
    if (seg_len == count).all() and count % s == 0:  # equal blocks: one size
        n = nsl * (count // s)
        return PartnerStep(s, make, reduce, shift=dist, sizes=([n], [s]), both=n > 0)
    return PartnerStep(s, make, reduce, shift=dist, summary=summary)


def _ask(model, ax, phases):
    """Count the shifts of the phases (``True``: the reduce-scatter's, ``False``: the
    all-gather's) against the routing budget before their sizes are worked out (O(p) a step
    where blocks differ): a cost past it stops at once."""
    for reduce in phases:
        for s in range(nhr_steps(ax.p)):
            model.ask(ax, [-(1 << s) if reduce else 1 << s])


def _all_reduce_cost(model, ax, c, isz):
    if c % ax.p:
        _ask(model, ax, (True, False))
    return _cost(True)(model, ax, c, isz) + _cost(False)(model, ax, c, isz)


def _cost(reduce):
    """``ceil(log2 p)`` steps; step t moves ``ceil((p - 2^t) / 2^(t+1))`` blocks to the rank
    ``2^t`` away (behind it in the reduce-scatter), rank by rank where blocks differ."""

    def cost(model, ax, c, isz):
        p = ax.p
        base, extra = divmod(c, p)
        by_rank = extra and (p & (p - 1) or model.can_vector(ax, p))
        pos = np.arange(p, dtype=np.int64) if by_rank else None
        if by_rank:
            _ask(model, ax, (reduce,))
        t = 0.0
        for s in range(nhr_steps(p)):
            d = 1 << s
            nsl = (p - 1 + d) // (2 * d)
            shift = -d if reduce else d
            if not extra:
                b = nsl * base * isz
            elif not by_rank:  # p = 2^k: a rank's blocks are one residue class mod 2d
                b = Sizes.between((nsl * base + extra // (2 * d)) * isz,
                                  (nsl * base + -(-extra // (2 * d))) * isz)
            else:
                b = Sizes(_sent(c, p, (pos - d) % p if reduce else pos, 2 * d, nsl) * isz)
            t += model.step([(ax, shift, b)], reduce)
        return t

    return cost


@register_phase("reduce_scatter", "nhr", n_steps=nhr_steps, local_ok=True, cost=_cost(True),
                flat="HCCL NHR reduce-scatter, ceil(log2 p) steps")
def nhr_reduce_scatter_phase(axis, seg_off, seg_len, data=True):
    """NHR reduce-scatter along ``axis``: ``ceil(log2 p)`` steps, ``S (p-1)/p`` bytes sent per
    rank; the rank at position q ends with block q."""
    for t in range(nhr_steps(axis.size)):
        d = 1 << t
        yield _nhr_step(axis, seg_off, seg_len, data, -d, lambda pos, d=d: pos - d, True)


@register_phase("all_gather", "nhr", n_steps=nhr_steps, local_ok=True, cost=_cost(False),
                flat="HCCL NHR all-gather, ceil(log2 p) steps")
def nhr_all_gather_phase(axis, seg_off, seg_len, data=True):
    """NHR all-gather along ``axis``: ``ceil(log2 p)`` steps, ``S (p-1)/p`` bytes sent per
    rank; the rank at position q starts with block q."""
    k = nhr_steps(axis.size)
    for t in range(k):
        d = 1 << (k - 1 - t)
        yield _nhr_step(axis, seg_off, seg_len, data, d, lambda pos: pos, False)


@register_phase("all_reduce", "nhr", n_steps=lambda s: 2 * nhr_steps(s), local_ok=True,
                cost=_all_reduce_cost,
                flat="HCCL nonuniform hierarchical ring, 2 ceil(log2 p) steps")
def nhr_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """NHR all-reduce along ``axis``: NHR reduce-scatter, then NHR all-gather;
    ``2 ceil(log2 p)`` steps, ``2 S (p-1)/p`` bytes sent per rank."""
    yield from nhr_reduce_scatter_phase(axis, seg_off, seg_len, data)
    yield from nhr_all_gather_phase(axis, seg_off, seg_len, data)
