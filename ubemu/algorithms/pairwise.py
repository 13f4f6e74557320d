"""Pairwise-exchange all-to-all (HCCL's Pairwise; Thakur, Rabenseifner & Gropp, IJHPCA 2005).

At step k (1..p-1) rank r sends block r+k to rank r+k and receives block r from rank r-k: one
partner per step, every link pattern a cyclic shift.
"""

import numpy as np

from ..schedule import Schedule
from .base import register
from .moves import moves_step, own_block_part


def _cost(model, c, isz):
    ax = model.flat_axis()
    b = (c // ax.p) * isz
    if model.counting and ax.p > 1:  # the work only: every step moves one block per rank
        return (ax.p - 1) * model.step([(ax, 1, b)])
    return sum(model.step([(ax, k, b)]) for k in range(1, ax.p))  # own block: a local copy


@register("alltoall", "pairwise", "pairwise exchange, p-1 steps, one partner per step",
          cost=_cost)
def pairwise_alltoall(comm, count, data=True):
    """Pairwise all-to-all: ``max(p-1, 1)`` steps, ``(p-1) S/p`` sent per rank.

    ``S`` is the size of a rank's input (``count`` elements, blocks of ``b = S/p``); step k
    carries ``b`` from every rank to the rank k further on; the own block is a local copy in
    step 1. Cost as in HCCL's pairwise formula (docs/sources.md, "Algorithm references").
    """
    p = comm.n
    b = count // p
    ranks = np.arange(p, dtype=np.int64)
    n_steps = max(p - 1, 1)
    own = own_block_part(ranks, count, b)

    def steps():
        for k in range(1, n_steps + 1):
            dst = (ranks + k) % p
            parts = [(ranks, dst, b, dst * b, count + ranks * b)] if k < p else []
            if k == 1:
                parts.append(own)
            yield moves_step(parts, p, data)

    return Schedule("alltoall", "pairwise", p, count, None, steps, n_steps=n_steps, data=data)
