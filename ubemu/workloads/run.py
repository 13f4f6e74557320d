"""Workloads: several operations in flight at once, sharing links; a training step's timeline.

:func:`run_workload` times every operation alone once (:func:`ubemu.workloads.profile.profile_op`,
cached), then plays them together on one clock. Each operation walks its own steps; a step
is its bandwidth term (stretched when links are shared) followed by the rest of its time
(latency, message costs, overhead, reduction: unchanged). Whenever an operation starts,
ends or changes step, the rates of those in their bandwidth term are shared out max-min
fairly (:mod:`ubemu.workloads.sharing`). A run of ``k`` equal steps is played as its ``k`` bandwidth
terms, then its ``k`` fixed parts (exact alone; under contention it moves when a link is
idle within the run, not how much it carries).

An operation that never ran slower than alone ends exactly ``simulate``'s time after its
start (the exact sum of its steps); identical lockstep replicas are one operation. An
operation starts at ``at_s``, or when the operations in its ``after`` end, plus ``gap_s`` of
compute. Exposed communication is the time in which some operation communicates and no
compute runs (``compute`` operations and the ``gap_s`` before an operation).
"""

from dataclasses import dataclass, field

import numpy as np

from ..engine import on_root
from ..machine.faults import with_faults
from ..machine.spec import resolve_topology
from ..parallel.spread import spread
from ..result import ClassUsage
from .intervals import intersect, measure, union
from .ops import check_ops
from .profile import profile_op
from .sharing import FairShare

#: A phase counts as ended when this little (relative) is left of it.
TOL = 1e-12
#: Most profiles kept between calls (the same operation on the same topology).
CACHE_SIZE = 64
_cache = {}


@dataclass
class OpResult:
    """One operation of a workload: when it ran, against running alone."""

    name: str
    collective: str
    algorithm: str
    n_groups: int
    n_ranks: int
    nbytes: int
    start_s: float
    end_s: float
    alone_s: float
    bottleneck: str
    slowed: bool = False

    @property
    def duration_s(self):
        return self.end_s - self.start_s

    @property
    def slowdown(self):
        return self.duration_s / self.alone_s if self.alone_s > 0 else 1.0

    def to_dict(self):
        d = dict(vars(self))
        d["duration_s"], d["slowdown"] = self.duration_s, self.slowdown
        return d


@dataclass
class WorkloadResult:
    """A workload's timeline: per operation, the makespan, exposed communication, usage."""

    topology: str
    makespan_s: float
    exposed_s: float
    ops: list
    usage: list
    bottleneck: str
    class_names: list = field(default_factory=list)
    slices: list = field(default_factory=list)  # (op index, first step, steps, start, end)
    counters: list = field(default_factory=list)  # (time, utilisation per class)

    def to_dict(self):
        return {"topology": self.topology, "makespan_s": self.makespan_s,
                "exposed_s": self.exposed_s, "bottleneck": self.bottleneck,
                "ops": [op.to_dict() for op in self.ops],
                "usage": [vars(u) for u in self.usage]}


def _profile(op, topology, max_work):
    if op.npus is not None:
        npus_key = hash(np.ascontiguousarray(op.npus, np.int64).tobytes())
    else:
        npus_key = None
    key = (id(topology), op.collective, op.nbytes, str(op.group), op.every, npus_key,
           op.algorithm, op.dtype, op.reduction, repr(sorted(op.options.items())), max_work)
    hit = _cache.get(key)
    if hit is None or hit[0] is not topology:
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        hit = _cache[key] = (topology, profile_op(op, topology, max_work=max_work))
    return hit[1]


class _Running:
    """An operation on the clock: its segments, where it is, how it was limited."""

    def __init__(self, index, profile, repeat, start):
        self.index, self.prof, self.start = index, profile, start
        segs = profile.segments
        if len(segs) == 1 and repeat > 1:  # one segment repeated: one longer segment
            s = segs[0]
            segs = [type(s)(s.ids, s.use, s.bw_s, s.fixed_s, s.k * repeat, s.class_bytes)]
            repeat = 1
        self.segs, self.total = segs, len(segs) * repeat
        self.j, self.slowed = -1, False
        self.limited = {}
        self.seg_start = start
        self.next_segment()

    @property
    def seg(self):
        return self.segs[self.j % len(self.segs)]

    def next_segment(self):
        """Enter the next segment with work; False when the operation is done."""
        self.j += 1
        while self.j < self.total:
            s = self.seg
            if s.bw_s * s.k > 0:
                self.phase, self.left = "bw", s.bw_s * s.k
                return True
            if s.fixed_s * s.k > 0:
                self.phase, self.left = "fixed", s.fixed_s * s.k
                return True
            self.j += 1
        return False


