# ruff: noqa: E501  (log samples keep their real line lengths)
"""``ubemu.calibration.logs``: real nccl-tests output and the layouts seen in the wild
(older columns, mpirun prefixes, NCCL INFO lines, several tables), hccl_test, ubemu's -J;
one-line refusals naming the file and the line."""

import json
from pathlib import Path

import pytest

from ubemu.calibration import logs
from ubemu.errors import UbemuError

DATA = Path(__file__).with_name("logs")
H100 = DATA / "nccl-tests-h100x8-all_reduce.txt"

NEW = """# nccl-tests version 2.20.0 (b4d5bee) nccl-headers=23102 nccl-library=23102
# Collective test starting: all_gather_perf
# nThread 1 nGpus 1 minBytes 8192 maxBytes 16384 step: 2(factor) warmup iters: 10 iters: 100
#
# Using devices
#  Rank  0 Group  0 Pid 1666603 on spark-d708 device  0 [000f:01:00] NVIDIA GB10
#  Rank  1 Group  0 Pid 1669515 on spark-dbf4 device  0 [000f:01:00] NVIDIA GB10
#
#                                                              out-of-place                       in-place
#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)
           0             0     float    none      -1     5.70    0.00    0.00       0     5.54    0.00    0.00       0
        8192          1024     float    none      -1    35.15    0.23    0.12       0    30.33    0.27    0.14     N/A
       16384          2048     float    none      -1    31.67    0.52    0.26       0    30.75    0.53    0.27       0
spark-d708:1666603:1666700 [0] NCCL INFO comm 0x5c2e9bbbb3f0 rank 0 nranks 2 - Destroy COMPLETE
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 0.2
"""

OLD = """# nThread 1 nGpus 1 minBytes 1310720000 maxBytes 1310720000 step: 1048576(bytes) warmup iters: 5 iters: 20 validation: 1
#
# Using devices
#   Rank  0 Pid   1320 on ip-172-31-20-228 device  0 [0x00] Tesla V100-SXM2-16GB
#   Rank  1 Pid   2066 on ip-172-31-22-230 device  0 [0x00] Tesla V100-SXM2-16GB
#
#                                                       out-of-place                       in-place
#       size         count      type   redop     time   algbw   busbw  error     time   algbw   busbw  error
#        (B)    (elements)                       (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
[1,0]<stdout>:  1310720000     327680000     float     sum   1061.2   1.24    1.24  0e+00   1062.0   1.23    1.23  0e+00
"""

HCCL = """mpirun -n 16 ./bin/reduce_scatter_test -b 8K -e 64M -f 2 -d fp32 -o sum -p 8
the minbytes is 8192, maxbytes is 67108864, iters is 20, warmup_iters is 5
data_size(Bytes): |   aveg_time(us): | alg_bandwidth(GB/s): | check_result:
8192              |     764.55    |       0.00998        | success
local rank_id 3, check result failed, 16384 | 770.10 | 0.02 | failed
16384             |     770.10    |       0.02128        | success
"""


def test_real_h100_table_parsed():
    (t,) = logs.read_log(H100)
    assert (t.tool, t.collective, t.n_ranks, t.n_nodes) == ("nccl-tests", "all_reduce", 8, 1)
    assert t.how == {"ranks": "Rank lines", "collective": "file name"}
    assert len(t.rows) == 64                                   # 32 sizes x 2 columns
    first, last = t.rows[0], t.rows[-1]
    assert (first.nbytes, first.time_us, first.column, first.line) == (8, 13.67,
                                                                        "out-of-place", 16)
    assert (last.nbytes, last.time_us, last.column, last.busbw_GBps) == (17179869184, 62636.0,
                                                                         "in-place", 479.99)
    assert {r.dtype for r in t.rows} == {"float32"} and {r.op for r in t.rows} == {"sum"}
    assert [r.nbytes for r in t.rows[::2]] == [8 << k for k in range(32)]


def test_newer_layout_starting_line_info_lines_and_zero_sizes():
    (t,) = logs.parse_text(NEW, "x.log")
    assert t.collective == "all_gather" and t.how["collective"] == "test starting line"
    assert t.n_ranks == 2 and t.hosts == ("spark-d708", "spark-dbf4") and t.n_nodes == 2
    assert [(r.nbytes, r.column) for r in t.rows] == [(8192, "out-of-place"),
                                                      (8192, "in-place"),
                                                      (16384, "out-of-place"),
                                                      (16384, "in-place")]  # 0 B left out
    assert t.rows[0].op == "none" and t.rows[1].time_us == 30.33


def test_older_layout_without_root_and_group_and_mpirun_prefix():
    (t,) = logs.parse_text(OLD, "run.txt", collective="all_reduce")
    assert t.collective == "all_reduce" and t.how["collective"] == "--collective"
    assert t.n_ranks == 2 and t.n_nodes == 2
    assert [(r.nbytes, r.time_us, r.column) for r in t.rows] == [
        (1310720000, 1061.2, "out-of-place"), (1310720000, 1062.0, "in-place")]


def test_several_tables_in_one_log():
    second = NEW.replace("all_gather_perf", "alltoall_perf")
    a, b = logs.parse_text(NEW + second, "both.log")
    assert (a.collective, b.collective) == ("all_gather", "alltoall")
    assert len(a.rows) == len(b.rows) == 4 and b.n_ranks == 2 and b.line > a.line


def test_hccl_test_output():
    (t,) = logs.parse_text(HCCL, "hccl.log")
    assert (t.tool, t.collective, t.n_ranks, t.n_nodes) == ("hccl_test", "reduce_scatter",
                                                            16, 2)
    assert t.how["collective"] == "binary named in the log"
    assert [(r.nbytes, r.time_us, r.column) for r in t.rows] == [(8192, 764.55, "time"),
                                                                 (16384, 770.10, "time")]


def test_ubemu_json(tmp_path):
    doc = {"command": {"group": "unit=node"}, "records": [
        {"collective": "alltoall", "n_ranks": 8, "nbytes": 1024, "time_s": 2e-5,
         "dtype": "float32", "op": "sum", "root": -1, "requested_algorithm": "direct"}]}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    (t,) = logs.read_log(path)
    assert (t.tool, t.collective, t.n_ranks, t.group) == ("ubemu", "alltoall", 8, "unit=node")
    assert t.rows[0].time_us == pytest.approx(20.0) and t.rows[0].algorithm == "direct"


@pytest.mark.parametrize("text, words", [
    (NEW.replace("35.15", "35,15"), ("x.log:13", "time", "35,15")),
    (NEW.replace("16384          2048     float    none      -1    31.67",
                 "16384          2048     float"), ("x.log:14", "fields")),
    ("hello\nworld\n", ("x.log", "no nccl-tests")),
    ("           8             2     float     sum      -1    13.67\n", ("x.log:1", "header")),
    (HCCL.replace("764.55", "fast"), ("x.log:4", "aveg_time")),
    ('{"records": []}', ("x.log", "records")),
])
def test_bad_logs_one_line(text, words):
    with pytest.raises(UbemuError) as info:
        logs.parse_text(text, "x.log")
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_unreadable_file(tmp_path):
    with pytest.raises(UbemuError, match="cannot read log"):
        logs.read_log(tmp_path / "missing.txt")
