"""Binomial-tree gather and scatter: MPICH's default for short messages.

Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH",
IJHPCA 19(1), 2005 (section 3: binomial gather and scatter). With ranks relative to the root
(``v = (r - root) mod p``) and ``L = ceil(log2 p)`` steps:

- gather, step ``k = 0 .. L-1``: rank ``v`` with ``v mod 2^(k+1) = 2^k`` sends the blocks of
  ``v .. min(v + 2^k, p) - 1`` (its subtree's, gathered in the earlier steps) to ``v - 2^k``;
- scatter, step ``k = L-1 .. 0``: rank ``v`` with ``v mod 2^(k+1) = 0`` and ``v + 2^k < p``
  sends the blocks of ``v + 2^k .. min(v + 2^(k+1), p) - 1`` to ``v + 2^k``.

The root sends (scatter) or receives (gather) ``S (p-1)/p`` bytes in ``L`` messages instead
of ``p-1``; a leaf moves one block ``S/p``. Blocks sit at their absolute rank in the buffer,
so a subtree's blocks wrap around the end of the buffer when the root is not rank 0: such a
send is two transfers (one message).
"""

import numpy as np

from ..schedule import Schedule
from .base import check_root, register
from .flat import make_step


def _levels(p):
    return int(p - 1).bit_length() if p > 1 else 0


def _tree_step(senders, p, root, b, k, gather, data):
    """Step ``k`` of the binomial gather (or scatter): each sender's subtree blocks."""
    v = (senders - root) % p
    half = 1 << k
    if gather:
        v = v[v % (2 * half) == half]
        dst_v, first_v = v - half, v
    else:
        v = v[(v % (2 * half) == 0) & (v + half < p)]
        dst_v, first_v = v + half, v + half
    blocks = np.minimum(half, p - first_v)
    first = (first_v + root) % p  # absolute block of the subtree's first rank
    head = np.minimum(blocks, p - first)  # blocks before the buffer's end
    src, dst = (v + root) % p, (dst_v + root) % p
    wrap = blocks > head
    return make_step(np.concatenate([src, src[wrap]]), np.concatenate([dst, dst[wrap]]),
                     np.concatenate([head, (blocks - head)[wrap]]) * b,
                     np.concatenate([first, np.zeros(int(wrap.sum()), np.int64)]) * b,
                     np.concatenate([first, np.zeros(int(wrap.sum()), np.int64)]) * b,
                     False, data)


def _binomial(collective, comm, count, data, root):
    check_root(comm, root)
    p, b = comm.n, count // comm.n
    levels = _levels(p)
    order = range(levels) if collective == "gather" else range(levels - 1, -1, -1)
    senders = comm.senders

    def steps():
        for k in order:
            yield _tree_step(senders, p, root, b, k, collective == "gather", data)

    return Schedule(collective, "binomial_tree", p, count, None, steps, n_steps=levels,
                    root=root, data=data)


@register("gather", "binomial_tree", "binomial tree toward the root, ceil(log2 p) steps",
          local_ok=True)
def binomial_gather(comm, count, data=True, root=0):
    """Binomial gather: ``ceil(log2 p)`` steps; the root receives ``S (p-1)/p`` in
    ``ceil(log2 p)`` messages, rank ``v`` sends its subtree's blocks once."""
    return _binomial("gather", comm, count, data, root)


@register("scatter", "binomial_tree", "binomial tree from the root, ceil(log2 p) steps",
          local_ok=True)
def binomial_scatter(comm, count, data=True, root=0):
    """Binomial scatter: ``ceil(log2 p)`` steps; the root sends ``S (p-1)/p`` in
    ``ceil(log2 p)`` messages, rank ``v`` forwards its subtree's blocks once."""
    return _binomial("scatter", comm, count, data, root)
