"""The algorithm registry: every algorithm registered once, builder, phase and cost side by side.

Algorithms are written once as *phases along one axis* of a communicator grid
(:class:`ubemu.machine.comm.Axis`), vectorised over every rank: all the rings (or butterflies, ...)
of that axis advance in the same step. Registering a phase with ``flat="summary"`` also
registers the flat algorithm of the same name: the phase run on the whole communicator as one
line of ``n`` ranks. ``hierarchical`` chains phases over the axes. Algorithms that are not
phases (all-to-all, trees, ...) register their builder with :func:`register`.

Each rank works on a *segment* of its buffer (``seg_off``, ``seg_len``, one entry per rank):
the whole buffer for a flat collective, and after a reduce-scatter along one axis, the block
that axis left it with.

A cost is the closed form of the step-level timing model (:mod:`ubemu.estimator`):
``cost(model, axis_model, count, itemsize, **options) -> seconds`` for a phase (on a segment
of ``count`` elements), ``cost(model, count, itemsize, **options)`` for a whole algorithm,
raising :class:`NoClosedForm` where it has none.
"""

import inspect
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .. import collectives
from ..errors import UbemuError, choices_error, unknown_keyword
from ..machine.comm import Comm
from ..timing.costmodel import NoClosedForm  # noqa: F401  (costs raise it; re-exported)

#: (collective, name) -> Algorithm
REGISTRY = {}
#: (kind, name) -> Phase; kind is 'reduce_scatter', 'all_gather' or 'all_reduce'
PHASES = {}
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def blocks(seg_off, seg_len, parts, index):
    """Offset and length of block ``index`` when each segment is cut into ``parts`` blocks.

    The first ``seg_len % parts`` blocks get one element more (``split_even``'s rule).
    """
    index = np.asarray(index, np.int64)
    base, extra = seg_len // parts, seg_len % parts
    return seg_off + index * base + np.minimum(index, extra), base + (index < extra)


