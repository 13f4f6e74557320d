"""The Python API: ``simulate`` one collective on a topology (time, bandwidths, usage, checks).

Sizes follow nccl-tests: ``nbytes`` is the collective's size (the per-rank buffer of all_reduce,
broadcast and reduce; the full gathered output of all_gather; the full input of reduce_scatter;
the per-rank send buffer of alltoall) and ``count = nbytes // itemsize``, rounded down to a
multiple of the rank count for the collectives made of one block per rank.
"""

import inspect
import time
from functools import lru_cache

from .errors import UbemuError, choices_error
from .topology import Topology

DEFAULT_TOPOLOGY = "ub-mesh-rack"
BLOCK_COLLECTIVES = ("all_gather", "reduce_scatter", "alltoall")
#: ``algorithm="auto"`` skips a candidate whose schedule would route more transfers than this.
AUTO_MAX_TRANSFERS = 2_000_000_000


@lru_cache(maxsize=64)
def _load_cached(spec):
    from .topospec import load_topology

    return load_topology(spec)


def resolve_topology(topology=None):
    """A :class:`Topology` from None (the default preset), a Topology, or a name/path/string."""
    if topology is None:
        topology = DEFAULT_TOPOLOGY
    if isinstance(topology, Topology):
        return topology
    if isinstance(topology, str):
        return _load_cached(topology.strip())
    raise UbemuError(f"topology: expected a Topology, a preset name, a .toml file or a string "
                     f"form, got {topology!r}")


