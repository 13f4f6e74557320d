"""Hierarchical (multi-dimensional) collectives: per-axis phases chained over a grid.

ASTRA-sim's and HCCL's hierarchical scheme (docs/sources.md, "Algorithm references";
Rabenseifner-style two-shot per level): on ``comm.dims = (d0, d1, ..)``, innermost first,
all-reduce is a reduce-scatter along axis 0, then along axis 1 on the block axis 0 left, ...,
an all-reduce on the top axis, and all-gathers back down. Every level may use a different
registered phase (``per_level``). Axes of size 1 are skipped.

Reduce-scatter and all-gather follow :mod:`ubemu.schedule`'s layout. A reduce-scatter along
axis 0 first leaves rank r with block ``rev(r) = sum_a pos_a * prod_{e>a} d_e`` (axis 0 the
most significant digit), because each level's block is a contiguous part of the previous one.
Block ``r`` of rank r is strided over the axes, so no ordering of contiguous segments gives it
to rank r while axis 0 goes first: ``heavy_axis="inner"`` (default, the innermost and usually
fastest axis carries the largest share ``S (d0-1)/d0``) adds one permutation step (``b``
elements per rank, the ranks with ``rev(r) = r`` idle); ``heavy_axis="outer"`` runs the levels
from the top axis down instead (all-gather: from axis 0 up), which lands every block in place
with no extra step but puts the largest share on the outermost axis.

All-reduce takes ``channels=k`` (:mod:`.channels`): channel c all-reduces its share of the
buffer with its own plan, ring phases along an axis with the stride
:func:`~.channels.axis_stride` gives it, step i of every channel joined in one step. Every
all-reduce, reduce-scatter and all-gather takes ``chunk=B`` (bytes): its steps form one
pipeline, each step's transfers cut into chunks of at most B bytes
(:mod:`ubemu.timing.pipeline`), so the phases on different levels overlap; a phase whose
steps load different links at different steps (the double binary tree) is paced link by
link (``Schedule.link_sums``). A per-level name ``innet`` runs the in-switch phases of
:mod:`.innet` on a level whose switches reduce.

All-to-all is dimension-ordered: along axis 0 every rank sends each peer the blocks whose
destination has that peer's axis-0 coordinate, then along axis 1, and so on, in scratch past
the output; each axis is a pairwise exchange (``d-1`` steps) or ``direct`` (one step).
"""

import inspect

import numpy as np

from ..schedule import Schedule
from .base import blocks, get_phase, register
from .channels import axis_stride, check_channels, check_chunk, split, zip_channels
from .flat import make_step, merge_repeats
from .hier_cost import (
    all_reduce_cost,
    alltoall_cost,
    alltoall_level_names,
    check_heavy,
    level_names,
    one_way_cost,
    rev_blocks,
)
from .moves import moves_step, own_block_part


def _walk(comm, count, kind, names, order, start=0):
    """``(phase, axis, segment)`` for the axes ``order``, each on the segment that the
    reduce-scatters along the axes before it leave (first: ``start..start+count``), and the
    segment left after the last; ``segment()`` cuts its ``(seg_off, seg_len)`` on first use
    (the schedule's outline, its step count, needs none)."""
    cuts = [_once(lambda: (np.full(comm.senders.size, start, np.int64),
                           np.full(comm.senders.size, count, np.int64)))]
    plan = []
    for d in order:
        ax, prev = comm.axis(d), cuts[-1]
        plan.append((get_phase(kind, names[d]), ax, prev))
        cuts.append(_once(lambda prev=prev, ax=ax: blocks(*prev(), ax.size, ax.pos)))
    return plan, cuts[-1]


def _once(make):
    """``make()`` computed on the first call only (lighter than ``functools.cache``: a plan
    is outlined for every lower bound, its segments rarely cut)."""
    made = []

    def get():
        if not made:
            made.append(make())
        return made[0]

    return get


def _kwargs(phase, comm, axis, c):
    """Channel ``c``'s arguments of ``phase`` along ``axis``: a ring phase's stride."""
    if "direction" not in inspect.signature(phase.steps).parameters:
        return {}
    fabric = comm.fabrics[axis.d] if comm.fabrics else None
    return {"direction": axis_stride(fabric, axis.size, c)} if c else {}