@dataclass(frozen=True)
class Phase:
    """A building block along one axis, usable flat and by ``hierarchical`` at any level.

    ``steps(axis, seg_off, seg_len, data, **kw)`` yields :class:`~ubemu.schedule.Step` objects,
    all lines of the axis at once. Contracts per ``kind`` (q = rank's position on the axis,
    blocks cut by :func:`blocks` into ``axis.size`` parts):

    - ``reduce_scatter``: every rank ends with block q of its segment reduced over the line;
    - ``all_gather``: every rank starts with block q valid and ends with the whole segment;
    - ``all_reduce``: every rank ends with the whole segment reduced over the line.

    ``n_steps(size)``: the step count on ``size`` ranks; ``windows(size)``: half-open ranges
    of its steps timed as one step; ``local_ok``: builds only the transfers of
    ``axis.ranks``; ``cost``: its closed form (module docstring); ``link_sums``: its steps
    load different links of a class at different steps (a tree), so a pipeline paces them
    link by link (:mod:`ubemu.timing.pipeline`).
    """

    kind: str
    name: str
    steps: object
    n_steps: object
    windows: object = None

    def windows_of(self, size):
        """The phase's windows on ``size`` ranks (none when it has no ``windows``)."""
        return tuple(self.windows(size)) if self.windows is not None else ()

    local_ok: bool = False
    cost: object = None
    link_sums: bool = False


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm: ``build(comm, count, data=True, **options) -> Schedule``.

    ``check(comm)``: None or a sentence stating the constraint not met; ``local_ok``: honours
    ``Comm.local``; ``cost``: closed form (module docstring); ``buffer(comm, count, **options)``:
    working-buffer elements per rank (default: the collective's, :mod:`ubemu.collectives`);
    ``moves(comm, count, **options)``: block moves per sending rank in an all-to-all's largest
    data step (default: one per block, ``comm.n``); ``phase``: the phase a flat algorithm runs;
    ``fixed_outline``: its schedule's step count, windows and notes do not depend on the count
    (a lower bound outlines it once per group and options,
    :func:`ubemu.algorithms.bounds.lower_bound_s`).
    """

    collective: str
    name: str
    summary: str
    build: object
    cost: object = None
    buffer: object = None
    check: object = None
    phase: Phase = None
    local_ok: bool = False
    moves: object = None
    fixed_outline: bool = False
    options: list = field(init=False, compare=False)  # the builder's keyword options

    def __post_init__(self):
        object.__setattr__(self, "options", [
            p.name for p in inspect.signature(self.build).parameters.values()
            if p.name not in ("comm", "count", "data") and p.kind in _NAMED])

    def check_options(self, options):
        """Refuse options the builder does not take, naming the valid ones."""
        valid = self.options
        for key in options:
            if key not in valid:
                raise choices_error(f"option of {self.collective} algorithm {self.name!r}",
                                    key, valid or ["(none)"])

    def check_fits(self, comm, options):
        """Refuse unknown options and a communicator the algorithm cannot run on."""
        self.check_options(options)
        why = self.check(comm) if self.check is not None else None
        if why:
            raise UbemuError(f"{self.collective} algorithm {self.name!r} cannot run on "
                             f"{comm.n} ranks {comm.shape_label}: {why}")

    def buffer_count(self, comm, count, **options):
        """Working-buffer elements per rank for ``count`` elements on ``comm``."""
        if self.buffer is not None:
            return int(self.buffer(comm, count, **options))
        return collectives.get(self.collective).buffer_counts * int(count)

    def moves_per_sender(self, comm, count, **options):
        """Block moves a sending rank makes in the largest data step of an all-to-all."""
        return int(self.moves(comm, count, **options)) if self.moves is not None else comm.n


def check_keywords(caller, own, collective, algorithm, options):
    """Refuse a keyword that neither the API function ``caller`` takes (``own``: its names)
    nor the builder of ``algorithm`` does (``auto``: any algorithm of ``collective``), naming
    it with the closest names and the valid ones. ``options``: the keywords passed on to the
    builder."""
    if not options:
        return
    if algorithm == "auto":
        takes = sorted({o for (c, _), a in REGISTRY.items() if c == collective
                        for o in a.options})
        of = f"the {collective} algorithms"
    else:
        takes = get_algorithm(collective, algorithm).options
        of = f"{collective} algorithm {algorithm!r}"
    for key in options:
        if key not in takes:
            raise unknown_keyword(caller, key, own, takes, of)


def _add(alg):
    key = (alg.collective, alg.name)
    if key in REGISTRY:
        raise ValueError(f"algorithm {key} registered twice")
    REGISTRY[key] = alg


def register(collective, name, summary, check=None, local_ok=False, cost=None, buffer=None,
             moves=None, fixed_outline=False):
    """Decorator: register a whole-collective schedule builder under (collective, name)."""
    collectives.get(collective)

    def deco(fn):
        _add(Algorithm(collective, name, summary, fn, cost=cost, buffer=buffer, check=check,
                       local_ok=local_ok, moves=moves, fixed_outline=fixed_outline))
        return fn

    return deco


def register_phase(kind, name, n_steps, *, flat=None, local_ok=False, windows=None, cost=None,
                   flat_setup=None, link_sums=False):
    """Decorator: register an axis phase (see :class:`Phase`).

    ``flat``: the summary of the flat algorithm ``(kind, name)`` to register as well (the phase
    on the whole communicator as one line). ``flat_setup(comm, **options) -> (phase kwargs,
    notes)``: the flat algorithm's options turned into arguments of the phase's steps.
    """

    def deco(fn):
        if (kind, name) in PHASES:
            raise ValueError(f"phase {(kind, name)} registered twice")
        phase = Phase(kind, name, fn, n_steps, windows, local_ok, cost, link_sums)
        PHASES[(kind, name)] = phase
        if flat is not None:
            build = partial(_flat_build, phase, flat_setup)
            if flat_setup is not None:
                build.__signature__ = _flat_signature(flat_setup)
            flat_cost = partial(_flat_cost, phase) if cost is not None else None
            _add(Algorithm(kind, name, flat, build, cost=flat_cost, phase=phase,
                           local_ok=local_ok))
        return fn

    return deco


def _flat_signature(flat_setup):
    params = list(inspect.signature(flat_setup).parameters.values())[1:]
    head = [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for k in ("comm", "count", "data")]
    return inspect.Signature(head + params)


def _flat_build(phase, flat_setup, comm, count, data=True, **options):
    from .flat import flat_schedule

    kwargs, notes = flat_setup(comm, **options) if flat_setup else ({}, {})
    n = comm.n
    steps = partial(phase.steps, **kwargs) if kwargs else phase.steps
    return flat_schedule(comm, count, phase.kind, phase.name, (steps,), phase.n_steps(n), data,
                         notes=notes, windows=phase.windows_of(n))


def _flat_cost(phase, model, count, itemsize, **options):
    return phase.cost(model, model.flat_axis(), count, itemsize, **options)


def algorithm_names(collective):
    """Names registered for ``collective``, sorted."""
    return sorted(name for coll, name in REGISTRY if coll == collective)


def get_algorithm(collective, name):
    """Look up an algorithm; an unknown collective or name lists the valid ones."""
    collectives.get(collective)
    if (collective, name) not in REGISTRY:
        raise choices_error(f"{collective} algorithm", name, algorithm_names(collective))
    return REGISTRY[(collective, name)]


def build_schedule(collective, name, comm, count, data=True, **options):
    """Build and return the schedule of ``name`` for ``collective`` on ``comm``.

    ``count`` is the collective's size in elements (see :mod:`ubemu.collectives`); collectives
    with one block per rank need ``count`` divisible by the rank count. ``comm`` may be an int
    (a flat communicator of that many ranks).
    """
    alg = get_algorithm(collective, name)
    if isinstance(comm, (int, np.integer)):
        comm = Comm.flat(comm)
    if not alg.local_ok:
        comm = comm.whole()  # builds every rank's transfers
    collectives.get(collective).check_count(count, comm.n)
    alg.check_fits(comm, options)
    sched = alg.build(comm, count, data=data, **options)
    if sched.buf_count is None:
        sched.buf_count = alg.buffer_count(comm, count, **options)
    return sched


def check_root(comm, root):
    """Refuse a root rank outside the communicator."""
    if not 0 <= root < comm.n:
        raise UbemuError(f"root {root} out of range 0..{comm.n - 1}")


def get_phase(kind, name):
    """Look up an axis phase; an unknown name lists the valid ones."""
    if (kind, name) not in PHASES:
        raise choices_error(f"{kind} per-level algorithm", name,
                            sorted(n for k, n in PHASES if k == kind))
    return PHASES[(kind, name)]


def cost_axis(model, ax):
    """The communicator axis (every line of it) that a phase costed on ``ax`` runs on: one
    axis of the group's grid, or the whole group as one line (a flat algorithm); for costs
    that route their patterns (:meth:`~ubemu.timing.costmodel.CostModel.profiled_step`)."""
    if model.is_axis(ax) and len(model.axes) > 1:
        return Comm(model.dims).axis(model.axes.index(ax))
    return Comm((model.n,)).axis(0)


def chain_cost(first, second):
    """The cost of a phase that runs phase cost ``first`` then ``second`` on one segment."""

    def cost(model, ax, count, itemsize, **options):
        return first(model, ax, count, itemsize) + second(model, ax, count, itemsize)

    return cost
