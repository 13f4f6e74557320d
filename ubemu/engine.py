"""The engine: one run of one collective, in one process or spread over MPI processes.

The path of a run: build the algorithm's schedule (:func:`ubemu.algorithms.build_schedule`;
in a job of several processes each builds only its own senders' transfers where the builder
can), apply it to real data (:func:`ubemu.data.plane.apply_steps`, exchanging what crosses
processes), time it (:func:`ubemu.timing.walk.time_schedule`, with the loads spread over the
processes), and check the outputs (:mod:`ubemu.data.check`). A checked run times the steps as the
data plane applies them, so each step is built once.

The check is spread out too: each process draws its own rows of the inputs and checks its
own outputs against a reference combined from per-column partial reductions (exact, see
:mod:`ubemu.data.check`); a random run whose reference depends on the summation order is drawn,
gathered and checked on process 0.

Every entry point (``simulate``, the command line, workloads) goes through :func:`time_only`,
:func:`run_checked` and :func:`choose`; the exchange between processes is passed in
(:func:`ubemu.parallel.exchange.exchange` by default), so none of this knows whether MPI runs.
"""

from dataclasses import dataclass, replace

import numpy as np

from . import collectives
from .algorithms import algorithm_names, build_schedule, get_algorithm, work
from .algorithms.bounds import candidate_bounds, model_of
from .algorithms.channels import library_options
from .algorithms.work import MAX_WORK
from .data import check as vf
from .data.dtypes import finish_avg, get_dtype
from .data.layout import output_rows, rows_buffer
from .data.plane import apply_steps
from .errors import UbemuError
from .parallel.block import Block, gather_rows, scatter_rows
from .parallel.exchange import exchange
from .parallel.loads import PartitionedLoads
from .parallel.spread import spread
from .schedule import steps_counted
from .timing import protocols as protos
from .timing.loads import LocalLoads
from .timing.walk import time_protocols


@dataclass
class Timed:
    """The timing of one schedule: what ``simulate`` reports (``protocol``: the one it ran
    with, the fastest of those timed; ``protocol_times``: each one's time)."""

    schedule: object
    time_s: float
    usage: list
    bottleneck: str
    protocol: str = "simple"
    protocol_times: dict = None


def _timed(sched, topology, npus, itemsize, protocol, loads=None, steps=None, ex=None):
    """Time ``sched`` under the protocols ``protocol`` admits: a :class:`Timed` (with
    ``ex``: timed by process 0 of ``ex`` alone, :func:`on_root`)."""
    chosen = protos.resolve(protocol, topology.params, sched.protocols)

    def run():
        return time_protocols(sched, topology, npus, itemsize, loads, steps, chosen)

    name, t, usage, bottleneck, times = run() if ex is None else on_root(run, ex)
    return Timed(sched, t, usage, bottleneck, name, times)


def resolved_options(collective, name, topology, count, itemsize, options):
    """The algorithm's options with the library's defaults of ``channels`` and ``chunk``
    (:func:`ubemu.algorithms.channels.library_options`)."""
    return library_options(get_algorithm(collective, name), topology, count, itemsize, options)


def _setup(comm, ex):
    ex = ex if ex is not None else exchange()
    block = Block.of(comm.n, ex)
    built = comm if block.whole else comm.restricted(block.lo, block.hi)
    return ex, block, built


def _loads(topology, block, ex):
    return LocalLoads() if block.whole else PartitionedLoads(topology, block, ex)


def exchange_of(ex):
    """``ex``, or the job's exchange when None."""
    return ex if ex is not None else exchange()


def on_root(fn, ex=None):
    """``fn()`` run by process 0 of ``ex`` (default the job's) while the others wait; its
    result on every process, or its :class:`UbemuError` raised on every process (so that
    no process waits for a broadcast that never comes)."""
    ex = ex if ex is not None else exchange()
    out = None
    if ex.rank == 0:
        try:
            out = (fn(), None)
        except UbemuError as exc:
            out = (None, exc)
    value, error = ex.bcast_asleep(out)  # the others leave process 0 the machine
    if error is not None:
        raise error
    return value


