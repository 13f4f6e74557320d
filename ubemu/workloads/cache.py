"""Operation profiles kept and shared, so that each distinct operation is timed alone once.

:func:`profile` gives an operation's :class:`~ubemu.workloads.profile.Profile` on a topology,
from what :func:`shared_profiles` holds while it lasts, else from a small cache kept between
calls (the same operation on the same topology), else timed now. :func:`spread_profiles`
times operations over an MPI job's processes, dealt the heaviest first (:func:`weight`), an
operation heavier than its share cut into parts (:func:`n_parts`, :mod:`.parts`).
:func:`shared_profiles` times every distinct operation of many workloads (a sweep's plans
share most of theirs) once, and makes the profiles known on every process before the
workloads run.
"""

import contextlib
import math

import numpy as np

from ..errors import UbemuError
from ..parallel.exchange import exchange
from ..parallel.spread import spread
from . import parts, predict
from .ops import check_ops
from .profile import profile_op, resolve

#: Most profiles kept between calls (the same operation on the same topology).
CACHE_SIZE = 64
_cache = {}
#: Parts an operation is cut into at most, per process (so that the parts and the other
#: operations can be dealt evenly).
PARTS_PER_PROCESS = 2
#: Operations made ready to time in parts (:func:`ubemu.workloads.profile.resolve`), kept for
#: this process's next part of the same operation; the most kept.
RESOLVED_SIZE = 4
_resolved = {}
#: Profiles of :func:`shared_profiles` while it lasts.
_shared = {}
#: The operations' predicted work while :func:`shared_profiles` lasts (None outside).
_works = None


def key(op, topology, max_work):
    """What makes two operations' profiles the same (the topology by identity)."""
    if op.npus is not None:  # the shape too: groups of 2 and of 4 can list the same ids
        npus_key = (op.npus.shape, hash(np.ascontiguousarray(op.npus, np.int64).tobytes()))
    else:
        npus_key = None
    return (id(topology), op.collective, op.nbytes, str(op.group), op.every, npus_key,
            op.algorithm, op.dtype, op.reduction, repr(sorted(op.options.items())), max_work)


def family(op):
    """What operations share in timing: the group they are costed on (its cost model and
    routes, :func:`ubemu.workloads.profile.groups_of`: the first of their ``npus``)."""
    if op.npus is not None:
        first = np.atleast_2d(np.asarray(op.npus, np.int64))[0]
        return first.size, hash(first.tobytes())
    return str(op.group), op.every


def weight(op, topology):
    """A rough cost of timing ``op`` alone, to deal the operations out over processes:
    the NPUs it runs on times its group size (steps and peers grow with it)."""
    if op.npus is not None:
        rows = np.atleast_2d(op.npus)
        return rows.size * rows.shape[1]
    return topology.n_npus * topology.n_npus if op.every else topology.n_npus


def n_parts(weights, n_procs):
    """Parts each operation of ``weights`` (:func:`weight`) is timed in on ``n_procs``
    processes: one, or as many as its share of the total weight is of
    ``PARTS_PER_PROCESS x n_procs`` equal shares (at most that many)."""
    most = PARTS_PER_PROCESS * n_procs
    total = float(sum(weights))
    if n_procs == 1 or total <= 0:
        return [1] * len(weights)
    return [max(1, min(most, math.ceil(float(w) / total * most - 1e-9))) for w in weights]


def _known(k, topology):
    """The profile of key ``k`` already known on this process, else None; an error
    :func:`shared_profiles` met timing it is raised again."""
    for held in (_shared.get(k), _cache.get(k)):
        if held is not None and held[0] is topology:
            if isinstance(held[1], UbemuError):
                raise held[1]
            return held[1]
    return None


def _keep(store, k, topology, value, size):
    if len(store) >= size:
        store.pop(next(iter(store)))
    store[k] = (topology, value)


def profile(op, topology, max_work, keep=True):
    """The profile of ``op`` timed alone on ``topology`` (see the module docstring; ``keep``:
    one timed now is kept for later calls); an error :func:`shared_profiles` met timing it
    is raised again."""
    k = key(op, topology, max_work)
    hit = _known(k, topology)
    if hit is None:
        hit = profile_op(op, topology, max_work=max_work)
        if keep:
            _keep(_cache, k, topology, hit, CACHE_SIZE)
    return hit


def _part(op, topology, max_work, k, n):
    """Part ``k`` of ``n`` of ``op`` timed alone (:func:`ubemu.workloads.parts.time_part`),
    or its whole profile where this process knows it already."""
    key_ = key(op, topology, max_work)
    hit = _known(key_, topology)
    if hit is not None:
        return hit
    held = _resolved.get(key_)
    if held is None or held[0] is not topology:
        _keep(_resolved, key_, topology, resolve(op, topology, max_work), RESOLVED_SIZE)
    return parts.time_part(_resolved[key_][1], topology, k, n)


