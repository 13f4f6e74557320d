"""Independent tasks spread over the job's processes, results back in order on process 0.

A sweep of plans, the seeds and counts of ``ubemu faults``, the rows of a timing-only
collective sweep, the operation profiles of a workload: many runs, each one process's work.
The tasks are dealt as the processes free up: each process takes the next task not yet taken
(in task order, or with weights, a rough cost per task, the heaviest first: greedy list
scheduling, so a process that drew quick tasks takes more of them; with families, tasks that
share a set-up, a process takes a task of a family it has run where one is nearly as heavy,
:func:`pick`), runs it alone
(:func:`ubemu.parallel.env.alone`: every collective inside sees a job of one process) and
sends its result to process 0; it asks for its next task as it starts one, so the answer is
there when it is done. Process 0 runs tasks too, and a thread of it hands out the tasks and
takes in the others' results (polling and sleeping: it costs no core); process 0 hands the
results on in task order as soon as every earlier one is in: rows are printed and written as
they land, and the output is the same for any number of processes. A task that raises
:class:`~ubemu.errors.UbemuError` raises it on every process once all are done (its error
travels like a result); any other exception ends the job (``python -m mpi4py``).
"""

import queue
import sys
import threading
import time

from ..errors import UbemuError
from . import env
from .exchange import POLL_S, exchange

#: MPI tags: a worker's result (and request for its next task), the task it is given.
TAG, TAG_GIVE = 7701, 7702
#: Python's thread switch interval (s) on process 0 while it deals: its main thread holds the
#: interpreter in pure-Python work, and the dealing thread must not wait the default 5 ms.
SWITCH_S = 0.0005
#: A task of a family the asking process has run is taken before a heavier one of another
#: family when it weighs at least this share of the heaviest left (:func:`pick`).
WARM_SHARE = 0.5
#: Bytes under which an array of a worker's result travels inside its pickle, not as a
#: message of its own: each message is one more hand-over between the worker, blocked in its
#: send, and process 0's dealing thread (the Mixtral sweep's profiles, 10 MB in some 40
#: arrays, kept a worker waiting 70 ms each, 0.75 s in all); a copy costs far less. Larger
#: arrays (a million-NPU operation's parts) still go out of band, uncopied.
IN_BAND_B = 1 << 24
#: A worker's request: a task now (it is idle), or ahead (it has just started one); the answer
#: ``LATER``: none ahead, ask when done.
NOW, AHEAD, LATER = "now", "ahead", None


def claim_order(n_tasks, weights=None):
    """The order in which the tasks are taken: task order, or with ``weights`` the heaviest
    first (ties: task order)."""
    if weights is None:
        return list(range(n_tasks))
    return sorted(range(n_tasks), key=lambda k: (-float(weights[k]), k))


def pick(left, weights, families, held, others):
    """Position in ``left`` (untaken tasks in :func:`claim_order`) of the task a process
    takes: among those that weigh at least :data:`WARM_SHARE` of the first's, the first of
    a family in ``held`` (those it has run), else the first of a family no process has run
    (none in ``others``; a task of family None is of none), else the first. A family's
    set-up (a group's routes) is then made on few processes, while the heaviest tasks still
    go first."""
    if families is None:
        return 0
    floor = WARM_SHARE * weights[left[0]]
    cold = None
    for j, t in enumerate(left):
        if weights[t] < floor:
            break
        if families[t] in held:  # None, a task of no family, is never held
            return j
        if cold is None and families[t] not in others:
            cold = j
    return 0 if cold is None else cold


class _Dealer:
    """Process 0's hand-out of the tasks (:func:`pick`) to whoever asks (its own main
    thread, or a worker through the thread :meth:`serve`)."""

    def __init__(self, n_tasks, comm, mpi, n_workers, weights=None, families=None):
        self.left = claim_order(n_tasks, weights)
        self.weights = [1.0] * n_tasks if weights is None else [float(w) for w in weights]
        self.families, self.held = families, [set() for _ in range(n_workers + 1)]
        self.run_anywhere = set()
        self.comm, self.mpi = comm, mpi
        self.bulk = exchange().bulk()
        self.lock = threading.Lock()
        self.n_procs = n_workers + 1
        self.results = queue.Queue()
        self.thread = threading.Thread(target=self.serve, args=(n_workers,), daemon=True)

    def take(self, proc=0, ahead=False):
        """The index of the task process ``proc`` runs next, or None when all are taken;
        ``ahead`` (for a process still busy): -1 unless more tasks are left than processes
        (a round of one task per process must not go two to one)."""
        with self.lock:
            left = len(self.left)
            if ahead and 0 < left <= self.n_procs:
                return -1
            if not left:
                return None
            t = self.left.pop(pick(self.left, self.weights, self.families, self.held[proc],
                                   self.run_anywhere))
            if self.families is not None and self.families[t] is not None:
                self.held[proc].add(self.families[t])
                self.run_anywhere.add(self.families[t])
            return t

    def serve(self, n_workers):
        """Answer the workers until each has been told there is nothing left and every task
        given out has come back: a message is (a finished task's outcome or None, ``NOW`` /
        ``AHEAD`` to ask for a task, or None); the answer is ``[index]``, ``[]`` when all are
        taken, or None (:data:`LATER`: ask again when done)."""
        status, out = self.mpi.Status(), 0
        while n_workers or out:
            if not self.comm.Iprobe(source=self.mpi.ANY_SOURCE, tag=TAG, status=status):
                time.sleep(POLL_S)  # no busy wait
                continue
            src = status.Get_source()
            done, asks = self.bulk.recv(source=src, tag=TAG)
            if done is not None:
                self.results.put((src, *done))
                out -= 1
            if asks:
                i = self.take(src, ahead=asks == AHEAD)
                self.comm.send(LATER if i == -1 else [] if i is None else [i], dest=src,
                               tag=TAG_GIVE)
                n_workers -= i is None
                out += i is not None and i >= 0