def run_workload(ops, topology=None, max_work=None, faults=None, routing="minimal"):
    """Time the operations ``ops`` together on ``topology`` (see the module docstring).

    In an MPI job the operations are timed alone on the processes in turn
    (:func:`ubemu.parallel.spread.spread`), process 0 plays them on one clock, and every
    process returns its result.

    Parameters
    ----------
    ops : list of ubemu.workloads.ops.Op
    topology : Topology or str, optional
        Default ``ub-mesh-rack``.
    max_work : int, optional
        Transfers above which an operation is refused (:mod:`ubemu.algorithms.work`).
    faults, routing
        Failed links, NPUs and planes, and the routing around them (:mod:`ubemu.machine.faults`).

    Returns
    -------
    WorkloadResult
    """
    topo = with_faults(resolve_topology(topology), faults, routing)
    order = check_ops(list(ops))
    comm_ops = [op for op in order if not op.is_compute]
    timed = spread(comm_ops, lambda op: _profile(op, topo, max_work), everywhere=False,
                   weights=[_weight(op, topo) for op in comm_ops])
    profiles = None  # on process 0 only, which plays them
    if timed is not None:
        alone = iter(timed)
        profiles = [None if op.is_compute else next(alone) for op in order]
    return on_root(lambda: _run(topo, order, profiles))


def _weight(op, topology):
    """A rough cost of timing ``op`` alone, to share the operations out over processes:
    the NPUs it runs on times its group size (steps and peers grow with it)."""
    if op.npus is not None:
        rows = np.atleast_2d(op.npus)
        return rows.size * rows.shape[1]
    return topology.n_npus * topology.n_npus if op.every else topology.n_npus


def _run(topo, order, profiles):
    """Play the operations ``order`` (checked), each timed alone (``profiles``), on one
    clock."""
    classes = topo.link_classes
    cap = np.array([c.bw_GBps * 1e9 * topo.params.efficiency * c.count for c in classes])
    class_first = np.array([c.first_id for c in classes], np.int64)
    users = np.zeros(topo.n_links, np.int32)  # operations in their bandwidth term, per link
    share = FairShare(topo.n_links)
    start = {}
    end = {}
    compute = []
    results = [None] * len(order)
    slices, counters = [], []
    running = {}
    t = 0.0

    def ready(i):
        op = order[i]
        base = max([op.at_s] + [end[d] for d in op.after])
        if op.gap_s > 0:
            compute.append((base, base + op.gap_s))
        return base + op.gap_s

    def finish(r, when):
        op, prof = order[r.index], r.prof
        exact = r.start + float(prof.time * op.repeat) if not r.slowed else when
        bottleneck = prof.bottleneck
        if r.slowed:  # the class of the link that held it back longest
            limited = max(r.limited, key=r.limited.get)
            bottleneck = classes[limited].name if limited >= 0 else ""
        results[r.index] = OpResult(op.name, op.collective, prof.algorithm, prof.n_groups,
                                    prof.n_ranks, prof.nbytes, r.start, exact,
                                    float(prof.time * op.repeat), bottleneck, r.slowed)
        end[op.name] = exact

    def enter(r):
        if r.phase == "bw":
            users[r.seg.ids] += 1

    def leave(r):
        if r.phase == "bw":
            users[r.seg.ids] -= 1

    waiting = set(range(len(order)))
    while waiting or running:
        for i in sorted(waiting):
            op = order[i]
            if i not in start and all(d in end for d in op.after):
                start[i] = ready(i)
        for i in sorted(k for k in waiting if k in start and start[k] <= t):
            waiting.discard(i)
            op = order[i]
            if op.is_compute:
                compute.append((start[i], start[i] + op.duration_s * op.repeat))
                end[op.name] = start[i] + op.duration_s * op.repeat
                results[i] = OpResult(op.name, op.collective, "", 0, 0, 0, start[i],
                                      end[op.name], op.duration_s * op.repeat, "")
                continue
            r = _Running(i, profiles[i], op.repeat, start[i])
            if r.j >= r.total:
                finish(r, start[i])
                continue
            running[i] = r
            enter(r)
        if not running:
            if not waiting:
                break
            upcoming = [start[k] for k in waiting if k in start]
            t = min(upcoming) if upcoming else t
            continue
        rates = _rates(running, users, class_first, share)
        util = np.zeros(len(classes))
        for i, r in running.items():
            if r.phase == "bw":
                util += rates[i] * r.seg.class_bytes / r.seg.bw_s
        counters.append((t, util / np.where(cap > 0, cap, 1.0)))
        dts = {i: r.left / (rates[i] if r.phase == "bw" else 1.0) for i, r in running.items()}
        upcoming = [start[k] - t for k in waiting if k in start and start[k] > t]
        dt = min(list(dts.values()) + upcoming)
        for i, r in list(running.items()):
            if r.phase == "bw":
                r.left -= dt * rates[i]
                cls = r.limit_class
                r.limited[cls] = r.limited.get(cls, 0.0) + dt
            else:
                r.left -= dt
            if dts[i] > dt * (1 + TOL) and r.left > TOL * (r.seg.bw_s + r.seg.fixed_s) * r.seg.k:
                continue
            leave(r)
            if r.phase == "bw" and r.seg.fixed_s > 0:
                r.phase, r.left = "fixed", r.seg.fixed_s * r.seg.k
                continue
            slices.append((i, r.j, r.seg.k, r.seg_start, t + dt))
            r.seg_start = t + dt
            if r.next_segment():
                enter(r)
            else:
                del running[i]
                finish(r, t + dt)
        t += dt
    counters.append((t, np.zeros(len(classes))))
    return _result(topo, order, profiles, results, compute, slices, counters, cap)


