"""Bruck all-gather and all-to-all (Bruck, Ho, Kipnis, Upfal & Weathersby, IEEE TPDS 1997).

Both take ``ceil(log2 p)`` steps for any ``p``; at step k every rank exchanges with the ranks
``2^k`` away. The textbook versions keep blocks in a rotated order and rotate locally at the
end; the Step format has no local operation, so here every block is stored at its final
*absolute* position as it arrives and no rotation is needed (see each builder).
"""

import numpy as np

from ..schedule import PartnerStep, Schedule
from .base import register
from .moves import moves_step, own_block_part


def log2_ceil(p):
    """``ceil(log2 p)`` for ``p >= 1``."""
    return int(p - 1).bit_length()


def with_bit(p, k):
    """Indices ``1..p-1`` with bit k set (the blocks Bruck's all-to-all moves at step k):
    whole periods of ``2^(k+1)``, then the partial one."""
    return ((p >> (k + 1)) << k) + max(0, (p & ((2 << k) - 1)) - (1 << k))


def uniform_shift(p, shift, n):
    """Timing only: every rank sends ``n`` elements to the rank ``shift`` further on."""
    def make():
        ranks = np.arange(p, dtype=np.int64)
        return ranks, (ranks + shift) % p, np.full(p, n, np.int64)

    return PartnerStep(p, make, shift=shift, sizes=([n], [p]), both=n > 0)


def _all_gather_cost(model, c, isz):
    ax = model.flat_axis()
    p = ax.p
    b = (c // p) * isz
    return sum(model.step([(ax, -(1 << k), min(1 << k, p - (1 << k)) * b)])
               for k in range(log2_ceil(p)))


def _alltoall_cost(model, c, isz):
    ax = model.flat_axis()
    p = ax.p
    b = (c // p) * isz
    t = 0.0
    for k in range(log2_ceil(p)):
        t += model.step([(ax, 1 << k, with_bit(p, k) * b)])
    return t


@register("all_gather", "bruck", "Bruck concatenation, ceil(log2 p) steps, any p",
          cost=_all_gather_cost)
def bruck_all_gather(comm, count, data=True):
    """Bruck all-gather: ``ceil(log2 p)`` steps, ``(p-1) S/p`` bytes sent per rank.

    ``S`` is the gathered size. Before step k rank r holds blocks ``r .. r+2^k-1`` (cyclic); it
    sends the first ``min(2^k, p-2^k)`` of them to rank ``r - 2^k``. Blocks are kept at their
    absolute offsets ``j*b`` (a cyclic run is at most two transfers), so after the last step
    every rank holds blocks ``0..p-1`` in rank order and the final rotation of the textbook
    algorithm is not needed.
    """
    p = comm.n
    b = count // p
    ranks = np.arange(p, dtype=np.int64)
    n_steps = log2_ceil(p)

    def steps():
        for k in range(n_steps):
            dist = 1 << k
            m = min(dist, p - dist)
            if not data:  # every rank sends its m blocks to one rank: one message
                yield uniform_shift(p, -dist, m * b)
                continue
            dst = (ranks - dist) % p
            first = np.minimum(m, p - ranks)  # blocks before the wrap at p
            parts = [(ranks, dst, first * b, ranks * b, ranks * b),
                     (ranks, dst, (m - first) * b, 0, 0)]
            yield moves_step(parts, p, data)

    return Schedule("all_gather", "bruck", p, count, None, steps, n_steps=n_steps, data=data)


@register("alltoall", "bruck", "Bruck index algorithm, ceil(log2 p) steps, any p",
          cost=_alltoall_cost)
def bruck_alltoall(comm, count, data=True):
    """Bruck all-to-all: ``max(ceil(log2 p), 1)`` steps; ``b sum_{i<p} popcount(i)`` sent.

    ``b = S/p`` is one block. The block from s to j has index ``i = (j - s) mod p`` and moves
    ``+2^k`` at each step k whose bit is set in i, so every block reaches its destination in
    ``ceil(log2 p)`` steps. On each rank the block of index i sits at offset
    ``((r + i) mod p) * b`` of the input area (the input layout itself, so no initial rotation),
    the slot a block of index i leaves in a step is refilled by the incoming block of the same
    index, and a block's last hop writes straight to its output place ``count + s*b`` (so no
    final rotation). The rank's own block (i = 0) is a local copy in step 1.
    """
    p = comm.n
    b = count // p
    ranks = np.arange(p, dtype=np.int64)
    n_log = log2_ceil(p)
    n_steps = max(n_log, 1)
    own = own_block_part(ranks, count, b)
    index = np.arange(1, p, dtype=np.int64)

    def bruck_parts(k):
        dist = 1 << k
        idx = index[(index >> k) & 1 == 1]
        dst = (ranks + dist) % p
        if not data:
            return (ranks, dst, idx.size * b, 0, 0)
        r, i = ranks[:, None], idx[None, :]
        d = dst[:, None]
        last_hop = i < 2 * dist
        origin = (r - (i & (dist - 1))) % p
        dst_off = np.where(last_hop, count + origin * b, ((d + i) % p) * b)
        return (r, d, b, ((r + i) % p) * b, dst_off)

    def steps():
        for k in range(n_steps):
            if not data and k < n_log:  # the own block's local copy uses no link
                yield uniform_shift(p, 1 << k, with_bit(p, k) * b)
                continue
            parts = [bruck_parts(k)] if k < n_log else []
            if k == 0:
                parts.append(own)
            yield moves_step(parts, p, data)

    return Schedule("alltoall", "bruck", p, count, None, steps, n_steps=n_steps, data=data)
