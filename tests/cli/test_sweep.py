"""The collective commands (``ubemu.cli.sweep``): tables, -J row by row, bad input, SIGTERM,
MPI.

Most tests run ``ubemu.cli.main`` with a closed-form stand-in for ``simulate``
(``tests/cli_helpers.py``), so every column can be checked by hand; the ``real`` tests run
the actual ``simulate`` on small topologies.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cli_helpers import (
    LAT_S,
    MPIEXEC,
    BW_GBps,
    assert_one_error_line,
    child_env,
    fake_simulate,
    install_fake_simulate,
    one_and_two_processes,
    run_main,
    table_rows,
)


@pytest.fixture
def fake_api(monkeypatch):
    return install_fake_simulate(monkeypatch)


# -- tables with the stand-in simulate -------------------------------------------------------
def test_table_values(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "16K",
                                 "-f", "4", "-J", str(out_json), "--extra"], capsys)
    assert status == 0 and err == ""
    rows = table_rows(out)
    assert [r["size"] for r in rows] == [1024, 4096, 16384]
    for r in rows:
        nbytes = r["size"]
        t_s = LAT_S + nbytes / (BW_GBps * 1e9)
        assert (r["count"], r["type"], r["redop"], r["root"]) == (nbytes // 4, "float", "sum",
                                                                  -1)
        assert r["time"] == pytest.approx(t_s * 1e6, abs=0.006)
        assert r["algbw"] == pytest.approx(nbytes / t_s / 1e9, abs=0.006)
        assert r["busbw"] == pytest.approx(nbytes / t_s / 1e9 * 2 * 3 / 4, abs=0.006)  # 2(n-1)/n
        assert r["wrong"] is None and r["in_place_wrong"] is None
        assert (r["in_place_time"], r["in_place_busbw"]) == (r["time"], r["busbw"])
        assert (r["bottleneck"], r["algorithm"]) == ("board", "ring" if nbytes < 4096 else
                                                     "direct")
    avg = sum(n / (LAT_S + n / 50e9) / 1e9 * 1.5 for n in (1024, 4096, 16384)) / 3
    assert f"# Avg bus bandwidth    : {avg:g}" in out.splitlines()
    assert "# Topology full_mesh:4: 4 NPUs" in out
    doc = json.loads(out_json.read_text())
    assert [r["nbytes"] for r in doc["records"]] == [1024, 4096, 16384]
    assert doc["records"][0]["requested_algorithm"] == "auto"
    assert doc["records"][0]["busbw_GBps"] == pytest.approx(rows[0]["busbw"], abs=0.006)
    assert doc["topology"]["n_npus"] == 4 and doc["command"]["stepfactor"] == 4


def test_check_adds_wrong_and_error_columns(fake_api, capsys):
    status, out, _ = run_main(["reduce_scatter", "--topo", "full_mesh:4", "-b", "8", "-e", "64",
                               "-f", "2", "-c", "1", "-d", "double", "--extra"], capsys)
    assert status == 0
    rows = table_rows(out)
    # reduce_scatter of float64 on 4 ranks: sizes rounded to multiples of 32 B; the count
    # column is what each rank passes (nccl-tests: count / n).
    assert [(r["size"], r["count"], r["type"]) for r in rows] == [(32, 1, "double"),
                                                                   (64, 2, "double")]
    assert [(r["wrong"], r["in_place_wrong"], r["maxrelerr"]) for r in rows] == [
        (0, 0, "1.00e-07")] * 2
    assert "# float64: sizes rounded down to multiples of 32 B" in out
    assert "# Out of bounds values : 0 OK" in out


def test_several_algorithms_dtypes_ops(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, _ = run_main(["all_reduce", "--topo", "full_mesh:2", "-b", "8", "-e", "8",
                               "--algo", "ring,auto", "-d", "float,int64", "-o", "max,min",
                               "-J", str(out_json)], capsys)
    assert status == 0
    assert out.count("# Algorithm: ") == 2 and out.count("# Avg bus bandwidth") == 2
    rows = table_rows(out)
    assert [(r["type"], r["redop"]) for r in rows[:4]] == [("float", "max"), ("float", "min"),
                                                           ("int64", "max"), ("int64", "min")]
    recs = json.loads(out_json.read_text())["records"]
    assert [r["requested_algorithm"] for r in recs] == ["ring"] * 4 + ["auto"] * 4


def test_redop_none_and_root_minus_one_like_nccl_tests(fake_api, capsys):
    status, out, _ = run_main(["all_gather", "--topo", "full_mesh:2,full_mesh:2", "-b", "64",
                               "-e", "64", "-o", "max"], capsys)
    row = table_rows(out)[0]
    assert status == 0 and (row["type"], row["redop"], row["root"]) == ("float", "none", -1)
    status, out, _ = run_main(["broadcast", "--topo", "full_mesh:4", "-b", "64", "-e", "64",
                               "-r", "3"], capsys)
    row = table_rows(out)[0]
    assert status == 0 and (row["redop"], row["root"]) == ("none", 3)


def test_per_level_and_options_reach_simulate(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, _ = run_main(["all_gather", "--topo", "full_mesh:2,full_mesh:2", "-b", "64",
                               "-e", "64", "--per-level", "ring,ring", "-O", "chunks=2",
                               "-J", str(out_json)], capsys)
    assert status == 0
    assert "# Options: chunks=2 per_level=ring,ring\n" in out
    rec = json.loads(out_json.read_text())["records"][0]
    assert rec["notes"]["options"] == ["chunks", "per_level"]


def test_group_sets_rank_count(fake_api, capsys):
    status, out, _ = run_main(["alltoall", "--topo", "full_mesh:4,full_mesh:4", "--group",
                               "unit=level0", "-b", "4", "-e", "64", "-f", "2"], capsys)
    assert status == 0, out
    assert "(4 ranks)" in out
    assert [r["size"] for r in table_rows(out)] == [16, 32, 64]  # multiples of 4 x 4 B


def test_level_lines_round_figures_for_humans(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, _ = run_main(["all_reduce", "--topo", "ring:4@488.88888888888889Gbps", "-b",
                               "1K", "-e", "1K", "-J", str(out_json)], capsys)
    assert status == 0
    assert "#   level 0: ring:4@61.11GBps/150ns\n" in out
    topo = json.loads(out_json.read_text())["topology"]
    assert topo["levels"] == ["ring:4@61.111111111111114GBps/150ns"]  # exact in JSON
    assert topo["level_fields"][0]["bw_GBps"] == 61.111111111111114


# -- -J written row by row -------------------------------------------------------------------
def test_json_document_fields(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, _, _ = run_main(["all_reduce", "--topo", "ub-mesh-rack", "-b", "1K", "-e", "4K",
                             "-f", "4", "-J", str(out_json)], capsys)
    assert status == 0
    doc = json.loads(out_json.read_text())
    assert doc["complete"] is True and doc["n_rows_planned"] == 2 and "error" not in doc
    assert doc["n_procs"] == 1 and len(doc["peak_memory_mib"]) == 1
    assert doc["peak_memory_mib"][0] > 10
    topo = doc["topology"]
    assert topo["levels"] == ["full_mesh:8@56GBps/150ns:name=board",
                              "full_mesh:8@56GBps/150ns:name=rack"]
    assert topo["level_fields"][1] == {"fabric": "full_mesh", "size": 8, "bw_GBps": 56.0,
                                       "lat_ns": 150.0, "links": 1, "trunk": False,
                                       "planes": 1, "oversub": 1.0, "name": "rack",
                                       "access_GBps": 0.0, "access_lat_ns": 0.0,
                                       "efficiency": 0.0, "innet_efficiency": 0.0,
                                       "innet_lat_ns": 0.0, "ll_bw_factor": 0.0,
                                       "ll128_bw_factor": 0.0,
                                       "spec": "full_mesh:8@56GBps/150ns:name=rack"}
    assert topo["params"] == {"overhead_ns": 2700.0, "send_overhead_ns": 1110.0,
                              "recv_overhead_ns": 165.0, "fill_bytes": 0, "fill_GBps": 0.0,
                              "hop_lat_ns": 0.0, "reduce_GBps": 0.0, "efficiency": 1.0,
                              "launch_ns": 0.0, "ll_sw_factor": 0.0, "ll_bw_factor": 0.0,
                              "ll128_sw_factor": 0.0, "ll128_bw_factor": 0.0,
                              "channels": 1.0, "channel_bytes": 0.0, "chunk_bytes": 0.0,
                              "slices": 1.0}
    assert set(doc) == {"ubemu", "command", "topology", "n_ranks", "n_procs", "records",
                        "peak_memory_mib", "n_rows_planned", "complete"}


def test_json_is_rewritten_after_every_row(monkeypatch, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    seen = []

    def spying_simulate(*args, **kwargs):  # the file as it stands when each row starts
        seen.append(len(json.loads(out_json.read_text())["records"])
                    if out_json.exists() else None)
        return fake_simulate(*args, **kwargs)

    install_fake_simulate(monkeypatch, spying_simulate)
    status, _, _ = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "64K",
                             "-f", "4", "-J", str(out_json)], capsys)
    assert status == 0 and seen == [None, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_failed_row_keeps_the_rows_done(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "4M",
                                 "-f", "4", "-O", "fail_above=65536", "-J", str(out_json)],
                                capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("ubemu: error: all_reduce algorithm")
    doc = json.loads(out_json.read_text())
    assert [r["nbytes"] for r in doc["records"]] == [1024, 4096, 16384, 65536]
    assert doc["complete"] is False and "too big" in doc["error"]
    assert len(table_rows(out)) == 4


def test_sigterm_leaves_a_valid_document(tmp_path):
    """A scheduler's SIGTERM mid-sweep: the file holds the rows done, and no temporary file."""
    out_json = tmp_path / "r.json"
    driver = ("import sys, time, ubemu.api as api\n"
              "real = api.simulate\n"
              "def slow(*a, **k):\n"
              "    time.sleep(0.4)\n"
              "    return real(*a, **k)\n"
              "api.simulate = slow\n"
              "from ubemu.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", driver, "all_reduce", "--topo", "ring:4",
                             "--algo", "ring", "-b", "1K", "-e", "1G", "-f", "2",
                             "-J", str(out_json)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    try:
        deadline = time.monotonic() + 120
        while not out_json.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert out_json.exists(), proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.decode().strip().splitlines()[-1] == "ubemu: terminated by SIGTERM"
    doc = json.loads(out_json.read_text())
    assert 1 <= len(doc["records"]) < doc["n_rows_planned"] == 21
    assert doc["complete"] is False and doc["error"] == "terminated by SIGTERM"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# -- bad input ------------------------------------------------------------------------------
BAD = [
    (["-b", "1X"], "-b/--minbytes: cannot parse size '1X'"),
    (["-b", "1G", "-e", "1K"], "-b/--minbytes 1073741824 is larger than -e/--maxbytes 1024"),
    (["-d", "float8"], "unknown datatype (-d) 'float8'; did you mean 'float'? valid: float64"),
    (["-o", "mean"], "unknown reduction op (-o) 'mean'; valid: sum, prod, max, min, avg"),
    (["--algo", "rign"], "unknown all_reduce algorithm (--algo) 'rign'; did you mean 'ring'? "
                         "valid: auto,"),
    (["--algo", "ring,"], "--algo: empty name in 'ring,'"),
    (["--per-level", "rign,ring"], "unknown all_reduce per-level algorithm (--per-level) "
                                   "'rign'; did you mean 'ring'? valid: direct,"),
    (["--group", "npus=0+99"], "group: NPU 99 is not in topology"),
    (["--topo", "nope"], "unknown topology 'nope'"),
    (["-O", "x"], "-O/--option: expected KEY=VALUE"),
    (["-O", "seed=3"], "-O/--option: seed is set by --seed, not by -O"),
    (["-g", "8"], "-t 1 x -g 8 gives 8 ranks but topology full_mesh:4 has 4 NPUs"),
    (["-g", "2", "--group", "start=0,count=4"], "-t 1 x -g 2 gives 2 ranks but --group "
                                                "start=0,count=4 has 4"),
    (["-c", "-1"], "-c/--check must be >= 0"),
    (["-n", "x"], "argument -n/--iters: invalid int value: 'x'"),
    (["--seed", "-1"], "--seed must be an integer from 0 to 9223372036854775807"),
    (["--seed", str(2**63)], "--seed must be an integer from 0 to 9223372036854775807"),
    (["--seed", "x"], "argument --seed: invalid int value: 'x' (see 'ubemu all_reduce --help')"),
    (["-J", "/nonexistent/dir/x.json"], "-J/--output_file: cannot write "
                                        "'/nonexistent/dir/x.json' (No such file"),
    (["--bogus"], "unrecognized arguments: --bogus (see 'ubemu all_reduce --help')"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[b[1][:24] for b in BAD])
def test_bad_input_one_line_exit_2_nothing_run(monkeypatch, capsys, tmp_path, extra, message):
    calls = []
    install_fake_simulate(monkeypatch, lambda *a, **k: calls.append(a) or fake_simulate(*a, **k))
    out_json = tmp_path / "r.json"
    argv = ["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "1K", "-J", str(out_json),
            *extra]
    status, out, err = run_main(argv, capsys)
    assert_one_error_line(status, out, err, f"ubemu: error: {message}")
    assert calls == [] and list(tmp_path.iterdir()) == []  # refused before the first run


def test_negative_seed_from_the_shell_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "ubemu", "all_reduce", "--seed", "-1", "-c",
                           "1", "-b", "1K", "-e", "1K"], capture_output=True, text=True,
                          timeout=120, env=child_env())
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, "ubemu: error: --seed")


