"""Steps from lists of block moves: the helper behind the block-permuting algorithms.

All-to-all style algorithms (pairwise, Bruck, multipath, hierarchical) describe a step as
*parts*: tuples ``(src, dst, n, src_off, dst_off)`` of broadcastable arrays, typically one entry
per (rank, block). :func:`moves_step` joins them into one copy :class:`~ubemu.schedule.Step`:
in a data schedule, moves that continue each other in both buffers become one transfer; in a
timing-only schedule, moves of the same (src, dst) pair become one transfer of their total size.

The block a rank keeps in an all-to-all (block ``r`` of rank ``r``, input ``r*b`` -> output
``count + r*b``) is a local copy (``src == dst``, no link): :func:`own_block_part`.
"""

import numpy as np

from ..schedule import Step


def _join(parts):
    cols = [[], [], [], [], []]
    for part in parts:
        arrays = np.broadcast_arrays(*(np.asarray(a, np.int64) for a in part))
        for col, a in zip(cols, arrays):
            col.append(a.ravel())
    if not cols[0]:
        return [np.zeros(0, np.int64)] * 5
    return [np.concatenate(c) for c in cols]


def coalesce(src, dst, n, src_off, dst_off, ordered=False):
    """Merge moves that continue each other (same src and dst, both offsets contiguous).

    ``ordered``: merge only moves that follow each other as given (no sort; for builders
    that produce each rank's moves in buffer order)."""
    keep = n > 0
    if not keep.all():
        src, dst, n, src_off, dst_off = (a[keep] for a in (src, dst, n, src_off, dst_off))
    if src.size == 0:
        return src, dst, n, src_off, dst_off
    if not ordered:
        order = np.lexsort((src_off, dst, src))
        src, dst, n, src_off, dst_off = (a[order] for a in (src, dst, n, src_off, dst_off))
    cont = ((src[1:] == src[:-1]) & (dst[1:] == dst[:-1])
            & (src_off[1:] == src_off[:-1] + n[:-1]) & (dst_off[1:] == dst_off[:-1] + n[:-1]))
    if not cont.any():
        return src, dst, n, src_off, dst_off
    starts = np.flatnonzero(np.concatenate(([True], ~cont)))
    return (src[starts], dst[starts], np.add.reduceat(n, starts), src_off[starts],
            dst_off[starts])


def aggregate(src, dst, n, n_ranks):
    """Timing only: one transfer per (src, dst) pair carrying the pair's total elements."""
    keep = n > 0
    if not keep.any():
        return src[:0], dst[:0], n[:0]
    key = src[keep] * n_ranks + dst[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.zeros(uniq.size, np.int64)
    np.add.at(total, inv, n[keep])
    return uniq // n_ranks, uniq % n_ranks, total


def moves_step(parts, n_ranks, data=True, ordered=False):
    """One copy step from ``parts`` (see the module docstring; ``ordered`` as in
    :func:`coalesce`)."""
    src, dst, n, src_off, dst_off = _join(parts)
    if data:
        src, dst, n, src_off, dst_off = coalesce(src, dst, n, src_off, dst_off, ordered)
        return Step.make(src, dst, n, src_off, dst_off)
    src, dst, n = aggregate(src, dst, n, n_ranks)
    return Step.make(src, dst, n)


def own_block_part(ranks, count, block):
    """The local copy of each rank's own all-to-all block into its output place."""
    return (ranks, ranks, block, ranks * block, count + ranks * block)
