"""How much work a run is, known before it starts: transfers, memory and a rough time.

The step-level model routes every transfer of every step it builds, so its cost grows with
the transfers, summed over the steps (a ring's ``2(p-1)`` steps of ``p`` transfers: ``2p^2``;
a one-shot all-to-all: ``p^2`` in one step). :func:`predict` counts them from the algorithm's
closed form, evaluated in a counting mode that routes nothing (:class:`ubemu.timing.costmodel.Cost`
carries the count: one transfer per message, within about 20 % of the built schedules, which
add local copies); an algorithm without a closed form (here) is counted from its schedule's
outline as one transfer per rank and step, or one per rank and peer for all-to-all (upper
estimates). :func:`refuse_if_too_big` turns a prediction over the limit into a one-line refusal.
"""

from dataclasses import dataclass

from ..errors import UbemuError
from ..timing.costmodel import Cost, CostModel, NoClosedForm
from . import build_schedule, get_algorithm
from .channels import library_options

#: Transfers (summed over steps) above which a run is refused unless the limit is raised.
MAX_WORK = 2_000_000_000
#: Transfers the step-level model routes and times per second, for the rough time (the
#: repeated patterns of rings run faster, one-off all-to-all steps slower).
TRANSFERS_PER_S = 2e7
#: Bytes per transfer of a step while it is built and timed (5 int64 arrays + flag, x3).
STEP_BYTES = 3 * (5 * 8 + 1)


@dataclass(frozen=True)
class Work:
    """A run's predicted work (see the module docstring)."""

    transfers: int
    peak: int  # the largest step's transfers
    held: int  # the most a timing-only schedule holds at once (compact steps: one part)
    counted: bool  # from the closed form; False: one per rank and step

    def step_bytes(self, data=False):
        """Memory of the largest step while it is built and used (timing only, or data)."""
        return STEP_BYTES * (self.peak if data else self.held)

    def times(self, k):
        """The work of ``k`` lockstep replicas of this run."""
        return Work(self.transfers * k, self.peak * k, self.held * k, self.counted)

    @property
    def rough_s(self):
        return self.transfers / TRANSFERS_PER_S


def predict(collective, name, comm, count, topology, itemsize, options=None):
    """The :class:`Work` of timing ``name`` on ``comm`` (its schedule is never built)."""
    alg = get_algorithm(collective, name)
    options = library_options(alg, topology, count, itemsize, options)
    if comm.n > 1 and alg.cost is not None:
        model = CostModel(topology, comm)
        model.collective, model.counting = collective, True
        try:
            cost = alg.cost(model, count, itemsize, **options)
        except NoClosedForm:
            cost = None
        if isinstance(cost, Cost):
            return Work(int(cost.transfers), int(cost.peak), int(cost.held), True)
    sched = build_schedule(collective, name, comm, count, data=False, **options)
    per_step = comm.n * comm.n if collective == "alltoall" else comm.n  # a block per peer
    return Work(sched.n_steps * per_step, per_step, per_step, False)


def refuse_if_too_big(collective, name, comm, work, max_work, data=False):
    """Raise :class:`UbemuError` when ``work`` exceeds ``max_work`` transfers; the message
    gives the prediction (its largest step's memory with ``data`` or timing only) and what to
    do instead."""
    if work.transfers <= max_work:
        return
    what = (f"{collective} algorithm {name!r} on {comm.n:,} ranks would route about "
            f"{work.transfers:.3g} transfers ({work.peak:.3g} in its largest step, "
            f"{_gib(work.step_bytes(data))} GiB; roughly {_duration(work.rough_s)})")
    limit = f"over the limit of {max_work:.3g} (raise it with --max-work / max_work=)"
    raise UbemuError(f"work: {what}, {limit}; try an algorithm with fewer steps or peers "
                     f"(hierarchical, auto) or ubemu.estimate() (closed forms)")


def _gib(nbytes):
    gib = nbytes / 2**30
    return f"{gib:,.0f}" if gib >= 100 else f"{gib:.3g}"


def _duration(seconds):
    for unit, s in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * s:
            return f"{seconds / s:.3g} {unit}"
    return f"{seconds:.2g} s"
