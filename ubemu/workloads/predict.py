"""A workload's work and memory, predicted before it runs, and its refusal over the limits.

A workload costs two things (:func:`ubemu.workloads.run.run_workload`):

- timing each distinct operation alone (:func:`~ubemu.workloads.profile.profile_op`): the
  transfers of its algorithm's closed form (:func:`ubemu.algorithms.work.predict`; for
  ``auto``, whose choice refuses candidates over the limit itself,
  :func:`~ubemu.algorithms.work.auto_guess`) times its lockstep groups, as ``simulate``
  counts them;
- playing the operations on one clock: an *event* per timed unit (a step, or a run of equal
  steps) of each operation and repeat. The repeats of an operation that no other operation
  sharing its links overlaps are played once and counted (:mod:`.run`); those that may
  overlap such an operation (not ordered by ``after``, sharing a link) are played one by
  one, for as long as the other one can last (:func:`play_events`).

Both are counted in transfers (an event costs about :data:`EVENT_TRANSFERS`) and refused
over ``max_work`` with the memory they keep (:func:`refuse_if_too_big`): the timing and the
least play before anything is timed (:func:`check_before_timing`), the play as predicted
from the operations' links and times before it starts (:func:`check_play`).
"""

import math
from dataclasses import dataclass

import numpy as np

from .. import collectives
from ..algorithms import work
from ..data.dtypes import get_dtype
from ..data.memory import BASE_BYTES, LINK_BYTES, NPU_BYTES, GiB, OutOfMemory
from .ops import SENDRECV

#: Wall time of one event of the play, in transfers routed in the same time (measured:
#: 50-200 us an event on a loaded 2-core machine, against 2e7 transfers a second).
EVENT_TRANSFERS = 2000
#: Seconds of one event of the play (for progress estimates).
EVENT_S = EVENT_TRANSFERS / work.TRANSFERS_PER_S
#: Bytes the play keeps per event (a timeline slice and a utilisation row, besides 8 B per
#: link class; measured: 28 MiB for 80,000 events on ub-mesh-pod).
EVENT_BYTES = 300


@dataclass
class OpWork:
    """One operation's predicted cost: ``transfers`` of timing it alone (all its groups),
    ``units`` timed per repeat (an upper estimate: its steps), ``held`` transfers of its
    largest step at once, ``wall_s`` the predicted wall seconds of timing it."""

    transfers: int
    units: int
    held: int
    wall_s: float


def op_work(op, topology):
    """The :class:`OpWork` of a communication operation (None for ``compute``)."""
    from .profile import groups_of

    if op.is_compute:
        return None
    comm, rows = groups_of(op, topology)
    g = rows.shape[0]
    dt = get_dtype(op.dtype)
    if op.collective == SENDRECV:
        w = work.Work(comm.n - 1, comm.n - 1, comm.n - 1, True)
    else:
        count = collectives.get(op.collective).element_count(op.nbytes, dt.itemsize, comm.n)
        if op.algorithm == "auto":  # its choice refuses candidates over the limit itself
            w = work.auto_guess(comm.n)
        else:
            w = work.predict(op.collective, op.algorithm, comm, count, topology, dt.itemsize,
                             op.options)
    total = w.times(g)
    return OpWork(total.transfers, max(math.ceil(w.moved / max(w.peak, 1)), 1), total.held,
                  work.predicted_wall_s(total))


def _ordered_pairs(order):
    """Index pairs (i, j) of ``order`` (dependencies first) where one waits for the other."""
    index = {op.name: k for k, op in enumerate(order)}
    before = [set() for _ in order]  # every operation that ends before each one starts
    for k, op in enumerate(order):
        for dep in op.after:
            before[k] |= before[index[dep]] | {index[dep]}
    return {(i, j) for j in range(len(order)) for i in before[j]}


def _may_overlap(order):
    """For each operation the others that may run at the same time (not ordered by
    ``after``; compute operations use no link and are left out)."""
    ordered = _ordered_pairs(order)
    comm = [k for k, op in enumerate(order) if not op.is_compute]
    return {i: [j for j in comm if j != i and (i, j) not in ordered and (j, i) not in ordered]
            for i in comm}


def links_of(profile, n_links):
    """Every link a :class:`~ubemu.workloads.profile.Profile`'s timed units load, sorted (a
    mask over the ``n_links`` links: lockstep replicas load millions, which sorting took
    minutes for)."""
    mask = np.zeros(n_links, bool)
    for s in profile.segments:
        mask[s.ids] = True
    return np.flatnonzero(mask)


