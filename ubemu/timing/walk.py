"""Walking a schedule's steps through a :class:`~ubemu.timing.timer.StepTimer`.

:func:`time_steps` drives the timer over a schedule's steps, honouring its windows (steps
timed as one) and pipelines (steps whose chunks overlap), handing runs of ring steps to
:mod:`ubemu.timing.shifts` at once and counting the collective's launch cost;
:func:`time_schedule` and :func:`time_protocols` time a whole schedule on a topology, under
one protocol or several in one walk.
"""

import numpy as np

from ..errors import UbemuError
from ..schedule import ShiftSteps, explicit_steps, steps_counted
from .pipeline import chunk_count
from .protocols import SIMPLE
from .shifts import time_shift_steps
from .timer import StepTimer


def time_steps(schedule, steps, timer, itemsize, launch=True, first=0):
    """Drive ``timer`` over ``steps`` (an iterable of ``schedule``'s steps, the first of them
    step ``first`` of the schedule), honouring the schedule's windows and pipelines (the
    steps' repeats are cut at their boundaries), and count the collective's launch cost
    (unless ``launch`` is False). A compact step with a ``span`` stands for a whole window of
    that many steps, timed as one step."""
    windows = _windows(schedule)
    pipes = _pipelines(schedule, itemsize)
    sums = sorted(tuple(map(int, r)) for r in getattr(schedule, "link_sums", ()))
    cuts = sorted({x for w in windows + sums for x in w}
                  | {x for a, b, _, _ in pipes for x in (a, b)})

    def begin(pos):
        for a, _, chunks, chunk_bytes in pipes:
            if a == pos and not timer.in_pipeline:
                timer.begin_pipeline(chunks, chunk_bytes)
        if any(a == pos for a, _ in sums):
            timer.begin_link_sums()

    def finish(pos):
        if any(b == pos for _, b in sums):
            timer.end_link_sums()
        if any(b == pos for _, b, _, _ in pipes) and timer.in_pipeline:
            if timer.in_window:
                timer.end_window()
            timer.end_pipeline()

    for k, step in _compact_rings(steps, timer, itemsize, not windows, pipes, first, sums):
        span = getattr(step, "span", 1)
        if span > 1:
            if (k, k + span) not in windows or step.repeat != 1:
                raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a step "
                                 f"standing for steps {k}..{k + span - 1} is not a window")
            begin(k)
            timer.step_time(step, itemsize)
            timer.n_steps += span - 1
            finish(k + span)
            continue
        if not cuts:
            timer.step_time(step, itemsize)
            continue
        pos, end = k, k + step.repeat
        while pos < end:
            begin(pos)
            stop = min([end] + [x for x in cuts if x > pos])
            inside = [w for w in windows if w[0] <= pos < w[1]]
            if inside:
                if not timer.in_window:
                    timer.begin_window()
                timer.add_to_window(step, itemsize, stop - pos)
                if stop == inside[0][1]:
                    timer.end_window()
            else:
                timer.step_time(step, itemsize, stop - pos)
            pos = stop
            finish(pos)
    if timer.in_window:
        timer.end_window()
    if timer.in_pipeline:
        timer.end_pipeline()
    if launch:
        timer.add_launch()


def _compact_rings(steps, timer, itemsize, allowed, pipes, first=0, sums=()):
    """``(position, step)`` of ``steps`` with every :class:`~ubemu.schedule.ShiftSteps` timed at
    once where it can be (:mod:`ubemu.timing.shifts`; not while recording or spread over
    processes, nor inside a window or a run summed link by link, nor across a pipeline's
    boundary), else given one by one (``first``: the position of the first)."""
    k = first
    for step in steps:
        n = step.repeat
        whole = not any(a < k + n and k < b and not (a <= k and k + n <= b)
                        for a, b, _, _ in pipes)
        whole = whole and not any(a < k + n and k < b for a, b in sums)
        if isinstance(step, ShiftSteps) and allowed and whole and timer.capture is None \
                and not timer.spread.collective:
            starting = [(c, cb) for a, _, c, cb in pipes if a == k]
            if starting and not timer.in_pipeline:
                timer.begin_pipeline(*starting[0])
            if timer.in_pipeline:
                timer.stage(step, itemsize)
            if time_shift_steps(timer, step, itemsize):
                k += n
                if any(b == k for _, b, _, _ in pipes) and timer.in_pipeline:
                    timer.end_pipeline()
                continue
        for one in explicit_steps(step):
            yield k, one
            k += steps_counted(one)


