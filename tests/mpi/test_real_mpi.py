"""ubemu.emulate against real MPI collectives (mpi4py): identical results at any world size.

Each MPI process owns one virtual NPU's input row; the rows are shared with a real Allgather
and every process emulates the collective with every registered algorithm that supports the
world size, comparing its own NPU's output with what MPI's Allreduce / Allgather / Alltoall /
Sendrecv / Gather / Scatter gave it. Values are small integers (also for float64), so every
summation order is exact and the results must be identical.
"""

import numpy as np
import pytest

MPI = pytest.importorskip("mpi4py.MPI")

from ubemu.algorithms import REGISTRY, algorithm_names  # noqa: E402
from ubemu.api import emulate  # noqa: E402
from ubemu.errors import UbemuError  # noqa: E402
from ubemu.machine.comm import Comm  # noqa: E402

WORLD = MPI.COMM_WORLD
DTYPES = (np.int32, np.int64, np.float64)
MPI_OPS = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}
B = 3  # elements per block


def _my_row(collective, op, dtype, seed=11):
    rng = np.random.default_rng(seed + 1000 * WORLD.rank)
    width = {"all_reduce": 2 * WORLD.size + 1, "all_gather": B, "gather": B,
             "hypercube": B}.get(collective, B * WORLD.size)
    if op == "prod":
        vals = rng.choice(np.array([1, -1, 2, 1]), size=width)
    else:
        vals = rng.integers(-100, 100, size=width)
    return vals.astype(dtype)


def _all_rows(row):
    rows = np.empty((WORLD.size, row.size), row.dtype)
    WORLD.Allgather(row, rows)
    return rows


def _emulated(collective, rows, op, **options):
    """This rank's output from every algorithm that can run on the world size."""
    out = {}
    for name in algorithm_names(collective):
        alg = REGISTRY[(collective, name)]
        if alg.check and alg.check(Comm.flat(WORLD.size)):
            continue  # the algorithm's own check says it does not apply here
        got = emulate(collective, rows, algorithm=name, op=op, **options)
        out[name] = got if collective == "gather" else got[WORLD.rank]  # gather: the root's
    assert "ring" in out or collective not in ("all_reduce", "all_gather"), sorted(out)
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


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sendrecv(dtype):
    row = _my_row("sendrecv", "sum", dtype)
    real = np.empty_like(row)
    n, r = WORLD.size, WORLD.rank
    WORLD.Sendrecv(row, dest=(r + 1) % n, recvbuf=real, source=(r - 1) % n)
    for name, got in _emulated("sendrecv", _all_rows(row), "sum").items():
        np.testing.assert_array_equal(got, real, err_msg=name)


@pytest.mark.parametrize("root", [0, -1], ids=["root0", "last"])
def test_gather_and_scatter(root):
    root = root % WORLD.size
    row = _my_row("gather", "sum", np.int64)
    real = np.empty(WORLD.size * B, np.int64) if WORLD.rank == root else None
    WORLD.Gather(row, real, root=root)
    for name, got in _emulated("gather", _all_rows(row), "sum", root=root).items():
        if WORLD.rank == root:
            np.testing.assert_array_equal(got, real, err_msg=name)
    row = _my_row("scatter", "sum", np.float64)
    real = np.empty(B, np.float64)
    WORLD.Scatter(row if WORLD.rank == root else None, real, root=root)
    for name, got in _emulated("scatter", _all_rows(row), "sum", root=root).items():
        np.testing.assert_array_equal(got, real, err_msg=name)


def test_hypercube_is_an_allgather():
    row = _my_row("hypercube", "sum", np.int32)
    real = np.empty(WORLD.size * B, np.int32)
    WORLD.Allgather(row, real)
    if WORLD.size & (WORLD.size - 1):  # nccl-tests' hypercube needs a power of two too
        with pytest.raises(UbemuError, match="needs a power-of-two rank count"):
            emulate("hypercube", _all_rows(row), algorithm="hypercube")
        return
    for name, got in _emulated("hypercube", _all_rows(row), "sum").items():
        np.testing.assert_array_equal(got, real, err_msg=name)
