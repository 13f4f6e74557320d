"""One workload operation timed alone, step by step: what the workload engine shares out.

:func:`profile_op` resolves an :class:`ubemu.workloads.ops.Op` into its groups (one, or every group
of its kind as lockstep replicas), builds its timing-only schedule once (on one group: the
replicas are translates of it) and times every replica's transfers together
(:func:`ubemu.schedule.replicate`), so replicas that share a link share it in every step.
With ``record`` each timed unit becomes a :class:`Segment`: the links it loads and how much
of each it uses, split into its bandwidth term (what contention stretches) and the rest
(latency, message costs, overhead, reduction: fixed). A run of equal units is one segment.
"""

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .. import collectives, engine
from ..algorithms import build_schedule, get_algorithm, work
from ..data.dtypes import check_op, get_dtype
from ..errors import UbemuError
from ..machine.groups import every_group, group_of
from ..parallel.exchange import LocalExchange
from ..schedule import explicit_steps, replicate
from ..timing.protocols import offered, resolve
from ..timing.timer import StepTimer
from ..timing.walk import time_steps
from .ops import SENDRECV


@dataclass
class Segment:
    """``k`` equal timed units of an operation in a row.

    Attributes
    ----------
    ids : int64 array
        Links the unit loads.
    use : float64 array
        Fraction of each link's capacity the unit needs while its bandwidth term runs alone
        (its busiest link: 1.0).
    bw_s, fixed_s : float
        One unit's bandwidth term and the rest of its time.
    k : int
    class_bytes : float64 array
        Bytes one unit puts on each link class.
    """

    ids: np.ndarray
    use: np.ndarray
    bw_s: float
    fixed_s: float
    k: int
    class_bytes: np.ndarray


@dataclass
class Profile:
    """An operation timed alone (see the module docstring)."""

    algorithm: str
    n_groups: int
    n_ranks: int
    nbytes: int
    time: Fraction  # exact sum of the step times; float(time) is simulate's time_s
    n_steps: int
    usage: list
    bottleneck: str
    segments: list | None
    notes: dict

    @property
    def time_s(self):
        return float(self.time)


def groups_of(op, topology):
    """(Comm of one group, int64 (G, n) array of every replica's NPU ids) of ``op``."""
    if op.npus is not None:
        rows = np.atleast_2d(np.asarray(op.npus, np.int64))
        comm = group_of(topology, rows[0])
        flat = np.sort(rows.reshape(-1))
        if flat.size and (flat[0] < 0 or flat[-1] >= topology.n_npus):
            raise UbemuError(f"op {op.name!r}: npus must lie in 0..{topology.n_npus - 1}")
        if (flat[1:] == flat[:-1]).any():
            raise UbemuError(f"op {op.name!r}: an NPU appears in two replicas (npus)")
        return comm, rows
    if op.every:
        return every_group(topology, op.group)
    comm = group_of(topology, op.group)
    return comm, comm.npus[None, :]


def profile_op(op, topology, record=True, max_work=None):
    """Time ``op`` alone on ``topology`` (a Topology); with ``record`` keep its segments.

    ``algorithm="auto"`` picks the fastest algorithm for one group alone
    (:func:`ubemu.engine.choose`, in this process: a workload is one process's work); the
    replicas then run that one.
    """
    comm, rows = groups_of(op, topology)
    g, n = rows.shape
    dt = get_dtype(op.dtype)
    options = dict(op.options)
    notes = {}
    protocol = "simple"
    if op.collective == SENDRECV:
        if op.algorithm not in ("auto", "direct"):
            raise UbemuError(f"op {op.name!r}: sendrecv has one algorithm, 'direct', "
                             f"got {op.algorithm!r}")
        count = max(1, op.nbytes // dt.itemsize)  # a pipeline's send: rank r to r + 1
        sched = build_schedule(SENDRECV, "direct", comm, count, data=False,
                               **{"chain": True, **options})
        name = "direct"
    else:
        check_op(dt, op.reduction)
        count = collectives.get(op.collective).element_count(op.nbytes, dt.itemsize, comm.n)
        name = op.algorithm
        max_work = work.MAX_WORK if max_work is None else max_work
        if name == "auto":
            name, alone, auto = engine.choose(op.collective, comm, count, topology,
                                              dt.itemsize, options, ex=LocalExchange(),
                                              max_work=max_work // g)
            notes["auto_candidates"] = auto["auto_candidates"]
        get_algorithm(op.collective, name).check_fits(comm, options)
        predicted = work.predict(op.collective, name, comm, count, topology, dt.itemsize,
                                 options)
        work.refuse_if_too_big(op.collective, name, comm, predicted.times(g), max_work)
        if len(offered(topology.params)) > 1:  # the fastest protocol for one group alone
            if op.algorithm != "auto":
                alone = engine.time_only(op.collective, name, comm, count, topology,
                                         dt.itemsize, options, ex=LocalExchange())
            protocol = alone.protocol
        options = engine.resolved_options(op.collective, name, topology, count, dt.itemsize,
                                          options)
        sched = build_schedule(op.collective, name, comm, count, data=False, **options)
    timer = StepTimer(topology, rows.reshape(-1),
                      protocols=resolve(protocol, topology.params, sched.protocols))
    if record:
        timer.capture = []
    # recording routes every transfer (no repeated patterns), so replicas stay compact: the
    # timer then routes one replica of each shape (ubemu.timing.replicas)
    time_steps(sched, (replicate(e, g, n, compact=record) for s in sched.steps()
                       for e in explicit_steps(s)), timer, dt.itemsize)
    usage, bottleneck = timer.usage()
    segments = _segments(timer) if record else None
    return Profile(name, g, n, count * dt.itemsize, timer.exact_time, timer.n_steps, usage,
                   bottleneck, segments, notes)


def _segments(timer):
    """The timer's recorded units as :class:`Segment` s, equal neighbours merged."""
    out = []
    for ids, nbytes, link_s, dt, k, class_bytes in timer.capture:
        if link_s > 0:
            cls = np.searchsorted(timer.class_first, ids, side="right") - 1
            weight = timer.weight[ids] if timer.weight.size else 1.0
            use = nbytes * weight / (timer.class_cap_Bps[cls] * link_s)
        else:
            ids, use = ids[:0], nbytes[:0]
        fixed_s = float(max(dt - link_s, 0.0))
        prev = out[-1] if out else None
        if prev is not None and prev.bw_s == link_s and prev.fixed_s == fixed_s \
                and prev.ids.size == ids.size and np.array_equal(prev.ids, ids) \
                and np.array_equal(prev.use, use) \
                and np.array_equal(prev.class_bytes, class_bytes):
            prev.k += k
            continue
        out.append(Segment(ids, use, float(link_s), fixed_s, int(k), class_bytes))
    timer.capture = None
    return out
