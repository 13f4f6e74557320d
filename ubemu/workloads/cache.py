"""Operation profiles kept and shared, so that each distinct operation is timed alone once.

:func:`profile` gives an operation's :class:`~ubemu.workloads.profile.Profile` on a topology,
from what :func:`shared_profiles` holds while it lasts, else from a small cache kept between
calls (the same operation on the same topology), else timed now. :func:`shared_profiles`
times every distinct operation of many workloads (a sweep's plans share most of theirs) once,
dealt over an MPI job's processes the heaviest first (:func:`weight`), and makes the profiles
known on every process before the workloads run.
"""

import contextlib

import numpy as np

from ..errors import UbemuError
from ..parallel.spread import spread
from . import predict
from .ops import check_ops
from .profile import profile_op

#: Most profiles kept between calls (the same operation on the same topology).
CACHE_SIZE = 64
_cache = {}
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


def weight(op, topology):
    """A rough cost of timing ``op`` alone, to deal the operations out over processes:
    the NPUs it runs on times its group size (steps and peers grow with it)."""
    if op.npus is not None:
        rows = np.atleast_2d(op.npus)
        return rows.size * rows.shape[1]
    return topology.n_npus * topology.n_npus if op.every else topology.n_npus


def profile(op, topology, max_work):
    """The profile of ``op`` timed alone on ``topology`` (see the module docstring); an error
    :func:`shared_profiles` met timing it is raised again."""
    k = key(op, topology, max_work)
    shared = _shared.get(k)
    if shared is not None and shared[0] is topology:
        if isinstance(shared[1], UbemuError):
            raise shared[1]
        return shared[1]
    hit = _cache.get(k)
    if hit is None or hit[0] is not topology:
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        hit = _cache[k] = (topology, profile_op(op, topology, max_work=max_work))
    return hit[1]


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

        def one(op):
            try:
                return profile_op(op, topology, max_work=max_work)
            except UbemuError as exc:
                return exc

        def landed(k, _):
            if on_op is not None and k + 1 < len(ops):
                on_op(k + 1, len(ops), ops[k + 1])

        if on_op is not None and ops:
            on_op(0, len(ops), ops[0])
        got = spread(ops, one, on_result=landed,
                     weights=[weight(op, topology) for op in ops])
        _shared.update((k, (topology, p)) for k, p in zip(keys, got))
        yield
    finally:
        _shared.clear()
        _works = None
