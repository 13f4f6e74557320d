"""Uneven all-to-all (alltoallv): every rank sends each rank its own amount.

The per-pair sizes come from the ``traffic`` option (:mod:`ubemu.traffic`: uniform, a matrix,
a file, or MoE top-k routing), scaled to ``count`` elements per rank on average. Blocks sit
as in MPI_Alltoallv: rank i's block for j at its send offset in ``buf[0:S]``, rank j's block
from i at its receive offset in ``buf[S:S+R]`` (S, R the largest send and receive,
:mod:`ubemu.collectives`). The own block is a local copy (no link).

- ``direct``: one step, every pair at once (MoE dispatch and combine kernels, HCCL's
  full-mesh AlltoAllV); the busiest receiver's links and its queue of receives decide.
- ``pairwise``: ``p-1`` steps, at step k rank r sends its block to rank r+k (HCCL's
  pairwise AlltoAllV; Thakur, Rabenseifner & Gropp 2005): each step lasts its largest block.
- ``hierarchical``: dimension-ordered over the group's grid axes (:mod:`.alltoallv_hier`).

Closed forms: both flat algorithms on a group of one full-mesh or switch level (every pair
on its own link, or every rank on its own port), from the matrix itself; elsewhere the
step-level model answers.
"""

import numpy as np

from ..schedule import AllPairs, Schedule
from ..traffic import resolve
from .base import register
from .flat import make_step


def buffer(comm, count, traffic=None):
    """Working buffer: the largest input and the largest output (MPI's send and receive
    buffers)."""
    t = resolve(traffic, comm.n, count)
    return t.in_count + t.out_count


def _schedule(name, comm, count, traffic, steps, n_steps, data):
    t = resolve(traffic, comm.n, count)
    return Schedule("alltoallv", name, comm.n, count, None, lambda: steps(t), n_steps,
                    data=data, notes=t.summary(), traffic=t)


def _pairs(t, src, dst, data):
    """A copy step of the blocks (src[k] -> dst[k]) with their offsets (``data``)."""
    return make_step(src, dst, t.counts[src, dst], t.send_offsets[src, dst],
                     t.in_count + t.recv_offsets[src, dst], False, data)


def _one_level(model):
    """The group's one axis, where the flat algorithms have a closed form: a full-mesh level
    (a link per pair) or a switch level without trunk or shared core (a port per rank)."""
    ax = model.flat_axis()
    model.require(model.is_axis(ax), "alltoallv has a closed form on a group of one level only")
    lv = model.topology.levels[ax.level]
    model.require(lv.fabric == "full_mesh" or (lv.fabric == "switch" and not lv.trunk
                                                and lv.oversub == 1),
                  f"alltoallv has a closed form on a full-mesh or plain switch level, not "
                  f"{lv.fabric}{' (trunk)' if lv.trunk else ''}"
                  f"{' (oversubscribed)' if lv.oversub > 1 else ''}")
    return ax


def _classes(ax):
    """The link classes of the axis's level (its one level's protocol factor applies)."""
    return tuple(c for names, _, _ in ax.res for c in names)


def _direct_cost(model, c, isz, traffic=None):
    ax = _one_level(model)
    off = resolve(traffic, model.n, c).off_diagonal()
    if ax.fabric == "full_mesh":
        bw = float(off.max(initial=0) * isz) * ax.beta_link
    else:  # the busiest port: a sender's up, a receiver's down
        bw = float(max(off.sum(axis=1).max(), off.sum(axis=0).max()) * isz) * ax.beta_port
    lat = ax.lat_s + model.fill_s(float(off.max(initial=0) * isz))
    moving = off > 0
    return model.uneven_step(bw, lat, moving.sum(axis=1), moving.sum(axis=0),
                             int(moving.sum()), AllPairs.PART_TRANSFERS, _classes(ax))


@register("alltoallv", "direct", "one step: every rank sends every block at once (MoE "
          "dispatch/combine)", cost=_direct_cost, buffer=buffer)
def direct_alltoallv(comm, count, data=True, traffic=None):
    """Direct alltoallv: one step; a rank sends ``sum_j c_ij`` over links (its own block a
    local copy). Timing-only: one compact step of ``p (p-1)`` pairs (:class:`AllPairs`)."""
    n = comm.n

    def steps(t):
        if not data:
            yield AllPairs(t.counts)
            return
        src = np.repeat(np.arange(n, dtype=np.int64), n)
        dst = (src + np.tile(np.arange(1, n + 1, dtype=np.int64), n)) % n  # r+1, ..., r
        yield _pairs(t, src, dst, data)

    return _schedule("direct", comm, count, traffic, steps, 1, data)


def _pairwise_cost(model, c, isz, traffic=None):
    ax = _one_level(model)
    counts = resolve(traffic, model.n, c).counts
    beta = ax.beta_link if ax.fabric == "full_mesh" else ax.beta_port
    n, ranks, total = model.n, np.arange(model.n), 0.0
    for k in range(1, max(n, 2)):
        b = counts[ranks, (ranks + k) % n] if n > 1 else np.zeros(1, np.int64)
        moving = b > 0
        biggest = float(b.max(initial=0) * isz)
        total = total + model.uneven_step(biggest * beta, ax.lat_s + model.fill_s(biggest),
                                          moving, np.roll(moving, k), int(moving.sum()),
                                          classes=_classes(ax))
    return total


@register("alltoallv", "pairwise", "p-1 steps, one partner per step (rank r+k at step k)",
          cost=_pairwise_cost, buffer=buffer)
def pairwise_alltoallv(comm, count, data=True, traffic=None):
    """Pairwise alltoallv: ``max(p-1, 1)`` steps, step k carrying ``c_{r,r+k}`` from every
    rank r; the own block is a local copy in step 1. A step lasts its largest block."""
    n = comm.n
    ranks = np.arange(n, dtype=np.int64)

    def steps(t):
        for k in range(1, max(n, 2)):
            src, dst = (ranks, (ranks + k) % n) if n > 1 else (ranks[:0], ranks[:0])
            if k == 1:  # the own blocks, local copies
                src, dst = np.concatenate((src, ranks)), np.concatenate((dst, ranks))
            yield _pairs(t, src, dst, data)

    return _schedule("pairwise", comm, count, traffic, steps, max(n - 1, 1), data)
