"""One workload operation timed alone, step by step: what the workload engine shares out.

:func:`profile_op` resolves an :class:`ubemu.workloads.ops.Op` into its groups (one, or every group
of its kind as lockstep replicas), builds its timing-only schedule once (on one group: the
replicas are translates of it) and times every replica's transfers together
(:func:`ubemu.lockstep.replicate`), so replicas that share a link share it in every step.
With ``record`` each timed unit becomes a :class:`Segment`: the links it loads and how much
of each it uses, split into its bandwidth term (what contention stretches) and the rest
(latency, message costs, overhead, reduction: fixed). A run of equal units is one segment.
"""

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .. import collectives, engine
from ..algorithms import build_schedule, get_algorithm, work
from ..data.dtypes import check_op, get_dtype
from ..errors import UbemuError
from ..lockstep import replicate
from ..machine.groups import every_group, group_of
from ..parallel.exchange import LocalExchange
from ..schedule import explicit_steps
from ..timing.protocols import offered
from ..timing.protocols import resolve as resolve_protocols
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


@dataclass
class Resolved:
    """An operation made ready to time: its replicas, algorithm, protocols and schedule."""

    algorithm: str
    n_groups: int
    n_ranks: int
    nbytes: int
    itemsize: int
    protocols: tuple
    notes: dict
    rows: np.ndarray | None  # int64 (n_groups, n_ranks): every replica's NPU ids
    schedule: object  # the timing-only Schedule of one group

    def steps(self, record=True):
        """The schedule's steps, each in every replica (compact while recording: the timer
        then routes one replica of each shape, :mod:`ubemu.timing.replicas`; not recording,
        small steps stay explicit, so repeated patterns are still recognised)."""
        g, n = self.n_groups, self.n_ranks
        return (replicate(e, g, n, compact=record) for s in self.schedule.steps()
                for e in explicit_steps(s))

    def timer(self, topology, record=True):
        """A fresh :class:`~ubemu.timing.timer.StepTimer` of the replicas (recording when
        ``record``)."""
        timer = StepTimer(topology, self.rows.reshape(-1), protocols=self.protocols)
        if record:
            timer.capture = []
        return timer

    def profile(self, timer, segments=None):
        """The :class:`Profile` of what ``timer`` timed (its ``segments`` end with what its
        sliced steps hid, paid once: :mod:`ubemu.timing.timer`)."""
        if segments is not None and timer.hidden_s > 0:
            segments = segments + [Segment(np.zeros(0, np.int64), np.zeros(0), 0.0,
                                           timer.hidden_s, 1, np.zeros(len(timer.class_names)))]
        usage, bottleneck = timer.usage()
        return Profile(self.algorithm, self.n_groups, self.n_ranks, self.nbytes,
                       timer.exact_time, timer.n_steps, usage, bottleneck, segments, self.notes)


def profile_op(op, topology, record=True, max_work=None):
    """Time ``op`` alone on ``topology`` (a Topology); with ``record`` keep its segments
    (:func:`resolve`, then every step)."""
    res = resolve(op, topology, max_work)
    timer = res.timer(topology, record)
    time_steps(res.schedule, res.steps(record), timer, res.itemsize)
    return res.profile(timer, segments(timer) if record else None)


def resolve(op, topology, max_work=None):
    """``op`` on ``topology`` made ready to time (:class:`Resolved`).

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
    return Resolved(name, g, n, count * dt.itemsize, dt.itemsize,
                    resolve_protocols(protocol, topology.params, sched.protocols), notes, rows,
                    sched)


def segments(timer):
    """The timer's recorded units as :class:`Segment` s, equal neighbours merged (the record
    is then gone)."""
    units, timer.capture, out = timer.capture, None, []
    for i, (ids, nbytes, link_s, dt, k, class_bytes) in enumerate(units):
        units[i] = None  # a unit's loads become its use in place (the record's own arrays)
        if link_s > 0:
            if timer.weight.size:
                np.multiply(nbytes, timer.weight[ids], out=nbytes)
            cap = timer.class_cap_Bps[np.searchsorted(timer.class_first, ids, "right") - 1]
            cap *= link_s
            use = np.divide(nbytes, cap, out=nbytes)
        else:
            ids, use = ids[:0], nbytes[:0]
        out.append(Segment(ids, use, float(link_s), float(max(dt - link_s, 0.0)), int(k),
                           class_bytes))
    return joined(out)


def joined(segs):
    """``segs`` (in order) with every run of equal neighbours merged into one (new
    segments: those given are left as they are)."""
    out = []
    for seg in segs:
        prev = out[-1] if out else None
        if prev is not None and prev.bw_s == seg.bw_s and prev.fixed_s == seg.fixed_s \
                and prev.ids.size == seg.ids.size and np.array_equal(prev.ids, seg.ids) \
                and np.array_equal(prev.use, seg.use) \
                and np.array_equal(prev.class_bytes, seg.class_bytes):
            out[-1] = dataclasses.replace(prev, k=prev.k + seg.k)  # the parts' stay as they are
            continue
        out.append(seg)
    return out
