"""Hierarchical (dimension-ordered) alltoallv: per-pair sizes relayed axis by axis.

As the hierarchical all-to-all (:mod:`.hierarchical`): along axis 0 every rank sends each
peer the blocks whose destination has that peer's axis-0 coordinate, then along axis 1, and
so on; each axis is a pairwise exchange (``d-1`` steps) or ``direct`` (one step). A block
``(s, j)`` of ``c_sj`` elements is held, before the phase of axis ``d``, by the rank with
``j``'s coordinates on the axes already done and ``s``'s on the others; a rank's messages to
one peer carry the sum of the blocks it relays there, so few large messages replace many
small ones (the point on meshes with per-message costs). Between phases a block sits in the
scratch area of the last phase that moved it (one area per phase but the last, after the
output; blocks of one holder packed in (source, destination) order); the last hop writes its
output place (MPI_Alltoallv's offsets, :mod:`ubemu.traffic`). The data schedule moves block by
block; its timing-only twin one transfer per (rank, peer) and step, which a checked run times
(``Schedule.time_apart``). No closed form: the step model answers.
"""

import numpy as np

from ..schedule import Schedule
from ..traffic import resolve
from .base import register
from .hier_cost import alltoall_level_names
from .moves import moves_step


def _axes(comm):
    return [d for d in range(len(comm.dims)) if comm.dims[d] > 1]


def _plan(comm, t):
    """Per phase: ``(axis, src, dst, n, src_off, dst_off)`` of every block that moves (the
    blocks of nonzero size, own blocks aside), and the working buffer in elements."""
    n, dims = comm.n, comm.dims
    stride = np.cumprod((1,) + tuple(dims), dtype=np.int64)
    s, j = np.nonzero(t.counts * (1 - np.eye(n, dtype=np.int64)))
    s, j = s.astype(np.int64), j.astype(np.int64)
    size = t.counts[s, j]
    where = t.send_offsets[s, j]  # where the block sits now: the input
    holder, phases, top = s.copy(), [], t.in_count + t.out_count
    for d in _axes(comm):
        coord_j = (j // stride[d]) % dims[d]
        new = holder + (coord_j - (holder // stride[d]) % dims[d]) * stride[d]
        move = np.flatnonzero(new != holder)
        dst_off = np.empty(move.size, np.int64)
        last = new[move] == j[move]
        dst_off[last] = t.in_count + t.recv_offsets[s[move][last], j[move][last]]
        relay = np.flatnonzero(~last)
        if relay.size:  # packed per new holder, in (source, destination) order
            order = relay[np.lexsort((j[move][relay], s[move][relay], new[move][relay]))]
            held = new[move][order]
            sizes = size[move][order]
            ends = np.cumsum(sizes)
            first = np.r_[True, held[1:] != held[:-1]]
            base = np.maximum.accumulate(np.where(first, ends - sizes, 0))
            dst_off[order] = top + ends - sizes - base
            top += int((ends - base).max())
        phases.append((d, holder[move], new[move], size[move], where[move], dst_off))
        where = where.copy()
        where[move] = dst_off
        holder = new
    return phases, top


def _buffer(comm, count, traffic=None, per_level="pairwise"):
    """Input, output, and one scratch area per phase but the last (each as large as the
    most one rank relays in it)."""
    return _plan(comm, resolve(traffic, comm.n, count))[1]


def _moves_per_sender(comm, count, traffic=None, per_level="pairwise"):
    """Blocks a rank passes on in the largest data step: ``p / d`` per shift of a level."""
    names = alltoall_level_names(comm, per_level)
    return max([comm.n // comm.dims[d] * (1 if names[d] == "pairwise" else comm.dims[d] - 1)
                for d in _axes(comm)] + [1])


@register("alltoallv", "hierarchical",
          "dimension-ordered: exchange along axis 0, then axis 1, ... (relays aggregate)",
          buffer=_buffer, moves=_moves_per_sender)
def hierarchical_alltoallv(comm, count, data=True, traffic=None, per_level="pairwise"):
    """Dimension-ordered alltoallv: ``max(sum_a steps_a, 1)`` steps, ``steps_a = d_a - 1``
    (``pairwise``) or 1 (``direct``); at step t of axis a a rank sends the peer t further
    along it every block it holds for that peer's coordinate."""
    t = resolve(traffic, comm.n, count)
    names = alltoall_level_names(comm, per_level)
    axes = _axes(comm)
    n, ranks = comm.n, np.arange(comm.n, dtype=np.int64)
    groups = [(d, [[k] for k in range(1, comm.dims[d])] if names[d] == "pairwise"
               else [list(range(1, comm.dims[d]))]) for d in axes]
    n_steps = max(sum(len(g) for _, g in groups), 1)
    own = (ranks, ranks, t.counts[ranks, ranks], t.send_offsets[ranks, ranks],
           t.in_count + t.recv_offsets[ranks, ranks])
    dims = comm.dims
    stride = np.cumprod((1,) + tuple(dims), dtype=np.int64)

    def steps():
        phases, _ = _plan(comm, t)
        k = 0
        for (d, shifts), (_, src, dst, size, src_off, dst_off) in zip(groups, phases):
            shift = ((dst // stride[d]) - (src // stride[d])) % dims[d]
            for group in shifts:
                pick = np.flatnonzero(np.isin(shift, group))
                parts = [(src[pick], dst[pick], size[pick], src_off[pick], dst_off[pick])]
                if k == 0:
                    parts.append(own)
                k += 1
                yield moves_step(parts, n, data)
        if k == 0:  # one rank, or every axis of size 1: the own blocks only
            yield moves_step([own], n, data)

    return Schedule("alltoallv", "hierarchical", n, count, None, steps, n_steps=n_steps,
                    data=data, notes={**t.summary(), "per_level": names}, time_apart=data,
                    traffic=t)
