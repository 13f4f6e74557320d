"""Recursive doubling: all-reduce exchanging the whole vector, all-gather doubling the blocks.

Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH",
IJHPCA 19(1), 2005 (sections 4.1 and 4.4).

For ``p = 2^k`` ranks and ``S`` bytes: all-reduce takes ``k`` steps, at step i every rank
exchanges its whole vector with the rank at distance ``2^i`` and both reduce, so each rank sends
``S log2 p`` bytes (latency-optimal, bandwidth-heavy: for small messages). All-gather takes
``k`` steps, the exchanged range doubling each step, ``S (p-1)/p`` bytes per rank (the same
schedule as ``halving_doubling``'s all-gather).

Non-powers of two use the fold of :mod:`ubemu.algorithms.halving_doubling`: with ``p2`` the
largest power of two below ``p`` and ``r = p - p2``, the odd rank of each of the first ``r``
pairs first hands its data to its even partner, ``p2`` virtual ranks run the power-of-two
algorithm, and the even rank finally copies the result back (2 extra steps).

nccl-tests' ``hypercube_perf`` (``src/hypercube.cu``) is the all-gather of this family in its
own order, nearest partner first: at step ``i`` rank ``r`` sends the ``2^i`` blocks starting
at ``r & ~(2^i - 1)`` to ``r ^ 2^i`` (power-of-two ranks only, as nccl-tests requires).
"""

from functools import partial

import numpy as np

from ..schedule import PartnerStep, Schedule
from ..timing.shapes import Xor
from .base import register, register_phase
from .flat import make_step
from .halving_doubling import (
    Fold,
    compact_line,
    fold_costs,
    fold_sizes,
    fold_step,
    half_steps,
    hd_all_gather_phase,
    hd_cost,
    unfold_all,
)


def rd_all_reduce_steps(size):
    """Steps of the recursive-doubling all-reduce: ``log2 p2``, plus 2 if ``r > 0``."""
    return half_steps(size)


def _rd_cost(model, ax, c, isz):
    if ax.p & (ax.p - 1):  # a fold: each step from one routing of its pattern
        k = fold_sizes(ax.p)[2]
        return fold_costs(model, ax, c, isz, [(1 << i, "doubling", ax.p, (c * isz,) * 3, True)
                                              for i in range(k)])
    k = model.pow2(ax.p, "recursive_doubling")
    return sum(model.step([(ax, Xor(1 << i), c * isz)], True) for i in range(k))


@register_phase("all_reduce", "recursive_doubling", n_steps=rd_all_reduce_steps, local_ok=True,
                cost=_rd_cost,
                flat="recursive doubling: whole vector exchanged, log2 p steps (+2 if not a "
                     "power of two)")
def rd_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Recursive-doubling all-reduce along ``axis``: whole segment exchanged each step.

    ``log2 p`` steps and ``S log2 p`` bytes sent per rank for ``p = 2^k``; otherwise
    ``log2 p2 + 2`` steps, the odd ranks of the first ``2r`` send ``S`` once, the virtual
    ranks ``S log2 p2`` (plus ``S`` for the even ranks of the first ``2r``).
    """
    fold = Fold(axis)
    if fold.r:
        yield fold_step(fold, seg_off, seg_len, data)
    compact = compact_line(fold, seg_len, data)
    count = fold.even_count(seg_len) if compact else None

    def make(mask):
        return axis.ranks, fold.rank_of(fold.v ^ mask), np.where(fold.active, seg_len, 0)

    for i in range(fold.k):
        mask = 1 << i
        if not compact:
            src, dst, n = make(mask)
            yield make_step(src, dst, n, seg_off, seg_off, True, data)
        elif count is None:  # a fold: no closed form
            yield PartnerStep(axis.size, partial(make, mask), True)
        else:
            yield PartnerStep(axis.size, partial(make, mask), True, xor=mask,
                              sizes=([count], [axis.size]), both=count > 0)
    if fold.r:
        yield unfold_all(fold, seg_off, seg_len, data)


register_phase("all_gather", "recursive_doubling", n_steps=half_steps, local_ok=True,
               cost=hd_cost("all_gather"),
               flat="recursive doubling all-gather, log2 p steps (+2 if not a power of two)"
               )(hd_all_gather_phase)


def _hypercube_check(comm):
    n = comm.n
    return None if n & (n - 1) == 0 else (f"needs a power-of-two rank count (nccl-tests "
                                          f"skips the others), got {n}")


def _hypercube_cost(model, count, itemsize):
    ax = model.flat_axis()
    k = model.pow2(ax.p, "hypercube")
    b = count // ax.p * itemsize
    return sum(model.step([(ax, Xor(1 << i), (b << i))]) for i in range(k))


@register("hypercube", "hypercube", "nccl-tests' exchange: partner r^2^i, 2^i blocks, log2 p "
          "steps", check=_hypercube_check, local_ok=True, cost=_hypercube_cost)
def hypercube(comm, count, data=True):
    """Hypercube all-gather: ``log2 p`` steps, ``S (p-1)/p`` bytes sent per rank (``2^i``
    blocks in step ``i``)."""
    n = comm.n
    b, levels = count // n, n.bit_length() - 1
    src = comm.senders

    def steps():
        for i in range(levels):
            start = (src & ~((1 << i) - 1)) * b
            yield make_step(src, src ^ (1 << i), b << i, start, start, False, data)

    return Schedule("hypercube", "hypercube", n, count, None, steps, n_steps=levels, data=data)