def _rates(running, users, class_first, share):
    """Each running operation's speed (1.0 outside its bandwidth term); sets ``limit_class``
    on each of those in their bandwidth term (``share``: a
    :class:`~ubemu.workloads.sharing.FairShare`)."""
    rates = {i: 1.0 for i in running}
    shared = []
    for i, r in running.items():
        if r.phase != "bw":
            continue
        s = r.seg
        r.limit_class = int(np.searchsorted(class_first, s.ids[np.argmax(s.use)], "right") - 1) \
            if s.ids.size else -1
        if s.ids.size and users[s.ids].max() > 1:
            shared.append(i)
    if len(shared) > 1:
        got, limit = share([running[i].seg for i in shared], users)
        for i, y, lk in zip(shared, got, limit):
            rates[i] = float(y)
            if y < 1.0:
                running[i].slowed = True
                running[i].limit_class = int(np.searchsorted(class_first, lk, "right") - 1)
    return rates


def _result(topo, order, profiles, results, compute, slices, counters, cap):
    """The WorkloadResult of a finished run (``cap``: each class's total capacity, B/s)."""
    classes = topo.link_classes
    makespan = max((r.end_s for r in results), default=0.0)
    comm = [(r.start_s, r.end_s) for r, op in zip(results, order) if not op.is_compute]
    exposed = measure(comm) - measure(intersect(union(comm), union(compute)))
    names = [c.name for c in classes]
    nbytes, busy = np.zeros(len(classes)), np.zeros(len(classes))
    for prof, op in zip(profiles, order):
        if prof is not None:
            nbytes += np.array([u.bytes for u in prof.usage]) * op.repeat
            busy += np.array([u.busy_s for u in prof.usage]) * op.repeat
    denom = cap * makespan
    util = np.divide(nbytes, denom, out=np.zeros_like(nbytes), where=denom > 0)
    usage = [ClassUsage(c.name, c.level, float(b), float(s), float(u))
             for c, b, s, u in zip(classes, nbytes, busy, util)]
    bottleneck = names[int(np.argmax(busy))] if busy.size and busy.max() > 0 else ""
    return WorkloadResult(topo.name, makespan, exposed, results, usage, bottleneck, names,
                          slices, counters)