# -- the real simulate ---------------------------------------------------------------------
def _strip_wall(doc):
    for rec in doc["records"]:
        rec.pop("wall_s")
    doc.pop("peak_memory_mib")
    return doc


@pytest.mark.parametrize("check", [0, 1])
def test_real_all_reduce_sweep(capsys, tmp_path, check):
    j1, j2 = tmp_path / "a.json", tmp_path / "b.json"
    argv = ["all_reduce", "--topo", "full_mesh:4", "-b", "64", "-e", "4K", "-f", "4",
            "-c", str(check), "--algo", "ring"]
    status, out, err = run_main([*argv, "-J", str(j1)], capsys)
    assert status == 0, err
    rows = table_rows(out)
    assert [r["size"] for r in rows] == [64, 256, 1024, 4096]
    for r in rows:
        assert r["wrong"] == r["in_place_wrong"] == (0 if check else None)
        assert r["busbw"] == pytest.approx(r["algbw"] * 1.5, abs=0.011)
    run_main([*argv, "-J", str(j2)], capsys)
    d1, d2 = (json.loads(p.read_text()) for p in (j1, j2))
    assert _strip_wall(d1) == _strip_wall(d2)


@pytest.mark.parametrize("coll", ["all_gather", "reduce_scatter", "alltoall"])
def test_real_other_collectives(capsys, coll):
    status, out, err = run_main([coll, "--topo", "full_mesh:2,full_mesh:2", "-b", "64",
                                 "-e", "256", "-f", "4", "-c", "1"], capsys)
    assert status == 0, err
    rows = table_rows(out)
    assert len(rows) == 2 and all(r["wrong"] == 0 for r in rows)
    assert all(r["busbw"] == pytest.approx(r["algbw"] * 0.75, abs=0.011) for r in rows)


