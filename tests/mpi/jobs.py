"""What every MPI job the tests launch shares: the environment and the venv's mpiexec."""

import os
import sys
from pathlib import Path

#: One Numba / OpenMP thread per rank; yield while waiting (ranks may outnumber cores).
THREADS_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}
#: The mpiexec next to this Python (a system MPI aborts against the wheel).
MPIEXEC = str(Path(sys.executable).with_name("mpiexec"))


def job_env():
    """This process's environment for a new job: without the launcher's variables (a job
    started from inside one must not join it), with :data:`THREADS_ENV`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "PMIX_", "HYDRA_", "MPI_LOCAL", "OMPI_"))}
    env.update(THREADS_ENV)
    return env