def _schedule(comm, count, collective, plans, data, notes=None, chunk=0, elements=0,
              name="hierarchical"):
    """Schedule running ``plans`` (one per channel, the same phases): each a list of
    (phase, axis, segment) or functions making one Step (on first use); ``chunk``: its
    steps pipelined in chunks of that many bytes of ``elements`` per channel."""
    plan = plans[0]
    n_steps, windows, innet, sums = 0, [], set(), []
    for item in plan:  # the phases' concurrent windows, at their place in the schedule
        if callable(item):
            n_steps += 1
            continue
        phase, axis = item[0], item[1]
        windows += [(n_steps + a, n_steps + b) for a, b in phase.windows_of(axis.size)]
        if phase.link_sums and phase.n_steps(axis.size):
            sums.append((n_steps, n_steps + phase.n_steps(axis.size)))
        n_steps += phase.n_steps(axis.size)
        if phase.name == "innet" and comm.reduces(axis.d) and comm.levels:
            innet.add(int(comm.levels[axis.d]))
    k = len(plans)

    def steps():
        def gen():
            for i, item in enumerate(plan):
                if callable(item):
                    yield item()
                elif k == 1:
                    phase, axis, segment = item
                    yield from phase.steps(axis, *segment(), data)
                else:
                    phase, axis = item[0], item[1]
                    yield from zip_channels(
                        [phase.steps(axis, *p[i][2](), data, **_kwargs(phase, comm, axis, c))
                         for c, p in enumerate(plans)], k)

        return gen() if data or comm.local is not None else merge_repeats(gen())

    notes = dict(notes or {})
    if innet:
        notes["in_switch"] = sorted(innet)  # levels whose switches reduce
    if k > 1:
        notes["channels"] = k
    if chunk:
        notes["chunk_B"] = int(chunk)
    return Schedule(collective, name, comm.n, count, None, steps,
                    n_steps=int(n_steps), data=data, notes=notes,
                    windows=tuple(windows),
                    time_apart=data and any(it[0].name == "innet" for it in plan
                                            if not callable(it)),
                    pipelines=((0, int(n_steps), int(chunk), int(elements)),)
                    if chunk and n_steps else (),
                    link_sums=tuple(sums) if chunk and n_steps else (),
                    protocols=("simple",) if any(it[0].name == "innet" for it in plan
                                                 if not callable(it)) else None)


def _axes(comm):
    """Axes with more than one rank."""
    return [d for d in range(len(comm.dims)) if comm.dims[d] > 1]


def _perm_step(comm, count, data, to_rev):
    """Rank r sends block rev(r) to rank rev(r) (``to_rev``), or block r to rev^-1(r)."""
    ranks = np.arange(comm.n, dtype=np.int64)
    j = rev_blocks(comm)
    b = count // comm.n
    src, dst = (ranks, j) if to_rev else (j, ranks)
    move = src != dst
    src, dst, off = src[move], dst[move], j[move] * b
    return make_step(src, dst, b, off, off, False, data)


def all_reduce_schedule(comm, count, data, names, channels, chunk, name="hierarchical"):
    """The hierarchical all-reduce of ``names`` (one per-level algorithm per axis) in
    ``channels`` channels, pipelined in ``chunk`` bytes (0: not)."""
    k, chunk = check_channels(channels), check_chunk(chunk)
    axes = _axes(comm)
    needed = [(kd, names[d]) for d in axes[:-1] for kd in ("reduce_scatter", "all_gather")]
    needed += [("all_reduce", names[d]) for d in axes[-1:]]
    if not all(get_phase(*kn).local_ok for kn in needed) or k > 1:
        comm = comm.whole()  # build every rank's transfers
    offs, lens = split(count, k, comm.n) if k > 1 else (np.zeros(1, np.int64), [count])
    plans = []
    for start, length in zip(offs.tolist(), list(lens)):
        plan, left = _walk(comm, int(length), "reduce_scatter", names, axes[:-1], start)
        gather, _ = _walk(comm, int(length), "all_gather", names, axes[:-1], start)
        if axes:
            top = axes[-1]
            plan.append((get_phase("all_reduce", names[top]), comm.axis(top), left))
        plans.append(plan + gather[::-1])
    return _schedule(comm, count, "all_reduce", plans, data, {"per_level": names}, chunk,
                     max(lens), name)


