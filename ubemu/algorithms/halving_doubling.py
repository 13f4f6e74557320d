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

from functools import cached_property

import numpy as np

from ..schedule import PartnerStep, even_runs
from ..timing.shapes import Sizes, Xor
from .base import blocks, cost_axis, register_phase
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

    @cached_property
    def v(self):
        pos, r = self.axis.pos, self.r
        return np.where(pos < 2 * r, pos // 2, pos - r)

    @cached_property
    def active(self):
        pos, r = self.axis.pos, self.r
        return (pos >= 2 * r) | (pos % 2 == 0)

    @property
    def odd(self):
        return ~self.active

    def even_count(self, seg_len):
        """The one segment length of a whole line without fold (the closed forms of a
        :class:`~ubemu.schedule.PartnerStep`), else None; decided once per phase."""
        if not hasattr(self, "_even"):
            self._even = None
            if self.r == 0 and seg_len.size and (seg_len == seg_len[0]).all():
                self._even = int(seg_len[0])
        return self._even

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


def compact_line(fold, seg_len, data):
    """Timing-only steps of a whole line are :class:`~ubemu.schedule.PartnerStep` s: built in
    closed form, their transfers made only if the timer needs them."""
    ax = fold.axis
    return (not data and ax.comm.local is None and ax.stride == 1
            and ax.n_ranks == ax.size and ax.size > 1)


def _xor_step(fold, seg_off, seg_len, data, mask, first, reduce, start):
    """Every active virtual rank v sends chunks ``first(v) .. first(v) + mask`` (``start``
    gives a chunk's element offset) to virtual rank ``v ^ mask``."""
    v = fold.v

    def make():
        c0 = first(v)
        a, b = start(seg_off, seg_len, c0), start(seg_off, seg_len, c0 + mask)
        return fold.axis.ranks, fold.rank_of(v ^ mask), np.where(fold.active, b - a, 0), a

    if not compact_line(fold, seg_len, data):
        src, dst, n, a = make()
        return make_step(src, dst, n, a, a, reduce, data)
    sizes = both = xor = live = None
    count = fold.even_count(seg_len)
    if count is not None:  # the runs of an even cut, in closed form
        values, runs = even_runs(count, fold.p2, mask)
        xor, sizes = mask, (values, runs * mask)  # each run is sent by ``mask`` ranks
        both = count // fold.p2 > 0 or mask < count % fold.p2

        def live():  # a run is empty where every chunk is: base 0 and from ``extra`` on
            base, extra = divmod(count, fold.p2)
            return np.ones(fold.p2, bool) if base else first(v) < extra

    return PartnerStep(fold.axis.size, lambda: make()[:3], reduce, xor=xor, sizes=sizes,
                       both=both, live=live)


def halving_steps(fold, seg_off, seg_len, data, start):
    """Recursive halving over the virtual ranks; virtual rank v ends with chunk v reduced.

    ``start(seg_off, seg_len, c)`` gives the element offset of chunk ``c`` (``c = p2`` is the
    segment's end). Step i hands the partner ``v ^ mask`` (``mask = p2 / 2^(i+1)``) its half:
    the ``mask`` chunks from ``(v ^ mask)`` with the bits below ``mask`` cleared.
    """
    for i in range(fold.k):
        mask = fold.p2 >> (i + 1)
        yield _xor_step(fold, seg_off, seg_len, data, mask,
                        lambda v, m=mask: (v ^ m) & ~(m - 1), True, start)


def doubling_steps(fold, seg_off, seg_len, data, start):
    """Recursive doubling over the virtual ranks: virtual rank v starts with chunk v; step i
    sends the ``2^i`` chunks it holds (from v with the bits below ``2^i`` cleared)."""
    for i in range(fold.k):
        mask = 1 << i
        yield _xor_step(fold, seg_off, seg_len, data, mask, lambda v, m=mask: v & ~(m - 1),
                        False, start)


def unfold_all(fold, seg_off, seg_len, data):
    """Even ranks of the first ``2r`` copy their whole segment to their odd partner."""
    ax = fold.axis
    n = np.where(fold.active & (ax.pos < 2 * fold.r), seg_len, 0)
    return make_step(ax.ranks, ax.peer(1), n, seg_off, seg_off, False, data)


def fold_pattern(model, ax, key):
    """Route once a step of the fold on ``ax``'s lines (``key``: ``("fold", 1)`` the odd
    ranks of the first 2r to their even partners, ``("fold", -1)`` back) for
    :meth:`~ubemu.timing.costmodel.CostModel.profiled_step`: one group of messages, in the
    step's order; ``("xor", m)``, the virtual ranks to ``v ^ m``, for
    :meth:`~ubemu.timing.costmodel.CostModel.run_step`: virtual rank v sends run ``(v ^ m)
    // m`` of ``m`` chunks in a halving, run ``v // m`` in a doubling."""
    from ..timing.groupcost import GroupProfile
    from ..timing.runcost import RunProfile

    fold = Fold(cost_axis(model, ax))
    ranks = fold.axis.ranks
    if key[0] == "fold":
        send = fold.odd if key[1] == 1 else fold.active & (fold.axis.pos < 2 * fold.r)
        dst = fold.axis.peer(-key[1])
    else:
        send, dst = fold.active, fold.rank_of(fold.v ^ key[1])
    npus = model.comm.npus
    src, dst = npus[ranks[send]], npus[dst[send]]
    if key[0] == "fold":
        return GroupProfile(model.topology, src, dst, np.zeros(src.size, np.int64), 1)
    m, v = key[1], fold.v[send]
    return RunProfile(model.topology, src, dst, {"halving": (v ^ m) // m, "doubling": v // m},
                      fold.p2 // m)


def line_pattern(model, mask):
    """Route once the XOR step ``mask`` of the whole group as one line of ``2^k`` ranks for
    :meth:`~ubemu.timing.costmodel.CostModel.run_step`: rank q sends run ``(q ^ mask) //
    mask`` of ``mask`` blocks in a halving, run ``q // mask`` in a doubling."""
    from ..timing.runcost import RunProfile

    q = np.arange(model.n, dtype=np.int64)
    npus = model.comm.npus
    return RunProfile(model.topology, npus, npus[q ^ mask],
                      {"halving": (q ^ mask) // mask, "doubling": q // mask}, model.n // mask)


def fold_step_cost(model, ax, key, size, reduce):
    """The step ``("fold", 1)`` or ``("fold", -1)`` of a fold (:func:`fold_pattern`),
    ``size`` bytes per message."""
    n = fold_sizes(ax.p)[1] * (model.n // ax.p)  # messages: r per line
    return model.profiled_step(("hd", id(ax)) + key, n,
                               lambda: fold_pattern(model, ax, key), (size,), reduce)


def fold_costs(model, ax, c, isz, xor_steps):
    """The all-reduce over a fold (p not a power of two): the odd ranks' segments folded in,
    the XOR steps over the virtual ranks (``xor_steps``: ``(mask, "halving" or "doubling",
    J, (bytes of runs below J, of run J, of the others), reduce)`` each), the result handed
    back; each step from one routing of its pattern."""
    model.on_lines(ax)  # lines of different sizes sharing links: bounds
    t = fold_step_cost(model, ax, ("fold", 1), c * isz, True)
    n = (ax.p - fold_sizes(ax.p)[1]) * (model.n // ax.p)  # messages: p2 per line
    for mask, kind, big_run, sizes, reduce in xor_steps:
        key = ("xor", mask)
        t += model.run_step(("hd", id(ax)) + key, n,
                            lambda key=key: fold_pattern(model, ax, key), kind, big_run, sizes,
                            reduce)
    return t + fold_step_cost(model, ax, ("fold", -1), c * isz, False)


def hd_cost(kind):
    """Closed form of the phase ``kind``: for ``p = 2^k`` step i of the halving moves ``p /
    2^(i+1)`` blocks to the XOR partner at that distance, the doubling ``2^i`` blocks (each
    rank its own run of blocks, rank by rank where they differ); the all-reduce on other
    ``p`` folds (:func:`fold_costs`; the reduce-scatter's and all-gather's folds have none)."""

    def cost(model, ax, c, isz):
        p = ax.p
        if kind == "all_reduce" and p & (p - 1):
            p2, _, k = fold_sizes(p)
            base, extra = divmod(c, p2)  # chunks below ``extra`` one element longer
            masks = [p2 >> (i + 1) for i in range(k)] + [1 << i for i in range(k)]
            return fold_costs(model, ax, c, isz, [
                (m, "halving" if i < k else "doubling", extra // m,
                 ((m * base + m) * isz, (m * base + extra % m) * isz, m * base * isz), i < k)
                for i, m in enumerate(masks)])
        k = model.pow2(p, "halving_doubling")
        base, extra = divmod(c, p)
        steps = ([(p >> (i + 1), "halving", True) for i in range(k)]  # the half the partner
                 if kind in ("reduce_scatter", "all_reduce") else [])  # keeps, then the run
        steps += ([(1 << i, "doubling", False) for i in range(k)]  # gathered so far
                  if kind in ("all_gather", "all_reduce") else [])
        t = 0.0
        if not model.is_axis(ax) and not model.recording:  # one line: runs of blocks
            for m, how, reduce in steps:
                t += model.run_step(("hd", "line", m), model.n,
                                    lambda m=m: line_pattern(model, m), how, extra // m,
                                    ((m * base + m) * isz, (m * base + extra % m) * isz,
                                     m * base * isz), reduce)
            return t
        q = np.arange(p, dtype=np.int64) if extra and model.can_vector(ax, p) else None

        def run(first, m):  # bytes of blocks first .. first+m-1 (blocks' rule), by position
            if not extra:
                return m * base * isz
            if q is None:  # only the extremes are read: the runs from 0 and from p - m
                return Sizes.between((m * base + max(0, extra - (p - m))) * isz,
                                     (m * base + min(m, extra)) * isz)
            first = first()
            return Sizes((m * base + np.minimum(first + m, extra) - np.minimum(first, extra))
                         * isz)

        for m, how, reduce in steps:
            first = ((lambda m=m: np.where(q & m, 0, m) + (q // (2 * m)) * (2 * m))
                     if how == "halving" else (lambda m=m: (q // m) * m))
            t += model.step([(ax, Xor(m), run(first, m))], reduce)
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
