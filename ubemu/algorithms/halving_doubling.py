"""Rabenseifner's all-reduce: recursive-halving reduce-scatter + recursive-doubling all-gather.

R. Rabenseifner, "Optimization of collective reduction operations", ICCS 2004; R. Thakur,
R. Rabenseifner, W. Gropp, "Optimization of collective communication operations in MPICH",
IJHPCA 19(1), 2005.

For ``p = 2^k`` ranks and ``S`` bytes: the reduce-scatter takes ``k`` steps (at step i a rank
exchanges half of its current range with the partner at distance ``p/2^(i+1)``), the all-gather
``k`` steps (distances ``1, 2, 4, ...``); each phase sends ``S (p-1)/p`` bytes per rank.

Non-powers of two (Thakur et al. 2005, section 4.4): with ``p2`` the largest power of two below
``p`` and ``r = p - p2``, the first ``2r`` ranks pair up. Before the power-of-two part the odd
rank of each pair folds its data into the even one (one extra step); the even ranks and the
ranks ``>= 2r`` run the algorithm as ``p2`` virtual ranks; afterwards the even rank hands the
result to its odd partner (one more step). Reduce-scatter and all-gather keep the ``p`` blocks
of the contract: virtual rank ``v < r`` owns blocks ``2v, 2v+1``, virtual rank ``v >= r`` owns
block ``v + r``; the all-reduce splits the data into ``p2`` equal chunks instead.
"""

import numpy as np

from ..timing.shapes import Sizes, Xor
from .base import blocks, register_phase
from .flat import make_step


def fold_sizes(size):
    """``(p2, r, k)``: largest power of two ``p2 <= size``, ``r = size - p2``, ``k = log2 p2``."""
    k = int(size).bit_length() - 1
    return 1 << k, size - (1 << k), k


def half_steps(size):
    """Steps of the reduce-scatter or all-gather phase: ``log2 p2``, plus 2 if ``r > 0``."""
    p2, r, k = fold_sizes(size)
    return k + 2 * (r > 0)


def all_reduce_steps(size):
    """Steps of the all-reduce phase: ``2 log2 p2``, plus 2 if ``r > 0``."""
    p2, r, k = fold_sizes(size)
    return 2 * k + 2 * (r > 0)