def element_count(collective, nbytes, itemsize, n_ranks):
    """nccl-tests' element count for ``nbytes`` (see the module docstring)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        try:
            ok = int(nbytes) == nbytes and nbytes >= 0 and not isinstance(nbytes, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UbemuError(f"nbytes must be an integer >= 0, got {nbytes!r}")
        nbytes = int(nbytes)
    count = nbytes // itemsize
    if collective in BLOCK_COLLECTIVES:
        count -= count % n_ranks
    return count


def _check_options(alg, options):
    """Names in ``options`` that ``alg.build`` does not accept (empty when all fit)."""
    params = inspect.signature(alg.build).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return [], []
    valid = [k for k in params if k not in ("comm", "count", "data")]
    return [k for k in options if k not in valid], valid


def _time_one(collective, name, comm, count, topology, itemsize, options,
              max_transfers=None):
    """Build the timing-only schedule and time it (over the MPI processes in a multi-process
    job, each building only its own senders' transfers); refuse schedules of more than
    ``max_transfers`` (steps x ranks) with a UbemuError."""
    from . import partition
    from .algorithms import build_schedule
    from .timing import time_schedule

    if partition.active():
        comm_built, time_schedule = partition.local_comm(comm), partition.time_schedule
    else:
        comm_built = comm
    sched = build_schedule(collective, name, comm_built, count, data=False, **options)
    if max_transfers is not None and sched.n_steps * comm.n > max_transfers:
        raise UbemuError(f"{sched.n_steps} steps x {comm.n} ranks is too large to time step "
                         f"by step; name the algorithm to time it")
    time_s, usage, bottleneck = time_schedule(sched, topology, comm, itemsize)
    return sched, time_s, usage, bottleneck


def _auto(collective, comm, count, topology, itemsize, options):
    """Time every registered algorithm that can run; return the fastest and the notes."""
    from .algorithms import REGISTRY, algorithm_names

    names = algorithm_names(collective)
    best, times, skipped = None, {}, {}
    for name in names:
        alg = REGISTRY[(collective, name)]
        bad, _ = _check_options(alg, options)
        if bad:
            skipped[name] = f"takes no option {bad[0]!r}"
            continue
        if alg.check is not None and alg.check(comm):
            skipped[name] = alg.check(comm)
            continue
        try:
            sched, t, usage, bn = _time_one(collective, name, comm, count, topology, itemsize,
                                            options, max_transfers=AUTO_MAX_TRANSFERS)
        except UbemuError as exc:
            skipped[name] = str(exc)
            continue
        times[name] = t
        if best is None or t < best[1]:
            best = (name, t, usage, bn, sched)
    if best is None:
        why = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "none registered"
        raise UbemuError(f"algorithm auto: no {collective} algorithm can run on {comm.n} ranks "
                         f"{'x'.join(map(str, comm.dims))} ({why})")
    return best, {"auto_candidates": times, "auto_skipped": skipped}


def _verify(collective, name, options, comm, count, dtype, op, seed):
    """Run the data plane of ``auto``'s pick (over the MPI processes in a multi-process job);
    return (wrong, max_rel_err, mean_rel_err)."""
    from . import partition

    return partition.emulate_verify(collective, name, comm, count, dtype=dtype, op=op,
                                    seed=seed, **options)


def simulate(collective, nbytes, topology=None, algorithm="auto", dtype="float32", op="sum",
             group=None, verify=False, seed=0, **options):
    """Model (and optionally emulate) one collective.

    Parameters
    ----------
    collective : str
        ``all_reduce``, ``all_gather``, ``reduce_scatter``, ``alltoall``, ... (registered ones).
    nbytes : int
        The collective's size in bytes (nccl-tests convention, module docstring).
    topology : Topology or str, optional
        A Topology, a preset name, a TOML path or a string form; default ``ub-mesh-rack``.
    algorithm : str
        A registered algorithm name, or ``"auto"``: time every algorithm that supports the
        communicator and use the fastest by the model (``notes["auto_candidates"]``).
    dtype, op : str
        Element type and reduction op (see :mod:`ubemu.dtypes`).
    group : optional
        Process group (see :func:`ubemu.groups.group_of`); default every NPU.
    verify : bool
        Also run the data plane on real values and fill ``wrong`` and the relative errors.
    seed : int
        Seed of the input values when verifying.
    **options
        Passed to the algorithm's builder (for example ``hierarchical``'s per-level choices).

    Returns
    -------
    ubemu.result.Result
    """
    from . import memory, partition
    from .algorithms import Comm, algorithm_names, get_algorithm
    from .dtypes import check_op, get_dtype
    from .groups import Group, group_of
    from .result import Result
    from .verify import needs_random_run

    wall0 = time.perf_counter()
    topo = resolve_topology(topology)
    dt = get_dtype(dtype)
    check_op(dt, op)
    if not algorithm_names(collective):
        from .algorithms import REGISTRY

        raise choices_error("collective", collective, sorted({c for c, _ in REGISTRY}))
    g = group if isinstance(group, Group) else group_of(topo, group)
    comm = Comm(g.dims, g.fabrics, g.npus)
    count = element_count(collective, nbytes, dt.itemsize, comm.n)
    memory.check_fits(comm.n, count, dt.itemsize, topo, collective, data=verify,
                      random_run=needs_random_run(collective, dt, op),
                      n_procs=partition.world_size(), local_procs=partition.local_size())
    notes = {"group": g.label, "dims": list(g.dims)}
    checks = None
    if count * dt.itemsize != nbytes:
        notes["nbytes_requested"] = int(nbytes)
    if algorithm == "auto":
        (name, time_s, usage, bottleneck, sched), auto_notes = _auto(
            collective, comm, count, topo, dt.itemsize, options)
        notes.update(auto_notes)
    else:
        alg = get_algorithm(collective, algorithm)
        bad, valid = _check_options(alg, options)
        if bad:
            raise choices_error(f"option of {collective} algorithm {algorithm!r}", bad[0],
                                valid or ["(none)"])
        name = algorithm
        if verify:  # one walk over the steps times and checks them
            sched, time_s, usage, bottleneck, checks = partition.time_and_verify(
                collective, name, comm, count, topo, dt.name, op, seed, **options)
        else:
            sched, time_s, usage, bottleneck = _time_one(collective, name, comm, count, topo,
                                                         dt.itemsize, options)
    notes.update({k: v for k, v in sched.notes.items() if k not in notes})
    if collective in ("broadcast", "reduce"):
        notes["root"] = int(sched.root)
    res = Result(collective, name, topo.name, comm.n, count * dt.itemsize, count, dt.name, op,
                 time_s, sched.n_steps, usage, bottleneck, notes=notes)
    if verify:
        res.wrong, res.max_rel_err, res.mean_rel_err = checks if checks is not None else _verify(
            collective, name, options, comm, count, dt.name, op, seed)
    res.wall_s = time.perf_counter() - wall0
    return res
