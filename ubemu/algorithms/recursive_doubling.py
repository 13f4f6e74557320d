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
"""

import numpy as np

from .base import register, register_phase
from .flat import flat_schedule, make_step
from .halving_doubling import Fold, fold_step, half_steps, hd_all_gather_phase, unfold_all


def rd_all_reduce_steps(size):
    """Steps of the recursive-doubling all-reduce: ``log2 p2``, plus 2 if ``r > 0``."""
    return half_steps(size)


@register_phase("all_reduce", "recursive_doubling", n_steps=rd_all_reduce_steps, local_ok=True)
def rd_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """Recursive-doubling all-reduce along ``axis``: whole segment exchanged each step."""
    fold = Fold(axis)
    if fold.r:
        yield fold_step(fold, seg_off, seg_len, data)
    n = np.where(fold.active, seg_len, 0)
    for i in range(fold.k):
        yield make_step(axis.ranks, fold.rank_of(fold.v ^ (1 << i)), n, seg_off, seg_off,
                        True, data)
    if fold.r:
        yield unfold_all(fold, seg_off, seg_len, data)


register_phase("all_gather", "recursive_doubling", n_steps=half_steps,
               local_ok=True)(hd_all_gather_phase)


@register("all_reduce", "recursive_doubling",
          "recursive doubling: whole vector exchanged, log2 p steps (+2 if not a power of two)",
          local_ok=True)
def recursive_doubling_all_reduce(comm, count, data=True):
    """Recursive-doubling all-reduce.

    ``log2 p`` steps and ``S log2 p`` bytes sent per rank for ``p = 2^k``; otherwise
    ``log2 p2 + 2`` steps, the odd ranks of the first ``2r`` send ``S`` once, the virtual
    ranks ``S log2 p2`` (plus ``S`` for the even ranks of the first ``2r``).
    """
    return flat_schedule(comm, count, "all_reduce", "recursive_doubling",
                         (rd_all_reduce_phase,), rd_all_reduce_steps(comm.n), data)


@register("all_gather", "recursive_doubling",
          "recursive doubling all-gather, log2 p steps (+2 if not a power of two)", local_ok=True)
def recursive_doubling_all_gather(comm, count, data=True):
    """Recursive-doubling all-gather: ``log2 p`` steps, ``S (p-1)/p`` bytes per rank (p = 2^k).

    Otherwise ``log2 p2 + 2`` steps (the fold of the module docstring).
    """
    return flat_schedule(comm, count, "all_gather", "recursive_doubling",
                         (hd_all_gather_phase,), half_steps(comm.n), data)

