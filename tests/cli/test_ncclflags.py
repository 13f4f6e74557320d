"""nccl-tests compatibility (``ubemu.cli.ncclflags`` and the table it feeds): every flag of
``all_reduce_perf`` accepted, the rank count from ``-t``/``-g``, and tables that a parser
written for nccl-tests (``tests/nccl_tests.py``) reads as it reads real nccl-tests output."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import (
    MPIEXEC,
    child_env,
    fake_simulate,
    install_fake_simulate,
    run_main,
)
from tests.nccl_tests import COLUMNS, parse
from ubemu.cli.ncclflags import NO_EFFECT

SAMPLES = Path(__file__).parent / "samples"
#: NVIDIA/nccl-tests src/common.cu's getopt string (every short flag; h is --help), with the
#: 2.20 releases' -u (unalign), -I and -K (per-iteration timing)
NCCL_TESTS_GETOPT = "t:g:b:e:i:f:n:m:w:N:p:c:o:d:r:z:y:T:hG:C:a:R:x:D:V:J:S:M:u:I:K:"
#: ... and its long options, by short flag
LONG = {"t": "nthreads", "g": "ngpus", "b": "minbytes", "e": "maxbytes", "i": "stepbytes",
        "f": "stepfactor", "n": "iters", "m": "agg_iters", "w": "warmup_iters",
        "N": "run_cycles", "p": "parallel_init", "c": "check", "o": "op", "d": "datatype",
        "r": "root", "z": "blocking", "y": "stream_null", "T": "timeout", "G": "cudagraph",
        "C": "report_cputime", "a": "average", "R": "local_register", "x": "cta_policy",
        "D": "device_implementation", "V": "device_cta_count", "J": "output_file",
        "S": "report_timestamps", "M": "memory_report", "u": "unalign",
        "I": "per_iter_timing", "K": "per_iter_skip"}
VALUES = {"b": "8", "e": "64", "i": "8", "f": "2", "o": "sum", "d": "float", "r": "0",
          "J": None, "c": "1", "S": "1", "g": "4", "t": "1"}


def test_real_nccl_tests_output_parses():
    """The parser reads real nccl-tests output (tests/cli/samples/README.md has the sources)."""
    rows = parse((SAMPLES / "nccl-tests-issue-293.txt").read_text())["rows"]
    assert len(rows) == 10 and [r["size"] for r in rows] == [8 << k for k in range(10)]
    assert rows[0] == dict(zip(COLUMNS, (8, 2, "float", "sum", -1, 17.08, 0.0, 0.0, 0, 16.76,
                                         0.0, 0.0, 0)))
    assert rows[-1]["in_place_time"] == 22.61 and rows[-1]["busbw"] == 0.18
    new = parse((SAMPLES / "nccl-tests-2.20-dgx-spark-playbooks-pr-103.txt").read_text())
    assert new["run"]["nThread"] == "1" and new["run"]["nGpus"] == "1"
    assert new["run"]["warmup iters"] == "10" and new["devices"] == 2
    assert [r["size"] for r in new["rows"]] == [8192, 16384, 32768, 65536]
    assert new["rows"][3]["in_place_algbw"] == 1.01
    old = parse((SAMPLES / "nccl-tests-issue-309.txt").read_text())
    assert old["run"]["maxBytes"] == "17179869184" and old["devices"] == 6
    tail = parse((SAMPLES / "rccl-tests-pr-2078-tail.txt").read_text())
    assert tail["out_of_bounds"] == [(0, True)] and tail["avg_busbw"] == [142.652]
    assert tail["rows"][-1]["size"] == 17179869184 and tail["rows"][-1]["time"] == 89235


def test_the_job_script_line_runs_and_parses(capsys):
    """nccl-tests' ``all_reduce_perf -b 8 -e 8G -f 2 -g 8 -n 20 -w 5`` as ``ubemu all_reduce
    ...``: eight ranks, 31 sizes, nccl-tests' columns and closing lines."""
    status, out, err = run_main(["all_reduce", "-b", "8", "-e", "8G", "-f", "2", "-g", "8",
                                 "-n", "20", "-w", "5"], capsys)
    assert status == 0, err
    doc = parse(out)
    assert doc["run"]["nThread"] == "1" and doc["run"]["nGpus"] == "8"
    assert (doc["run"]["warmup iters"], doc["run"]["iters"]) == ("5", "20")
    rows = doc["rows"]
    assert [r["size"] for r in rows] == [8 << k for k in range(31)]
    for r in rows:
        assert (r["count"], r["type"], r["redop"], r["root"]) == (r["size"] // 4, "float",
                                                                  "sum", -1)
        assert r["busbw"] == pytest.approx(r["algbw"] * 2 * 7 / 8, abs=0.011, rel=1e-3)
        assert r["wrong"] is None and r["in_place_wrong"] is None  # not checked: N/A
        assert (r["in_place_time"], r["in_place_busbw"]) == (r["time"], r["busbw"])
    assert rows[-1]["time"] > rows[0]["time"] > 0
    assert doc["out_of_bounds"] == [(0, True)]
    avg = sum(r["busbw"] for r in rows) / len(rows)  # of the printed (rounded) figures
    assert doc["avg_busbw"][0] == pytest.approx(avg, abs=0.006)
    assert "# Group: start=0,count=8 (8 ranks: -t 1 x -g 8)" in out
    assert "# no effect on a deterministic model: -n 20 -w 5" in out


