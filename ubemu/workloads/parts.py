"""One operation's steps timed in parts (on several MPI processes) and the parts joined.

Spreading whole operations over the processes cannot go below the heaviest one: the DP
all-reduce of a plan on a million NPUs is most of the plan's work. Its steps can be spread:
part ``k`` of ``n`` times the ``k``-th run of the operation's steps (:func:`part_steps`: cut
between steps, never inside a window or a pipeline, whose steps are timed together) with a
recording timer of its own and returns that timer's totals and segments (:class:`Part`).
:func:`join` sums the parts' totals, in order, into one timer
(:meth:`ubemu.timing.totals.RunTotals.add_totals`) and chains their segments: the
:class:`~ubemu.workloads.profile.Profile` is the one :func:`~ubemu.workloads.profile.profile_op`
gives, bit for bit (``tests/workloads/test_parts.py``). The launch cost is the last part's.
"""

import dataclasses
from dataclasses import dataclass
from itertools import islice

from ..schedule import explicit_steps, steps_counted
from ..timing.timer import StepTimer
from ..timing.totals import Totals
from ..timing.walk import spans, time_steps
from .profile import Profile, Resolved, joined, segments


@dataclass
class Part:
    """A part of an operation timed alone: what :func:`join` needs of it."""

    head: Resolved  # the operation, without its replicas' NPUs and its schedule
    totals: Totals
    segments: list


def part_steps(resolved, n_parts):
    """``[(first, stop, position)]`` per part: the part times the steps ``first..stop-1``
    (counted as :meth:`~ubemu.workloads.profile.Resolved.steps` yields them), the first of
    them step ``position`` of the schedule. The parts hold as even a number of steps as the
    cuts (between steps, outside every window and pipeline) allow."""
    positions = [0]
    for s in resolved.schedule.steps():
        for e in explicit_steps(s):
            positions.append(positions[-1] + steps_counted(e))
    inside = spans(resolved.schedule, resolved.itemsize)
    cuts = [j for j, x in enumerate(positions) if not any(a < x < b for a, b in inside)]
    n = len(positions) - 1
    bounds = [0]
    for k in range(1, n_parts):  # the first cut at or after an even share
        bounds.append(max(bounds[-1], next(j for j in cuts if j >= k * n / n_parts)))
    bounds.append(n)
    return [(a, b, positions[a]) for a, b in zip(bounds, bounds[1:])]


def time_part(resolved, topology, k, n_parts):
    """Part ``k`` of ``n_parts`` of the operation ``resolved``
    (:func:`ubemu.workloads.profile.resolve`) timed alone on ``topology``: a :class:`Part`."""
    first, stop, position = part_steps(resolved, n_parts)[k]
    timer = resolved.timer(topology)
    time_steps(resolved.schedule, islice(resolved.steps(), first, stop), timer,
               resolved.itemsize, launch=k == n_parts - 1, first=position)
    return Part(dataclasses.replace(resolved, rows=None, schedule=None), timer.totals(),
                segments(timer))


def join(parts, topology):
    """The :class:`~ubemu.workloads.profile.Profile` of an operation timed in ``parts`` (a
    :class:`Part` of each of its parts, in order; a whole Profile among them, found already
    timed, is the answer)."""
    for p in parts:
        if isinstance(p, Profile):
            return p
    head = parts[0].head
    timer = StepTimer(topology, protocols=head.protocols)
    timer.add_totals([p.totals for p in parts])
    return head.profile(timer, joined([seg for p in parts for seg in p.segments]))
