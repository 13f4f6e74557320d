"""The data plane: the Numba execute kernel against the plain interpreter, bit for bit, over
the registry, and the same driver spread over "processes" (threads) against one process.

Every registered algorithm runs on every rank count with a dtype and op chosen in rotation
(the full dtype x op product runs on a few schedules), with uneven counts and counts below
the rank count, on a flat group and on the ub-mesh-rack preset's 8x8 grid.
"""

import numpy as np
import pytest

import ubemu.data.plane as ex
from tests.helpers import refuses
from tests.interpret import interpret
from tests.threads import run_threads
from ubemu.algorithms import REGISTRY, build_schedule
from ubemu.collectives import get
from ubemu.data.dtypes import DTYPES, OPS, from_float64
from ubemu.data.layout import pack_inputs
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology
from ubemu.parallel.block import Block
from ubemu.schedule import Schedule, Step

RANK_COUNTS = [1, 2, 3, 8, 12, 64]
DTYPE_NAMES = list(DTYPES)
KEYS = sorted(REGISTRY)
def _counts(collective, n):
    if get(collective).blocked:
        return [n, 3 * n]
    return [max(n - 1, 1), 2 * n + 3]  # below the rank count, and uneven


def _random_inputs(collective, n, count, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = get(collective).input_shape(n, count)
    dt = DTYPES[dtype]
    if not dt.is_float:
        return rng.integers(-50, 50, size=shape).astype(dt.storage)
    return from_float64(rng.normal(0, 4, size=shape), dt)


def _bits(a):
    return a.view(np.uint8)


def _compare(collective, name, comm, count, dtype, op, seed=0):
    if refuses(collective, name, comm):
        return
    sched = build_schedule(collective, name, comm, count)
    dt = DTYPES[dtype]
    buf = pack_inputs(sched, _random_inputs(collective, comm.n, count, dtype, seed), dt.storage)
    ref = buf.copy()
    interpret(sched, ref, op, dtype=dtype)
    ex.execute(sched, buf, op, dtype)
    np.testing.assert_array_equal(_bits(buf), _bits(ref))


@pytest.mark.parametrize("n", RANK_COUNTS)
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_kernel_equals_interpreter_flat(key, n):
    collective, name = key
    i = KEYS.index(key) + RANK_COUNTS.index(n)
    for j, count in enumerate(_counts(collective, n)):
        dtype = DTYPE_NAMES[(i + 3 * j) % len(DTYPE_NAMES)]
        op = OPS[(i + j) % len(OPS)]
        _compare(collective, name, Comm.flat(n), count, dtype, op, seed=i)


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_kernel_equals_interpreter_ub_mesh_rack(key):
    collective, name = key
    comm = group_of(load_topology("ub-mesh-rack"))
    assert comm.dims == (8, 8)
    i = KEYS.index(key)
    for j, count in enumerate(_counts(collective, comm.n)[:1] + [64 * 2]):
        _compare(collective, name, comm, count, DTYPE_NAMES[(i + j) % 6], OPS[(i + j) % 5])


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("key", [("all_reduce", "ring"), ("all_reduce", "recursive_doubling"),
                                 ("reduce_scatter", "halving_doubling")], ids="-".join)
def test_every_dtype_and_op(key, dtype, op):
    for n, count in ((3, 6), (8, 8 * 5)):
        _compare(*key, Comm.flat(n), count, dtype, op, seed=n)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64"])
@pytest.mark.parametrize("key", [k for k in KEYS if k[0] in ("all_reduce", "all_gather",
                                                             "reduce_scatter")], ids="-".join)
def test_column_tiling_is_bit_identical(monkeypatch, key, dtype):
    monkeypatch.setattr(ex, "TILE_BYTES", 8 * 16 * 8)
    monkeypatch.setattr(ex, "MIN_TILE_COLUMNS", 4)
    assert ex.column_tile(8, 1000, 8) == 16
    _compare(*key, Comm.flat(8), 8 * 37, dtype, "sum")
    _compare(*key, Comm.flat(8), 8 * 37, dtype, "max")


def _swap_schedule(reduce):
    """One step: ranks 0 and 1 send each other elements 0..2 (a pre-step-semantics trap)."""
    step = Step.make([0, 1], [1, 0], 3, [0, 0], [0, 0], reduce=reduce)
    return Schedule("all_reduce", "swap", 2, 3, 3, lambda: iter([step]), 1)


def test_needs_staging():
    assert ex.needs_staging(next(iter(_swap_schedule(True))), 3)
    ring = list(build_schedule("all_reduce", "ring", 4, 8))
    assert not any(ex.needs_staging(st, 8) for st in ring)
    # rank 0 writes 4..6 of rank 1 while rank 1 sends its 0..2 elsewhere: no overlap
    step = Step.make([0, 1], [1, 2], 2, [0, 0], [4, 0])
    assert not ex.needs_staging(step, 8)
    step = Step.make([0, 1], [1, 2], 2, [0, 3], [4, 0])  # rank 1 reads 3..4, 4 is written
    assert ex.needs_staging(step, 8)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_pre_step_semantics(dtype):
    dt = DTYPES[dtype]
    a = np.array([[1, 2, 3], [10, 20, 30]], np.float64)
    buf = from_float64(a, dt) if dt.is_float else a.astype(dt.storage)
    ex.execute(_swap_schedule(True), buf, "sum", dtype)  # both get a + b, not a + (a + b)
    want = np.array([[11, 22, 33]] * 2, np.float64)
    np.testing.assert_array_equal(buf, from_float64(want, dt))
    buf = from_float64(a, dt)
    ex.execute(_swap_schedule(False), buf, "sum", dtype)  # a copy swap
    np.testing.assert_array_equal(buf, from_float64(a[::-1], dt))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_rounds_after_every_combine(dtype):
    # 1 + u is a tie (u = 2**-p): nearest even gives 1, so adding u twice, one combine at a
    # time, stays 1, while one rounding of the exact sum would give 1 + 2u.
    u = DTYPES[dtype].unit_roundoff
    steps = [Step.make([1], [0], 1, [0], [0], reduce=True),
             Step.make([2], [0], 1, [0], [0], reduce=True)]
    sched = Schedule("reduce", "chain", 3, 1, 1, lambda: iter(steps), 2)
    buf = from_float64(np.array([[1.0], [u], [u]]), dtype)
    ex.execute(sched, buf, "sum", dtype)
    assert buf[0, 0] == from_float64(1.0, dtype)
    assert from_float64(1 + 2 * u, dtype) != from_float64(1.0, dtype)


def test_execute_rejects_bad_input():
    sched = build_schedule("all_reduce", "ring", 4, 8)
    with pytest.raises(UbemuError, match="shape"):
        ex.execute(sched, np.zeros((4, 7), np.float32))
    with pytest.raises(UbemuError, match="valid: sum"):
        ex.execute(sched, np.zeros((4, 8), np.float32), "mean")
    with pytest.raises(UbemuError, match="bfloat16"):
        ex.execute(sched, np.zeros((4, 8), np.uint16))
    timing = build_schedule("all_reduce", "ring", 4, 8, data=False)
    with pytest.raises(UbemuError, match="timing-only"):
        ex.execute(timing, np.zeros((4, 8), np.float32))
    bad = Step.make([0], [1], 4, [6], [0])
    sched = Schedule("all_reduce", "bad", 4, 8, 8, lambda: iter([bad]), 1)
    with pytest.raises(UbemuError, match="outside the buffer"):
        ex.execute(sched, np.zeros((4, 8), np.float32))


SPREAD = [("all_reduce", "ring", (8,), 37, "float32", "sum"),
          ("all_reduce", "hierarchical", (4, 3, 2), 50, "float64", "sum"),
          ("all_reduce", "halving_doubling", (12,), 29, "bfloat16", "max"),
          ("all_gather", "bruck", (10,), 30, "int32", "sum"),
          ("alltoall", "pairwise", (6,), 36, "float16", "sum"),
          ("reduce_scatter", "ring_bidir", (9,), 45, "int64", "prod")]


@pytest.mark.parametrize("n_procs", [2, 3, 4])
@pytest.mark.parametrize("coll,alg,dims,count,dtype,op", SPREAD)
def test_spread_over_processes_equals_one_process(coll, alg, dims, count, dtype, op, n_procs):
    """The driver over P "processes" (threads exchanging through memory) leaves every row
    exactly as one process does."""
    comm = Comm(dims)
    sched = build_schedule(coll, alg, comm, count)
    dt = DTYPES[dtype]
    raw = np.random.default_rng(1).integers(-3, 4, size=(comm.n, sched.buf_count))
    full = from_float64(raw.astype(np.float64), dt)
    want = ex.execute(sched, full.copy(), op, dtype)

    def work(exchange):
        block = Block(comm.n, n_procs, exchange.rank)
        mine = full[block.lo:block.hi].copy()
        for _ in ex.apply_steps(sched, mine, block, exchange, op, dtype):
            pass
        return mine

    got = np.concatenate(run_threads(n_procs, work))
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
