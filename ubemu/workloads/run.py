"""Workloads: several operations in flight at once, sharing links; a training step's timeline.

:func:`run_workload` times every distinct operation alone once
(:func:`ubemu.workloads.profile.profile_op`, cached: :mod:`ubemu.workloads.cache`), then
plays them together on one clock. Each operation walks its own steps; a step is its
bandwidth term (stretched when links are shared) followed by the rest of its time
(latency, message costs, overhead, reduction: unchanged). Whenever an operation starts,
ends or changes step, the rates of those in their bandwidth term are shared out max-min
fairly (:mod:`ubemu.workloads.sharing`). A run of ``k`` equal steps is played as its ``k`` bandwidth
terms, then its ``k`` fixed parts (exact alone; under contention it moves when a link is
idle within the run, not how much it carries).

``repeat``: at the start of each repeat after the first, an operation that no other running
operation shares a link with plays, in one event, as many whole repeats as end before
anything could change that (another operation starts, or could end and start those waiting
for it): alone it runs at its solo speed, so they take exactly ``m`` times its solo time.
A million repeats of an operation alone cost what two do; only repeats that overlap another
operation on shared links are played one by one. The work (timing every operation alone,
then the play) is predicted and refused over ``max_work`` before anything is timed, and the
play again before it starts (:mod:`ubemu.workloads.predict`).

An operation that never ran slower than alone ends exactly ``simulate``'s time after its
start (the exact sum of its steps); identical lockstep replicas are one operation. An
operation starts at ``at_s``, or when the operations in its ``after`` end, plus ``gap_s`` of
compute. Exposed communication is the time in which some operation communicates and no
compute runs (``compute`` operations and the ``gap_s`` before an operation).

Utilisation is given two ways, per link class: machine-wide (the class's bytes over all its
links' capacity) and over the links the operations use (the group's figure: over the links
any operation loads at some time; over time, the links carrying a bandwidth term now).
"""

from dataclasses import dataclass, field, replace

import numpy as np

from ..engine import on_root
from ..errors import keywords_checked
from ..kernels import occupancy
from ..machine.faults import with_faults
from ..machine.spec import resolve_topology
from ..result import ClassUsage
from . import cache, predict
from .intervals import intersect, measure, union
from .ops import check_ops
from .sharing import FairShare

#: A phase counts as ended when this little (relative) is left of it.
TOL = 1e-12
#: Play the repeats of an operation alone at once (False: one by one; the same times).
SKIP_REPEATS = True


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
    slices: list = field(default_factory=list)  # (op index, segment, steps, start, end)
    #: (time, utilisation per class, utilisation per class of the links in use at that time)
    counters: list = field(default_factory=list)

    def to_dict(self):
        return {"topology": self.topology, "makespan_s": self.makespan_s,
                "exposed_s": self.exposed_s, "bottleneck": self.bottleneck,
                "ops": [op.to_dict() for op in self.ops],
                "usage": [vars(u) for u in self.usage], "timeline": self.timeline()}

    def timeline(self):
        """The run over time, column by column (what ``ubemu plot`` draws a step from):
        ``ops`` (``name``, ``collective``, ``start_s``, ``end_s`` of each of :attr:`ops`),
        ``slices`` (per run of equal steps: ``op``, an index into ``ops``, ``steps``,
        ``start_s``, ``end_s``) and ``counters`` (``time_s`` and, per time, the
        ``utilisation`` of each class of ``classes`` and its ``group_utilisation``: over the
        links carrying a bandwidth term then; a row holds until the next)."""
        cols = list(zip(*self.slices)) or [()] * 5
        times, util, group = [], [], []
        for t, u, g in self.counters:
            u, g = u.tolist(), g.tolist()
            if util and u == util[-1] and g == group[-1]:
                continue
            times.append(t)
            util.append(u)
            group.append(g)
        return {"ops": {k: [getattr(op, k) for op in self.ops]
                        for k in ("name", "collective", "start_s", "end_s")},
                "slices": {"op": list(cols[0]), "steps": list(cols[2]),
                           "start_s": list(cols[3]), "end_s": list(cols[4])},
                "counters": {"classes": list(self.class_names), "time_s": times,
                             "utilisation": util, "group_utilisation": group}}