@register("all_reduce", "hierarchical",
          "reduce-scatter up the axes, all-reduce on the top axis, all-gather down",
          local_ok=True, cost=all_reduce_cost, fixed_outline=True)
def hierarchical_all_reduce(comm, count, data=True, per_level="ring", channels=1, chunk=0):
    """Hierarchical all-reduce: ``sum_{a<top} (RS_a + AG_a) + AR_top`` steps.

    Per axis a of size ``d_a`` the phase named ``per_level[a]`` runs on the segment the lower
    levels left, ``S / (d_0 .. d_{a-1})``; with ring phases a rank sends
    ``2 S (d_a - 1) / (d_0 .. d_a)`` on axis a, ``2 S (p-1)/p`` in total (Patarasuk & Yuan
    per level; docs/sources.md, "Algorithm references"). ``channels``, ``chunk``: the module
    docstring.
    """
    return all_reduce_schedule(comm, count, data, level_names(comm, per_level), channels,
                               chunk)


@register("reduce_scatter", "hierarchical", "reduce-scatter phases over the axes",
          cost=one_way_cost, fixed_outline=True)
def hierarchical_reduce_scatter(comm, count, data=True, per_level="ring", heavy_axis="inner",
                                chunk=0):
    """Hierarchical reduce-scatter: ``sum_a RS_a`` steps, plus one permutation step.

    ``heavy_axis="inner"``: axis 0 first, then the permutation step (only when two or more
    axes have more than one rank; ``b = S/p`` per moving rank). ``"outer"``: the top axis
    first, no permutation. A rank sends ``S (p-1)/p`` over the phases (ring phases) either way.
    """
    check_heavy(heavy_axis)
    names = level_names(comm, per_level)
    axes = _axes(comm)
    inner = heavy_axis == "inner"
    plan, _ = _walk(comm, count, "reduce_scatter", names, axes if inner else axes[::-1])
    if inner and len(axes) > 1:
        plan.append(lambda: _perm_step(comm, count, data, to_rev=True))
    return _schedule(comm, count, "reduce_scatter", [plan], data,
                     {"per_level": names, "heavy_axis": heavy_axis}, check_chunk(chunk), count)


@register("all_gather", "hierarchical", "all-gather phases over the axes", cost=one_way_cost,
          fixed_outline=True)
def hierarchical_all_gather(comm, count, data=True, per_level="ring", heavy_axis="inner",
                            chunk=0):
    """Hierarchical all-gather: ``sum_a AG_a`` steps, plus one permutation step.

    ``heavy_axis="inner"``: a permutation step first (block r to the rank whose reduce-scatter
    block it would be), then the top axis down to axis 0, which moves ``S (d0-1)/d0``.
    ``"outer"``: axis 0 first up to the top axis, no permutation. ``S (p-1)/p`` per rank over
    the phases (ring phases).
    """
    check_heavy(heavy_axis)
    names = level_names(comm, per_level)
    axes = _axes(comm)
    inner = heavy_axis == "inner"
    # the segments as the reduce-scatter cuts them, gathered back in the opposite order
    plan, _ = _walk(comm, count, "all_gather", names, axes if inner else axes[::-1])
    plan = plan[::-1]
    if inner and len(axes) > 1:
        plan.insert(0, lambda: _perm_step(comm, count, data, to_rev=False))
    return _schedule(comm, count, "all_gather", [plan], data,
                     {"per_level": names, "heavy_axis": heavy_axis}, check_chunk(chunk), count)


def _alltoall_buffer(comm, count, per_level="pairwise"):
    """Input, output and one scratch area of ``count`` per level but the last."""
    return 2 * count + max(len(_axes(comm)) - 1, 0) * count


