"""Independent tasks spread over the job's processes, results back in order on process 0.

A sweep of plans, the seeds and counts of ``ubemu faults``, the rows of a timing-only
collective sweep, the operations of a workload: many runs, each one process's work. Task
``i`` goes to process ``i mod P`` (or, given weights, the heaviest first each to the least
loaded process), which runs it alone (:func:`ubemu.parallel.env.alone`:
every collective inside sees a job of one process) and sends its result to process 0.
Process 0 runs its own tasks and, between them, takes in the others' results, handing them
on in task order as soon as every earlier one is in: rows are printed and written as they
land, and the output is the same for any number of processes. A task that raises
:class:`~ubemu.errors.UbemuError` raises it on every process once all are done (its error
travels like a result); any other exception ends the job (``python -m mpi4py``).
"""

from ..errors import UbemuError
from . import env
from .exchange import exchange

#: MPI tag of a task's result.
TAG = 7701


def owners(n_tasks, n_procs, weights=None):
    """The process of each task: in turn, or with ``weights`` (a rough cost per task) the
    heaviest first, each to the least loaded process (ties: the first task, the lowest
    process), alike on every process."""
    if weights is None:
        return [i % n_procs for i in range(n_tasks)]
    load, out = [0.0] * n_procs, [0] * n_tasks
    for i in sorted(range(n_tasks), key=lambda k: (-float(weights[k]), k)):
        p = min(range(n_procs), key=lambda q: (load[q], q))
        out[i] = p
        load[p] += float(weights[i])
    return out


def in_order(tasks, run, weights=None):
    """Yield ``(i, run(tasks[i]))`` in task order on process 0 (on the others nothing: they
    run their share), the tasks spread over the job's processes (:func:`owners`); every
    process then raises the first task's error, if one failed."""
    tasks = list(tasks)
    ex = exchange()
    if ex.size == 1:
        for i, task in enumerate(tasks):
            yield i, run(task)
        return
    comm, mpi = ex.comm, ex.MPI
    mine = [i for i, p in enumerate(owners(len(tasks), ex.size, weights)) if p == ex.rank]
    if ex.rank != 0:
        for i in mine:
            comm.send((i, *_attempt(run, tasks[i])), dest=0, tag=TAG)
        _raise(ex.bcast(None))
        return
    got, shown, status = {}, 0, mpi.Status()
    todo = iter(mine)
    while len(got) < len(tasks):
        i = next(todo, None)
        if i is not None:  # my next task, then whatever has come in meanwhile
            got[i] = _attempt(run, tasks[i])
            while comm.Iprobe(source=mpi.ANY_SOURCE, tag=TAG, status=status):
                k, *outcome = comm.recv(source=status.Get_source(), tag=TAG)
                got[k] = outcome
        else:  # mine are done: the others' results, as they come
            k, *outcome = comm.recv(source=mpi.ANY_SOURCE, tag=TAG)
            got[k] = outcome
        while shown in got and got[shown][1] is None:  # in order, up to an error
            yield shown, got[shown][0]
            shown += 1
    _raise(ex.bcast(next((got[k][1] for k in sorted(got) if got[k][1] is not None), None)))


def spread(tasks, run, on_result=None, everywhere=True, weights=None):
    """``[run(t) for t in tasks]``, the tasks spread over the job's processes
    (:func:`in_order`); ``on_result(i, result)`` on process 0 as they land. Returns the
    results on every process (``everywhere``), else on process 0 (None elsewhere)."""
    out = []
    for i, result in in_order(tasks, run, weights):
        out.append(result)
        if on_result is not None:
            on_result(i, result)
    ex = exchange()
    if ex.size == 1:
        return out
    if everywhere:
        return ex.bcast(out if ex.rank == 0 else None)
    return out if ex.rank == 0 else None


def _raise(error):
    if error is not None:
        raise error


def _attempt(run, task):
    """(result, None) or (None, the UbemuError it raised), the task run alone."""
    with env.alone():
        try:
            return run(task), None
        except UbemuError as exc:
            return None, exc