def time_schedule(schedule, topology, npus=None, itemsize=4, loads=None, steps=None,
                  protocols=(SIMPLE,)):
    """Modelled time of ``schedule`` on ``topology`` (with the fastest of ``protocols``).

    Parameters
    ----------
    schedule : Schedule
        Preferably timing-only (``data=False``: repeated steps merged); data schedules work too.
    topology : Topology
    npus : int64 array, optional
        Topology NPU id of each rank (a communicator's ``npus``); default: rank = NPU id.
    itemsize : int
        Bytes per element.
    loads : LocalLoads or PartitionedLoads, optional
        Where link loads are summed (see :class:`StepTimer`).
    steps : iterable of Step, optional
        The steps to time (default ``schedule.steps()``): a data run passes its steps as it
        applies them.
    protocols : sequence of (name, sw, bw)
        The protocols to time (:func:`ubemu.timing.protocols.resolve`).

    Returns
    -------
    time_s : float
    usage : list of ClassUsage
    bottleneck : str
        Name of the link class whose busiest link was busy longest ("" if nothing moved).
    """
    return time_protocols(schedule, topology, npus, itemsize, loads, steps, protocols)[1:4]


def time_protocols(schedule, topology, npus=None, itemsize=4, loads=None, steps=None,
                   protocols=(SIMPLE,)):
    """:func:`time_schedule` under every one of ``protocols`` in one walk: ``(the fastest's
    name, its time_s, usage, bottleneck, {name: time_s} of all)`` (ties: the first)."""
    if npus is None:
        if schedule.n_ranks > topology.n_npus:
            raise UbemuError(f"timing: {schedule.n_ranks} ranks do not fit on topology "
                             f"{topology.name!r} of {topology.n_npus} NPUs")
        npus = np.arange(schedule.n_ranks, dtype=np.int64)
    elif len(npus) != schedule.n_ranks:
        raise UbemuError(f"timing: the communicator maps {len(npus)} ranks, the schedule has "
                         f"{schedule.n_ranks}")
    timer = StepTimer(topology, npus, loads, protocols)
    time_steps(schedule, schedule.steps() if steps is None else steps, timer, itemsize)
    times = timer.protocol_times()
    best = min(range(len(protocols)), key=lambda i: (times[protocols[i][0]], i))
    usage, bottleneck = timer.usage(best)
    return protocols[best][0], times[protocols[best][0]], usage, bottleneck, times


def spans(schedule, itemsize):
    """``(start, stop)`` of the schedule's windows and pipelines: runs of steps timed
    together, which a walk over part of the steps must not cut."""
    return _windows(schedule) + [(a, b) for a, b, _, _ in _pipelines(schedule, itemsize)]


def _pipelines(schedule, itemsize):
    """The schedule's pipelines of more than one chunk as ``(start, stop, chunks, chunk
    bytes)``, sorted and checked."""
    out = sorted((int(a), int(b), chunk_count(n, itemsize, c), int(c))
                 for a, b, c, n in getattr(schedule, "pipelines", ()))
    out = [x for x in out if x[2] > 1]
    for (a0, b0, _, _), (a1, _, _, _) in zip(out, out[1:]):
        if a1 < b0:
            raise UbemuError(f"{schedule.algorithm} {schedule.collective}: overlapping "
                             f"pipelines ({a0}, {b0}) and ({a1}, ...)")
    return out


def _windows(schedule):
    """The schedule's windows of more than one step, sorted and checked."""
    out = sorted((int(a), int(b)) for a, b in schedule.windows if int(b) - int(a) > 1)
    for (a0, b0), (a1, _) in zip(out, out[1:]):
        if a1 < b0:
            raise UbemuError(f"{schedule.algorithm} {schedule.collective}: overlapping "
                             f"windows ({a0}, {b0}) and ({a1}, ...)")
    return out
