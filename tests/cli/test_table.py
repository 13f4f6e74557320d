"""``ubemu.cli.table``: nccl-tests table, footer, link-class lines, rounded figures (no run)."""

import pytest

from ubemu.cli import table
from ubemu.machine.topology import Level
from ubemu.result import ClassUsage, Result


def make(collective="all_reduce", nbytes=1 << 20, n_ranks=8, time_s=100e-6, dtype="float32",
         op="sum", wrong=None, err=None, algorithm="ring", usage=None, **kw):
    return Result(collective=collective, algorithm=algorithm, topology="t", n_ranks=n_ranks,
                  nbytes=nbytes, count=nbytes // 4, dtype=dtype, op=op, time_s=time_s,
                  n_steps=14, usage=usage or [], bottleneck="board", wrong=wrong,
                  max_rel_err=err, **kw)


def test_result_bandwidths():
    r = make(nbytes=1_000_000, time_s=1e-3)  # 1e6 B in 1 ms = 1 GB/s
    assert r.algbw_GBps == pytest.approx(1.0)
    assert r.busbw_GBps == pytest.approx(1.75)


@pytest.mark.parametrize("value, width, text", [
    (12.345, 7, "  12.35"), (1211.2, 7, "1211.20"), (12345.6, 7, "12345.6"),
    (123456.7, 7, " 123457"), (1234567.8, 7, "1234568"), (12345678.9, 7, "1.2e+07"),
    (0.5, 7, "   0.50"), (0.0, 6, "  0.00"), (999.994, 6, "999.99"), (1000.4, 6, "1000.4"),
    (12345.6, 6, " 12346"), (123456.0, 6, "123456"), (1234567.0, 6, " 1e+06"),
    (9999.996, 7, "10000.0")])
def test_figures_like_nccl_tests_get_float_str(value, width, text):
    """nccl-tests' getFloatStr: two decimals if they fit the width, then one, none, an
    exponent (src/util.cu), hand-worked."""
    assert table.nccl_float(value, width) == text


def test_row_columns_and_alignment():
    r = make(nbytes=134217728, time_s=1211.2e-6)
    row = table.format_row(r)
    head = table.table_header()
    # nccl-tests' header and widths: the row's fields end where the header's titles end.
    assert head[0] == "#" and head[1].endswith("out-of-place                       in-place")
    assert row[:12] == "   134217728"
    assert head[2][:12] == "#       size"
    titles = head[2][1:].split()
    assert titles == ["size", "count", "type", "redop", "root", "time", "algbw", "busbw",
                      "#wrong", "time", "algbw", "busbw", "#wrong"]
    fields = row.split()
    algbw = 134217728 / 1211.2e-6 / 1e9
    assert fields == ["134217728", "33554432", "float", "sum", "-1", "1211.20",
                      f"{algbw:.2f}", f"{algbw * 1.75:.2f}", "N/A", "1211.20",
                      f"{algbw:.2f}", f"{algbw * 1.75:.2f}", "N/A"]
    checked = table.format_row(make(nbytes=134217728, time_s=1211.2e-6, wrong=0),
                               table.Layout(check=True))
    ends = [head[2].index(t, head[2].index("root")) + len(t) for t in ("time", "algbw",
                                                                       "busbw", "#wrong")]
    pos = 0
    for k, field in enumerate(checked.split()[5:9]):
        pos = checked.index(field, pos) + len(field)
        assert pos == ends[k], (field, pos, ends)
    assert len(checked) == len(head[2])  # the in-place #wrong ends under its title
    # unchecked, nccl-tests prints "    N/A": one column short of the title, twice
    assert len(row) == len(head[2]) - 2 and row.endswith("   1.75    N/A"[-7:])


def test_check_columns_extras_and_footer():
    rs = [make(wrong=0, err=1.5e-7), make(nbytes=2 << 20, wrong=3, err=2e-3)]
    plain = [table.format_row(r, table.Layout(check=True)).split() for r in rs]
    assert [(f[8], f[12]) for f in plain] == [("0", "0"), ("3", "3")] and len(plain[0]) == 13
    extra = table.Layout(check=True, extra=True)
    rows = [table.format_row(r, extra).split() for r in rs]
    assert rows[0][13:] == ["1.50e-07", "board", "ring"]
    assert rows[1][13:] == ["2.00e-03", "board", "ring"]
    assert table.table_header(extra)[2].split()[-3:] == ["maxrelerr", "bottleneck", "algorithm"]
    assert table.format_row(make(), table.Layout(extra=True)).split()[13:] == ["board", "ring"]
    foot = table.footer_lines(rs)
    assert foot[0] == "# Out of bounds values : 3 FAILED"
    avg = (rs[0].busbw_GBps + rs[1].busbw_GBps) / 2
    assert foot[1] == f"# Avg bus bandwidth    : {avg:g}"
    assert table.footer_lines([make()])[0] == "# Out of bounds values : 0 OK"  # unchecked
    assert table.footer_lines([]) == ["# Out of bounds values : 0 OK",
                                      "# Avg bus bandwidth    : 0"]


