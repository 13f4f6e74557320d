"""The parallel engine over real MPI: passes at any world size (1, 2, 4, ...).

Run under MPI with ``mpiexec -n N python -m mpi4py -m pytest tests/mpi`` (``make test-mpi``).
Every process checks its own figures against a single-process computation of the same run.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

MPI = pytest.importorskip("mpi4py.MPI")

from jobs import MPIEXEC, job_env  # noqa: E402

from tests.reference import emulate_verify  # noqa: E402
from ubemu import engine  # noqa: E402
from ubemu.algorithms import build_schedule  # noqa: E402
from ubemu.data.plane import apply_steps, execute  # noqa: E402
from ubemu.machine.comm import Comm  # noqa: E402
from ubemu.machine.groups import group_of  # noqa: E402
from ubemu.machine.spec import load_topology  # noqa: E402
from ubemu.parallel import env  # noqa: E402
from ubemu.parallel.block import Block  # noqa: E402
from ubemu.parallel.exchange import LocalExchange, MPIExchange  # noqa: E402
from ubemu.parallel.loads import PartitionedLoads  # noqa: E402
from ubemu.timing.walk import time_schedule  # noqa: E402


@pytest.fixture(scope="module")
def ex():
    return MPIExchange(MPI.COMM_WORLD)


def test_world_matches_environment(ex):
    if env.world_size() > 1:  # launched by mpiexec: env and MPI agree
        assert (env.world_size(), env.world_rank()) == (ex.size, ex.rank)


@pytest.mark.parametrize("coll,alg,dims,count", [("all_reduce", "ring", (12,), 61),
                                                 ("all_reduce", "hierarchical", (4, 4), 96),
                                                 ("alltoall", "bruck", (10,), 50),
                                                 ("all_gather", "ring_bidir", (7,), 21)])
def test_data_plane_matches_single_process(ex, coll, alg, dims, count):
    comm = Comm(dims)
    sched = build_schedule(coll, alg, comm, count)
    full = np.random.default_rng(7).standard_normal((comm.n, sched.buf_count))
    want = execute(sched, full.copy(), "sum", "float64")
    block = Block(comm.n, ex.size, ex.rank)
    got = full[block.lo:block.hi].copy()
    for _ in apply_steps(sched, got, block, ex, "sum", "float64"):
        pass
    assert np.array_equal(got, want[block.lo:block.hi])


@pytest.mark.parametrize("topo,coll,alg,count", [("ub-mesh-rack", "all_reduce", "direct", 4096),
                                                 ("ub-mesh-pod", "all_reduce", "hierarchical",
                                                  1 << 16),
                                                 ("cloudmatrix384", "alltoall", "pairwise",
                                                  384 * 4)])
def test_timing_equals_single_process(ex, topo, coll, alg, count, monkeypatch):
    tp = load_topology(topo)
    comm = group_of(tp)
    sched = build_schedule(coll, alg, comm, count, data=False)
    want = time_schedule(sched, tp, comm.npus, 2)

    def spread():
        return time_schedule(sched, tp, comm.npus, 2,
                             PartitionedLoads(tp, Block(comm.n, ex.size, ex.rank), ex))

    assert spread() == want  # time, per-class usage and bottleneck, bit for bit
    import ubemu.timing.patterns

    # the repeated-pattern shortcut
    monkeypatch.setattr(ubemu.timing.patterns, "PATTERN_MIN_TRANSFERS", 1)
    assert spread() == want


@pytest.mark.parametrize("topo,group,coll,alg", [
    ("ub-mesh-pod", "unit=rack", "all_reduce", "hierarchical"),
    ("atlas950-superpod", "unit=rack", "all_reduce", "direct"),  # the cabinet
    ("ub-mesh-pod", "one_per=rack", "alltoall", "pairwise")])
def test_group_utilisation_identical_at_any_process_count(ex, topo, group, coll, alg,
                                                          monkeypatch):
    """Each process counts the links it owns; their sum is the one-process count of the links
    the group uses (a part of each class), and the figures are bit for bit the same."""
    tp = load_topology(topo)
    comm = group_of(tp, group)
    sched = build_schedule(coll, alg, comm, comm.n * 256, data=False)
    want = time_schedule(sched, tp, comm.npus, 4)
    got = time_schedule(sched, tp, comm.npus, 4,
                        PartitionedLoads(tp, Block(comm.n, ex.size, ex.rank), ex))
    assert got == want
    assert any(0 < u.links_used < u.links for u in want[1])
    import ubemu.timing.patterns

    monkeypatch.setattr(ubemu.timing.patterns, "PATTERN_MIN_TRANSFERS", 1)
    assert time_schedule(sched, tp, comm.npus, 4,
                         PartitionedLoads(tp, Block(comm.n, ex.size, ex.rank), ex)) == want


@pytest.mark.parametrize("coll,alg,count,dtype,op", [("all_reduce", "hierarchical", 128,
                                                      "bfloat16", "sum"),
                                                     ("reduce_scatter", "ring", 64 * 3,
                                                      "float32", "avg"),
                                                     ("alltoall", "hierarchical", 64 * 2,
                                                      "int32", "sum"),
                                                     ("all_gather", "direct", 64 * 5,
                                                      "float16", "sum"),
                                                     ("all_reduce", "ring", 1 << 17,
                                                      "float32", "prod"),  # 2 input tiles
                                                     ("all_reduce", "halving_doubling", 96,
                                                      "int32", "avg"),
                                                     ("reduce", "binary_tree", 80, "int64",
                                                      "max"),
                                                     ("broadcast", "ring", 70, "bfloat16",
                                                      "sum"),
                                                     ("all_reduce", "ring", 64 * 3, "float16",
                                                      "prod"),  # random run on process 0
                                                     ("sendrecv", "direct", 70, "bfloat16",
                                                      "sum"),
                                                     ("gather", "binomial_tree", 64 * 3,
                                                      "int32", "sum"),
                                                     ("scatter", "binomial_tree", 64 * 2,
                                                      "float64", "sum"),
                                                     ("hypercube", "hypercube", 64 * 2,
                                                      "float16", "sum")])
def test_checked_run_matches_single_process(ex, coll, alg, count, dtype, op):
    tp = load_topology("ub-mesh-rack")
    comm = group_of(tp)
    got = engine.run_checked(coll, alg, comm, count, tp, dtype, op, seed=3, ex=ex,
                             timed=False)[1]
    want = emulate_verify(coll, alg, comm, count, dtype=dtype, op=op, seed=3)
    assert got == want and got[0] == 0


@pytest.mark.parametrize("alg,options", [("innet", {}), ("ring", {"channels": 8}),
                                         ("hierarchical", {"channels": 2, "chunk": 65536}),
                                         ("hierarchical", {"chunk": 16384, "per_level":
                                                           ("ring", "double_binary_tree")})])
def test_channels_pipelines_and_in_switch_reduction_alike_at_any_size(ex, alg, options):
    """A checked run on 2 DGX H100 nodes: the same data check and the same timing (in-switch
    steps and pipelines are timed in one process) in the job as in one process."""
    tp = load_topology("dgx-h100-multinode")
    comm = group_of(tp, "start=0,count=16")
    got = engine.run_checked("all_reduce", alg, comm, 16 * 1031, tp, "float32", seed=5,
                             options=options, ex=ex)
    want = engine.run_checked("all_reduce", alg, comm, 16 * 1031, tp, "float32", seed=5,
                              options=options, ex=LocalExchange())
    assert got[1] == want[1] and got[1][0] == 0
    assert (got[0].time_s, got[0].usage, got[0].bottleneck, got[0].protocol) == (
        want[0].time_s, want[0].usage, want[0].bottleneck, want[0].protocol)


def test_a_broken_transfer_is_counted(ex, monkeypatch):
    """A lost cross-process message must show up as wrong elements (the check can fail)."""
    tp = load_topology("ub-mesh-rack")
    comm = group_of(tp)
    real = MPIExchange.alltoallv

    def lossy(self, send, send_counts, recv_counts=None):
        # the data arrive as zeros; the int64 headers stay intact, so every later exchange's
        # sizes still match (zeroed headers would leave messages in flight for the next test)
        recv, counts = real(self, send, send_counts, recv_counts)
        if send.dtype != np.int64:
            recv[:] = 0
        return recv, counts

    if ex.size == 1:
        pytest.skip("a lost cross-process message needs two processes")
    monkeypatch.setattr(MPIExchange, "alltoallv", lossy)
    _, (wrong, _, _) = engine.run_checked("all_reduce", "hierarchical", comm, 64, tp,
                                          "float32", ex=ex, timed=False)
    assert wrong > 0


@pytest.mark.slow
@pytest.mark.skipif(env.world_size() > 1, reason="launches its own jobs: run it once, "
                    "in a single-process pytest")
@pytest.mark.parametrize("args", [["all_reduce", "-b", "1K", "-e", "1M", "-f", "32"],
                                  # a named algorithm: timed while its data run walks the steps
                                  ["all_reduce", "--algo", "hierarchical", "-b", "1K", "-e",
                                   "64K", "-f", "64", "-d", "bfloat16"],
                                  ["alltoall", "--algo", "direct", "-b", "64K", "-e", "64K"]])
def test_cli_json_identical_for_1_2_4_8_processes(tmp_path, args):
    docs, outs = {}, {}
    for n in (1, 2, 4, 8):
        path = tmp_path / f"out{n}.json"
        cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "ubemu", *args,
               "--topo", "ub-mesh-rack", "-c", "1", "-J", str(path)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=job_env())
        assert run.returncode == 0, run.stderr[-2000:]
        doc = json.loads(path.read_text())
        for rec in doc["records"]:
            rec.pop("wall_s")
        assert doc.pop("n_procs") == n and len(doc.pop("peak_memory_mib")) == n
        docs[n] = json.dumps(doc, sort_keys=True)
        outs[n] = run.stdout.splitlines()
        assert run.stdout.count("# ubemu ") == 1  # only rank 0 prints
        assert all(r["wrong"] == 0 for r in doc["records"])
    assert docs[2] == docs[1] and docs[4] == docs[1] and docs[8] == docs[1]
    assert outs[2] == outs[1] and outs[4] == outs[1] and outs[8] == outs[1]  # stdout identical
    table = [[c for c in ln.split() if c] for ln in outs[1] if not ln.startswith("#")]
    for n in (2, 4, 8):
        other = [[c for c in ln.split() if c] for ln in outs[n] if not ln.startswith("#")]
        assert [r[:10] for r in other] == [r[:10] for r in table]  # size .. #wrong columns


@pytest.mark.parametrize("per_level", ["pairwise", "direct"])
def test_hierarchical_alltoall_over_three_levels_matches_single_process(ex, per_level):
    """Each process builds its own senders' block moves (closed form per level and shift);
    the checked run times the timing-only twin: both as in one process."""
    tp = load_topology("full_mesh:4,ring:3,switch:2")
    comm = group_of(tp)
    opts = {"per_level": per_level}
    timed, got = engine.run_checked("alltoall", "hierarchical", comm, 24 * 3, tp, "int32",
                                    seed=5, ex=ex, options=opts)
    want = emulate_verify("alltoall", "hierarchical", comm, 24 * 3, dtype="int32", seed=5,
                          **opts)
    alone = engine.time_only("alltoall", "hierarchical", comm, 24 * 3, tp, 4, opts,
                             ex=LocalExchange())
    assert got == want and got[0] == 0
    assert (timed.time_s, timed.usage, timed.bottleneck) == (alone.time_s, alone.usage,
                                                             alone.bottleneck)


@pytest.mark.parametrize("alg", ["direct", "pairwise", "hierarchical"])
def test_alltoallv_checked_and_timed_as_in_one_process(ex, alg):
    """An uneven all-to-all (skewed MoE routing) spread over the processes: nothing wrong,
    and the check and the time are those of one process, bit for bit."""
    from ubemu.traffic import resolve

    tp = load_topology("ub-mesh-rack")
    comm = group_of(tp)
    count = 24 * 3 * 5
    options = {"traffic": resolve("moe:tokens=24,experts=64,topk=3,seed=2,skew=1", comm.n,
                                  count)}
    got_timed, got = engine.run_checked("alltoallv", alg, comm, count, tp, "bfloat16", "sum",
                                        seed=3, options=options, ex=ex)
    want_timed, want = engine.run_checked("alltoallv", alg, comm, count, tp, "bfloat16", "sum",
                                          seed=3, options=options, ex=LocalExchange())
    assert got == want and got[0] == 0
    assert (got_timed.time_s, got_timed.usage, got_timed.bottleneck) == \
        (want_timed.time_s, want_timed.usage, want_timed.bottleneck)
