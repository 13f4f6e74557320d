"""Fail-stop for MPI jobs: one error line for the whole job, then every process ends."""

import os
import sys
import time

#: Seconds a failing process other than 0 waits before aborting, so that an error every
#: process meets is printed once (by process 0, whose abort ends the others first).
ABORT_GRACE_S = 2.0


def abort(message, code=2, stream=None):
    """Print ``message`` once for the whole job and end every process with ``code``.

    Process 0 prints and aborts at once; another process polls MPI for :data:`ABORT_GRACE_S`
    first (a process outside MPI calls is not ended by another's abort), so an error that
    every process meets is printed by process 0 only. Never returns.
    """
    from mpi4py import MPI

    stream = stream if stream is not None else sys.stderr
    world = MPI.COMM_WORLD
    if world.Get_rank() != 0:  # poll MPI while waiting: an abort elsewhere ends us here
        t0 = time.monotonic()
        while time.monotonic() - t0 < ABORT_GRACE_S:
            world.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG)
            time.sleep(0.01)
    stream.flush()
    os.write(stream.fileno(), (message + "\n").encode())  # one write, nothing left buffered
    time.sleep(0.5)  # let the launcher forward the line before the abort tears it down
    world.Abort(code)
    os._exit(code)  # MPICH's Abort can return before the launcher ends us: print nothing more


def abort_if_mpi(message, code):
    """In a job of several processes, :func:`abort`; otherwise return."""
    from .env import active

    if active():
        abort(message, code)


def peak_memory_mib():
    """Collective: every process's peak resident memory in MiB (a list, process order), on
    every process."""
    import resource

    from .exchange import exchange

    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return [float(x) / 1024 for x in exchange().allgather([float(rss_kib)])[:, 0]]
