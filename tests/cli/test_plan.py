"""``ubemu plan``: one plan's tables, the sweep's ranking, -J / --trace, one-line errors."""

import json

import pytest

from tests.cli_helpers import assert_one_error_line, one_and_two_processes, run_main
from ubemu import cli
from ubemu.cli import plan as train

#: A small GPT on ub-mesh-rack (64 NPUs): fast to time.
SMALL = ["--model", "gpt3-175b", "--layers", "8", "--hidden", "1024", "--heads", "16",
         "--seq", "512", "--global-batch", "32", "--vocab", "1000", "--topo", "ub-mesh-rack"]


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """``plan`` in ``ubemu``'s commands (a no-op once ubemu.cli lists the module)."""
    if train not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, train))
        monkeypatch.setattr(cli, "DISPATCH", {**cli.DISPATCH, **train.DISPATCH})


def test_one_plan_tables(capsys):
    status, out, err = run_main(["plan", *SMALL, "--tp", "8", "--pp", "2", "--flops", "50e12"],
                                capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("# ubemu ") and "on ub-mesh-rack (64 NPUs)" in lines[0]
    assert "TP8 PP2 DP4" in out                          # dp fills the machine
    ops = [ln.split() for ln in lines if ln.startswith(("tp ", "pp ", "dp "))]
    names = [row[1] for row in ops]
    assert {"tp.main", "tp.last", "pp.fwd", "pp.bwd.main", "pp.bwd.last", "dp.grad"} <= set(names)
    tp_main = next(row for row in ops if row[1] == "tp.main")
    assert tp_main[2] == "all_reduce" and tp_main[4:7] == ["8", "8", str(2 * 4 * (2 * 8 - 1))]
    head = next(k for k, ln in enumerate(lines) if ln.startswith("axis  bytes/NPU (formula)"))
    for row in lines[head + 1:head + 4]:
        cols = row.split()
        assert cols[1:3] == cols[3:5]                    # formula == ops (value and unit)
    assert any(ln.startswith("step time ") and "exposed communication" in ln for ln in lines)
    assert lines[-1].startswith("slowest link class  ")


def test_json_and_trace(tmp_path, capsys):
    js, trace = tmp_path / "plan.json", tmp_path / "trace.json"
    status, out, err = run_main(["plan", *SMALL, "--tp", "4", "--pp", "2", "--zero", "1",
                                 "--sp", "-J", str(js), "--trace", str(trace)], capsys)
    assert status == 0, err
    doc = json.loads(js.read_text())
    rep = doc["report"]
    assert doc["topology"]["n_npus"] == 64 and rep["plan"]["zero"] == 1
    assert rep["plan"]["sequence_parallel"] is True
    for axis in rep["axes"]:
        assert axis["formula_bytes"] == axis["op_bytes"]
    assert rep["step_s"] > 0 and {o["name"] for o in rep["ops"]} >= {"dp.grad", "dp.params"}
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(e.get("name") == "tp.main.ag" for e in events)


def test_sweep_ranked(tmp_path, capsys):
    js = tmp_path / "sweep.json"
    status, out, err = run_main(["plan", *SMALL, "--sweep", "--pp", "2", "--flops", "50e12",
                                 "--top", "3", "--progress", "off", "-J", str(js)], capsys)
    assert status == 0, err
    rows = [ln.split() for ln in out.splitlines() if ln and ln.split()[0].isdigit()]
    assert [r[0] for r in rows] == ["1", "2", "3"] and all(r[3] == "2" for r in rows)
    steps = [float(r[9]) for r in rows]
    assert steps == sorted(steps)
    assert "5 plans timed" in out and "(2 more in -J)" in out   # tp 1 .. 16
    doc = json.loads(js.read_text())
    assert doc["n_candidates"] == 5 and len(doc["plans"]) == 5
    assert [p["step_s"] for p in doc["plans"]] == sorted(p["step_s"] for p in doc["plans"])


@pytest.mark.parametrize("args, words", [
    (["--tp", "32"], "tp=32 must divide heads=16"),
    (["--tp", "8", "--dp", "2"], "tp*cp*dp*pp"),
    (["--tp", "8", "--pp", "3"], "--dp: tp*pp*cp = 24"),
    (["--ep", "2"], "ep=2 needs a model with experts"),
    (["--model", "gpt3-17b"], "did you mean 'gpt3-175b'"),
    (["--flops", "-5"], "--flops"),
    (["--zero", "4"], "--zero"),
    (["--tp", "0"], "--tp"),
    (["--order", "tp,pp"], "order"),
    (["--dtype", "int8"], "dtype"),
    (["--sweep", "--tp", "3"], "no valid plan"),
])
def test_bad_input_one_line_nothing_written(tmp_path, capsys, args, words):
    js = tmp_path / "out.json"
    status, out, err = run_main(["plan", *SMALL, *args, "-J", str(js)], capsys)
    assert_one_error_line(status, out, err)
    assert words in err
    assert not js.exists() and list(tmp_path.iterdir()) == []


def test_unwritable_output_refused_before_running(tmp_path, capsys):
    status, out, err = run_main(["plan", *SMALL, "--tp", "8", "-J",
                                 str(tmp_path / "missing" / "x.json")], capsys)
    assert_one_error_line(status, out, err)
    assert "-J/--output_file: cannot write" in err
    status, out, err = run_main(["plan", *SMALL, "--tp", "8", "--trace", str(tmp_path)], capsys)
    assert_one_error_line(status, out, err)
    assert "is a directory" in err


def test_moe_plan(capsys):
    status, out, err = run_main(["plan", "--model", "mixtral-8x7b", "--topo", "ub-mesh-rack",
                                 "--layers", "4", "--seq", "1024", "--global-batch", "16",
                                 "--tp", "4", "--ep", "4"], capsys)
    assert status == 0, err
    assert "TP4 PP1 DP16 EP4" in out and "ep.main" in out and "dp.grad.expert" in out


@pytest.mark.slow  # launches mpiexec
def test_under_mpi_process_0_plans_and_prints_once(tmp_path):
    """``mpiexec -n 2``: the table and the -J report of one process, printed and written once
    (the other process waits for process 0's result)."""
    args = ["plan", *SMALL, "--tp", "8", "--pp", "2", "--dp", "4", "--flops", "400e12"]
    (one, two), docs = one_and_two_processes(args, tmp_path)
    assert two.stdout == one.stdout and two.stdout.count("# ubemu ") == 1
    docs = [doc["report"] for doc in docs]
    for doc in docs:
        assert doc.pop("wall_s") > 0
    assert docs[0] == docs[1]


def test_modelled_compute_memory_and_mfu(capsys):
    status, out, err = run_main(["plan", *SMALL[:-2], "--topo", "dgx-h100-multinode",
                                 "--tp", "8", "--pp", "2", "--vpp", "2"], capsys)
    assert status == 0, err
    assert "# npu       NVIDIA H100 SXM5 80GB (shipping): 989.4 TFLOP/s bfloat16 peak" in out
    assert "# compute   modelled: matmuls at" in out and "interleaved x2" in out
    assert "recompute none (the lightest that fits)" in out
    assert any(ln.startswith("compute    per micro-batch on the slowest stage") for ln in
               out.splitlines())
    assert "memory     " in out and "of 85.9 GB" in out and ": fits" in out
    assert "MFU        " in out and "TP8 PP2 VPP2 DP8" in out
    status, out, err = run_main(["plan", *SMALL[:-2], "--topo", "dgx-h100-multinode",
                                 "--tp", "8", "--mfu", "0.5", "--npus", "64"], capsys)
    assert status == 0, err
    assert "on dgx-h100-multinode*8 (64 NPUs)" in out and "(--mfu)" in out


def test_refused_when_it_does_not_fit(tmp_path, capsys):
    js = tmp_path / "x.json"
    status, out, err = run_main(["plan", "--model", "gpt3-175b", "--topo",
                                 "dgx-h100-multinode", "--tp", "8", "--recompute", "none",
                                 "--no-flash-attention", "-J", str(js)], capsys)
    assert_one_error_line(status, out, err)
    assert "needs" in err and "85.9 GB" in err and not js.exists()
    for args, words in ((["--mfu", "2"], "--mfu"), (["--mfu", "0.5", "--flops", "1e14"],
                                                     "not both"),
                        (["--npus", "100"], "--npus"), (["--vpp", "2"], "vpp=2")):
        status, out, err = run_main(["plan", *SMALL, "--tp", "8", *args], capsys)
        assert_one_error_line(status, out, err)
        assert words in err, err


def test_sweep_marks_what_does_not_fit(capsys):
    status, out, err = run_main(["plan", *SMALL[:-2], "--topo", "dgx-h100-multinode",
                                 "--sweep", "--memory-gb", "0.2", "--progress", "off",
                                 "--recompute", "none"], capsys)
    assert status == 0, err
    rows = [ln.split() for ln in out.splitlines() if ln and ln.split()[0].isdigit()]
    fits = [r[18] for r in rows]
    assert "NO" in fits and "yes" in fits and fits == sorted(fits, key=lambda f: f == "NO")
    assert "do not fit in memory (fits NO, ranked last)" in out