class _Running:
    """An operation on the clock: its segments, where it is, how it was limited.

    ``phase`` is ``"bw"`` (its bandwidth term, stretched when links are shared), ``"fixed"``
    (the rest of the segment) or ``"skip"`` (``skip`` whole repeats played at once, alone).
    """

    def __init__(self, index, profile, repeat, start, links):
        self.index, self.prof, self.start, self.links = index, profile, start, links
        segs = profile.segments
        self.one_s = float(profile.time)  # one repeat alone, and the link use it averages
        class_bytes = sum(s.class_bytes * s.k for s in segs)
        self.class_Bps = class_bytes / self.one_s if self.one_s > 0 else 0 * class_bytes
        self.units = sum(s.k for s in segs)
        if len(segs) == 1 and repeat > 1:  # one segment repeated: one longer segment
            s = segs[0]
            segs = [replace(s, k=s.k * repeat)]
            repeat = 1
        self.segs, self.repeat, self.total = segs, repeat, len(segs) * repeat
        seg_s = [(s.bw_s + s.fixed_s) * s.k for s in segs]
        self.after_s = np.cumsum(seg_s[::-1])[::-1].tolist()[1:] + [0.0]  # later in a repeat
        self.first = next((k for k, s in enumerate(segs) if (s.bw_s + s.fixed_s) * s.k > 0), 0)
        self.j, self.slowed, self.skip, self.fresh = -1, False, 0, False
        self.limited, self._busiest = {}, {}
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
                break
            if s.fixed_s * s.k > 0:
                self.phase, self.left = "fixed", s.fixed_s * s.k
                break
            self.j += 1
        else:
            return False
        n = len(self.segs)
        self.fresh = self.j >= n and self.j % n == self.first  # a repeat after the first begins
        return True

    def busiest_class(self, class_first):
        """The class of the current segment's busiest link (-1: it loads none), found once
        per segment."""
        pos = self.j % len(self.segs)
        if pos not in self._busiest:
            s = self.seg
            self._busiest[pos] = int(np.searchsorted(class_first, s.ids[np.argmax(s.use)],
                                                     "right") - 1) if s.ids.size else -1
        return self._busiest[pos]

    def least_left_s(self):
        """The least time the operation still needs (alone, at its full speed)."""
        n = len(self.segs)
        q, pos = divmod(self.j, n)
        if self.phase == "skip":
            return self.left + (self.repeat - q - self.skip) * self.one_s
        s = self.seg
        now = self.left + (s.fixed_s * s.k if self.phase == "bw" else 0.0)
        return now + self.after_s[pos] + (self.repeat - q - 1) * self.one_s


@keywords_checked
def run_workload(ops, topology=None, max_work=None, faults=None, routing="minimal",
                 progress=None):
    """Time the operations ``ops`` together on ``topology`` (see the module docstring).

    In an MPI job each distinct operation is timed alone once, the operations dealt over the
    processes heaviest first, one heavier than its share timed in parts
    (:func:`ubemu.workloads.cache.spread_profiles`); process 0 plays them on one clock, and
    every process returns its result.

    Parameters
    ----------
    ops : list of ubemu.workloads.ops.Op
    topology : Topology or str, optional
        Default ``ub-mesh-rack``.
    max_work : int, optional
        Transfers of work above which the workload is refused before it runs (timing each
        operation alone, and the play: :mod:`ubemu.workloads.predict`; default
        :data:`ubemu.algorithms.work.MAX_WORK`).
    faults, routing
        Failed links, NPUs and planes, and the routing around them (:mod:`ubemu.machine.faults`).
    progress : callable, optional
        ``progress(fraction, label)``: the fraction (0..1) of the predicted work done and what
        runs now (an operation timed alone, or the play), as it goes.

    Returns
    -------
    WorkloadResult
    """
    topo = with_faults(resolve_topology(topology), faults, routing)
    order = check_ops(list(ops))
    timed = _profiles(order, topo, max_work, progress)  # on process 0 (None elsewhere)
    return on_root(lambda: _run(topo, order, *timed, max_work, progress))