def test_real_algorithm_that_does_not_fit(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["alltoall", "--topo", "full_mesh:8", "-b", "1K", "-e", "4K",
                                 "-f", "2", "--algo", "multipath", "-J", str(out_json)], capsys)
    assert_one_error_line(status, out, err)
    assert "'multipath' cannot run on 8 ranks" in err and "needs a 2-axis grid" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("coll", ["broadcast", "reduce"])
def test_real_root(capsys, tmp_path, coll):
    """-r sets the root: the root column, the JSON and the check all follow it."""
    out_json = tmp_path / "r.json"
    status, out, err = run_main([coll, "--topo", "full_mesh:4,full_mesh:2", "-b", "256",
                                 "-e", "256", "-c", "1", "-r", "5", "--algo", "binary_tree",
                                 "-J", str(out_json)], capsys)
    assert status == 0, err
    (row,) = table_rows(out)
    assert row["root"] == 5 and row["wrong"] == 0
    rec = json.loads(out_json.read_text())["records"][0]
    assert rec["notes"]["root"] == 5 and rec["root"] == 5
    status, out, err = run_main([coll, "--topo", "full_mesh:4", "-b", "256", "-e", "256",
                                 "-r", "4", "--algo", "binary_tree"], capsys)
    assert_one_error_line(status, out, err)
    assert "-r/--root: expected a rank 0..3 or all (-1), got '4'" in err


