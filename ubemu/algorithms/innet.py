"""In-switch reduction: the switch adds the data up (NVLink SHARP, InfiniBand SHARP).

A switch level whose switches reduce declares its ``innet_efficiency`` (the fraction of its
link bandwidth that in-switch reduction and multicast get; docs/sources.md). Along such an
axis (NCCL's NVLS: ``multimem.ld_reduce`` then ``multimem.st``):

- **reduce-scatter**: every rank sends each of its ``p`` blocks up once (its own too) and
  receives its block reduced by the switch: up ``S``, down ``S/p`` per rank, one operation per
  rank (``Step.innet = INNET_REDUCE``);
- **all-gather**: every rank sends its block up once and the switch copies it to all ``p``
  ranks (itself too): up ``S/p``, down ``S`` (``INNET_MULTICAST``);
- **all-reduce**: the two, up and down ``S (p+1)/p`` each; pipelined (``chunk``) the
  multicast of a chunk overlaps the reduction of the next, so it takes about ``S (p+1) /
  (p B e)`` instead of ``2 S / (B e)`` (``e`` the level's in-network efficiency).

The NPUs reduce nothing. The data moves as the direct algorithms move it (:mod:`.direct`, the
same sums on every rank), timed as the switch moves it: the data schedule's steps are those of
``direct`` and its timing-only twin's the in-network steps (``Schedule.time_apart``), with
the same step count (the reduce-scatter's ``p-1`` direct steps are one window; the twin's
in-network step comes first in it, the rest are empty). Only the ``simple`` protocol runs
it (NCCL's NVLS has no LL protocols).

Registered: the per-level phase ``innet`` (``hierarchical -O per_level=innet,ring``) and the
algorithm ``innet``: on every axis whose level reduces the in-switch phase, elsewhere
``per_level`` (default ring; on an NCCL topology ``nccl``, the library's pick: a double binary
tree across more than two nodes, :mod:`.libraries`), as NCCL's NVLS (one node) and NVLSTree
(the node's NVLS, then a tree across the nodes) do; all-reduce with ``channels`` and
``chunk``, reduce-scatter and all-gather on the group's reducing axes with ``chunk``.
"""

import numpy as np

from ..errors import UbemuError
from ..kernels.codes import INNET_MULTICAST, INNET_REDUCE
from ..machine.comm import Axis
from ..schedule import Step
from .base import blocks, get_phase, register, register_phase
from .direct import direct_all_gather_phase, direct_reduce_scatter_phase, rs_windows
from .hier_cost import all_reduce_cost, level_names, one_way_cost


def check_axis(comm, d):
    """Refuse axis ``d`` of ``comm`` unless its level's switches reduce in the network."""
    if not comm.reduces(d):
        raise UbemuError(f"innet cannot run on axis {d} ({comm.dims[d]} ranks): its level's "
                         f"switches do not reduce in the network (give the level an "
                         f"innet_efficiency)")


def _via(axis):
    """The topology level of ``axis``, refusing one whose switches do not reduce."""
    check_axis(axis.comm, axis.d)
    return int(axis.comm.levels[axis.d])


def _innet_step(axis, seg_off, seg_len, mode):
    """The in-network step along ``axis`` for every rank of the communicator: transfers to
    one destination (reduce) or from one sender (multicast) consecutive, the own block too."""
    whole = Axis(axis.comm.whole(), axis.d)
    s, ranks, pos = whole.size, whole.ranks, whole.pos
    seg_off = np.broadcast_to(seg_off, axis.pos.shape)
    seg_len = np.broadcast_to(seg_len, axis.pos.shape)
    if axis.comm.local is not None:
        raise UbemuError("innet: the in-network steps are built for every rank")
    peers = whole.rank_at(np.arange(s, dtype=np.int64)[:, None]).T  # (ranks, s)
    n = blocks(seg_off, seg_len, s, pos)[1]  # each rank's own block
    mine = np.repeat(ranks, s)
    return Step.make(peers.ravel() if mode == INNET_REDUCE else mine,
                     mine if mode == INNET_REDUCE else peers.ravel(), np.repeat(n, s),
                     innet=mode, via=_via(axis))


def _block_bytes(model, ax, c, isz):
    """Bytes of a rank's block; where the count does not divide the blocks differ by one
    element and the step is bounded: every block the largest (``mode="hi"``) or the
    smallest (``"lo"``)."""
    blk = model.cut(c, ax.p)
    if isinstance(blk, np.ndarray):
        model.uneven = True
        blk = blk.min() if model.mode == "lo" else blk.max()
    return int(blk) * isz


def _rs_cost(model, ax, c, isz):
    return model.innet_step(ax, INNET_REDUCE, _block_bytes(model, ax, c, isz))