def test_timestamps_like_nccl_tests():
    layout = table.Layout(timestamps=True)
    head = table.table_header(layout)
    assert head[2].split()[-1] == "timestamp" and head[3].endswith("%Y-%m-%d %H:%M:%S")
    row = table.format_row(make(), layout, "2025-01-02 03:04:05")
    assert row.endswith("  2025-01-02 03:04:05") and len(row.split()) == 15


def test_redop_root_count_and_type_columns():
    assert table.format_row(make("all_gather")).split()[1:5] == ["32768", "float", "none",
                                                                  "-1"]  # count / n
    assert table.format_row(make("alltoall", op="max")).split()[3:5] == ["none", "-1"]
    assert table.format_row(make("reduce", op="max")).split()[3:5] == ["max", "0"]
    r = make("broadcast", notes={"root": 3}, dtype="bfloat16")
    assert table.format_row(r).split()[2:5] == ["bfloat16", "none", "3"]
    assert table.format_row(make(dtype="float16")).split()[2] == "half"
    sendrecv = table.format_row(make("sendrecv", wrong=0), table.Layout(check=True)).split()
    assert (sendrecv[8], sendrecv[12]) == ("0", "N/A")  # no in-place sendrecv, as nccl-tests


def test_hypercube_algbw_counts_the_received_blocks():
    r = make("hypercube", nbytes=8_000_000, time_s=1e-3)  # 8 ranks: 7/8 of 8 MB in 1 ms
    assert r.algbw_GBps == pytest.approx(7.0) and r.busbw_GBps == pytest.approx(7.0)


def test_csv_record_keeps_every_digit():
    r = make(wrong=2, err=1e-3, nbytes=1000, time_s=3e-6)
    rec = table.csv_record(r, "auto")
    assert list(rec) == list(table.CSV_COLUMNS)
    assert rec["time_us"] == r.time_s * 1e6 and rec["algbw_GBps"] == 1000 / 3e-6 / 1e9
    assert (rec["count"], rec["type"], rec["wrong"], rec["in_place_wrong"]) == (250, "float",
                                                                                 2, 2)
    assert rec["requested_algorithm"] == "auto" and rec["algorithm"] == "ring"


def test_usage_lines():
    usage = [ClassUsage("board", 0, 1.5e9, 80e-6, 0.875, 8192, 64, 0.995),
             ClassUsage("rack", 1, 1e9, 40e-6, 0.5, 1024, 0, 0.0)]
    lines = table.usage_lines(make(usage=usage))
    assert len(lines) == 4
    assert lines[1].split() == ["#", "class", "level", "bytes", "busy", "(us)", "util", "links",
                                "used", "group", "util"]
    assert lines[2].split() == ["#", "board", "0", "1.5e+09", "80.00", "87.5%", "64/8,192",
                                "99.5%"]
    assert lines[3].split()[-3:] == ["50.0%", "0/1,024", "-"]
    assert table.usage_lines(make()) == []
    # a record read back from JSON written before the group's figures existed
    old = {"name": "board", "level": 0, "bytes": 1.5e9, "busy_s": 80e-6, "utilisation": 0.875}
    assert table.usage_lines(make(usage=[old]))[2].split()[-2:] == ["-", "-"]


@pytest.mark.parametrize("x, text", [(61.111111111111114, "61.11"), (56.0, "56"), (56, "56"),
                                     (12345.6, "12350"), (1.5e-07, "0.00000015"),
                                     (0.06875, "0.06875"), (1e20, "100000000000000000000"),
                                     (0.0, "0"), (53.6870912, "53.69"), (-2.5, "-2.5")])
def test_format_number_rounds_to_4_digits_without_exponent(x, text):
    assert table.format_number(x) == text


def test_human_spec_rounds_what_the_exact_spec_keeps():
    lv = Level("switch", 3, 488.88888888888889 / 8, 1000 / 3, planes=2, oversub=4 / 3, name="s")
    assert lv.spec == ("switch:3@61.111111111111114GBps/333.3333333333333ns:planes=2:"
                       "oversub=1.3333333333333333:name=s")
    assert table.human_spec(lv) == "switch:3@61.11GBps/333.3ns:planes=2:oversub=1.333:name=s"
    plain = Level("full_mesh", 8, 56.0, 150.0, name="board")
    assert table.human_spec(plain) == plain.spec == "full_mesh:8@56GBps/150ns:name=board"
    trunk = Level("ring", 4, 50 * 2**30 / 1e9, 150.0, links=2, trunk=True)
    assert table.human_spec(trunk) == "ring:4@53.69GBps/150ns:links=2:trunk"