def spread_profiles(ops, topology, max_work, on_result=None, everywhere=True, catch=False,
                    keep=True):
    """:func:`profile` of each of ``ops``, spread over the job's processes (the heaviest
    first, :func:`ubemu.parallel.spread.spread`), an operation heavier than its share timed
    in parts (:func:`n_parts`) dealt like operations and joined once all are in. Returns the
    profiles in order on every process (``everywhere``) or on process 0 only (None
    elsewhere); ``on_result(i, profile)`` on process 0 as operation ``i``'s lands. ``catch``:
    an operation's UbemuError is its result (else it is raised on every process); ``keep``:
    see :func:`profile`."""
    weights = [weight(op, topology) for op in ops]
    cuts = n_parts(weights, exchange().size)
    tasks = [(i, k, n) for i, n in enumerate(cuts) for k in range(n)]
    got, joined = [], {}

    def run(task):
        i, k, n = task
        try:
            if n == 1:
                return profile(ops[i], topology, max_work, keep)
            return _part(ops[i], topology, max_work, k, n)
        except UbemuError as exc:
            if not catch:
                raise
            return exc

    def landed(t, result):
        i, k, n = tasks[t]
        got.append(result)
        if k == n - 1:
            joined[i] = _joined(ops[i], topology, max_work, got, n, keep)
            got.clear()
            if on_result is not None:
                on_result(i, joined[i])

    # an operation's family keeps its group's set-up on one process; parts have none: they
    # are cut to be spread
    results = spread(tasks, run, on_result=landed, everywhere=everywhere,
                     weights=[weights[i] / n for i, _, n in tasks],
                     families=[family(ops[i]) if n == 1 else None for i, _, n in tasks])
    if results is None:
        return None
    if len(joined) < len(ops):  # not process 0: join here too
        starts = np.cumsum([0] + cuts)
        joined = {i: _joined(op, topology, max_work, results[starts[i]:starts[i + 1]],
                             cuts[i], keep) for i, op in enumerate(ops)}
    return [joined[i] for i in range(len(ops))]


def _joined(op, topology, max_work, got, n, keep):
    """The profile of ``op`` from its ``n`` results ``got`` (one, or its parts); a joined
    one is kept (``keep``) as :func:`profile` keeps one."""
    if n == 1:
        return got[0]
    error = next((r for r in got if isinstance(r, UbemuError)), None)
    if error is not None:
        return error
    prof = parts.join(got, topology)
    if keep:
        _keep(_cache, key(op, topology, max_work), topology, prof, CACHE_SIZE)
    return prof


def predict_work(order, topology, max_work):
    """:func:`ubemu.workloads.predict.check_before_timing` of ``order``; within
    :func:`shared_profiles` each distinct operation's work is predicted once."""
    if _works is None:
        return predict.check_before_timing(order, topology, max_work)
    return predict.check_before_timing(order, topology, max_work, _works,
                                       lambda op: key(op, topology, max_work))


@contextlib.contextmanager
def shared_profiles(workloads, topology, max_work=None, on_op=None):
    """Inside: every distinct operation of ``workloads`` (lists of operations on
    ``topology``, a Topology) timed alone once, the operations dealt over the job's processes
    (the heaviest first, :func:`ubemu.parallel.spread.spread`) and their profiles (or the
    one-line error of timing them) known on every process, where
    :func:`~ubemu.workloads.run.run_workload` then finds them. A sweep of workloads that
    share operations (the plans of a machine) times each once in the whole job, whichever
    process then runs which workload. Workloads refused before timing
    (:func:`ubemu.workloads.predict.check_before_timing`) are left out: they are refused
    again when they run. ``on_op(k, n, op)``: on process 0, before the k-th of the n
    distinct operations lands."""
    global _works
    distinct, _works = {}, {}
    try:
        for ops in workloads:
            try:
                order = check_ops(list(ops))
                predict_work(order, topology, max_work)
            except UbemuError:
                continue
            for op in order:
                if not op.is_compute:
                    distinct.setdefault(key(op, topology, max_work), op)
        keys, ops = list(distinct), list(distinct.values())

        def landed(k, _):
            if on_op is not None and k + 1 < len(ops):
                on_op(k + 1, len(ops), ops[k + 1])

        if on_op is not None and ops:
            on_op(0, len(ops), ops[0])
        got = spread_profiles(ops, topology, max_work, on_result=landed, catch=True,
                              keep=False)
        _shared.update((k, (topology, p)) for k, p in zip(keys, got))
        yield
    finally:
        _shared.clear()
        _works = None
