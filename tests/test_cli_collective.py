"""The nccl-tests-style command line: parsing, the sweep, tables, -J files and bad input.

Most tests run ``ubemu.cli.main`` with a stand-in ``ubemu.api`` whose numbers are a closed
form, so the table's columns can be checked by hand; the ``real`` tests run the actual
``simulate`` on small topologies (skipped while ``ubemu.api`` is missing).
"""

import importlib.util
import json
import subprocess
import sys
import types

import pytest

from ubemu import cli, cli_collective
from ubemu.errors import UbemuError
from ubemu.result import ClassUsage, Result

HAVE_API = importlib.util.find_spec("ubemu.api") is not None
HAVE_DATA_PLANE = HAVE_API and importlib.util.find_spec("ubemu.dataplane") is not None
real = pytest.mark.skipif(not HAVE_API, reason="ubemu.api (simulate) not written yet")
real_check = pytest.mark.skipif(not HAVE_DATA_PLANE, reason="ubemu.emulate not written yet")
LAT_S, BW_GBps = 2e-6, 50.0


def fake_simulate(collective, nbytes, topology=None, algorithm="auto", dtype="float32",
                  op="sum", group=None, verify=False, seed=0, **options):
    """time = 2 us + nbytes / 50 GB/s; fails above 1 MiB when ``fail_above`` is set."""
    if options.get("fail_above") and nbytes > options["fail_above"]:
        raise UbemuError(f"{collective} algorithm 'ring' cannot run: too big")
    n = cli_collective.group_size(topology, group)
    itemsize = cli_collective.DTYPE_BYTES[dtype]
    usage = [ClassUsage("board", 0, float(nbytes), nbytes / BW_GBps / 1e9, 0.75)]
    return Result(collective, "ring" if algorithm == "auto" else algorithm, topology.name, n,
                  nbytes, nbytes // itemsize, dtype, op, LAT_S + nbytes / (BW_GBps * 1e9),
                  n_steps=2 * (n - 1), usage=usage, bottleneck="board",
                  wrong=0 if verify else None, max_rel_err=1e-7 if verify else None,
                  notes={"options": sorted(options)})


@pytest.fixture
def fake_api(monkeypatch):
    mod = types.ModuleType("ubemu.api")
    mod.simulate = fake_simulate
    monkeypatch.setitem(sys.modules, "ubemu.api", mod)
    return mod


