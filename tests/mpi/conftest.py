"""The MPI tests launch their own mpiexec jobs: warm the Numba cache first (tests/mpi/warm.py)."""

import pytest

from ubemu.parallel import env


@pytest.fixture(scope="session", autouse=True)
def warm_numba_cache():
    """In a single-process pytest, compile every kernel once before any job is launched
    (under mpiexec, ``run_mpi_tests.py`` has warmed it already)."""
    if env.world_size() == 1:
        from warm import warm_cache

        warm_cache()
