"""Multi-ring all-reduce on link-disjoint rings (UB-Mesh, Liao et al., arXiv 2503.20377, ISCA 2025).

The data is cut into ``R`` parts; part i is all-reduced by a ring all-reduce (reduce-scatter
then all-gather, Patarasuk & Yuan 2009) over its own ring, a cyclic order of all ranks. All
rings advance in the same steps: ``2(p-1)`` steps, every rank sends ``2 S (p-1)/p`` bytes
(``S`` bytes per rank), spread over ``R`` links, each carrying ``S/(R p)`` per step.

Construction. On one axis of ``a`` ranks the rings are strides: ring ``(g, +)`` visits
``0, g, 2g, ...`` (``g`` coprime to ``a``), ring ``(g, -)`` the same backwards; taking one ``g``
of each pair ``{g, a-g}`` (``1 <= g <= a/2``), ring ``(g, +)`` uses exactly the directed links
``x -> x+g`` and ``(g, -)`` the links ``x -> x-g``, so no directed link serves two rings:
``R = phi(a)`` rings for ``a > 2`` (Euler's phi; 8 ranks: 4 rings, 64: 32, 12: 4), 1 for
``a = 2``. On a full-mesh grid (several axes) ring k walks the grid in reflected mixed-radix
Gray-code (boustrophedon) order, with an even-sized axis outermost so the walk closes, and
maps position ``x`` on axis d to ``x * g_{d,k} mod a_d``: every hop changes one coordinate by
``+-g_{d,k}``, a direct full-mesh link. Ring k uses the k-th stride class of every axis, in both
directions, so ``R = 2 min_d(phi(a_d)/2)`` (axes of size 2 count as one class): 8x8 -> 4
rings, 4x3 -> 2, 8x8x4 -> 2, and no two rings share a directed link. A grid whose axes are all
odd is treated as flat (its stride rings then hop over several axes). ``n_rings`` uses only the
first rings. As a per-axis phase (``hierarchical``) the stride rings of that axis are used.
"""

from math import gcd

import numpy as np

from ..errors import UbemuError
from ..timing.shapes import Sizes
from .base import blocks, register_phase
from .flat import make_step


def stride_classes(a):
    """Strides ``1 <= g <= a/2`` coprime to ``a``: one per pair ``{g, a-g}``."""
    return [g for g in range(1, a // 2 + 1) if gcd(g, a) == 1]


def axis_rings(a):
    """Ring orders (R, a) of positions on one full-mesh axis: strides both ways."""
    if a < 2:
        return np.zeros((1, a), np.int64)
    t = np.arange(a, dtype=np.int64)
    orders = []
    for g in stride_classes(a):
        fwd = (t * g) % a
        orders.append(fwd)
        if a > 2:
            orders.append(np.roll(fwd[::-1], 1))  # same ring backwards, starting at 0
    return np.array(orders, np.int64)


def grid_rings(dims):
    """Ring orders (R, n) of ranks on a grid ``dims`` (innermost first), link-disjoint."""
    dims = tuple(int(a) for a in dims)
    n = int(np.prod(dims, dtype=np.int64))
    axes = [d for d, a in enumerate(dims) if a > 1]
    if len(axes) <= 1:
        return axis_rings(n)
    even = [d for d in axes if dims[d] % 2 == 0]
    if not even:
        return axis_rings(n)
    order_axes = [d for d in axes if d != even[-1]] + [even[-1]]
    n_classes = min(len(stride_classes(dims[d])) for d in axes)
    strides = np.cumprod((1,) + dims[:-1])
    t = np.arange(n, dtype=np.int64)
    orders = []
    for k in range(n_classes):
        rank = np.zeros(n, np.int64)
        w = 1
        for d in order_axes:
            a = dims[d]
            v, h = (t // w) % a, t // (w * a)
            g = np.where(h % 2 == 0, v, a - 1 - v)
            rank += (g * stride_classes(a)[k]) % a * strides[d]
            w *= a
        orders += [rank, np.roll(rank[::-1], 1)]
    return np.array(orders, np.int64)


def multi_ring_steps(axis, seg_off, seg_len, data, orders):
    """Ring all-reduce of part i of every segment over ring ``orders[i]`` (positions on axis)."""
    n_rings, s = orders.shape
    inv = np.argsort(orders, axis=1)
    q = inv[:, axis.pos]  # (R, n): each rank's place on each ring
    ring = np.arange(n_rings, dtype=np.int64)[:, None]
    dst = axis.rank_at(orders[ring, (q + 1) % s])
    src = np.broadcast_to(axis.ranks, q.shape)
    p_off, p_len = blocks(seg_off[None, :], seg_len[None, :], n_rings, ring)
    for shift, reduce in ((1, True), (0, False)):
        for k in range(s - 1):
            off, ln = blocks(p_off, p_len, s, (q - k - shift) % s)
            yield make_step(src.ravel(), dst.ravel(), ln.ravel(), off.ravel(), off.ravel(),
                            reduce, data)


def _orders(dims, n_rings=None):
    """The rings of a grid ``dims``, the first ``n_rings`` of them (default all)."""
    orders = grid_rings(dims)
    if n_rings is not None:
        if not 1 <= int(n_rings) <= len(orders):
            raise UbemuError(f"multi_ring: n_rings must be in 1..{len(orders)} on "
                             f"{'x'.join(map(str, dims))}, got {n_rings}")
        orders = orders[:int(n_rings)]
    return orders


def _flat_setup(comm, n_rings=None):
    """The flat algorithm's rings: the grid rings of the whole communicator."""
    orders = _orders(comm.dims, n_rings)
    return {"orders": orders}, {"n_rings": len(orders)}


def _cost(model, ax, c, isz, n_rings=None):
    """``2(p-1)`` steps; every ring moves one block of its part per step. On one axis the
    rings are stride shifts; a flat run over several axes uses the grid rings."""
    p = ax.p
    if model.is_axis(ax):
        shifts = [g for g in stride_classes(p) for g in ((g, -g) if p > 2 else (g,))]
        partners = shifts[:None if n_rings is None else int(n_rings)]
    else:
        partners = model.memo(("multi_ring", n_rings), lambda: [
            model.ring_partner(order) for order in _orders(model.dims, n_rings)])
    rings = len(partners)  # ring g's part, cut into p blocks: between the extremes
    part = -(-c // rings)
    b = Sizes.between(c // rings // p * isz, -(-part // p) * isz)
    msgs = [(ax, g, b) for g in partners]
    return (p - 1) * (model.step(msgs, True) + model.step(msgs, False))


@register_phase("all_reduce", "multi_ring", n_steps=lambda s: 2 * (s - 1), local_ok=True,
                cost=_cost, flat_setup=_flat_setup,
                flat="UB-Mesh multi-ring: data split over link-disjoint rings, 2(p-1) steps")
def multi_ring_all_reduce_phase(axis, seg_off, seg_len, data=True, orders=None):
    """Multi-ring all-reduce: ``2(p-1)`` steps, ``2 S (p-1)/p`` bytes sent per rank.

    Along one full-mesh axis (``hierarchical``) it runs the axis's ``phi(s)`` stride rings;
    flat, the grid rings of the whole communicator (module docstring); the flat algorithm's
    option ``n_rings`` uses only the first rings.
    """
    orders = axis_rings(axis.size) if orders is None else orders
    yield from multi_ring_steps(axis, seg_off, seg_len, data, orders)