@pytest.mark.slow  # launches mpiexec
def test_mpi_stdout_is_byte_identical_to_one_process(tmp_path):
    """Under mpiexec the table is the single-process one; the peak memory goes to the JSON
    document and to one stderr line."""
    args = ["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "4K", "-f", "4", "-c", "1"]
    one = subprocess.run([sys.executable, "-m", "ubemu", *args], capture_output=True,
                         text=True, timeout=120, env=child_env())
    path = tmp_path / "two.json"
    two = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "ubemu",
                          *args, "-J", str(path)], capture_output=True, text=True,
                         timeout=120, env=child_env())
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    assert two.stdout == one.stdout and "peak memory" not in two.stdout
    assert two.stderr.count("# peak memory per process (MiB): ") == 1
    doc = json.loads(path.read_text())
    assert doc["n_procs"] == 2 and len(doc["peak_memory_mib"]) == 2


def test_every_board_at_once_takes_exactly_one_board_alone(capsys):
    from tests.cli_helpers import run_main, table_rows

    args = ["all_reduce", "--topo", "ub-mesh-rack", "--group", "unit=board", "-b", "1G", "-e",
            "1G", "--algo", "ring"]
    _, alone, _ = run_main(args, capsys)
    status, every, err = run_main(args + ["--every"], capsys)
    assert status == 0, err
    assert table_rows(every)[0]["time"] == table_rows(alone)[0]["time"]
    assert "every group at once (8 groups)" in every


