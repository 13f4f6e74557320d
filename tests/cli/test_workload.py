"""``ubemu workload``: the issue's minimal file, JSON, the trace, and bad input."""

import json

import pytest

from tests.cli_helpers import assert_one_error_line, one_and_two_processes, run_main
from ubemu.api import simulate

MINIMAL = """\
topology = "ring:8@50GBps/1us"
[[op]]
name = "even"
collective = "all_reduce"
nbytes = "1G"
group = "start=0,stride=2,count=4"
algorithm = "ring"
[[op]]
name = "odd"
collective = "all_reduce"
nbytes = "1G"
group = "start=1,stride=2,count=4"
algorithm = "ring"
after = ["even"]        # optional: start when "even" ends
"""


def _write(tmp_path, text, name="w.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_minimal_file_runs_and_writes_json_and_a_trace(tmp_path, capsys):
    out_json, trace = tmp_path / "o.json", tmp_path / "t.json"
    status, out, err = run_main(["workload", _write(tmp_path, MINIMAL), "-J", str(out_json),
                                 "--trace", str(trace)], capsys)
    assert status == 0, err
    rows = [line.split() for line in out.splitlines() if not line.startswith(("#", "operation"))]
    assert [r[0] for r in rows] == ["even", "odd"]
    doc = json.loads(out_json.read_text())
    alone = simulate("all_reduce", 2**30, "ring:8@50GBps/1us", "ring",
                     group="start=0,stride=2,count=4").time_s
    even, odd = doc["ops"]
    assert (even["name"], even["start_s"], even["end_s"]) == ("even", 0.0, alone)
    assert (odd["name"], odd["start_s"]) == ("odd", alone)
    assert doc["makespan_s"] == odd["end_s"] == pytest.approx(2 * alone, rel=1e-12)
    events = json.loads(trace.read_text())["traceEvents"]
    whole = [e for e in events if e["ph"] == "X" and e.get("cat") == "all_reduce"]
    assert [e["name"] for e in whole] == ["even", "odd"]
    assert whole[1]["ts"] == pytest.approx(alone * 1e6)


def test_concurrent_operations_show_their_slowdown(tmp_path, capsys):
    text = MINIMAL.replace('after = ["even"]', "")
    status, out, _ = run_main(["workload", _write(tmp_path, text)], capsys)
    assert status == 0
    rows = [line.split() for line in out.splitlines() if line.startswith(("even", "odd"))]
    assert [r[10] for r in rows] == ["2.000", "2.000"] and rows[0][11] == "level0"
    assert "# makespan" in out


@pytest.mark.parametrize("text, message", [
    ("topology = 'ring:8'\n[[op]]\nname='a'\ncollective='all_reduce'\nnbytes='1Q'\n",
     "cannot parse size"),
    ("topology = 'ring:8'\n[[op]]\nname='a'\ncollective='all_reduce'\nnbytes=8\nbogus=1\n",
     "unknown key 'bogus'"),
    ("topology = 'ring:8'\n[[op]]\nname='a'\nnbytes=8\n", "collective missing"),
    ("topology = 'ring:8'\nops = 3\n", "unknown key 'ops'"),
    ("[[op]]\nname='a'\ncollective='all_reduce'\nnbytes=8\n", "no topology"),
    ("topology = 'ring:8'\n[[op]]\nname='a'\ncollective='all_reduce'\nnbytes=8\n"
     "gap='3 parsecs'\n", "gap"),
    ("topology = 'ring:8'\n[[op]\n", "not valid TOML"),
    ("topology = 'ring:8'\n[[op]]\nname='fwd'\ncollective='compute'\n",
     "op 'fwd': a compute operation needs a duration (for example duration = \"2ms\")"),
])
def test_bad_files_are_one_line_errors_and_write_nothing(tmp_path, capsys, text, message):
    out_json = tmp_path / "o.json"
    status, out, err = run_main(["workload", _write(tmp_path, text), "-J", str(out_json)],
                                capsys)
    assert_one_error_line(status, out, err)
    assert message in err and not out_json.exists()


def test_outputs_are_checked_before_running(tmp_path, capsys):
    status, out, err = run_main(["workload", _write(tmp_path, MINIMAL), "--trace",
                                 str(tmp_path / "missing" / "t.json")], capsys)
    assert_one_error_line(status, out, err)
    assert "--trace" in err
    status, out, err = run_main(["workload", str(tmp_path / "none.toml")], capsys)
    assert_one_error_line(status, out, err)
    assert "cannot read" in err


def test_a_workload_file_names_its_faults_and_the_flags_override_them(tmp_path, capsys):
    text = MINIMAL.replace('topology = "ring:8@50GBps/1us"\n', 'topology = "ring:8@50GBps/1us"\n'
                           'faults = "link=level0:0-1"\nrouting = "apr"\n')
    path = _write(tmp_path, text)
    status, out, err = run_main(["workload", path, "-J", str(tmp_path / "o.json")], capsys)
    assert status == 0, err
    assert "# Faults (apr routing): failed links level0 1" in out
    doc = json.loads((tmp_path / "o.json").read_text())
    want = simulate("all_reduce", 1 << 30, "ring:8@50GBps/1us", "ring",
                    group="start=0,stride=2,count=4", faults="link=level0:0-1", routing="apr")
    assert doc["ops"][0]["end_s"] == want.time_s
    status, out, err = run_main(["workload", path, "--faults", "link=level0:0-1", "--routing",
                                 "minimal"], capsys)
    assert status == 2 and "routing minimal: NPU 0 -> NPU 2 crosses the failed" in err


@pytest.mark.slow  # launches mpiexec
def test_under_mpi_process_0_runs_the_workload_and_prints_once(tmp_path):
    (one, two), docs = one_and_two_processes(["workload", "docs/examples/step.toml"], tmp_path)
    assert two.stdout == one.stdout and two.stdout.count("# ubemu workload") == 1
    assert docs[0] == docs[1]


def test_a_billion_repeats_run_at_once_with_progress(tmp_path, capsys):
    text = MINIMAL.replace('algorithm = "ring"\n', 'algorithm = "ring"\nrepeat = 1000000000\n')
    out_json = tmp_path / "o.json"
    status, out, err = run_main(["workload", _write(tmp_path, text), "--progress", "on", "-J",
                                 str(out_json)], capsys)
    assert status == 0, err
    alone = simulate("all_reduce", 2**30, "ring:8@50GBps/1us", "ring",
                     group="start=0,stride=2,count=4").time_s
    assert json.loads(out_json.read_text())["makespan_s"] == pytest.approx(2e9 * alone,
                                                                           rel=1e-12)
    assert err.splitlines()[0].startswith("ubemu: progress 0%, ")
    assert err.splitlines()[-1].startswith("ubemu: progress done in ")


def test_max_work_refuses_in_one_line_before_anything_runs(tmp_path, capsys):
    status, out, err = run_main(["workload", _write(tmp_path, MINIMAL), "--max-work", "100"],
                                capsys)
    assert_one_error_line(status, out, err)
    assert err.startswith("ubemu: error: work: workload of 2 operations would route about ")
    assert "over the limit of 100 (raise it with --max-work" in err
    status, out, err = run_main(["workload", _write(tmp_path, MINIMAL), "--max-work", "x"],
                                capsys)
    assert_one_error_line(status, out, err, "ubemu: error: --max-work must be a positive")
