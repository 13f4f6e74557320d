"""ubemu.emulate against real MPI collectives (mpi4py): identical results at any world size.

Each MPI process owns one virtual NPU's input row; the rows are shared with a real Allgather
and every process emulates the collective with every registered algorithm that supports the
world size, comparing its own NPU's output with what MPI's Allreduce / Allgather / Alltoall
gave it. Values are small integers (also for float64), so every summation order is exact and
the results must be identical.
"""

import numpy as np
import pytest

MPI = pytest.importorskip("mpi4py.MPI")

from ubemu.algorithms import REGISTRY, algorithm_names  # noqa: E402
from ubemu.api import emulate  # noqa: E402
from ubemu.machine.comm import Comm  # noqa: E402

WORLD = MPI.COMM_WORLD
DTYPES = (np.int32, np.int64, np.float64)
MPI_OPS = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}
B = 3  # elements per block


def _my_row(collective, op, dtype, seed=11):
    rng = np.random.default_rng(seed + 1000 * WORLD.rank)
    width = {"all_reduce": 2 * WORLD.size + 1, "all_gather": B}.get(collective, B * WORLD.size)
    if op == "prod":
        vals = rng.choice(np.array([1, -1, 2, 1]), size=width)
    else:
        vals = rng.integers(-100, 100, size=width)
    return vals.astype(dtype)


def _all_rows(row):
    rows = np.empty((WORLD.size, row.size), row.dtype)
    WORLD.Allgather(row, rows)
    return rows


def _emulated(collective, rows, op):
    """This rank's output from every algorithm that can run on the world size."""
    out = {}
    for name in algorithm_names(collective):
        alg = REGISTRY[(collective, name)]
        if alg.check and alg.check(Comm.flat(WORLD.size)):
            continue  # the algorithm's own check says it does not apply here
        out[name] = emulate(collective, rows, algorithm=name, op=op)[WORLD.rank]
    assert "ring" in out or collective == "alltoall", sorted(out)
    assert out, f"no {collective} algorithm runs on {WORLD.size} ranks"
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", list(MPI_OPS))
def test_allreduce(op, dtype):
    row = _my_row("all_reduce", op, dtype)
    real = np.empty_like(row)
    WORLD.Allreduce(row, real, op=MPI_OPS[op])
    for name, got in _emulated("all_reduce", _all_rows(row), op).items():
        assert got.dtype == real.dtype
        np.testing.assert_array_equal(got, real, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_allgather(dtype):
    row = _my_row("all_gather", "sum", dtype)
    real = np.empty(WORLD.size * B, dtype)
    WORLD.Allgather(row, real)
    for name, got in _emulated("all_gather", _all_rows(row), "sum").items():
        np.testing.assert_array_equal(got, real, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alltoall(dtype):
    row = _my_row("alltoall", "sum", dtype)
    real = np.empty_like(row)
    WORLD.Alltoall(row, real)
    for name, got in _emulated("alltoall", _all_rows(row), "sum").items():
        np.testing.assert_array_equal(got, real, err_msg=name)