def _alltoall_moves(comm, count, axes, li, t):
    """The moves of level ``li`` (axis ``d = axes[li]``) at shift ``t``, in closed form.

    After the levels below, sender ``r`` holds the blocks ``(s, j)`` (source, destination)
    with ``j`` equal to ``r`` on the axes below ``d`` and ``s`` equal to ``r`` on the others;
    it sends the peer ``t`` further along axis ``d`` those with ``j``'s coordinate ``d`` at
    that peer's. A block sits in the input (``j b``) until it first moves, then in the
    scratch area of the last level that moved it, at slot ``slot_e(s, j)`` (``j``'s digits
    above axis ``e``, ``s``'s up to it); it lands in the output (``count + s b``) when its new
    holder is ``j``. Generated per sender in buffer order (``u``, ``s``'s digits below ``d``,
    innermost), so that contiguous moves follow each other.
    """
    dims, n, b = comm.dims, comm.n, count // comm.n
    st = np.cumprod((1,) + tuple(dims), dtype=np.int64)  # st[e]: stride of axis e; st[k] = n
    d = axes[li]
    r = comm.senders[:, None, None]
    pos, low = (r // st[d]) % dims[d], r % st[d]
    w = np.arange(n // st[d + 1], dtype=np.int64)[None, :, None]  # j's digits above d
    u = np.arange(st[d], dtype=np.int64)[None, None, :]  # s's digits below d
    to = (pos + t) % dims[d]
    s = r - low + u
    j = low + to * st[d] + w * st[d + 1]

    def scratch(level, e):
        slot = (j // st[e + 1]) * st[e + 1] + s % st[e + 1]
        return (2 + level) * count + slot * b

    src_off = np.broadcast_to(j * b, np.broadcast_shapes(j.shape, s.shape))
    for level, e in enumerate(axes[:li]):  # the last level that moved the block wins
        src_off = np.where((u // st[e]) % dims[e] != (low // st[e]) % dims[e],
                           scratch(level, e), src_off)
    dst_off = np.where(w == r // st[d + 1], count + s * b, scratch(li, d))
    return (r, r + (to - pos) * st[d], b, src_off, dst_off)


def _alltoall_moves_per_sender(comm, count, per_level="pairwise"):
    """Blocks a rank passes on in the largest data step: ``p / d`` per shift of a level."""
    names = alltoall_level_names(comm, per_level)
    return max([comm.n // comm.dims[d] * (1 if names[d] == "pairwise" else comm.dims[d] - 1)
                for d in _axes(comm)] + [1])


@register("alltoall", "hierarchical",
          "dimension-ordered: exchange along axis 0, then axis 1, ...", cost=alltoall_cost,
          buffer=_alltoall_buffer, local_ok=True, moves=_alltoall_moves_per_sender)
def hierarchical_alltoall(comm, count, data=True, per_level="pairwise"):
    """Dimension-ordered all-to-all: ``max(sum_a steps_a, 1)`` steps, ``steps_a = d_a - 1``
    (``pairwise``) or 1 (``direct``); ``S sum_a (d_a - 1)/d_a`` sent per rank.

    Level a moves every block whose destination differs from its holder on axis a, so a rank
    sends ``S (d_a - 1)/d_a`` on axis a (``S`` its input size), as in a 2D all-to-all
    (e.g. Sack & Gropp's multidimensional exchange). Between levels blocks sit in a scratch
    area of ``count`` per level past the output (:func:`_alltoall_moves`); a block's last hop
    writes its output place; the own block is a local copy. The data schedule moves block by
    block (``p^2 / d_a`` moves a step, generated per step), its timing twin one transfer per
    rank and step, so a checked run times the twin (``Schedule.time_apart``).
    """
    names = alltoall_level_names(comm, per_level)
    axes = _axes(comm)
    n = comm.n
    b = count // n
    ranks = comm.senders
    level_steps = [[[t] for t in range(1, comm.dims[d])] if names[d] == "pairwise"
                   else [list(range(1, comm.dims[d]))] for d in axes]
    n_moves = sum(len(s) for s in level_steps)
    n_steps = max(n_moves, 1)
    own = own_block_part(ranks, count, b)

    def level_parts():
        for li, (d, groups) in enumerate(zip(axes, level_steps)):
            ax = comm.axis(d)
            for group in groups:
                if data:
                    yield [_alltoall_moves(comm, count, axes, li, t) for t in group]
                else:
                    yield [(ranks, ax.peer(t), (n // ax.size) * b, 0, 0) for t in group]

    def steps():
        gen = level_parts()
        for i in range(n_steps):
            parts = next(gen) if i < n_moves else []
            if i == 0:
                parts.append(own)
            yield moves_step(parts, n, data, ordered=True)

    return Schedule("alltoall", "hierarchical", n, count, None, steps, n_steps=n_steps,
                    data=data, notes={"per_level": names}, time_apart=data)