def run_main(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def table_rows(out):
    return [line.split() for line in out.splitlines() if line and not line.startswith("#")]


# -- parsing ---------------------------------------------------------------------------------
def test_sweep_sizes_like_nccl_tests():
    assert cli_collective.sweep_sizes(8, 128, factor=2) == [8, 16, 32, 64, 128]
    assert cli_collective.sweep_sizes(1024, 1 << 30, factor=4)[-1] == 1 << 30
    assert len(cli_collective.sweep_sizes(1024, 1 << 30, factor=4)) == 11
    assert cli_collective.sweep_sizes(8, 100, step_nbytes=40) == [8, 48, 88]
    assert cli_collective.sweep_sizes(0, 0, factor=2) == [0]
    with pytest.raises(UbemuError, match="larger than -e"):
        cli_collective.sweep_sizes(2048, 1024, factor=2)
    with pytest.raises(UbemuError, match="more than 10000 sizes"):
        cli_collective.sweep_sizes(1, 1 << 30, step_nbytes=1)


def test_round_sizes():
    # all_gather on 8 ranks of float32: multiples of 32 B; 8 and 16 vanish, 40 -> 32 repeats.
    assert cli_collective.round_sizes([8, 16, 32, 40, 64], 32) == [32, 64]


def test_dtype_and_op_names():
    assert cli_collective.parse_dtypes("float") == ["float32"]
    assert cli_collective.parse_dtypes("double,half,int,bfloat16") == [
        "float64", "float16", "int32", "bfloat16"]
    assert cli_collective.parse_dtypes("all") == list(cli_collective.DTYPE_BYTES)
    with pytest.raises(UbemuError, match="unknown datatype .*'float8'; .*valid: float64, float32"):
        cli_collective.parse_dtypes("float8")
    assert cli_collective.parse_ops("all") == ["sum", "prod", "max", "min", "avg"]
    with pytest.raises(UbemuError, match="unknown reduction op .*'mean'; valid: sum, prod"):
        cli_collective.parse_ops("mean")
    with pytest.raises(UbemuError, match="valid: auto, .*ring"):
        cli_collective.parse_algorithms("all_reduce", "rign")
    assert cli_collective.parse_options(["a=1", "b=0.5", "c=x"]) == {"a": 1, "b": 0.5, "c": "x"}


def test_progress_bar_only_when_forced_and_slow():
    import io

    buf = io.StringIO()
    p = cli_collective.Progress(4, stream=buf, mode="auto", delay_s=0.0)
    p.update(1, "x")
    assert buf.getvalue() == ""  # not a terminal
    p = cli_collective.Progress(4, stream=buf, mode="on", delay_s=0.0, width=4)
    p.update(2, "1M")
    assert buf.getvalue() == "\r[##..] 2/4 1M"
    p.close()
    assert buf.getvalue().endswith("\r")
    slow = cli_collective.Progress(4, stream=io.StringIO(), mode="on", delay_s=60.0)
    slow.update(1)
    assert slow.stream.getvalue() == ""


# -- the sweep with a stand-in simulate ------------------------------------------------------
def test_table_values(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "16K",
                                 "-f", "4", "-J", str(out_json)], capsys)
    assert status == 0 and err == ""
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["1024", "4096", "16384"]
    for r in rows:
        nbytes = int(r[0])
        t_s = LAT_S + nbytes / (BW_GBps * 1e9)
        assert r[1:5] == [str(nbytes // 4), "float32", "sum", "-1"]
        assert float(r[5]) == pytest.approx(t_s * 1e6, abs=0.006)
        assert r[6] == f"{nbytes / t_s / 1e9:.2f}"
        assert r[7] == f"{nbytes / t_s / 1e9 * 2 * 3 / 4:.2f}"  # all-reduce factor 2(n-1)/n
        assert r[8:] == ["N/A", "board", "ring"]
    avg = sum(n / (LAT_S + n / 50e9) / 1e9 * 1.5 for n in (1024, 4096, 16384)) / 3
    assert f"# Avg bus bandwidth    : {avg:g} " in out.splitlines()
    assert "# Topology full_mesh:4: 4 NPUs" in out
    doc = json.loads(out_json.read_text())
    assert [r["nbytes"] for r in doc["records"]] == [1024, 4096, 16384]
    assert doc["records"][0]["requested_algorithm"] == "auto"
    assert doc["records"][0]["busbw_GBps"] == pytest.approx(float(rows[0][7]), abs=0.006)
    assert doc["topology"]["n_npus"] == 4 and doc["command"]["stepfactor"] == 4


def test_check_adds_wrong_and_error_columns(fake_api, capsys):
    status, out, _ = run_main(["reduce_scatter", "--topo", "full_mesh:4", "-b", "8", "-e", "64",
                               "-f", "2", "-c", "1", "-d", "double"], capsys)
    assert status == 0
    rows = table_rows(out)
    # reduce_scatter of float64 on 4 ranks: sizes rounded to multiples of 32 B.
    assert [r[0] for r in rows] == ["32", "64"]
    assert [r[8:10] for r in rows] == [["0", "1.00e-07"]] * 2
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
    assert [(r[2], r[3]) for r in rows[:4]] == [("float32", "max"), ("float32", "min"),
                                               ("int64", "max"), ("int64", "min")]
    recs = json.loads(out_json.read_text())["records"]
    assert [r["requested_algorithm"] for r in recs] == ["ring"] * 4 + ["auto"] * 4


def test_per_level_and_options_reach_simulate(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, _ = run_main(["all_gather", "--topo", "full_mesh:2,full_mesh:2", "-b", "64",
                               "-e", "64", "--per-level", "ring,ring", "-O", "chunks=2",
                               "-J", str(out_json)], capsys)
    assert status == 0
    assert table_rows(out)[0][3:5] == ["none", "-1"]
    rec = json.loads(out_json.read_text())["records"][0]
    assert rec["notes"]["options"] == ["chunks", "per_level"]


def test_group_sets_rank_count(fake_api, capsys):
    status, out, _ = run_main(["alltoall", "--topo", "full_mesh:4,full_mesh:4", "--group",
                               "unit=level0", "-b", "4", "-e", "64", "-f", "2"], capsys)
    assert status == 0, out
    assert "(4 ranks)" in out
    assert [r[0] for r in table_rows(out)] == ["16", "32", "64"]  # multiples of 4 x 4 B


def test_failed_run_writes_no_json(fake_api, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "4M",
                                 "-f", "4", "-O", "fail_above=65536", "-J", str(out_json)],
                                capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("ubemu: error: all_reduce algorithm")
    assert list(tmp_path.iterdir()) == []


BAD = [
    (["-b", "1X"], "-b/--minbytes: cannot parse size '1X'"),
    (["-b", "1G", "-e", "1K"], "-b/--minbytes 1073741824 is larger than -e/--maxbytes 1024"),
    (["-d", "float8"], "unknown datatype (-d) 'float8'; did you mean 'float'? valid: float64"),
    (["-o", "mean"], "unknown reduction op (-o) 'mean'; valid: sum, prod, max, min, avg"),
    (["--algo", "rign"], "unknown all_reduce algorithm (--algo) 'rign'; did you mean 'ring'? "
                         "valid: auto,"),
    (["--group", "npus=0+99"], "group: NPU 99 is not in topology"),
    (["--topo", "nope"], "unknown topology 'nope'"),
    (["-f", "2", "-i", "1K"], "give -f/--stepfactor or -i/--stepbytes, not both"),
    (["-O", "x"], "-O/--option: expected KEY=VALUE"),
    (["-r", "2"], "-r/--root: all_reduce has no root; only broadcast and reduce take one"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[b[1][:24] for b in BAD])
def test_bad_input_one_line_exit_2(fake_api, capsys, tmp_path, extra, message):
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "1K",
                                 "-J", str(out_json), *extra], capsys)
    assert status == 2
    assert err.startswith(f"ubemu: error: {message}") and err.count("\n") == 1
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_bad_input_from_the_shell():
    proc = subprocess.run([sys.executable, "-m", "ubemu", "all_reduce", "-d", "float8"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("ubemu: error: unknown datatype")
    assert proc.stderr.count("\n") == 1


def test_algorithms_listing(capsys):
    from ubemu.algorithms import REGISTRY

    status, out, _ = run_main(["algorithms", "all_reduce"], capsys)
    assert status == 0
    rows = [line.split(None, 2) for line in out.splitlines() if not line.startswith("#")]
    want = sorted((c, n) for c, n in REGISTRY if c == "all_reduce")
    assert [(r[0], r[1]) for r in rows] == want
    assert rows[0][2] == REGISTRY[want[0]].summary
    status, out, _ = run_main(["algorithms"], capsys)
    assert len([ln for ln in out.splitlines() if not ln.startswith("#")]) == len(REGISTRY)
    status, _, err = run_main(["algorithms", "allreduce"], capsys)
    assert status == 2 and "unknown collective 'allreduce'; did you mean 'all_reduce'? " in err


def test_plot_command(fake_api, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out_json, png = tmp_path / "r.json", tmp_path / "p.png"
    run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "1M", "-f", "4",
              "-J", str(out_json)], capsys)
    status, out, _ = run_main(["plot", str(out_json), "-o", str(png)], capsys)
    assert status == 0 and out.startswith(f"wrote {png} (1 series, 6 points")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    status, out, _ = run_main(["plot", str(out_json), "-o", str(png), "--utilisation"], capsys)
    assert status == 0 and "at 1048576 B" in out
    status, _, err = run_main(["plot", str(tmp_path / "none.json"), "-o", str(png)], capsys)
    assert status == 2 and "cannot read result file" in err


# -- the real simulate -----------------------------------------------------------------------
def _strip_wall(doc):
    for rec in doc["records"]:
        rec.pop("wall_s")
    return doc


@pytest.mark.parametrize("check", [0, pytest.param(1, marks=real_check)])
@real
def test_real_all_reduce_sweep(capsys, tmp_path, check):
    j1, j2 = tmp_path / "a.json", tmp_path / "b.json"
    argv = ["all_reduce", "--topo", "full_mesh:4", "-b", "64", "-e", "4K", "-f", "4",
            "-c", str(check), "--algo", "ring"]
    status, out, err = run_main([*argv, "-J", str(j1)], capsys)
    assert status == 0, err
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["64", "256", "1024", "4096"]
    for r in rows:
        assert r[8] == ("0" if check else "N/A") and r[-1] == "ring"
        assert float(r[7]) == pytest.approx(float(r[6]) * 1.5, abs=0.011)
    run_main([*argv, "-J", str(j2)], capsys)
    d1, d2 = (json.loads(p.read_text()) for p in (j1, j2))
    assert _strip_wall(d1) == _strip_wall(d2)


@real_check
@pytest.mark.parametrize("coll", ["all_gather", "reduce_scatter", "alltoall"])
def test_real_other_collectives(capsys, coll):
    status, out, err = run_main([coll, "--topo", "full_mesh:2,full_mesh:2", "-b", "64",
                                 "-e", "256", "-f", "4", "-c", "1"], capsys)
    assert status == 0, err
    rows = table_rows(out)
    assert len(rows) == 2 and all(r[8] == "0" for r in rows)
    assert all(float(r[7]) == pytest.approx(float(r[6]) * 0.75, abs=0.011) for r in rows)


@real
def test_real_algorithm_that_does_not_fit(capsys, tmp_path):
    from ubemu.algorithms import REGISTRY

    if ("alltoall", "multipath") not in REGISTRY:
        pytest.skip("alltoall multipath not registered yet")
    out_json = tmp_path / "r.json"
    status, out, err = run_main(["alltoall", "--topo", "full_mesh:8", "-b", "1K", "-e", "4K",
                                 "-f", "2", "--algo", "multipath", "-J", str(out_json)], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "'multipath' cannot run on 8 ranks" in err and "needs a 2-axis grid" in err
    assert list(tmp_path.iterdir()) == []


@real_check
@pytest.mark.parametrize("coll", ["broadcast", "reduce"])
def test_real_root(capsys, tmp_path, coll):
    """-r sets the root: the root column, the JSON and the check all follow it."""
    out_json = tmp_path / "r.json"
    status, out, err = run_main([coll, "--topo", "full_mesh:4,full_mesh:2", "-b", "256",
                                 "-e", "256", "-c", "1", "-r", "5", "--algo", "binary_tree",
                                 "-J", str(out_json)], capsys)
    assert status == 0, err
    (row,) = table_rows(out)
    assert row[4] == "5" and row[8] == "0"
    assert json.loads(out_json.read_text())["records"][0]["notes"]["root"] == 5
    status, out, err = run_main([coll, "--topo", "full_mesh:4", "-b", "256", "-e", "256",
                                 "-r", "4", "--algo", "binary_tree"], capsys)
    assert status == 2 and err.count("\n") == 1 and "root 4 out of range 0..3" in err