def _reporting(sched, n_walks, progress):
    """``sched`` whose steps tell ``progress`` the fraction done of ``n_walks`` walks over
    them (every walk calls ``steps()`` once), as each step is done; ``sched`` itself when
    ``progress`` is None."""
    if progress is None:
        return sched
    walks = [0]

    def steps():
        walk, done = walks[0], 0
        walks[0] += 1
        for step in sched.steps():
            yield step
            done += steps_counted(step)
            progress(min((walk + done / max(sched.n_steps, 1)) / n_walks, 1.0))

    return replace(sched, steps=steps)


def time_only(collective, name, comm, count, topology, itemsize, options=None, ex=None,
              progress=None, protocol="auto"):
    """Build the timing-only schedule of ``name`` and time it.

    In a job of several processes, process 0 times the whole schedule and the others wait
    for its figures: with the compact steps (repeated patterns, all-pairs steps, a ring's
    shifts) a timing-only run costs O(p) per distinct step, so spreading it saved nothing
    while the exchanges cost time; this way an MPI job is never slower than one process.
    Checked runs (:func:`run_checked`) spread their data and timing over the processes.
    ``progress``: called with the fraction of the steps timed (a long row's ETA);
    ``protocol``: ``auto`` (the fastest the topology offers) or one protocol's name."""
    options = resolved_options(collective, name, topology, count, itemsize, options)
    sched = _reporting(build_schedule(collective, name, comm, count, data=False, **options), 1,
                       progress)
    return _timed(sched, topology, comm.npus, itemsize, protocol, ex=exchange_of(ex))


def run_checked(collective, name, comm, count, topology, dtype, op="sum", seed=0,
                options=None, ex=None, timed=True, progress=None, protocol="auto"):
    """Run ``name`` on real data over the processes of ``ex`` and check it; with ``timed``
    the exact run's steps are timed as they are applied (a ``time_apart`` schedule's
    timing-only twin is timed instead); ``progress`` as in :func:`time_only`, over every
    data run of the check.

    Returns
    -------
    (Timed or None, (wrong, max_rel_err, mean_rel_err))
    """
    ex, block, built = _setup(comm, ex)
    dt = get_dtype(dtype)
    options = resolved_options(collective, name, topology, count, dt.itemsize, options)
    sched = build_schedule(collective, name, built, count, data=True, **options)
    n_runs = (1 + (not vf.exact_run_complete(collective, comm.n, dt, op))
              + vf.needs_random_run(collective, dt, op))  # as _verify_runs runs them
    sched = _reporting(sched, n_runs, progress)
    out = []
    if timed and (sched.time_apart or (sched.pipelines and not block.whole)):
        # timed apart: its timing-only twin, or a pipeline (timed in one process)
        out.append(time_only(collective, name, comm, count, topology, dt.itemsize, options, ex,
                             protocol=protocol))
        timed = False

    def walk(steps):
        if not timed:
            for _ in steps:
                pass
            return
        out.append(_timed(sched, topology, comm.npus, dt.itemsize, protocol,
                          _loads(topology, block, ex), steps))

    checks = _verify_runs(collective, comm.n, count, dt, op, seed, sched, block, ex, walk)
    return (out[0] if out else None), checks