def test_every_on_groups_sharing_a_core_pool_takes_four_times_the_bandwidth_term(capsys):
    # 4 groups, one NPU per leaf each, a 100 GB/s core pool per leaf (4 ports / oversub 4):
    # alone a ring all-reduce runs at its 100 GB/s port, together the pool is shared by 4
    from tests.cli_helpers import run_main, table_rows

    topo = "full_mesh:4,switch:4@100GBps/1us:oversub=4"
    args = ["all_reduce", "--topo", topo, "--group", "one_per=level0", "-b", "1G", "-e", "1G",
            "--algo", "ring"]
    status, out, _ = run_main(args + ["--every"], capsys)
    bw_s = 2 * 3 / 4 * 2**30 / 100e9
    time_us = table_rows(out)[0]["time"]
    lat_us = table_rows(run_main(args, capsys)[1])[0]["time"] - bw_s * 1e6
    assert time_us == pytest.approx((4 * bw_s) * 1e6 + lat_us, rel=1e-4)


def test_every_needs_a_group_of_a_kind(capsys):
    from tests.cli_helpers import assert_one_error_line, run_main

    for extra in ([], ["--group", "start=0,count=4"]):
        assert_one_error_line(*run_main(["all_reduce", "--every", "-b", "1K", "-e", "1K"]
                                        + extra, capsys))


@pytest.mark.slow  # launches mpiexec
def test_every_group_under_mpi_is_timed_once_with_the_same_figures(tmp_path):
    args = ["all_reduce", "--topo", "ub-mesh-pod", "--group", "one_per=rack", "--every",
            "-b", "1M", "-e", "4M", "-f", "4", "--algo", "ring"]
    (one, two), docs = one_and_two_processes(args, tmp_path)
    assert two.stdout == one.stdout
    assert [r["time_s"] for r in docs[0]["records"]] == [r["time_s"] for r in
                                                        docs[1]["records"]]


