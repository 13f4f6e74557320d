"""Two-path all-to-all on a 2D full mesh (UB-Mesh, Liao et al., arXiv 2503.20377, ISCA 2025).

Ranks form an X x Y grid (``comm.dims = (X, Y)``), every row and every column a full mesh.
A block whose destination differs in both coordinates is cut in two halves: the first goes
along X to the relay ``(x_dst, y_src)`` and then along Y, the second along Y to the relay
``(x_src, y_dst)`` and then along X. Blocks whose destination shares a coordinate go directly.
Every transfer therefore joins two ranks that differ in exactly one coordinate.
"""

import numpy as np

from ..schedule import Schedule
from .base import register
from .moves import moves_step, own_block_part


def two_axis_full_mesh(comm):
    """``check=`` hook: exactly two axes, both full meshes."""
    if len(comm.dims) != 2:
        return f"needs a 2-axis grid (X, Y), got {len(comm.dims)} axis/axes"
    if comm.fabrics is not None and any(f not in (None, "full_mesh") for f in comm.fabrics):
        return f"needs full-mesh axes, got {', '.join(map(str, comm.fabrics))}"
    return None


def _cost(model, c, isz):
    """Step 1: a row link carries one direct block and the X-first halves of the ``Y-1``
    blocks for that column's other rows, one message (a column link likewise); step 2: the
    relays forward ``X-1`` (``Y-1``) halves over one link each, one message."""
    ax, ay = model.require_axes()
    for a in (ax, ay):
        model.require(a.fabric == "full_mesh" and not a.trunk,
                      "multipath is modelled on two full-mesh axes without trunks")
    b = (c // model.n) * isz
    h1, h2 = -(-b // (2 * isz)) * isz, (b // (2 * isz)) * isz
    if ax.p == 1 or ay.p == 1:
        live = ax if ax.p > 1 else ay
        return model.step([(live, k, b) for k in range(1, live.p)])
    row, col = b + (ay.p - 1) * h1, b + (ax.p - 1) * h2  # to one row peer, one column peer
    first = model.link_step([(ax, row, row), (ay, col, col)], ax.p - 1 + ay.p - 1)
    fwd_y, fwd_x = (ax.p - 1) * h1, (ay.p - 1) * h2  # a relay's halves for one destination
    peers = (ay.p - 1) * (fwd_y > 0) + (ax.p - 1) * (fwd_x > 0)  # a 1-element block: no Y half
    return first + model.link_step([(ay, fwd_y, fwd_y), (ax, fwd_x, fwd_x)], peers)


def _buffer(comm, count):
    """Input, output and the relayed halves' scratch: ``3 count``."""
    return 3 * count


@register("alltoall", "multipath",
          "2D full mesh: half of each block X-then-Y, half Y-then-X, 2 steps",
          check=two_axis_full_mesh, cost=_cost, buffer=_buffer)
def multipath_alltoall(comm, count, data=True):
    """Multipath all-to-all: 2 steps (1 if X or Y is 1); ``b (p - 1 + (X-1)(Y-1))`` sent per rank.

    ``b = count/p`` is one block, ``p = X*Y``. Step 1: direct blocks (same row or column) go
    to their destination; the X-first half (``ceil(b/2)``) of every other block goes to
    ``(x_dst, y_src)`` and the Y-first half to ``(x_src, y_dst)``, into scratch past
    ``2*count``; the own block is a local copy. Step 2: the relays forward the halves to the
    destinations' output. Per rank: step 1 sends ``(p-1) b``, step 2 forwards
    ``(X-1)(Y-1) b``.
    """
    nx, ny = (int(d) for d in comm.dims)
    p = nx * ny
    b = count // p
    h1 = (b + 1) // 2
    h2 = b - h1
    ranks = np.arange(p, dtype=np.int64)
    x, y = ranks % nx, ranks // nx
    own = own_block_part(ranks, count, b)
    n_steps = 2 if nx > 1 and ny > 1 else 1
    x_region, y_region = 2 * count, 2 * count + p * h1

    r, j = ranks[:, None], ranks[None, :]  # source, destination
    xs, ys, xd, yd = x[:, None], y[:, None], x[None, :], y[None, :]
    direct = (r != j) & ((xs == xd) | (ys == yd))
    relayed = (xs != xd) & (ys != yd)
    rd, jd = np.broadcast_arrays(r, j)
    dr, dj = rd[direct], jd[direct]
    sr, sj = rd[relayed], jd[relayed]
    sx, sy, dx, dy = sr % nx, sr // nx, sj % nx, sj // nx
    relay_x = dx + nx * sy  # X first
    relay_y = sx + nx * dy  # Y first
    # relay slots: X-first halves at (x_src, y_dst), Y-first halves at (y_src, x_dst)
    slot_x = x_region + (sx + nx * dy) * h1
    slot_y = y_region + (sy + ny * dx) * h2

    def steps():
        yield moves_step([(dr, dj, b, dj * b, count + dr * b),
                          (sr, relay_x, h1, sj * b, slot_x),
                          (sr, relay_y, h2, sj * b + h1, slot_y), own], p, data)
        if n_steps == 2:
            yield moves_step([(relay_x, sj, h1, slot_x, count + sr * b),
                              (relay_y, sj, h2, slot_y, count + sr * b + h1)], p, data)

    return Schedule("alltoall", "multipath", p, count, None, steps, n_steps=n_steps,
                    data=data, notes={"halves": (h1, h2)})
