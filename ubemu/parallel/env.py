"""The MPI job as the launcher describes it, read from the environment (no mpi4py import).

MPICH's hydra sets ``PMI_SIZE`` / ``PMI_RANK`` / ``MPI_LOCALNRANKS``, Open MPI
``OMPI_COMM_WORLD_SIZE`` / ``_RANK`` / ``_LOCAL_SIZE``. Outside a launcher a process is a job of
one.
"""

import contextlib
import os

_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")
_LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")


def _env_int(names, default):
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return default


_alone = [0]


@contextlib.contextmanager
def alone():
    """Inside: this process works by itself, a job of one (a task given to it by
    :func:`ubemu.parallel.spread.spread`); every collective is its own."""
    _alone[0] += 1
    try:
        yield
    finally:
        _alone[0] -= 1


def world_size():
    """Processes in the MPI job (1 outside MPI, and inside :func:`alone`)."""
    return 1 if _alone[0] else _env_int(_SIZE_VARS, 1)


def world_rank():
    """This process's rank (0 outside MPI, and inside :func:`alone`)."""
    return 0 if _alone[0] else _env_int(_RANK_VARS, 0)


def local_size():
    """Processes of the job on this host (the world size when the launcher does not say;
    also inside :func:`alone`: the others still use the host's memory)."""
    return max(_env_int(_LOCAL_SIZE_VARS, _env_int(_SIZE_VARS, 1)), 1)


def active():
    """True when the job has more than one process."""
    return world_size() > 1


def is_root():
    """True on the process that prints and writes files (rank 0; always outside MPI)."""
    return world_rank() == 0