class _SlowPipe(io.RawIOBase):
    """A pipe's write end that takes its time: a line printed to it reaches the pipe in
    pieces, so a progress line written meanwhile by another thread would land inside."""

    def __init__(self, fd):
        self.fd = fd

    def writable(self):
        return True

    def write(self, data):
        for k in range(0, len(data), 8):
            os.write(self.fd, bytes(data[k:k + 8]))
            time.sleep(1e-5)
        return len(data)


def test_progress_lines_never_land_inside_a_table_line():
    """stdout and stderr into one pipe (``cmd > log 2>&1``), stdout slow, progress drawn every
    half millisecond by the background thread while the sweep prints."""
    import threading

    from ubemu.cli import build_parser
    from ubemu.cli.progress import Progress
    from ubemu.cli.request import plan_from_args
    from ubemu.cli.sweep import NcclStyle, run_sweep

    args = build_parser().parse_args(
        ["all_reduce", "--topo", "full_mesh:4", "-b", "4", "-e", "40K", "-i", "1K",
         "--algo", "ring,direct", "--extra"])
    plan = plan_from_args(args)
    r, w = os.pipe()
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(r, 4096), b"")))
    reader.start()
    out = io.TextIOWrapper(io.BufferedWriter(_SlowPipe(w), buffer_size=16), write_through=True)
    err = open(os.dup(w), "w", buffering=1)
    prog = Progress(plan.row_s, stream=err, mode="on", line_interval_s=0.0, out=out,
                    predicted_s=True)

    def slow(*args, progress=None, **kw):
        for k in range(4):
            time.sleep(0.0004)
            progress((k + 1) / 4)
        return fake_simulate(*args, **kw)

    prog.start(tick_s=0.0005)
    try:
        run_sweep(plan, NcclStyle(plan, args), out=out, progress=prog, simulate=slow)
    finally:
        prog.close()
        out.close()
        err.close()
        os.close(w)
        reader.join(timeout=60)
        os.close(r)
    lines = b"".join(chunks).decode().splitlines()
    shown = [ln for ln in lines if "progress" in ln]
    assert len(shown) > 20  # progress was drawn between the rows, many times
    assert all(ln.startswith("ubemu: progress ") for ln in shown)
    rows = [ln.split() for ln in lines if ln and not ln.startswith(("#", "ubemu:"))]
    assert len(rows) == 2 * 40 and all(len(r) == len(rows[0]) and r[-1] in ("ring", "direct")
                                       for r in rows)


def test_rows_left_out_are_named_up_front_and_the_others_run(monkeypatch, fake_api, capsys,
                                                             tmp_path):
    from ubemu.data import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 2**30)
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:8", "-b", "1M", "-e", "64M",
                                 "-f", "4", "-c", "1", "--algo", "ring,hierarchical", "--extra",
                                 "-J", str(out_json)], capsys)
    assert status == 0 and err == ""
    first_row = out.splitlines().index("# Algorithm: ring")
    assert [ln for ln in out.splitlines()[:first_row] if ln.startswith("# Left out")] == [
        "# Left out, 2 of 8 rows (too big for this run): ring at 64M (1.3 GiB): over the 1.0 "
        "GiB of memory available; hierarchical at 64M (1.3 GiB): over the 1.0 GiB of memory "
        "available"]
    assert [(r["algorithm"], r["size"]) for r in table_rows(out)] == [
        (a, s) for a in ("ring", "hierarchical") for s in (1 << 20, 4 << 20, 16 << 20)]
    doc = json.loads(out_json.read_text())
    assert doc["complete"] is True and doc["n_rows_planned"] == 6 == len(doc["records"])
    assert [(r["algorithm"], r["nbytes"]) for r in doc["left_out"]] == [
        ("ring", 64 << 20), ("hierarchical", 64 << 20)]
    assert doc["left_out"][0]["reason"].startswith("memory: all_reduce of 16777216 elements")
