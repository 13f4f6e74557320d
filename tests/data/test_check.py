"""verify(): correct algorithms report 0 wrong; broken schedules are caught; error stats.

(a) every registered algorithm on every dtype (in rotation) and rank count reports 0 wrong,
    including bfloat16 at 64 and 1024 ranks, where the rigorous rounding bound is useless;
(b) a schedule with one transfer dropped, or one reduce step applied twice, reports wrong > 0
    for every dtype (duplicates for sum / prod / avg: max and min are idempotent);
(c) on random data the low-precision errors are nonzero and differ between algorithms;
(d) through the whole check of ``simulate(verify=True)``, one transfer dropped or doubled in a
    registered schedule is caught at 1,024 and 2,000 ranks in every dtype, where the native
    inputs are sparse (the shadow run, ``ubemu.data.check.exact_run_complete``).
"""

import numpy as np
import pytest

import ubemu
from tests.helpers import refuses
from ubemu.algorithms import REGISTRY, build_schedule
from ubemu.algorithms.base import Algorithm
from ubemu.api import emulate
from ubemu.collectives import get
from ubemu.data.check import (
    exact_run_complete,
    gamma,
    make_inputs,
    random_sums_exact,
    reference_from_parts,
    reference_parts,
    verify,
)
from ubemu.data.dtypes import DTYPES, OPS, finish_avg, get_dtype, to_float64
from ubemu.data.layout import pack_inputs, unpack_outputs
from ubemu.data.plane import execute
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm
from ubemu.schedule import Schedule, Step

KEYS = sorted(REGISTRY)
DTYPE_NAMES = list(DTYPES)


def _emulate(collective, algorithm, n, count, dtype, op, kind="exact", seed=0):
    x = make_inputs(collective, n, count, dtype, op, seed=seed, kind=kind)
    return verify(collective, emulate(collective, x, algorithm=algorithm, op=op, dtype=dtype),
                  x, op, dtype)


def test_gamma():
    assert gamma(3, 2.0**-8) == pytest.approx(3 / 253)
    assert gamma(256, 2.0**-8) == np.inf


@pytest.mark.parametrize("n", [1, 2, 3, 8, 12, 64])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_correct_algorithms_report_zero(key, n):
    collective, name = key
    i = KEYS.index(key) + n
    count = 4 * n if get(collective).blocked else 3 * n + 1
    if refuses(collective, name, Comm.flat(n)):
        return
    for j, kind in enumerate(("exact", "random")):
        dtype, op = DTYPE_NAMES[(i + j) % 6], OPS[(i + 2 * j) % 5]
        wrong, mx, mean = _emulate(collective, name, n, count, dtype, op, kind, seed=i)
        assert wrong == 0, (dtype, op, kind)
        if kind == "exact" and get(collective).reducing and op in ("sum", "prod", "max", "min"):
            assert mx == 0.0


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("n", [64, pytest.param(1024, marks=pytest.mark.slow)])
def test_bf16_large_rank_counts_report_zero(n, op):
    names = ("ring", "halving_doubling") if n == 64 or op == "sum" else ("ring",)
    for name in names:
        assert _emulate("all_reduce", name, n, 2 * n, "bfloat16", op)[0] == 0


def _broken(schedule, how, k):
    """``schedule`` with the first transfer of step ``k`` dropped, or step ``k`` repeated."""
    steps = list(schedule.steps())
    st = steps[k]
    if how == "drop":
        keep = np.arange(st.n_transfers) != 0
        steps[k] = Step(st.src[keep], st.dst[keep], st.n[keep], st.src_off[keep],
                        st.dst_off[keep], st.reduce[keep])
    else:
        steps.insert(k + 1, st)
    return Schedule(schedule.collective, "broken", schedule.n_ranks, schedule.count,
                    schedule.buf_count, lambda: iter(steps), len(steps))


def _run_broken(collective, name, n, count, dtype, op, how, k):
    sched = build_schedule(collective, name, Comm.flat(n), count)
    k = k % sched.n_steps
    sched = _broken(sched, how, k)
    x = make_inputs(collective, n, count, dtype, op, seed=3)
    buf = pack_inputs(sched, x, DTYPES[dtype].storage)
    execute(sched, buf, op, dtype)
    out = unpack_outputs(sched, buf)
    if op == "avg":
        out = finish_avg(out, n, dtype)
    return verify(collective, out, x, op, dtype)[0]


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("op", OPS)
def test_dropped_transfer_is_caught(dtype, op):
    for k in (0, 7, -1):  # first reduce-scatter step, first all-gather step, last step
        assert _run_broken("all_reduce", "ring", 8, 64, dtype, op, "drop", k) > 0, k
    assert _run_broken("reduce_scatter", "halving_doubling", 8, 64, dtype, op, "drop", 1) > 0
    assert _run_broken("all_gather", "ring", 8, 64, dtype, op, "drop", 3) > 0


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("op", ["sum", "prod", "avg"])
def test_duplicated_reduce_is_caught(dtype, op):
    for k in (0, 3, 6):
        assert _run_broken("all_reduce", "ring", 8, 64, dtype, op, "dup", k) > 0, k


