"""How much work a run is, known before it starts: transfers, memory and a rough time.

The step-level model routes every transfer of every step it builds, so its cost grows with
the transfers, summed over the steps (a ring's ``2(p-1)`` steps of ``p`` transfers: ``2p^2``;
a one-shot all-to-all: ``p^2`` in one step). :func:`predict` counts them from the algorithm's
closed form, evaluated in a counting mode that routes nothing (:class:`ubemu.timing.costmodel.Cost`
carries the count: one transfer per message, within about 20 % of the built schedules, which
add local copies); an algorithm without a closed form (here) is counted from its schedule's
outline as one transfer per rank and step, or one per rank and peer for all-to-all (upper
estimates). :func:`refuse_if_too_big` turns a prediction over the limit into a one-line refusal.

:func:`predicted_wall_s` turns a prediction into wall seconds for progress estimates: the timing's
transfers, and for each data run its steps (``moved / peak``: a kernel call and its
bookkeeping each), its transfers and its elements (ranks x count: drawn, moved, reduced,
checked). The rates were measured on the 2-core development machine (ring, hierarchical,
direct, halving-doubling and pairwise runs on ub-mesh-rack and ub-mesh-pod, 1 KiB to 16 MiB);
an estimate scales them by the speed a sweep measures as it goes
(:class:`ubemu.cli.progress.Progress`), so only their ratios matter.
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
#: Wall seconds of a run besides its transfers (resolving, building, the result).
RUN_S = 0.01
#: Wall seconds of one step of a data run (the execute kernel's call, exchanges, timing).
DATA_STEP_S = 3e-4
#: Transfers a data run applies per second, besides its steps' fixed cost.
MOVES_PER_S = 1.7e6
#: Elements (ranks x count) a data run draws, moves, reduces and checks per second.
ELEMENTS_PER_S = 2e7


@dataclass(frozen=True)
class Work:
    """A run's predicted work (see the module docstring)."""

    transfers: int
    peak: int  # the largest step's transfers
    held: int  # the most a timing-only schedule holds at once (compact steps: one part)
    counted: bool  # from the closed form; False: one per rank and step
    moved: int = None  # transfers a data run applies (default ``transfers``; one group's)

    def __post_init__(self):
        if self.moved is None:
            object.__setattr__(self, "moved", self.transfers)

    def step_bytes(self, data=False):
        """Memory of the largest step while it is built and used (timing only, or data)."""
        return STEP_BYTES * (self.peak if data else self.held)

    def times(self, k):
        """The work of ``k`` lockstep replicas of this run (a check runs on one of them: its
        ``moved`` stays)."""
        return Work(self.transfers * k, self.peak * k, self.held * k, self.counted, self.moved)

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
            return Work(int(cost.transfers), int(cost.peak), int(cost.held), True,
                        int(cost.moved))
    sched = build_schedule(collective, name, comm, count, data=False, **options)
    per_step = comm.n * comm.n if collective in ("alltoall", "alltoallv") else comm.n  # per peer
    return Work(sched.n_steps * per_step, per_step, per_step, False)


class TooMuchWork(UbemuError):
    """A run refused for its work: ``work`` (its :class:`Work`) over ``max_work``."""

    def __init__(self, message, work, max_work):
        super().__init__(message)
        self.work, self.max_work = work, max_work


def predicted_wall_s(work, elements=0, data_runs=0):
    """Rough wall seconds of a run of ``work``, timed, and checked in ``data_runs`` data runs
    over ``elements`` (ranks x count; see the module docstring)."""
    steps = work.moved / max(work.peak, 1)
    data_s = steps * DATA_STEP_S + work.moved / MOVES_PER_S + elements / ELEMENTS_PER_S
    return RUN_S + work.transfers / TRANSFERS_PER_S + data_runs * data_s


def auto_guess(n_ranks):
    """The :class:`Work` taken for ``auto`` on ``n_ranks`` without predicting every candidate
    (at a million ranks that costs seconds): ``2 ceil(log2 p)`` steps of ``p`` transfers, the
    shape of the log-step algorithms it picks at scale."""
    steps = 2 * max(n_ranks - 1, 1).bit_length()
    return Work(steps * n_ranks, n_ranks, n_ranks, False)


def refuse_if_too_big(collective, name, comm, work, max_work, data=False):
    """Raise :class:`TooMuchWork` when ``work`` exceeds ``max_work`` transfers; the message
    gives the prediction (its largest step's memory with ``data`` or timing only) and what to
    do instead."""
    if work.transfers <= max_work:
        return
    what = (f"{collective} algorithm {name!r} on {comm.n:,} ranks would route about "
            f"{work.transfers:.3g} transfers ({work.peak:.3g} in its largest step, "
            f"{_gib(work.step_bytes(data))} GiB; roughly {duration_text(work.rough_s)})")
    limit = f"over the limit of {max_work:.3g} (raise it with --max-work / max_work=)"
    raise TooMuchWork(f"work: {what}, {limit}; try an algorithm with fewer steps or peers "
                      f"(hierarchical, auto) or ubemu.estimate() (closed forms)", work, max_work)


def _gib(nbytes):
    gib = nbytes / 2**30
    return f"{gib:,.0f}" if gib >= 100 else f"{gib:.3g}"


def duration_text(seconds):
    """``'14.1 hours'``, ``'3.5 minutes'``, ``'12 s'``: a rough time for a refusal."""
    for unit, s in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * s:
            return f"{seconds / s:.3g} {unit}"
    return f"{seconds:.2g} s"
