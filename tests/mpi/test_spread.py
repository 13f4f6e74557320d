"""Independent work spread over the job's processes (``ubemu/parallel/spread.py``): the same
output as one process, at any world size.

Run under MPI (``make test-mpi``: 2 and 4 processes); in a single-process pytest the same
checks hold trivially. Each command runs twice in the job: spread over every process, and on
each process alone (:func:`ubemu.parallel.env.alone`, a job of one); process 0 compares
what the two printed and wrote.
"""

import json
import re
import time

import pytest

from ubemu.cli import main
from ubemu.errors import UbemuError
from ubemu.parallel import env
from ubemu.parallel.exchange import exchange
from ubemu.parallel.spread import in_order, spread

#: Wall-clock figures, the only part allowed to differ between runs.
WALL = re.compile(r"timed in [0-9.]+ s")


def _run(argv, capsys, path):
    """stdout (wall clock masked) and the -J document (wall clock and memory dropped) of
    ``ubemu argv``; the document on process 0 only."""
    capsys.readouterr()
    assert main([*argv, "-J", str(path)]) == 0
    out = WALL.sub("timed in _ s", capsys.readouterr().out)
    if not env.is_root():
        return out, None
    doc = json.loads(path.read_text())
    for key in ("wall_s", "peak_memory_mib", "n_procs"):
        doc.pop(key, None)
    for rec in doc.get("records", []) + doc.get("plans", []) + [doc.get("report", {})]:
        rec.pop("wall_s", None)
    return out, json.dumps(doc, sort_keys=True)


@pytest.mark.parametrize("argv", [
    ["plan", "--sweep", "--model", "gpt3-175b", "--topo", "ub-mesh-rack", "--flops", "400e12",
     "--progress", "off"],
    ["plan", "--model", "gpt3-175b", "--topo", "ub-mesh-pod", "--tp", "8", "--pp", "8",
     "--flops", "400e12"],
    ["faults", "all_reduce", "--topo", "ub-mesh-rack", "-b", "1M", "--algo", "ring",
     "--links", "0,1,2,4", "--seeds", "3", "--progress", "off"],
    ["all_reduce", "--topo", "ub-mesh-rack", "-b", "1K", "-e", "16M", "-f", "8",
     "--algo", "auto,ring,direct", "--progress", "off"]],
    ids=["plan-sweep", "plan", "faults", "rows"])
def test_spread_output_equals_one_process(argv, capsys, tmp_path):
    job = _run(argv, capsys, tmp_path / "out.json")
    with env.alone():
        one = _run(argv, capsys, tmp_path / "out.json")
    if env.is_root():
        assert job == one
    else:
        assert job[0] == ""  # only process 0 prints


def test_results_in_task_order_everywhere_and_each_task_run_alone():
    ex = exchange()
    seen = []

    def run(k):
        time.sleep(0.05)  # long enough for every process to ask for a task
        return k * k, exchange().size, env.world_size(), ex.rank

    out = spread(range(11), run, on_result=lambda i, r: seen.append(i))
    assert [r[0] for r in out] == [k * k for k in range(11)]
    assert all(r[1] == 1 and r[2] == 1 for r in out)  # alone: a job of one
    assert sorted({r[3] for r in out}) == list(range(min(ex.size, 11)))
    assert seen == (list(range(11)) if ex.rank == 0 else [])
    assert spread(range(3), run, everywhere=False) is None or ex.rank == 0


def test_a_task_error_reaches_every_process_in_task_order():
    def run(k):
        if k in (3, 5):
            raise UbemuError(f"task {k} failed")
        return k

    got = []
    with pytest.raises(UbemuError, match="task 3 failed"):
        for _, result in in_order(range(8), run):
            got.append(result)
    assert got == ([0, 1, 2] if exchange().rank == 0 else [])


@pytest.mark.parametrize("prune", [True, False])
@pytest.mark.parametrize("topo,collective", [("ub-mesh-rack", "all_reduce"),
                                             ("switch:12", "all_gather")])
def test_auto_candidates_spread_choose_as_one_process(topo, collective, prune):
    """``auto`` times its candidates in rounds over the processes: the same pick, time and
    notes (which were timed, pruned, left out) as one process."""
    from ubemu import engine
    from ubemu.machine.groups import group_of
    from ubemu.machine.spec import load_topology

    tp = load_topology(topo)
    comm = group_of(tp)
    count = comm.n * 300
    got = engine.choose(collective, comm, count, tp, 4, prune=prune)
    with env.alone():
        want = engine.choose(collective, comm, count, tp, 4, prune=prune)
    for name, timed, _ in (got, want):
        assert timed.schedule.algorithm == name
    assert (got[0], got[1].time_s, got[1].usage, got[1].bottleneck) == \
        (want[0], want[1].time_s, want[1].usage, want[1].bottleneck)
    assert json.dumps(got[2]) == json.dumps(want[2])  # the same notes, in the same order


