"""The Python API: ``simulate`` and ``emulate`` one collective (``estimate``: :mod:`.estimate`).

Sizes follow nccl-tests (:mod:`ubemu.collectives`): ``nbytes`` is the collective's size and
``count = nbytes // itemsize``, rounded down to a multiple of the rank count for the
collectives made of one block per rank.
"""

import time

import numpy as np

from . import collectives
from .errors import UbemuError, keyword_names
from .machine.spec import DEFAULT_TOPOLOGY, resolve_topology  # noqa: F401  (part of the API)


def check_seed(seed):
    """The seed of the check's inputs: an integer in 0 .. 2**63 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2**63:
        raise UbemuError(f"seed must be an integer in 0..{2**63 - 1}, got {seed!r}")
    return int(seed)


def simulate(collective, nbytes, topology=None, algorithm="auto", dtype="float32", op="sum",
             group=None, verify=False, seed=0, max_work=None, every=False, faults=None,
             routing="minimal", progress=None, protocol="auto", **options):
    """Model (and optionally emulate) one collective.

    Parameters
    ----------
    collective : str
        ``all_reduce``, ``all_gather``, ``reduce_scatter``, ``alltoall``, ``alltoallv``,
        ``broadcast``, ``reduce``.
    nbytes : int
        The collective's size in bytes (nccl-tests convention, :mod:`ubemu.collectives`;
        alltoallv: what a rank sends on average, its per-pair sizes scaled to it).
    topology : Topology or str, optional
        A Topology, a preset name, a TOML path or a string form; default ``ub-mesh-rack``.
    algorithm : str
        A registered algorithm name, or ``"auto"``: the fastest by the model of every
        algorithm that supports the communicator (``notes["auto_candidates"]``: the times of
        those timed; ``notes["auto_pruned"]``: the lower bounds of those that could not win,
        :func:`ubemu.engine.choose`).
    dtype, op : str
        Element type and reduction op (see :mod:`ubemu.data.dtypes`).
    group : optional
        Process group (see :func:`ubemu.machine.groups.group_of`); default every NPU.
    verify : bool
        Also run the data plane on real values and fill ``wrong`` and the relative errors.
    seed : int
        Seed of the input values when verifying (0 .. 2**63 - 1).
    every : bool
        Run on every group of the kind ``group`` names (``unit=``, ``one_per=``,
        ``levels=``) at once, in lockstep, so groups that share a link share it in every step
        (:func:`ubemu.machine.groups.every_group`). The time is the slowest group's (they move
        together), the usage that of all of them; ``notes["groups"]`` counts them. ``auto``
        picks for one group alone; ``verify`` checks the data of the group of NPU 0.
    faults : str, dict, optional
        Failed links, NPUs and switch planes, random or named (:mod:`ubemu.machine.faults`:
        ``"link=board:0-1"``, ``"links=0.1%,seed=7"``, ``"npu=5"``); a failed NPU of a
        preset with spares is served by its rack's spare.
    routing : {'minimal', 'apr'}
        Under faults: refuse a route that crosses a failure, or detour (All-Path Routing).
    progress : callable, optional
        Called with the fraction (0..1) of the run's steps done as they are done (the
        timing, or the checked data runs; not the candidates of ``auto`` or ``every``): the
        command line's estimate of a long row's time left.
    max_work : int, optional
        Refuse, before anything runs, an algorithm predicted to route more transfers than
        this (summed over its steps; default :data:`ubemu.algorithms.work.MAX_WORK`); ``auto``
        leaves such candidates out. The refusal gives the prediction
        (:func:`ubemu.algorithms.work.predict`).
    protocol : {'auto', 'simple', 'll128', 'll'}
        The library's protocol (:mod:`ubemu.timing.protocols`): ``auto`` times every one the
        topology offers and keeps the fastest (``notes["protocol"]``).
    **options
        Passed to the algorithm's builder (for example ``hierarchical``'s ``per_level``,
        ``channels``, ``chunk``; alltoallv's ``traffic``: ``"uniform"``, a square matrix of
        weights or a file holding one, or MoE routing
        ``"moe:tokens=4096,experts=256,topk=8,seed=1"``, see :mod:`ubemu.traffic`);
        ``channels`` and ``chunk`` left out take the library's defaults
        (:mod:`ubemu.algorithms.channels`).

    Returns
    -------
    ubemu.result.Result
    """
    from . import engine
    from .algorithms import check_keywords, work
    from .data.dtypes import check_op, get_dtype
    from .machine.faultreport import check_group
    from .machine.faults import with_faults
    from .machine.groups import every_group, group_of
    from .result import Result
    from .timing.protocols import check_name, offered
    from .traffic import resolve as resolve_traffic

    wall0 = time.perf_counter()
    coll = collectives.get(collective)
    check_keywords("simulate", SIMULATE_KEYWORDS, collective, algorithm, options)
    check_name(protocol)
    topo = with_faults(resolve_topology(topology), faults, routing)
    dt = get_dtype(dtype)
    check_op(dt, op)
    seed = check_seed(seed)
    comm, rows = every_group(topo, group) if every else (group_of(topo, group), None)
    check_group(topo, comm.npus if rows is None else rows)
    n_groups = 1 if rows is None else rows.shape[0]
    count = coll.element_count(nbytes, dt.itemsize, comm.n)
    if collective == "alltoallv":  # the per-pair sizes, drawn or read once for every use
        options = {**options, "traffic": resolve_traffic(options.get("traffic"), comm.n, count)}
    max_work = work.MAX_WORK if max_work is None else max_work
    check_resources(collective, algorithm, comm, count, topo, dt, op, verify, max_work,
                    n_groups, options)
    notes = {"group": comm.label, "dims": list(comm.dims)}
    if count * dt.itemsize != nbytes:
        notes["nbytes_requested"] = int(nbytes)
    checks = None
    if every:
        return _simulate_every(collective, nbytes, topo, algorithm, dt, op, group, verify,
                               seed, max_work, options, comm, count, notes, wall0)
    if algorithm == "auto":
        name, timed, auto_notes = engine.choose(collective, comm, count, topo, dt.itemsize,
                                                options, max_work=max_work, protocol=protocol)
        notes.update(auto_notes)
        if verify:
            checks = engine.run_checked(collective, name, comm, count, topo, dt.name, op, seed,
                                        options, timed=False, progress=progress)[1]
    elif verify:  # one walk over the steps times and checks them
        name = algorithm
        timed, checks = engine.run_checked(collective, name, comm, count, topo, dt.name, op,
                                           seed, options, progress=progress, protocol=protocol)
    else:
        name = algorithm
        timed = engine.time_only(collective, name, comm, count, topo, dt.itemsize, options,
                                 progress=progress, protocol=protocol)
    sched = timed.schedule
    notes.update({k: v for k, v in sched.notes.items() if k not in notes})
    if timed.protocol != "simple" or len(offered(topo.params)) > 1:
        notes["protocol"] = timed.protocol  # (topologies offering simple alone: left out)
        notes["protocol_times"] = timed.protocol_times
    if sched.windows:
        notes["concurrent_steps"] = [tuple(w) for w in sched.windows]
    if coll.rooted:
        notes["root"] = int(sched.root)
    res = Result(collective, name, topo.name, comm.n, count * dt.itemsize, count, dt.name, op,
                 timed.time_s, sched.n_steps, timed.usage, timed.bottleneck, notes=notes)
    if checks is not None:
        res.wrong, res.max_rel_err, res.mean_rel_err = checks
    res.wall_s = time.perf_counter() - wall0
    return res


#: The keywords of :func:`simulate` itself (the others go to the algorithm's builder).
SIMULATE_KEYWORDS = keyword_names(simulate)


def check_resources(collective, algorithm, comm, count, topology, dt, op, verify=False,
                    max_work=None, n_groups=1, options=None, available=None):
    """Refuse, in one line and before anything is built, a run of ``simulate`` that cannot run
    or would be too much work or memory; returns its predicted
    :class:`~ubemu.algorithms.work.Work` (None for ``auto``, whose candidates are checked
    as it times them).

    Closed forms only (:func:`ubemu.algorithms.work.predict`,
    :func:`ubemu.data.memory.check_fits`), so a sweep checks every row of every algorithm
    with it before its first one runs. ``dt``: a DType; ``n_groups``: lockstep replicas
    (``every``); ``available``: bytes of memory (default: read from the system).

    Raises
    ------
    UbemuError
        :class:`~ubemu.algorithms.work.TooMuchWork` over ``max_work`` (default
        :data:`~ubemu.algorithms.work.MAX_WORK`), :class:`~ubemu.data.memory.OutOfMemory`
        over the memory available to this host's processes, or why the algorithm cannot
        run on ``comm``.
    """
    from .algorithms import get_algorithm, work
    from .data import memory
    from .parallel import env

    options = options or {}
    predicted = peak = None
    if algorithm != "auto":
        get_algorithm(collective, algorithm).check_fits(comm, options)
        predicted = work.predict(collective, algorithm, comm, count, topology, dt.itemsize,
                                 options)
        work.refuse_if_too_big(collective, algorithm, comm, predicted.times(n_groups),
                               work.MAX_WORK if max_work is None else max_work, verify)
        peak = predicted.peak if verify else predicted.held * n_groups
    memory.check_fits(collective, algorithm, comm, count, dt, op, topology, data=verify,
                      n_procs=env.world_size(), local_procs=env.local_size(), options=options,
                      available=available, peak_transfers=peak)
    return predicted


def _simulate_every(collective, nbytes, topo, algorithm, dt, op, group, verify, seed,
                    max_work, options, comm, count, notes, wall0):
    """``simulate(..., every=True)``: the lockstep replicas timed as one operation."""
    from . import engine
    from .result import Result
    from .workloads.ops import Op
    from .workloads.profile import profile_op

    every_op = Op("every", collective, nbytes, group=group, every=True, algorithm=algorithm,
                  dtype=dt.name, reduction=op, options=options)
    # one process's work (as a timing-only run): process 0 times it, the others wait
    prof = engine.on_root(lambda: profile_op(every_op, topo, record=False, max_work=max_work))
    notes.update(prof.notes)
    notes["groups"] = prof.n_groups
    res = Result(collective, prof.algorithm, topo.name, comm.n, count * dt.itemsize, count,
                 dt.name, op, prof.time_s, prof.n_steps, prof.usage, prof.bottleneck,
                 notes=notes)
    if verify:
        res.wrong, res.max_rel_err, res.mean_rel_err = engine.run_checked(
            collective, prof.algorithm, comm, count, topo, dt.name, op, seed, options,
            timed=False)[1]
        notes["checked_group"] = comm.label
    res.wall_s = time.perf_counter() - wall0
    return res


def emulate(collective, inputs, topology=None, algorithm="ring", op="sum", dtype=None,
            **options):
    """Run ``collective`` with ``algorithm`` on real data and return the outputs.

    Parameters
    ----------
    collective : str
        A collective that ``algorithm`` implements.
    inputs : array (n_npus, m)
        Row ``r`` is NPU ``r``'s input (``m = count`` except all_gather, where
        ``m = count / n_npus``, and alltoallv: its largest send; :mod:`ubemu.data.layout`).
    topology : Topology or str, optional
        When given, its NPU count must equal ``n_npus`` and the communicator's axes are its
        levels of size > 1 (for hierarchical algorithms); otherwise a flat group.
    algorithm : str
        A registered algorithm name (never replaced by another).
    op : {'sum', 'prod', 'max', 'min', 'avg'}
    dtype : str, optional
        Element type (:mod:`ubemu.data.dtypes`); default: the inputs' NumPy type. Inputs of another
        type are converted (rounded to nearest even).
    **options
        Passed to the algorithm's builder; alltoallv's ``traffic`` is the element counts
        ``counts[i, j]`` rank i sends rank j (a square integer matrix, taken as it is;
        default: the inputs cut into ``n`` equal blocks, the all-to-all).

    Returns
    -------
    ndarray
        Outputs in the dtype's storage type (bfloat16: uint16 bit patterns), shaped as in
        :mod:`ubemu.data.layout`.
    """
    from .algorithms import build_schedule, check_keywords
    from .data.dtypes import as_storage, check_op, finish_avg, get_dtype
    from .data.layout import pack_inputs, unpack_outputs
    from .data.plane import execute
    from .machine.comm import Comm
    from .machine.groups import group_of

    coll = collectives.get(collective)
    check_keywords("emulate", keyword_names(emulate), collective, algorithm, options)
    inputs = np.asarray(inputs)
    dt = get_dtype(dtype if dtype is not None else inputs.dtype)
    check_op(dt, op)
    inputs = np.ascontiguousarray(as_storage(inputs, dt))
    if inputs.ndim != 2 or inputs.shape[0] < 1:
        raise UbemuError(f"inputs must be a 2-D (n_npus, count) array with a row per NPU, "
                         f"got shape {inputs.shape}")
    n = inputs.shape[0]
    if topology is None:
        comm = Comm.flat(n)
    else:
        topo = resolve_topology(topology)
        if topo.n_npus != n:
            raise UbemuError(f"inputs have {n} rows but topology {topo.name!r} has "
                             f"{topo.n_npus} NPUs (one row per NPU)")
        comm = group_of(topo)
    count = coll.count_from_inputs(inputs.shape)
    if collective == "alltoallv":
        from .traffic import exact

        if options.get("traffic") is None:  # the all-to-all: a block per rank
            if inputs.shape[1] % n:
                raise UbemuError(f"emulate alltoallv: without traffic= (the element counts "
                                 f"rank i sends rank j) the inputs' {inputs.shape[1]} columns "
                                 f"must be {n} equal blocks")
            options["traffic"] = np.full((n, n), inputs.shape[1] // n)
        options["traffic"] = exact(options["traffic"])
        count = options["traffic"].count
        if inputs.shape[1] != options["traffic"].in_count:
            raise UbemuError(f"emulate alltoallv: inputs need {options['traffic'].in_count} "
                             f"columns (the largest row sum of the counts), got "
                             f"{inputs.shape[1]}")
    schedule = build_schedule(collective, algorithm, comm, count, **options)
    buf = pack_inputs(schedule, inputs, dt.storage)
    execute(schedule, buf, op, dt)
    out = unpack_outputs(schedule, buf)
    return finish_avg(out, n, dt) if op == "avg" and coll.reducing else out
