"""nccl-tests-style table, footer and JSON from hand-built Results (no collective is run)."""

import json

import pytest

from ubemu import report
from ubemu.collectives import get
from ubemu.errors import UbemuError
from ubemu.result import ClassUsage, Result


def make(collective="all_reduce", nbytes=1 << 20, n_ranks=8, time_s=100e-6, dtype="float32",
         op="sum", wrong=None, err=None, algorithm="ring", usage=None, **kw):
    return Result(collective=collective, algorithm=algorithm, topology="t", n_ranks=n_ranks,
                  nbytes=nbytes, count=nbytes // 4, dtype=dtype, op=op, time_s=time_s,
                  n_steps=14, usage=usage or [], bottleneck="board", wrong=wrong,
                  max_rel_err=err, **kw)


def test_busbw_factors_match_nccl_tests():
    # nccl-tests' PERFORMANCE.md factors, on 8 ranks: hand-computed.
    assert get("all_reduce").busbw_factor(8) == pytest.approx(14 / 8)
    for coll in ("all_gather", "reduce_scatter", "alltoall"):
        assert get(coll).busbw_factor(8) == pytest.approx(7 / 8)
    assert get("broadcast").busbw_factor(8) == 1.0
    r = make(nbytes=1_000_000, time_s=1e-3)  # 1e6 B in 1 ms = 1 GB/s
    assert r.algbw_GBps == pytest.approx(1.0)
    assert r.busbw_GBps == pytest.approx(1.75)


@pytest.mark.parametrize("time_us, text", [(12.345, "  12.35"), (123.45, "  123.5"),
                                           (12345.6, "  12346"), (0.5, "   0.50")])
def test_time_format_like_nccl_tests(time_us, text):
    assert report.format_time_us(time_us) == text


def test_row_columns_and_alignment():
    r = make(nbytes=134217728, time_s=1211.2e-6)
    row = report.format_row(r)
    head = report.table_header()
    # nccl-tests' widths: the row's first fields line up with the header's titles.
    assert row[:12] == "   134217728"
    assert head[1][:12] == "#       size"
    assert head[1].index("count") + 5 == row.index("33554432") + 8
    fields = row.split()
    assert fields[:9] == ["134217728", "33554432", "float32", "sum", "-1", "1211.2",
                          f"{134217728 / 1211.2e-6 / 1e9:.2f}",
                          f"{134217728 / 1211.2e-6 / 1e9 * 1.75:.2f}", "N/A"]
    assert fields[9:] == ["board", "ring"]
    # The busbw column ends where the header's busbw title ends.
    assert row.index(fields[7]) + len(fields[7]) == head[1].index("busbw") + 5


def test_check_columns_and_footer():
    rs = [make(wrong=0, err=1.5e-7), make(nbytes=2 << 20, wrong=3, err=2e-3)]
    rows = [report.format_row(r, check=True) for r in rs]
    assert rows[0].split()[8:10] == ["0", "1.50e-07"]
    assert rows[1].split()[8:10] == ["3", "2.00e-03"]
    assert "maxrelerr" in report.table_header(check=True)[1]
    foot = report.footer_lines(rs, check=True)
    assert foot[0] == "# Out of bounds values : 3 FAILED"
    avg = (rs[0].busbw_GBps + rs[1].busbw_GBps) / 2
    assert foot[1] == f"# Avg bus bandwidth    : {avg:g} "
    assert report.footer_lines([make(wrong=0)], check=True)[0].endswith(": 0 OK")
    assert report.footer_lines([]) == ["# Avg bus bandwidth    : 0 "]


def test_redop_and_root_columns():
    assert report.format_row(make("all_gather")).split()[3:5] == ["none", "-1"]
    assert report.format_row(make("reduce", op="max")).split()[3:5] == ["max", "0"]
    r = make("broadcast", notes={"root": 3})
    assert report.format_row(r).split()[3:5] == ["none", "3"]


def test_usage_lines():
    usage = [ClassUsage("board", 0, 1.5e9, 80e-6, 0.875), ClassUsage("rack", 1, 1e9, 40e-6, 0.5)]
    lines = report.usage_lines(make(usage=usage))
    assert len(lines) == 4
    assert lines[2].split() == ["#", "board", "0", "1.5e+09", "80.00", "87.5%"]
    assert lines[3].split()[-1] == "50.0%"
    assert report.usage_lines(make()) == []


def test_json_round_trip(tmp_path):
    usage = [ClassUsage("board", 0, 1.5e9, 80e-6, 0.875)]
    r = make(usage=usage, wrong=0, err=0.0, wall_s=0.25)
    doc = {"ubemu": "x", report.RECORDS_KEY: [report.record(r, requested_algorithm="auto")]}
    path = tmp_path / "out.json"
    report.write_json_atomic(path, doc)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left
    recs = report.load_records(path)
    assert recs[0]["busbw_GBps"] == pytest.approx(r.busbw_GBps)
    assert recs[0]["usage"][0] == {"name": "board", "level": 0, "bytes": 1.5e9,
                                   "busy_s": 80e-6, "utilisation": 0.875}
    assert recs[0]["requested_algorithm"] == "auto" and recs[0]["wall_s"] == 0.25
    back = Result(**{k: v for k, v in recs[0].items()
                     if k not in ("algbw_GBps", "busbw_GBps", "requested_algorithm")})
    assert back.time_s == r.time_s and back.nbytes == r.nbytes
    # Deterministic text: the same document serialises to the same bytes.
    assert report.dumps(doc) == path.read_text()


def test_numpy_values_serialise():
    np = pytest.importorskip("numpy")
    r = make(notes={"steps": np.int64(3), "per_level": np.array([1.0, 2.0])})
    text = report.dumps({report.RECORDS_KEY: [report.record(r)]})
    assert json.loads(text)[report.RECORDS_KEY][0]["notes"] == {"steps": 3,
                                                                "per_level": [1.0, 2.0]}


def test_atomic_write_failure_leaves_nothing(tmp_path):
    with pytest.raises(UbemuError, match="output_file"):
        report.write_json_atomic(tmp_path / "missing-dir" / "x.json", {"a": 1})
    with pytest.raises(TypeError):
        report.write_json_atomic(tmp_path / "x.json", {"a": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, match", [("{", "not valid JSON"), ('{"a": 1}', "records"),
                                            ('[{"collective": "x"}]', "lacks field")])
def test_load_records_rejects_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UbemuError, match=match):
        report.load_records(p)
    with pytest.raises(UbemuError, match="cannot read"):
        report.load_records(tmp_path / "nope.json")
