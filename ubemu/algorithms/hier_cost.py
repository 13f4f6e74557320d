"""The per-level plan of the hierarchical algorithms (names per axis, block order) and their
closed forms: the per-level phases' costs chained.

Each level's phase runs on the segment that the levels before it left; where a cut does not
divide, the lines of the next level differ and the largest is costed
(:meth:`~ubemu.timing.costmodel.CostModel.segment`). The inner-heavy reduce-scatter
and all-gather add one permutation step in which every rank moves at most one block of
``b = count / n`` elements: its cost comes from routing that pattern once
(:meth:`ubemu.timing.costmodel.CostModel.perm_partner`).
"""

import inspect

import numpy as np

from ..errors import UbemuError, choices_error
from ..timing.pipeline import chunk_count
from .base import NoClosedForm, get_phase
from .channels import axis_stride, check_channels, check_chunk, split
from .libraries import library_level

A2A_LEVELS = ("direct", "pairwise")
HEAVY = ("inner", "outer")


def level_names(comm, per_level):
    """One per-level algorithm name per axis of ``comm`` (anything with ``dims``): a single
    name applies to every axis; a library's name (``nccl``) becomes what the library runs on
    the axis (:func:`~.libraries.library_level`)."""
    k = len(comm.dims)
    names = (per_level,) if isinstance(per_level, str) else tuple(per_level)
    if len(names) == 1:
        names = names * k
    if len(names) != k:
        raise UbemuError(f"per_level: {len(names)} names for {k} axes; give one name per axis "
                         f"(innermost first) or one name for all")
    return tuple(library_level(name, size) for name, size in zip(names, comm.dims))


def alltoall_level_names(comm, per_level):
    """One all-to-all level algorithm per axis of ``comm`` (anything with ``dims``), checked
    against :data:`A2A_LEVELS`."""
    names = level_names(comm, per_level)
    for name in names:
        if name not in A2A_LEVELS:
            raise choices_error("alltoall per-level algorithm", name, A2A_LEVELS)
    return names


def check_heavy(heavy_axis):
    if heavy_axis not in HEAVY:
        raise choices_error("heavy_axis", heavy_axis, HEAVY)


def rev_blocks(comm):
    """Block each rank holds after reduce-scatters from axis 0 up (axis 0 most significant)."""
    j = np.zeros(comm.n, np.int64)
    for d in range(len(comm.dims)):
        j = j * comm.dims[d] + comm.axis(d).pos
    return j


def _names(model, per_level):
    return level_names(model.comm, per_level)


def _phase_cost(kind, name):
    phase = get_phase(kind, name)
    if phase.cost is None:
        raise NoClosedForm(f"no closed form for the per-level {kind} algorithm {name!r}")
    return phase.cost


def _phase_step_cost(model, kind, name, ax, seg, isz, c):
    """Channel ``c``'s cost of the phase ``(kind, name)`` along ``ax`` on ``seg`` elements
    (a ring phase with the channel's stride, :func:`~.channels.axis_stride`)."""
    cost = _phase_cost(kind, name)
    if c and "direction" in inspect.signature(cost).parameters:
        return cost(model, ax, seg, isz, direction=axis_stride(ax.fabric, ax.p, c))
    return cost(model, ax, seg, isz)


def _lines_cost(model, kind, name, ax, lo, hi, isz, c):
    """Channel ``c``'s cost of the phase ``(kind, name)`` along ``ax`` on its lines of ``lo``
    and ``hi`` elements side by side (:meth:`~ubemu.timing.joins.StepJoins.on_lines_of`)."""
    return model.on_lines_of(lambda s: _phase_step_cost(model, kind, name, ax, s, isz, c),
                             lo, hi)


def _all_reduce_plan(model, c, isz, names, ch=0):
    """Reduce-scatter and all-gather on every axis but the top one, all-reduce on the top;
    past a cut that does not divide, on lines of ``lo`` and ``hi`` elements."""
    live = [(ax, n) for ax, n in zip(model.require_axes(), names) if ax.p > 1]
    t, lo, hi = 0.0, c, c
    for ax, name in live[:-1]:
        t += _lines_cost(model, "reduce_scatter", name, ax, lo, hi, isz, ch)
        t += _lines_cost(model, "all_gather", name, ax, lo, hi, isz, ch)
        lo, hi = model.cut_lines(lo, hi, ax.p)
    if live:
        ax, name = live[-1]
        t += _lines_cost(model, "all_reduce", name, ax, lo, hi, isz, ch)
    return t


def all_reduce_cost(model, c, isz, per_level="ring", channels=1, chunk=0):
    """The hierarchical all-reduce's closed form: its channels joined step by step and, with
    a ``chunk``, pipelined (:mod:`ubemu.timing.stepcost`)."""
    names = _names(model, per_level)
    k, chunk = check_channels(channels), check_chunk(chunk)
    if k == 1 and not chunk:
        return _all_reduce_plan(model, c, isz, names)
    lens = split(c, k, model.n)[1] if k > 1 else [c]
    with model.recorded():
        costs = [_all_reduce_plan(model, int(n), isz, names, ch) for ch, n in enumerate(lens)]
        cost = model.union(costs) if len(costs) > 1 else costs[0]
    return model.pipelined(cost, chunk_count(max(lens), isz, chunk), chunk) if chunk else cost


def one_way_cost(model, c, isz, per_level="ring", heavy_axis="inner", chunk=0):
    """Reduce-scatter or all-gather: one phase per axis (``model.collective`` says which),
    plus the permutation step of ``heavy_axis="inner"`` on two or more live axes; with a
    ``chunk``, pipelined."""
    check_heavy(heavy_axis)
    if check_chunk(chunk):
        with model.recorded():
            cost = one_way_cost(model, c, isz, per_level, heavy_axis)
        return model.pipelined(cost, chunk_count(c, isz, chunk), chunk)
    kind = model.collective
    axes = model.require_axes()
    live = [(ax, n) for ax, n in zip(axes, _names(model, per_level)) if ax.p > 1]
    inner = heavy_axis == "inner"
    t, seg = 0.0, c
    for ax, name in (live if inner else live[::-1]):
        t += _phase_cost(kind, name)(model, ax, seg, isz)
        seg = model.segment(seg, ax.p)
    if inner and len(live) > 1:  # rank r's block goes to rev(r) (all-gather: the inverse)
        rev = rev_blocks(model.comm)
        dst = rev if kind == "reduce_scatter" else np.argsort(rev)
        perm = model.perm_partner(("hierarchical-rev", kind), dst)
        t += model.step([(model.flat_axis(), perm, (c // model.n) * isz)])
    return t


def alltoall_cost(model, c, isz, per_level="pairwise"):
    """Per live axis ``d-1`` pairwise steps or one direct step, each rank moving
    ``n / d`` blocks per partner; the own block is a local copy."""
    axes = model.require_axes()
    names = alltoall_level_names(model.comm, per_level)
    b = (c // model.n) * isz
    t = 0.0
    for ax, name in zip(axes, names):
        if ax.p < 2:
            continue
        share = (model.n // ax.p) * b
        msgs = [(ax, k, share) for k in range(1, ax.p)]
        t += model.step(msgs) if name == "direct" else sum(model.step([m]) for m in msgs)
    return t