def choose(collective, comm, count, topology, itemsize, options=None, ex=None,
           max_work=MAX_WORK, prune=True, protocol="auto"):
    """``algorithm="auto"``: the fastest registered algorithm that can run on ``comm``.

    Candidates are timed in the order of their lower bounds (:mod:`ubemu.algorithms.bounds`: the
    closed form's, else :func:`~ubemu.algorithms.bounds.lower_bound_s`); one whose bound exceeds
    the fastest time so far (by more than rounding) cannot win and is not timed. The choice is the
    one timing every candidate would make (``prune=False`` times every one: the baseline; so do
    faults, under which the intact machine's bounds are no bounds). In an MPI job (``ex``
    None) the candidates are timed in rounds, one per process, each alone
    (:func:`ubemu.parallel.spread.spread`): the next candidates the choice may need, then the
    choice is replayed in bound order from what is known, so the result and the notes are
    those of one process. Returns (the fastest's name, its Timed, notes: each timed
    candidate's time, each pruned one's bound, each skipped one's reason)."""
    options = options or {}
    prune = prune and topology.faults is None  # a detour can unload a bottleneck: no bound
    bounds, skipped, cheap = candidate_bounds(model_of(topology, comm), collective, count,
                                              itemsize, options, prune, protocol)
    order = list(algorithm_names(collective))  # ties go to the first name, as before pruning
    ranked = sorted(bounds, key=lambda k: (bounds[k][0], order.index(k)))
    width = exchange().size if ex is None else 1
    known = {}  # name -> (time_s, usage, bottleneck) or the reason it was left out

    def attempt(name):
        try:
            work.refuse_if_too_big(collective, name, comm, work.predict(
                collective, name, comm, count, topology, itemsize, options), max_work)
            timed = time_only(collective, name, comm, count, topology, itemsize, options, ex,
                              protocol=protocol)
        except UbemuError as exc:
            return str(exc)
        return (timed.time_s, timed.usage, timed.bottleneck, timed.protocol,
                timed.protocol_times)

    while True:
        best, times, pruned, left, wanted = _replay(ranked, bounds, known, prune, order)
        if not wanted:
            break
        batch = wanted[:width]
        known.update(zip(batch, spread(batch, attempt) if width > 1 else map(attempt, batch)))
    if best is None:
        why = "; ".join(f"{k}: {v}" for k, v in {**skipped, **left}.items()) or "none registered"
        raise UbemuError(f"algorithm auto: no {collective} algorithm can run on {comm.n} ranks "
                         f"{comm.shape_label} ({why})")
    sched = build_schedule(collective, best, comm, count, data=False, **resolved_options(
        collective, best, topology, count, itemsize, options))
    return best, Timed(sched, *known[best]), {
        "auto_candidates": times, "auto_pruned": {**pruned, **cheap},
        "auto_skipped": {**skipped, **left}}


def _replay(ranked, bounds, known, prune, order):
    """The one-process choice over the candidates ``ranked`` (in bound order) from the
    outcomes ``known``: (best name, times, pruned, left out, candidates still to time: the
    first it needs, then those after it that the best so far does not rule out)."""
    best, times, pruned, left, wanted = None, {}, {}, {}, []
    for name in ranked:
        low_s = bounds[name][0]
        if prune and best is not None and low_s > times[best] * (1 + 1e-9):
            pruned[name] = low_s
            continue
        if wanted or name not in known:  # unknown: this one is needed, the rest may be
            if name not in known:
                wanted.append(name)
            continue
        if isinstance(known[name], str):
            left[name] = known[name]
            continue
        times[name] = known[name][0]
        if best is None or (times[name], order.index(name)) < (times[best], order.index(best)):
            best = name
    return best, times, pruned, left, wanted


# -- the check -------------------------------------------------------------------------------
def _verify_runs(collective, n, count, dt, op, seed, sched, block, ex, walk=None):
    """The exact run (its steps passed to ``walk``) and, for the 16-bit float reductions, the
    random run: (wrong, max_rel_err, mean_rel_err)."""
    shadow, random = (not vf.exact_run_complete(collective, n, dt, op),
                       vf.needs_random_run(collective, dt, op))
    marks = {} if shadow or random else None  # an element several runs find wrong: once
    args = (collective, n, count, dt, op, seed, sched, block, ex)
    wrong, max_rel, mean_rel = _spread_run(*args, walk=walk, marks=marks)
    if shadow:  # the shadow run (ubemu.data.check)
        wrong += _spread_run(collective, n, count, get_dtype(vf.SHADOW_DTYPE), "sum", seed,
                             sched, block, ex, marks=marks)[0]
    if random:
        if vf.random_sums_exact(n, dt, op):
            bad, max_rel, mean_rel = _spread_run(*args, kind="random", marks=marks)
        else:  # prod, or too many ranks for exact float64 sums: process 0 checks it all
            bad, max_rel, mean_rel = _random_run(*args, marks=marks)
        wrong += bad
    if not vf.error_measured(collective, dt, op):
        return wrong, None, None
    return wrong, max_rel, mean_rel


def _run_block(sched, inputs, block, ex, op, dt, walk=None):
    """This block's outputs for its rows of ``inputs`` (avg finished; ``inputs`` may be
    used as the working buffer); ``walk`` is given the applied steps."""
    buf = rows_buffer(sched, inputs, block.lo)  # may be ``inputs``, overwritten
    steps = apply_steps(sched, buf, block, ex, op, dt.name)
    if walk is None:
        for _ in steps:
            pass
    else:
        walk(steps)
    out = output_rows(sched, buf, block.lo)
    if op == "avg" and collectives.get(sched.collective).reducing:
        out = finish_avg(out, block.n, dt)
    return out