def _ag_cost(model, ax, c, isz):
    return model.innet_step(ax, INNET_MULTICAST, _block_bytes(model, ax, c, isz))


@register_phase("reduce_scatter", "innet", n_steps=lambda s: s - 1, local_ok=True,
                windows=rs_windows, cost=_rs_cost)
def innet_reduce_scatter_phase(axis, seg_off, seg_len, data=True):
    """In-switch reduce-scatter along ``axis`` (module docstring): up ``S``, down ``S/p`` per
    rank; the data as :func:`~.direct.direct_reduce_scatter_phase` moves it."""
    check_axis(axis.comm, axis.d)
    if data:
        yield from direct_reduce_scatter_phase(axis, seg_off, seg_len, True)
        return
    yield _innet_step(axis, seg_off, seg_len, INNET_REDUCE)
    if axis.size > 2:  # the rest of the direct reduce-scatter's window: nothing moves
        yield Step.make([], [], [], repeat=axis.size - 2)


@register_phase("all_gather", "innet", n_steps=lambda s: int(s > 1), local_ok=True,
                cost=_ag_cost)
def innet_all_gather_phase(axis, seg_off, seg_len, data=True):
    """Multicast all-gather along ``axis`` (module docstring): up ``S/p``, down ``S`` per
    rank; the data as :func:`~.direct.direct_all_gather_phase` moves it."""
    check_axis(axis.comm, axis.d)
    if axis.size < 2:
        return
    if data:
        yield from direct_all_gather_phase(axis, seg_off, seg_len, True)
        return
    yield _innet_step(axis, seg_off, seg_len, INNET_MULTICAST)


def _ar_cost(model, ax, c, isz):
    return _rs_cost(model, ax, c, isz) + _ag_cost(model, ax, c, isz)


@register_phase("all_reduce", "innet", n_steps=lambda s: s - 1 + int(s > 1), local_ok=True,
                windows=rs_windows, cost=_ar_cost)
def innet_all_reduce_phase(axis, seg_off, seg_len, data=True):
    """In-switch reduce-scatter, then multicast all-gather, along ``axis``."""
    yield from innet_reduce_scatter_phase(axis, seg_off, seg_len, data)
    yield from innet_all_gather_phase(axis, seg_off, seg_len, data)


def _check(comm):
    """None when a level of the group reduces, else why not."""
    if not any(comm.reduces(d) for d in range(len(comm.dims)) if comm.dims[d] > 1):
        return ("no level of the group reduces in the network (a switch level with "
                "innet_efficiency)")
    return None


def innet_names(comm, per_level="ring"):
    """The per-level algorithms: ``innet`` on every reducing axis, ``per_level`` elsewhere."""
    names = level_names(comm, per_level)
    return tuple("innet" if comm.reduces(d) else names[d] for d in range(len(names)))


def _ar_cost_innet(model, c, isz, per_level="ring", channels=1, chunk=0):
    return all_reduce_cost(model, c, isz, innet_names(model.comm, per_level), channels, chunk)


@register("all_reduce", "innet",
          "in-switch reduction on the levels that reduce (NVLS, NVLSTree), per_level elsewhere",
          check=_check, cost=_ar_cost_innet, fixed_outline=True)
def innet_all_reduce(comm, count, data=True, per_level="ring", channels=1, chunk=0):
    """All-reduce with in-switch reduction: a hierarchical all-reduce whose reducing axes run
    the ``innet`` phases (module docstring)."""
    from .hierarchical import all_reduce_schedule

    return all_reduce_schedule(comm, count, data, innet_names(comm, per_level), channels,
                               chunk, name="innet")


def _one_way(kind):
    def cost(model, c, isz, chunk=0):
        names = innet_names(model.comm)
        if any(n != "innet" for n, d in zip(names, model.comm.dims) if d > 1):
            from .base import NoClosedForm

            raise NoClosedForm("no closed form: innet reduce-scatter / all-gather on levels "
                               "that do not all reduce")
        return one_way_cost(model, c, isz, names, "outer", chunk)

    def build(comm, count, data=True, chunk=0):
        from .hierarchical import hierarchical_all_gather, hierarchical_reduce_scatter

        maker = hierarchical_reduce_scatter if kind == "reduce_scatter" else \
            hierarchical_all_gather
        sched = maker(comm, count, data, innet_names(comm), "outer", chunk)
        sched.algorithm = "innet"
        return sched

    return cost, build


for _kind in ("reduce_scatter", "all_gather"):
    _cost, _build = _one_way(_kind)
    register(_kind, "innet", f"in-switch {_kind.replace('_', '-')} on the levels that reduce, "
             f"per-level ring elsewhere", check=_check, cost=_cost)(_build)
get_phase("all_reduce", "innet")  # (registered above; hierarchical's per-level name)