def _profiles(order, topo, max_work, progress):
    """Every operation timed alone (None for compute), once the work is predicted and found
    within the limits: each distinct one once, spread over an MPI job's processes
    (:func:`ubemu.workloads.cache.spread_profiles`); tells ``progress`` the
    fraction done. Returns, on process 0, the profiles, the prediction and the predicted
    seconds they took; Nones elsewhere."""
    pred = cache.predict_work(order, topo, max_work)
    total_s = pred.wall_s + sum(4 * w.units for w in pred.works if w) * predict.EVENT_S
    comm, first, where = [], {}, []  # the distinct operations; each one's among them
    for op, w in zip(order, pred.works):
        key = None if op.is_compute else cache.key(op, topo, max_work)
        if key is not None and key not in first:
            first[key] = len(comm)
            comm.append((op, w))
        where.append(first.get(key))
    done_s, counted = [0.0], set()

    def landed(k, _):
        w = comm[k][1]
        if w is not None and id(w) not in counted:
            done_s[0] += w.wall_s
            counted.add(id(w))
        if progress is not None and k + 1 < len(comm):
            progress(min(done_s[0] / total_s, 1.0), f"timing {comm[k + 1][0].name} alone")

    if progress is not None and comm:
        progress(0.0, f"timing {comm[0][0].name} alone")
    timed = cache.spread_profiles([op for op, _ in comm], topo, max_work, on_result=landed,
                                  everywhere=False)
    if timed is None:
        return None, None, None
    return [None if k is None else timed[k] for k in where], pred, done_s[0]