@pytest.mark.parametrize("n", [64, pytest.param(1024, marks=pytest.mark.slow)])
def test_bf16_broken_schedule_caught_at_scale(n):
    for k in (0, n // 2, -1):
        assert _run_broken("all_reduce", "ring", n, 8 * n, "bfloat16", "sum", "drop", k) > 0
    for k in (0, n - 2):  # reduce-scatter steps (the rest are copies)
        assert _run_broken("all_reduce", "ring", n, 8 * n, "bfloat16", "sum", "dup", k) > 0


def test_error_statistics_differ_between_algorithms_and_dtypes():
    stats = {}
    for dtype in ("float32", "float16", "bfloat16"):
        for name in ("ring", "halving_doubling"):
            wrong, mx, mean = _emulate("all_reduce", name, 64, 64 * 8, dtype, "sum", "random")
            assert wrong == 0
            stats[dtype, name] = (mx, mean)
    for name in ("ring", "halving_doubling"):
        assert 0 < stats["float32", name][0] < 1e-5
        assert stats["float32", name][0] < stats["float16", name][0] < stats["bfloat16", name][0]
    assert stats["bfloat16", "ring"] != stats["bfloat16", "halving_doubling"]
    # ring adds one value at a time onto a growing sum: more error than pairwise halving
    assert stats["bfloat16", "ring"][1] > stats["bfloat16", "halving_doubling"][1]


def test_verify_checks_shapes_and_names():
    x = make_inputs("all_reduce", 4, 8, "float32")
    with pytest.raises(UbemuError, match="do not match"):
        verify("all_reduce", x[:, :4], x, "sum", "float32")
    with pytest.raises(UbemuError, match="unknown collective"):
        verify("allreduce", x, x, "sum", "float32")
    with pytest.raises(UbemuError, match="unknown input kind"):
        make_inputs("all_reduce", 4, 8, "float32", kind="odd")


def test_exact_inputs_stay_within_the_exact_range():
    for dtype in ("bfloat16", "float16"):
        for n in (8, 1024):
            x = make_inputs("all_reduce", n, 4096, dtype, "sum")
            v = to_float64(x, dtype)
            assert (v == np.rint(v)).all() and (v >= 0).all()
            assert np.abs(v).sum(axis=0).max() <= DTYPES[dtype].exact_int_limit // 2
            if n == 8:
                assert (v > 0).all()  # dense: every rank contributes everywhere


@pytest.mark.parametrize("collective,op,dtype", [("all_reduce", "sum", "float32"),
                                                 ("all_reduce", "prod", "bfloat16"),
                                                 ("reduce_scatter", "max", "int32"),
                                                 ("all_reduce", "avg", "int64"),
                                                 ("alltoall", "sum", "float16")])
@pytest.mark.parametrize("n,count", [(12, 48), (3000, 2400),
                                     pytest.param(300_000, 64, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", ["exact", "random"])
def test_rows_drawn_alone_equal_the_whole(collective, op, dtype, n, count, kind):
    """Any block of rows equals the same rows of the whole inputs (tiles cross the blocks)."""
    if collective == "alltoall":
        n, count = min(n, 300), min(n, 300) * 2
    whole = make_inputs(collective, n, count, dtype, op, seed=9, kind=kind)
    for lo, hi in [(0, n), (1, n - 1), (n // 3, 2 * n // 3), (n - 1, n), (5, 5)]:
        part = make_inputs(collective, n, count, dtype, op, seed=9, kind=kind, rows=(lo, hi))
        assert part.dtype == whole.dtype and part.tobytes() == whole[lo:hi].tobytes()
    with pytest.raises(UbemuError, match="input rows"):
        make_inputs(collective, n, count, dtype, op, rows=(0, n + 1))


@pytest.mark.parametrize("op,dtype", [("sum", "float32"), ("avg", "bfloat16"),
                                      ("prod", "float16"), ("max", "int32"),
                                      ("min", "float64"), ("sum", "int64")])
def test_reference_parts_of_blocks_combine_to_the_whole(op, dtype):
    """Partial references of row blocks, combined element-wise, equal the whole reference."""
    n = 50
    x = make_inputs("all_reduce", n, 40, dtype, op, seed=2)
    whole = reference_from_parts(reference_parts(x, op, dtype), n, op, dtype)
    combine = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}
    parts = None
    for lo, hi in [(0, 7), (7, 7), (7, 31), (31, 50)]:
        mine = reference_parts(x[lo:hi], op, dtype)
        parts = mine if parts is None else [(combine[c](a, b), c)
                                            for (a, c), (b, _) in zip(parts, mine)]
    got = reference_from_parts(parts, n, op, dtype)
    got, whole = ((r,) if isinstance(r, np.ndarray) else r for r in (got, whole))
    assert len(got) == len(whole) and all(np.array_equal(g, w) for g, w in zip(got, whole))


def test_random_sums_exact_bounds():
    """bfloat16 random inputs are multiples of 2**-31 below 1, float16 of 2**-24."""
    assert random_sums_exact(2**22, "bfloat16", "sum")
    assert not random_sums_exact(2**22 + 1, "bfloat16", "avg")
    assert random_sums_exact(2**29, "float16", "avg")
    assert not random_sums_exact(8, "float16", "prod")
    assert not random_sums_exact(8, "float32", "sum")
    x = make_inputs("all_reduce", 3000, 64, "bfloat16", "sum", kind="random")
    spacing = 2.0**-31
    vals = to_float64(x, get_dtype("bfloat16"))
    assert np.all(vals < 1 + spacing) and np.all(np.mod(vals, spacing) == 0)


@pytest.fixture
def broken_ring():
    """A registered all_reduce ``broken_ring``: ring with transfer 0 of step ``k`` dropped
    (``how="drop"``) or step ``k`` applied twice (``how="dup"``)."""
    key = ("all_reduce", "broken_ring")
    ring = REGISTRY[("all_reduce", "ring")]

    def build(comm, count, data=True, how="drop", k=0):
        sched = ring.build(comm, count, data=data)
        sched.buf_count = count
        return _broken(sched, how, k % sched.n_steps) if data else sched

    REGISTRY[key] = Algorithm(*key, "ring with one transfer broken", build)
    yield key[1]
    del REGISTRY[key]


@pytest.mark.slow
@pytest.mark.parametrize("n,dtype,how,k", [
    (1024, "bfloat16", "drop", 2),       # reduce-scatter step, a block of 2 elements
    (1024, "bfloat16", "dup", 3),        # a reduce-scatter step applied twice
    (1024, "float32", "drop", 1500),     # all-gather step (the native inputs are dense)
    (2000, "bfloat16", "drop", 3997),    # all-gather step, blocks of 1 or 2 elements
    (2000, "float16", "drop", 0)])
def test_broken_schedule_caught_by_the_whole_check(broken_ring, n, dtype, how, k):
    """One transfer of ring all-reduce lost or doubled at 1,024 / 2,000 ranks. Each 16-bit
    case here is one that the native sparse inputs alone miss (wrong=0 before the shadow
    run: every rank's value was non-zero only in every m-th element)."""
    res = ubemu.simulate("all_reduce", 4096, f"switch:{n}", broken_ring, dtype=dtype,
                         verify=True, how=how, k=k)
    assert res.wrong > 0
    assert ubemu.simulate("all_reduce", 4096, f"switch:{n}", "ring", dtype=dtype,
                          verify=True).wrong == 0


@pytest.mark.parametrize("n,dtype,op,want", [
    pytest.param(1024, "float16", "sum", 2048, marks=pytest.mark.slow),  # the audit's case
    (16, "float16", "sum", 2048),  # exact and random runs both see it
    (16, "bfloat16", "prod", 2048),  # exact and shadow runs, and process 0's random run
    (8, "int32", "max", 1024)])  # exact and shadow runs
def test_an_element_several_runs_find_wrong_counts_once(broken_ring, n, dtype, op, want):
    """Transfer 0 of the first reduce-scatter step dropped: rank 0's block (2048 / n elements
    of 4096 bytes) misses a contribution on every rank after the all-gather, so 2048 elements
    differ (int32: 4096 bytes are 1024 elements). The exact, shadow and random runs each see
    them; #wrong counted them once per run (the audit: 4,096 on 1,024 ranks)."""
    res = ubemu.simulate("all_reduce", 4096, f"switch:{n}", broken_ring, dtype=dtype, op=op,
                         verify=True, how="drop", k=0)
    assert res.wrong == want


@pytest.mark.parametrize("n_procs", [1, 2, 3])
def test_wrong_once_over_processes(broken_ring, n_procs):
    """Each process marks its own rows; process 0's random run (prod: order-dependent
    reference) reads every process's marks."""
    from tests.threads import run_threads
    from ubemu import engine
    from ubemu.machine.groups import group_of

    topo = ubemu.load_topology("switch:16")
    comm = group_of(topo)

    def work(ex):
        return engine.run_checked("all_reduce", broken_ring, comm, 2048, topo, "float16",
                                  "prod", ex=ex, timed=False, options={"k": 0})[1][0]

    assert run_threads(n_procs, work) == [2048] * n_procs


def test_shadow_run_where_native_inputs_are_sparse():
    assert exact_run_complete("all_reduce", 42, "bfloat16", "sum")
    assert not exact_run_complete("all_reduce", 43, "bfloat16", "sum")
    assert not exact_run_complete("all_reduce", 342, "float16", "sum")
    assert exact_run_complete("all_reduce", 2_000_000, "float32", "sum")
    assert not exact_run_complete("all_reduce", 8, "float64", "max")  # the extreme only
    assert exact_run_complete("all_gather", 10**6, "bfloat16", "sum")  # copies
