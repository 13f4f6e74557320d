"""``--csv`` (``ubemu.cli.csvout``): the writer, row by row, and every command with a table."""

import csv
from pathlib import Path

import pytest

from tests.cli_helpers import (
    assert_one_error_line,
    fake_simulate,
    install_fake_simulate,
    run_main,
    table_rows,
)
from ubemu.cli.csvout import CsvWriter
from ubemu.errors import UbemuError

ROOT = Path(__file__).resolve().parents[2]


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_writer_header_first_row_then_appends(tmp_path):
    path = tmp_path / "t.csv"
    w = CsvWriter(path, ("a", "b"))
    assert not path.exists()  # nothing until a row is done
    w.add({"a": 1, "b": None})
    assert path.read_text() == "a,b\n1,\n" and [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    w.add_all([(2, "x,y"), (3, 0.1)])
    assert read(path) == [{"a": "1", "b": ""}, {"a": "2", "b": "x,y"}, {"a": "3", "b": "0.1"}]
    with pytest.raises(ValueError, match="CSV row of 1 values for 2 columns"):
        w.add((4,))
    CsvWriter(None, ("a",)).add({"a": 1})  # no path: nothing


def test_writer_refuses_a_path_it_cannot_write_at_once(tmp_path):
    with pytest.raises(UbemuError, match="--csv: cannot write '/nonexistent/d/t.csv'"):
        CsvWriter("/nonexistent/d/t.csv", ("a",))
    with pytest.raises(UbemuError, match="is a directory"):
        CsvWriter(tmp_path, ("a",))


def test_sweep_rows_land_as_they_complete(monkeypatch, capsys, tmp_path):
    path = tmp_path / "r.csv"
    seen = []

    def spying_simulate(*args, **kwargs):  # the file as it stands when each row starts
        seen.append(len(read(path)) if path.exists() else None)
        return fake_simulate(*args, **kwargs)

    install_fake_simulate(monkeypatch, spying_simulate)
    status, out, _ = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "64K",
                               "-f", "4", "-c", "1", "--csv", str(path)], capsys)
    assert status == 0 and seen == [None, 1, 2, 3]
    rows, printed = read(path), table_rows(out)
    assert [int(r["size"]) for r in rows] == [r["size"] for r in printed]
    for r, p in zip(rows, printed):
        assert float(r["time_us"]) == pytest.approx(p["time"], abs=0.006)
        assert (r["type"], r["wrong"], r["in_place_wrong"], r["dtype"]) == ("float", "0", "0",
                                                                             "float32")
        assert r["algorithm"] == ("ring" if p["size"] < 4096 else "direct")


def test_a_failed_row_keeps_the_rows_done(monkeypatch, capsys, tmp_path):
    install_fake_simulate(monkeypatch)
    path = tmp_path / "r.csv"
    status, _, _ = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "4M",
                             "-f", "4", "-O", "fail_above=65536", "--csv", str(path)], capsys)
    assert status == 2 and [r["size"] for r in read(path)] == ["1024", "4096", "16384", "65536"]


def test_bad_csv_path_refused_before_anything_runs(monkeypatch, capsys):
    calls = []
    install_fake_simulate(monkeypatch, lambda *a, **k: calls.append(a) or fake_simulate(*a, **k))
    assert_one_error_line(*run_main(["all_reduce", "--csv", "/nonexistent/d/x.csv"], capsys),
                          "ubemu: error: --csv: cannot write '/nonexistent/d/x.csv'")
    assert calls == []


def _lines(out, start):
    """Printed rows: lines after the table's title line that do not start with #."""
    lines = out.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith(start))
    return [ln for ln in lines[k + 1:] if ln.strip() and not ln.startswith("#")]


COMMANDS = [  # every command that prints a table: argv, its title line, its CSV key column
    (["hccl", "all_reduce_test", "--topo", "full_mesh:4", "-b", "1K", "-e", "4K", "-f", "2"],
     "data_size", "size"),
    (["faults", "all_reduce", "--topo", "ub-mesh-rack", "-b", "1M", "--algo", "direct",
      "--links", "0,1", "--seeds", "2"], "#   failed links", "failed"),
    (["workload", str(ROOT / "docs/examples/two-rings.toml")], "operation", "operation"),
    (["plan", "--model", "gpt3-175b", "--topo", "atlas950-superpod", "--tp", "8", "--pp", "8"],
     "axis  operation", "operation"),
    (["plan", "--model", "gpt3-175b", "--topo", "ub-mesh-rack", "--sweep", "--top", "3"],
     "rank", "rank"),
    (["validate"], "# id", "id"),
    (["algorithms", "gather"], "# collective", "algorithm"),
    (["topo", "list"], "  name", "name"),
]


@pytest.mark.parametrize("argv, title, key", COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
def test_every_table_as_csv(capsys, tmp_path, argv, title, key):
    path = tmp_path / "t.csv"
    status, out, err = run_main([*argv, "--csv", str(path)], capsys)
    assert status in (0, 1), err  # validate exits 1 only with --max-error exceeded
    rows = read(path)
    printed = _lines(out, title)
    if argv[0] in ("plan", "topo"):
        printed = printed[:len(rows)]  # the axis table and the string syntax follow
    assert len(rows) == len(printed) > 0
    for r, line in zip(rows, printed):
        assert r[key].replace(",", "") in line.replace(",", "")