def test_every_nccl_tests_flag_is_accepted(monkeypatch, capsys):
    """Short and long forms of every flag in nccl-tests' getopt string; the ones without a
    meaning in the model are named in the header."""
    install_fake_simulate(monkeypatch)
    shorts = [c for c in NCCL_TESTS_GETOPT.replace(":", "") if c != "h"]
    assert set(shorts) == set(LONG)
    for form in ("short", "long"):
        argv = ["all_reduce", "--topo", "full_mesh:4"]
        for c in shorts:
            value = VALUES.get(c, "1")
            if value is None:
                continue
            argv += [f"-{c}" if form == "short" else f"--{LONG[c]}", value]
        status, out, err = run_main(argv, capsys)
        assert status == 0, err
        line = next(ln for ln in out.splitlines() if ln.startswith("# no effect"))
        said = line.split(": ", 1)[1]
        assert said.split()[:2 * len(NO_EFFECT):2] == [s for s, _, _, _ in NO_EFFECT]
        assert said.endswith("-r 0 (all_reduce has no root)")
        assert "graph: 1" in out and "validation: 1" in out
        assert "step: 2(factor)" in out  # -f 2 wins over -i 8, as in nccl-tests
        assert [r["size"] for r in parse(out)["rows"]] == [8, 16, 32, 64]
    status, out, _ = run_main(["all_reduce", "-h"], capsys)
    assert status == 0 and "--device_cta_count" in out
    status, out, _ = run_main(["all_reduce", "--topo", "full_mesh:4", "--memory", "1"], capsys)
    assert status == 0 and "# no effect on a deterministic model: -M 1" in out  # newer name


def test_threads_times_gpus_times_processes_give_the_ranks(monkeypatch, capsys):
    calls = []
    install_fake_simulate(monkeypatch, lambda *a, **k: calls.append(k["group"])
                          or fake_simulate(*a, **k))
    status, out, _ = run_main(["all_gather", "-t", "2", "-g", "4", "-b", "1K", "-e", "1K"],
                              capsys)
    assert status == 0 and calls == ["start=0,count=8"]
    assert "# nThread 2 nGpus 4 " in out and "(8 ranks: -t 2 x -g 4)" in out
    assert parse(out)["rows"][0]["count"] == 1024 // 4 // 8  # nccl-tests: count per rank


def test_timestamps_extras_and_roots_read_by_the_parser(monkeypatch, capsys):
    install_fake_simulate(monkeypatch)
    status, out, _ = run_main(["gather", "--topo", "full_mesh:4", "-b", "1K", "-e", "1K",
                               "-r", "all", "-c", "1", "-S", "1", "--extra"], capsys)
    rows = parse(out)["rows"]
    assert status == 0 and [r["root"] for r in rows] == [0, 1, 2, 3]
    assert all(len(r["timestamp"]) == 19 and r["algorithm"] == "ring" for r in rows)
    assert [r["wrong"] for r in rows] == [0] * 4 and rows[0]["maxrelerr"] == "1.00e-07"


@pytest.mark.parametrize("coll", ["sendrecv", "gather", "scatter", "hypercube"])
def test_new_collectives_run_checked_with_nothing_wrong(capsys, coll):
    argv = [coll, "-b", "1K", "-e", "1M", "-f", "32", "-c", "1", "-g", "8", "-d",
            "float,bfloat16,int64"]
    if coll in ("gather", "scatter"):
        argv += ["--algo", "direct,binomial_tree", "-r", "5"]
    status, out, err = run_main(argv, capsys)
    assert status == 0, err
    doc = parse(out)
    assert len(doc["rows"]) == 9 * (2 if coll in ("gather", "scatter") else 1)
    assert all(r["wrong"] == 0 for r in doc["rows"])
    assert doc["out_of_bounds"] == [(0, True)] * len(doc["avg_busbw"])
    for r in doc["rows"]:
        factor = 7 / 8 if coll in ("gather", "scatter") else 1.0  # nccl-tests' busbw
        assert r["busbw"] == pytest.approx(r["algbw"] * factor, abs=0.011)
        assert r["count"] == r["size"] // {"float": 4, "bfloat16": 2, "int64": 8}[r["type"]] \
            // (1 if coll == "sendrecv" else 8)


@pytest.mark.slow  # launches mpiexec
def test_new_collectives_under_mpiexec_n2_match_one_process(capsys):
    for args in (["sendrecv"], ["gather", "--algo", "binomial_tree", "-r", "63"],
                 ["scatter", "--algo", "direct,binomial_tree", "-r", "9"]):
        args = [*args, "-b", "1K", "-e", "64K", "-f", "8", "-c", "1", "-d", "float,int32",
                "--progress", "off"]
        status, one, err = run_main(args, capsys)
        two = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m",
                              "ubemu", *args], capture_output=True, text=True, timeout=300,
                             env=child_env())
        assert status == 0 and two.returncode == 0, two.stderr[-2000:]
        assert two.stdout == one
        rows = parse(two.stdout)["rows"]
        assert len(rows) == 6 * (2 if "direct,binomial_tree" in args else 1)
        assert all(r["wrong"] == 0 and r["in_place_wrong"] in (0, None) for r in rows)