class Fold:
    """Virtual power-of-two ranks of an axis (the non-power-of-two treatment above).

    Attributes
    ----------
    v : int64 array (n,)
        Virtual rank of each rank (meaningful where ``active``).
    active : bool array (n,)
        Ranks taking part in the power-of-two part (even ranks of the first ``2r`` and all
        ranks from ``2r`` on).
    """

    def __init__(self, axis):
        self.axis = axis
        self.p2, self.r, self.k = fold_sizes(axis.size)
        pos, r = axis.pos, self.r
        self.v = np.where(pos < 2 * r, pos // 2, pos - r)
        self.active = (pos >= 2 * r) | (pos % 2 == 0)
        self.odd = ~self.active

    def rank_of(self, v):
        """Rank (on each rank's line) of virtual rank ``v``."""
        return self.axis.rank_at(np.where(v < self.r, 2 * v, v + self.r))

    def contract_start(self, seg_off, seg_len, c):
        """Element offset of virtual chunk ``c`` when chunks are the contract's blocks."""
        return blocks(seg_off, seg_len, self.axis.size, c + np.minimum(c, self.r))[0]

    def even_start(self, seg_off, seg_len, c):
        """Element offset of chunk ``c`` of ``p2`` equal chunks."""
        return blocks(seg_off, seg_len, self.p2, c)[0]


def fold_step(fold, seg_off, seg_len, data, reduce=True):
    """Odd ranks of the first ``2r`` send their whole segment to their even partner."""
    ax = fold.axis
    n = np.where(fold.odd, seg_len, 0)
    return make_step(ax.ranks, ax.peer(-1), n, seg_off, seg_off, reduce, data)


def halving_steps(fold, seg_off, seg_len, data, start):
    """Recursive halving over the virtual ranks; virtual rank v ends with chunk v reduced.

    ``start(seg_off, seg_len, c)`` gives the element offset of chunk ``c`` (``c = p2`` is the
    segment's end).
    """
    v = fold.v
    for i in range(fold.k):
        mask = fold.p2 >> (i + 1)
        lo = (v // (2 * mask)) * (2 * mask)
        upper = (v & mask) != 0
        c0 = np.where(upper, lo, lo + mask)  # the half handed to the partner
        a, b = start(seg_off, seg_len, c0), start(seg_off, seg_len, c0 + mask)
        n = np.where(fold.active, b - a, 0)
        yield make_step(fold.axis.ranks, fold.rank_of(v ^ mask), n, a, a, True, data)


def doubling_steps(fold, seg_off, seg_len, data, start):
    """Recursive doubling over the virtual ranks: virtual rank v starts with chunk v."""
    v = fold.v
    for i in range(fold.k):
        mask = 1 << i
        lo = (v // mask) * mask
        a, b = start(seg_off, seg_len, lo), start(seg_off, seg_len, lo + mask)
        n = np.where(fold.active, b - a, 0)
        yield make_step(fold.axis.ranks, fold.rank_of(v ^ mask), n, a, a, False, data)


def unfold_all(fold, seg_off, seg_len, data):
    """Even ranks of the first ``2r`` copy their whole segment to their odd partner."""
    ax = fold.axis
    n = np.where(fold.active & (ax.pos < 2 * fold.r), seg_len, 0)
    return make_step(ax.ranks, ax.peer(1), n, seg_off, seg_off, False, data)


def hd_cost(kind):
    """Closed form of the phase ``kind`` for ``p = 2^k`` (the fold steps have none): step i of
    the halving moves ``p / 2^(i+1)`` blocks to the XOR partner at that distance, the
    doubling ``2^i`` blocks (each rank its own run of blocks, rank by rank where they differ)."""

    def cost(model, ax, c, isz):
        p = ax.p
        k = model.pow2(p, "halving_doubling")
        base, extra = divmod(c, p)
        q = np.arange(p, dtype=np.int64)

        def run(first, m):  # bytes of blocks first .. first+m-1 (blocks' rule), by position
            if not extra:
                return m * base * isz
            return Sizes((m * base + np.minimum(first + m, extra) - np.minimum(first, extra))
                         * isz)

        t = 0.0
        if kind in ("reduce_scatter", "all_reduce"):
            for i in range(k):  # halving_steps: the half the partner keeps
                m = p >> (i + 1)
                lo = (q // (2 * m)) * (2 * m)
                t += model.step([(ax, Xor(m), run(np.where(q & m, lo, lo + m), m))], True)
        if kind in ("all_gather", "all_reduce"):
            for i in range(k):  # doubling_steps: the run gathered so far
                m = 1 << i
                t += model.step([(ax, Xor(m), run((q // m) * m, m))], False)
        return t

    return cost


def _phase(kind, n_steps, flat):
    """Register a phase of this module (and its flat algorithm)."""
    return register_phase(kind, "halving_doubling", n_steps=n_steps, local_ok=True,
                          cost=hd_cost(kind), flat=flat)


@_phase("reduce_scatter", half_steps, "recursive-halving reduce-scatter, log2 p steps (+2 if p "
                                      "is not a power of two)")
def hd_reduce_scatter_phase(axis, seg_off, seg_len, data=True):
    """Recursive-halving reduce-scatter; rank at position q ends with block q.

    ``log2 p`` steps and ``S (p-1)/p`` bytes sent per rank for ``p = 2^k``; otherwise
    ``log2 p2 + 2`` steps (fold, halving over blocks grouped two per pair, hand-back).
    """
    fold = Fold(axis)
    if fold.r:
        yield fold_step(fold, seg_off, seg_len, data)
    yield from halving_steps(fold, seg_off, seg_len, data, fold.contract_start)
    if fold.r:
        # even rank 2v holds blocks 2v and 2v+1 reduced; block 2v+1 goes to its partner
        o, n = blocks(seg_off, seg_len, axis.size, axis.pos + 1)
        n = np.where(fold.active & (axis.pos < 2 * fold.r), n, 0)
        yield make_step(axis.ranks, axis.peer(1), n, o, o, False, data)


@_phase("all_gather", half_steps, "recursive-doubling all-gather, log2 p steps (+2 if p is not "
                                  "a power of two)")
def hd_all_gather_phase(axis, seg_off, seg_len, data=True):
    """Recursive-doubling all-gather; rank at position q starts with block q.

    ``log2 p`` steps and ``S (p-1)/p`` bytes sent per rank for ``p = 2^k``; otherwise
    ``log2 p2 + 2`` steps.
    """
    fold = Fold(axis)
    if fold.r:
        o, n = blocks(seg_off, seg_len, axis.size, axis.pos)
        yield make_step(axis.ranks, axis.peer(-1), np.where(fold.odd, n, 0), o, o, False, data)
    yield from doubling_steps(fold, seg_off, seg_len, data, fold.contract_start)
    if fold.r:
        # even rank 2v sends everything but its partner's own block 2v+1
        o, n = blocks(seg_off, seg_len, axis.size, axis.pos + 1)
        send = fold.active & (axis.pos < 2 * fold.r)
        peer = axis.peer(1)
        src = np.concatenate([axis.ranks, axis.ranks])
        dst = np.concatenate([peer, peer])
        ln = np.concatenate([np.where(send, o - seg_off, 0),
                             np.where(send, seg_off + seg_len - o - n, 0)])
        off = np.concatenate([seg_off, o + n])
        yield make_step(src, dst, ln, off, off, False, data)


@_phase("all_reduce", all_reduce_steps, "Rabenseifner: recursive-halving reduce-scatter + "
                                        "recursive-doubling all-gather")
def hd_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Rabenseifner all-reduce on ``p2`` equal chunks, with the fold for non-powers of two.

    ``2 log2 p`` steps and ``2 S (p-1)/p`` bytes sent per rank for ``p = 2^k``; otherwise
    ``2 log2 p2 + 2`` steps, the folding odd ranks send ``S`` and the others
    ``2 S (p2-1)/p2`` (plus ``S`` for the even ranks of the first ``2r``).
    """
    fold = Fold(axis)
    if fold.r:
        yield fold_step(fold, seg_off, seg_len, data)
    yield from halving_steps(fold, seg_off, seg_len, data, fold.even_start)
    yield from doubling_steps(fold, seg_off, seg_len, data, fold.even_start)
    if fold.r:
        yield unfold_all(fold, seg_off, seg_len, data)