def in_order(tasks, run, weights=None, ran=None, families=None):
    """Yield ``(i, run(tasks[i]))`` in task order on process 0 (on the others nothing: they
    run their share), the tasks dealt to the job's processes as they free up (module
    docstring; ``weights``: see :func:`claim_order`; ``families``: a hashable per task, tasks
    that share a set-up, see :func:`pick`); every process then raises the first
    task's error, if one failed. ``ran``, a dict, is filled with ``i: result`` of the tasks
    this process ran (on process 0: ``i: process`` of those the others ran)."""
    tasks = list(tasks)
    ran = {} if ran is None else ran
    ex = exchange()
    if ex.size == 1:
        for i, task in enumerate(tasks):
            yield i, run(task)
        return
    if ex.rank != 0:
        _work(tasks, run, ran, ex.comm)
        return
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, SWITCH_S))  # the dealing thread answers promptly
    try:
        yield from _deal(tasks, run, weights, ran, ex, families)
    finally:
        sys.setswitchinterval(switch)


def _work(tasks, run, ran, comm):
    """:func:`in_order` on a process other than 0: it asks for its next task as it starts
    one, so the answer is there when it is done (while enough are left); its results keep
    arrays under :data:`IN_BAND_B` inside their pickles."""
    from mpi4py.util import pkl5

    threshold, pkl5.pickle.THRESHOLD = pkl5.pickle.THRESHOLD, IN_BAND_B
    try:
        _serve_tasks(tasks, run, ran, comm)
    finally:
        pkl5.pickle.THRESHOLD = threshold
    _raise(share(None))


def _serve_tasks(tasks, run, ran, comm):
    """A worker's loop of :func:`_work`: ask, run, send the result, until none is left."""
    bulk = exchange().bulk()
    bulk.send((None, NOW), dest=0, tag=TAG)
    given = comm.recv(source=0, tag=TAG_GIVE)
    sent = None  # the last result, on its way: the worker does not wait for process 0
    while given:
        bulk.send((None, AHEAD), dest=0, tag=TAG)
        ask = comm.irecv(source=0, tag=TAG_GIVE)
        i = given[0]
        done = _attempt(run, tasks[i])
        if sent is not None:
            sent.wait()
        sent = bulk.isend(((i, *done), None), dest=0, tag=TAG)
        ran[i] = done[0]
        given = ask.wait()
        if given is LATER:
            bulk.send((None, NOW), dest=0, tag=TAG)
            given = comm.recv(source=0, tag=TAG_GIVE)
    if sent is not None:
        sent.wait()


def _deal(tasks, run, weights, ran, ex, families):
    """:func:`in_order` on process 0 of a job of several."""
    dealer = _Dealer(len(tasks), ex.comm, ex.MPI, ex.size - 1, weights, families)
    got, shown = {}, 0
    mine = dealer.take()  # the first (the heaviest) is process 0's: its result stays here
    dealer.thread.start()
    while len(got) < len(tasks):
        if mine is not None:  # my next task, then whatever has come in meanwhile
            got[mine] = _attempt(run, tasks[mine])
            mine = dealer.take()
            while not dealer.results.empty():
                src, k, *outcome = dealer.results.get()
                got[k], ran[k] = outcome, src
        else:  # all taken: the others' results, as they come
            src, k, *outcome = dealer.results.get()
            got[k], ran[k] = outcome, src
        while shown in got and got[shown][1] is None:  # in order, up to an error
            yield shown, got[shown][0]
            shown += 1
    dealer.thread.join()
    _raise(share(next((got[k][1] for k in sorted(got) if got[k][1] is not None), None)))


def share(obj):
    """Process 0's ``obj`` on every process, the others waiting asleep
    (:meth:`~ubemu.parallel.exchange.MPIExchange.bcast_asleep`: they may wait long for
    process 0's last task, on a core it needs)."""
    return exchange().bcast_asleep(obj)


def spread(tasks, run, on_result=None, everywhere=True, weights=None, families=None):
    """``[run(t) for t in tasks]``, the tasks spread over the job's processes
    (:func:`in_order`, ``weights`` and ``families`` as there); ``on_result(i, result)`` on
    process 0 as they land. Returns the results on every process (``everywhere``: each
    process is sent those it did not run), else on process 0 (None elsewhere)."""
    out, ran = [], {}
    for i, result in in_order(tasks, run, weights, ran, families):
        out.append(result)
        if on_result is not None:
            on_result(i, result)
    ex = exchange()
    if ex.size == 1:
        return out
    if not everywhere:
        return out if ex.rank == 0 else None
    if ex.rank == 0:
        ex.scatter_asleep(lambda q: {i: r for i, r in enumerate(out) if ran.get(i, 0) != q})
        return out
    ran.update(ex.scatter_asleep(None))
    return [ran[i] for i in range(len(ran))]


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