def _run(topo, order, profiles, pred, done_s, max_work, progress=None):
    """Play the operations ``order`` (checked), each timed alone (``profiles``; ``pred``
    their predicted work, ``done_s`` the predicted seconds spent timing them), on one clock,
    once the play's work is predicted and found within ``max_work``."""
    links = {id(p): predict.links_of(p, topo.n_links) for p in profiles if p is not None}
    events = predict.check_play(order, pred, profiles, links, topo, max_work)
    total_s = done_s + events * predict.EVENT_S
    classes = topo.link_classes
    cap = np.array([c.bw_GBps * 1e9 * c.count for c in classes]) * topo.class_efficiency()
    class_first = np.array([c.first_id for c in classes], np.int64)
    users = np.zeros(topo.n_links, np.int32)  # operations in their bandwidth term, per link
    occupied = np.zeros(len(classes), np.int64)  # links some operation's bandwidth term loads
    claimed = np.zeros(topo.n_links, np.int32)  # running operations that may load each link
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
        claimed[r.links] -= 1

    def loaded(r):
        """The links ``r`` loads now: its segment's in its bandwidth term, every link of its
        profile while whole repeats play at once."""
        return r.seg.ids if r.phase == "bw" else r.links if r.phase == "skip" else None

    def enter(r):
        if loaded(r) is not None:
            occupancy.enter(loaded(r), users, class_first, occupied)

    def leave(r):
        if loaded(r) is not None:
            occupancy.leave(loaded(r), users, class_first, occupied)

    def skip_repeats(r):
        """Play whole repeats of ``r`` at once while nothing can share its links."""
        r.fresh = False
        if not SKIP_REPEATS or claimed[r.links].max(initial=0) > 1:  # others may share them
            return
        horizon = min([start[k] for k in waiting if k in start and start[k] > t]
                      + [t + o.least_left_s() for o in running.values() if o is not r],
                      default=np.inf)
        q = r.j // len(r.segs)
        m = r.repeat - q if horizon == np.inf else \
            min(r.repeat - q, int((horizon - t) // r.one_s) if r.one_s > 0 else 0)
        if m >= 2:
            leave(r)
            r.phase, r.left, r.skip = "skip", m * r.one_s, m
            enter(r)

    waiting = set(range(len(order)))
    played = 0
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
            r = _Running(i, profiles[i], op.repeat, start[i], links[id(profiles[i])])
            claimed[r.links] += 1
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
        for r in running.values():
            if r.fresh:
                skip_repeats(r)
        played += 1
        if progress is not None and played % 1024 == 0:
            progress(min((done_s + played * predict.EVENT_S) / total_s, 1.0), "playing")
        rates = _rates(running, users, class_first, share)
        util = np.zeros(len(classes))
        for i, r in running.items():
            if r.phase == "bw":
                util += rates[i] * r.seg.class_bytes / r.seg.bw_s
            elif r.phase == "skip":
                util += r.class_Bps
        counters.append((t, util, occupied.copy()))  # bytes/s; divided once at the end
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
            span_s = r.skip * r.one_s if r.phase == "skip" else \
                (r.seg.bw_s + r.seg.fixed_s) * r.seg.k
            if dts[i] > dt * (1 + TOL) and r.left > TOL * span_s:
                continue
            leave(r)
            if r.phase == "bw" and r.seg.fixed_s > 0:
                r.phase, r.left = "fixed", r.seg.fixed_s * r.seg.k
                continue
            if r.phase == "skip":  # the repeats played at once, then on from the next one
                slices.append((i, r.j, r.skip * r.units, r.seg_start, t + dt))
                r.j = (r.j // len(r.segs) + r.skip) * len(r.segs) - 1
                r.skip = 0
            else:
                slices.append((i, r.j, r.seg.k, r.seg_start, t + dt))
            r.seg_start = t + dt
            if r.next_segment():
                enter(r)
            else:
                del running[i]
                finish(r, t + dt)
        t += dt
    counters.append((t, np.zeros(len(classes)), np.zeros(len(classes), np.int64)))
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
        r.limit_class = r.busiest_class(class_first)
        if occupancy.shared(r.seg.ids, users):
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
    used = np.zeros(topo.n_links, bool)  # links any operation loads
    for prof in profiles:
        for seg in prof.segments if prof is not None else ():
            used[seg.ids] = True
    links = np.array([c.count for c in classes], np.int64)
    links_used = np.array([np.count_nonzero(used[c.first_id:c.first_id + c.count])
                           for c in classes], np.int64)
    util = _share(nbytes, cap * makespan)
    group = _share(nbytes, cap / np.maximum(links, 1) * links_used * makespan)
    usage = [ClassUsage(c.name, c.level, float(b), float(s), float(u), int(n), int(k), float(g))
             for c, b, s, u, n, k, g in zip(classes, nbytes, busy, util, links, links_used,
                                            group)]
    bottleneck = names[int(np.argmax(busy))] if busy.size and busy.max() > 0 else ""
    rate = np.array([r for _, r, _ in counters]).reshape(-1, len(classes))
    occupied = np.array([k for _, _, k in counters]).reshape(rate.shape)
    whole = _share(rate, np.broadcast_to(cap, rate.shape))
    in_use = _share(rate, cap / np.maximum(links, 1) * occupied)
    counters = [(t, w, g) for (t, _, _), w, g in zip(counters, whole, in_use)]
    return WorkloadResult(topo.name, makespan, exposed, results, usage, bottleneck, names,
                          slices, counters)


def _share(nbytes, capacity):
    """``nbytes / capacity`` (0 where there is no capacity)."""
    return np.divide(nbytes, capacity, out=np.zeros_like(nbytes), where=capacity > 0)