def _spread_run(collective, n, count, dt, op, seed, sched, block, ex, kind="exact",
                walk=None, marks=None):
    """A run (``kind`` of :func:`ubemu.data.check.make_inputs`), every process drawing and
    checking its own rows; ``marks`` (a dict, or None) keeps this process's output elements
    found wrong under ``"seen"`` across the runs of one check."""
    coll, root, traffic = collectives.get(collective), sched.root, sched.traffic
    mine = vf.make_inputs(collective, n, count, dt.name, op, seed, kind=kind,
                          rows=(block.lo, block.hi), traffic=traffic)
    reference, inputs = None, None
    if coll.reducing:  # before the run, which may overwrite ``mine``
        parts = [(ex.allreduce(a, comb), comb) for a, comb in vf.reference_parts(mine, op, dt)]
        reference = vf.reference_from_parts(parts, n, op, dt)
    out = _run_block(sched, mine, block, ex, op, dt, walk)
    if coll.root_input:  # broadcast, scatter: the root's row, at index 0
        inputs, root = vf.make_inputs(collective, n, count, dt.name, seed=seed,
                                      rows=(root, root + 1)), 0
    elif collective == "sendrecv":  # the senders of this block's rows: ranks lo-1 .. hi-2
        inputs = np.concatenate([vf.make_inputs(collective, n, count, dt.name, seed=seed,
                                                rows=(a, b)) for a, b in
                                 _shifted_rows(block.lo, block.hi, n)])
    elif not coll.reducing:  # all_gather, alltoall(v), gather, hypercube: every input
        inputs = vf.make_inputs(collective, n, count, dt.name, seed=seed, traffic=traffic)
    del mine
    first = block.lo
    if coll.out_place == "root":  # one output row, the root's
        out = out[root - block.lo:root - block.lo + 1] if block.lo <= root < block.hi \
            else out[:0]
        first = 0
    if marks is not None and "seen" not in marks:
        marks["seen"] = np.zeros(out.shape, np.bool_)
    seen = None if marks is None else marks["seen"]
    wrong, max_rel, rel_sums, n_rel = vf.check_rows(collective, out, first, n, dt, reference,
                                                     inputs, root, traffic, seen)
    every = ex.allgather(np.array([wrong, max_rel, n_rel], np.float64))
    sums = ex.gather(rel_sums)  # folded in row order on process 0: the single-process bits
    total = ex.bcast(vf.fold(np.concatenate(sums)) if sums is not None else None)
    n_rel = int(every[:, 2].sum())
    return int(every[:, 0].sum()), float(every[:, 1].max()), total / n_rel if n_rel else 0.0


def _shifted_rows(lo, hi, n):
    """Row ranges of ranks ``lo-1 .. hi-2`` (mod ``n``), in order."""
    if lo > 0:
        return [(lo - 1, hi - 1)]
    return [(n - 1, n), (0, hi - 1)]


def _random_run(collective, n, count, dt, op, seed, sched, block, ex, marks):
    """The random run where the reference's sums depend on their order: drawn on process 0,
    scattered, gathered and checked there (with every process's ``marks``, a bit each)."""
    inputs = vf.make_inputs(collective, n, count, dt.name, op, seed, kind="random") \
        if ex.rank == 0 else None
    cols = collectives.get(collective).input_shape(n, count)[1]
    out = _run_block(sched, scatter_rows(inputs, block, ex, cols, dt.storage), block, ex, op,
                     dt)
    outputs = gather_rows(out, block, ex)
    del out
    seen = marks["seen"]
    seen = ex.gather((seen.shape, np.packbits(seen, axis=None)))  # in row order
    res = None
    if ex.rank == 0:
        if collectives.get(collective).out_place == "root":
            outputs = outputs[sched.root]
        seen = np.concatenate([np.unpackbits(bits, count=int(np.prod(shape))).astype(
            np.bool_).reshape(shape) for shape, bits in seen])
        res = vf.verify(collective, outputs, inputs, op, dt.name, root=sched.root, seen=seen)
    return ex.bcast(res)