def play_events(order, profiles, links):
    """Events of the play once every operation is timed alone (``profiles``: the
    :class:`~ubemu.workloads.profile.Profile` of each, None for compute; ``links``: id of a
    profile -> :func:`links_of` it): an operation's
    repeats are played one by one while another operation that shares a link with it may run
    (for that one's repeats, each stretched by every operation it may share links with), the
    others once. Returns the events and the names of the operations played repeat by
    repeat."""
    overlap = _may_overlap(order)
    ids = [None if p is None else links[id(p)] for p in profiles]
    n_links = 1 + max((int(a[-1]) for a in ids if a is not None and a.size), default=0)
    mark = np.zeros(n_links, bool)
    sharing = {}
    for i, js in overlap.items():
        mark[ids[i]] = True
        sharing[i] = [j for j in js if mark[ids[j]].any()]
        mark[ids[i]] = False
    total, one_by_one = 0, []
    for i, js in sharing.items():
        op, prof = order[i], profiles[i]
        one_s = float(prof.time)
        span_s = sum(float(profiles[j].time) * order[j].repeat * (1 + len(sharing[j]))
                     for j in js)
        played = op.repeat if one_s <= 0 else \
            min(op.repeat, 2 + (math.ceil(span_s / one_s) + 1 if js else 0))
        if played > 2:
            one_by_one.append(op.name)
        total += 2 * len(prof.segments) * played + 2  # each unit's bandwidth and fixed part
    return total, one_by_one


@dataclass
class Prediction:
    """A workload's predicted work before it runs (:func:`check_before_timing`)."""

    works: list  # the OpWork of each operation (None for compute)
    transfers: int  # timing the distinct operations alone
    held: int  # transfers of the largest step timed at once

    @property
    def wall_s(self):
        """Predicted seconds of timing the operations alone (each distinct one once)."""
        return sum({id(w): w.wall_s for w in self.works if w is not None}.values())


def check_before_timing(order, topology, max_work=None, seen=None, key=None):
    """Predict every operation's work, and refuse the timing and the least play over the
    limits before anything is timed; returns the :class:`Prediction`. ``seen``: a dict of
    the works already predicted, by ``key(op)`` (default: within this workload), kept
    between calls (a sweep's workloads share most operations)."""
    from ..data.memory import available_bytes

    works, seen, key_of = [], {} if seen is None else seen, key or _key
    for op in order:
        key = key_of(op)
        if key not in seen:
            seen[key] = op_work(op, topology)
        works.append(seen[key])
    known = [w for w in seen.values() if w is not None]
    pred = Prediction(works, sum(w.transfers for w in known),
                      max((w.held for w in known), default=0))
    least = sum(2 * w.units * min(op.repeat, 2) + 2 for op, w in zip(order, works)
                if w is not None)
    refuse_if_too_big(order, pred, least, [], topology, max_work, available_bytes())
    return pred


def check_play(order, pred, profiles, links, topology, max_work, available=None):
    """Refuse the play over ``max_work`` (with the timing of ``pred``) or over memory, once
    every operation is timed (``links`` as in :func:`play_events`); returns its predicted
    events when it fits."""
    from ..data.memory import available_bytes

    events, one_by_one = play_events(order, profiles, links)
    refuse_if_too_big(order, pred, events, one_by_one, topology, max_work,
                      available_bytes() if available is None else available)
    return events


def refuse_if_too_big(order, pred, events, one_by_one, topology, max_work, available=None):
    """Raise :class:`~ubemu.algorithms.work.TooMuchWork` when timing the operations alone
    (``pred``) and ``events`` of the play exceed ``max_work`` transfers, or
    :class:`~ubemu.data.memory.OutOfMemory` when they need more than ``available`` bytes;
    one line with the prediction and what to do instead (``one_by_one``: the operations
    whose repeats overlap others on shared links)."""
    max_work = work.MAX_WORK if max_work is None else max_work
    total = pred.transfers + events * EVENT_TRANSFERS
    names = " and ".join(map(repr, one_by_one))
    why = f" ({names} repeat while others share their links)" if one_by_one else ""
    hint = (f"order the operations with after = [...] or repeat {names} fewer times"
            if one_by_one else "time fewer or smaller operations")
    if total > max_work:
        raise work.TooMuchWork(
            f"work: workload of {len(order)} operations would route about "
            f"{pred.transfers:.3g} transfers timing them alone and play about {events:.3g} "
            f"steps together{why}, about {total:.3g} transfers of work (roughly "
            f"{work.duration_text(total / work.TRANSFERS_PER_S)}), over the limit of "
            f"{max_work:.3g} (raise it with --max-work / max_work=); {hint}",
            work.Work(total, 0, 0, False), max_work)
    need = (BASE_BYTES + LINK_BYTES * topology.n_links + NPU_BYTES * topology.n_npus
            + work.STEP_BYTES * pred.held
            + events * (EVENT_BYTES + 8 * len(topology.link_classes)))
    if available is not None and need > available:
        raise OutOfMemory(f"memory: workload of {len(order)} operations would need about "
                          f"{need / GiB:.1f} GiB to time and play {events:.3g} steps{why}, "
                          f"but only {available / GiB:.1f} GiB is available; {hint}",
                          need, available)


def _key(op):
    """What makes two operations the same work to time (profiles are cached alike)."""
    if op.npus is not None:
        return ("npus", op.name)
    return (op.collective, op.nbytes, str(op.group), op.every, op.algorithm, op.dtype,
            op.reduction, repr(sorted(op.options.items())))
