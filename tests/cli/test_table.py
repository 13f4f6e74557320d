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


@pytest.mark.parametrize("time_us, text", [(12.345, "  12.35"), (123.45, "  123.5"),
                                           (12345.6, "  12346"), (0.5, "   0.50")])
def test_time_format_like_nccl_tests(time_us, text):
    assert table.format_time_us(time_us) == text


def test_row_columns_and_alignment():
    r = make(nbytes=134217728, time_s=1211.2e-6)
    row = table.format_row(r)
    head = table.table_header()
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
    rows = [table.format_row(r, check=True) for r in rs]
    assert rows[0].split()[8:10] == ["0", "1.50e-07"]
    assert rows[1].split()[8:10] == ["3", "2.00e-03"]
    assert "maxrelerr" in table.table_header(check=True)[1]
    foot = table.footer_lines(rs, check=True)
    assert foot[0] == "# Out of bounds values : 3 FAILED"
    avg = (rs[0].busbw_GBps + rs[1].busbw_GBps) / 2
    assert foot[1] == f"# Avg bus bandwidth    : {avg:g} "
    assert table.footer_lines([make(wrong=0)], check=True)[0].endswith(": 0 OK")
    assert table.footer_lines([]) == ["# Avg bus bandwidth    : 0 "]


def test_redop_and_root_columns():
    assert table.format_row(make("all_gather")).split()[3:5] == ["none", "-1"]
    assert table.format_row(make("alltoall", op="max")).split()[3:5] == ["none", "-1"]
    assert table.format_row(make("reduce", op="max")).split()[3:5] == ["max", "0"]
    r = make("broadcast", notes={"root": 3})
    assert table.format_row(r).split()[3:5] == ["none", "3"]


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