def test_weighted_tasks_are_taken_heaviest_first():
    from ubemu.parallel.spread import claim_order

    assert claim_order(4) == [0, 1, 2, 3]
    assert claim_order(5, weights=[8, 8, 1, 8, 100]) == [4, 0, 1, 3, 2]


def test_pick_prefers_a_family_the_process_has_run_then_one_nobody_has():
    from ubemu.parallel.spread import WARM_SHARE, pick

    weights = [10, 10, 9, 8, 10 * WARM_SHARE - 1]
    families = ["a", "b", "c", "a", "d"]
    left = [0, 1, 2, 3, 4]
    assert pick(left, weights, None, {"b"}, {"a", "b"}) == 0  # no families: in order
    assert pick(left, weights, families, {"b"}, {"a", "b"}) == 1  # its own family
    assert pick(left, weights, families, set(), {"a", "b"}) == 2  # one nobody has run
    assert pick(left, weights, families, set(), {"a", "b", "c"}) == 0  # else in order
    assert pick(left, weights, families, {"d"}, {"a", "d"}) == 1  # d is too light to jump
    assert pick([3, 4], weights, families, {"d"}, {"a", "d"}) == 1  # near the heaviest left


def test_tasks_of_one_family_run_on_one_process():
    """Two families of three tasks: on two processes each family stays on one (a second
    process starts the family no one has run), the results in task order."""
    ex = exchange()

    def run(k):
        time.sleep(0.1)
        return k, ex.rank

    families = ["a", "a", "a", "b", "b", "b"]
    out = spread(range(6), run, families=families)
    assert [k for k, _ in out] == list(range(6))
    if ex.size == 2:
        ranks = [r for _, r in out]
        assert len(set(ranks[:3])) == 1 and len(set(ranks[3:])) == 1
        assert ranks[0] != ranks[3]


def test_tasks_go_to_the_processes_as_they_free_up():
    """One slow task on process 0's first draw: the others take the rest meanwhile (a fixed
    deal would leave half of them waiting behind it), and the results stay in task order."""
    import time

    ex = exchange()

    def run(k):
        if k == 0:
            time.sleep(1.0)
        return k, ex.rank

    out = spread(range(6), run)
    assert [k for k, _ in out] == list(range(6))
    if ex.size > 1:
        assert out[0][1] == 0 and all(rank != 0 for _, rank in out[1:])


def test_a_round_of_one_task_per_process_goes_one_to_each():
    """No process takes a task ahead while only one per process is left (``auto``'s rounds)."""
    ex = exchange()

    def run(k):
        time.sleep(0.2)
        return ex.rank

    assert sorted(spread(range(ex.size), run)) == list(range(ex.size))


def test_a_heavy_operation_is_timed_in_parts_as_one_process(monkeypatch):
    """An operation heavier than its share (:func:`ubemu.workloads.cache.n_parts`: here the
    hierarchical all-reduce, whose steps form windows) is timed in parts dealt over the
    processes and joined: the workload's result is one process's, bit for bit, and every part
    was timed once in the whole job."""
    import numpy as np

    from ubemu.machine.spec import load_topology
    from ubemu.workloads import cache, parts
    from ubemu.workloads.ops import Op
    from ubemu.workloads.run import run_workload

    ex = exchange()
    topo = load_topology("ub-mesh-pod")
    ops = [Op("w", "all_reduce", 1 << 22, algorithm="hierarchical",
              options={"per_level": "direct"}),
           Op("s", "sendrecv", 1 << 20, npus=np.arange(8).reshape(1, 8))]
    timed = []
    real = parts.time_part
    monkeypatch.setattr(parts, "time_part", lambda *a: timed.append(a[2:]) or real(*a))
    monkeypatch.setattr(cache, "_cache", {})
    got = run_workload(ops, topo)
    n = cache.n_parts([cache.weight(op, topo) for op in ops], ex.size)
    assert n[0] == (1 if ex.size == 1 else 2 * ex.size) and n[1] == 1
    every = ex.comm.allgather(timed) if ex.size > 1 else [timed]
    assert sorted(x for mine in every for x in mine) == [(k, n[0]) for k in range(n[0])
                                                         if n[0] > 1]
    monkeypatch.setattr(cache, "_cache", {})
    with env.alone():
        want = run_workload(ops, topo)
    assert json.dumps(got.to_dict()) == json.dumps(want.to_dict())
