"""``ubemu.calibration.measurements``: where a log's ranks ran on a topology, the distinct
points, and one-line refusals naming the file and line."""

import pytest

from ubemu.calibration import logs, measurements
from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology

MULTI = load_topology("dgx-h100-multinode")


def table(n_ranks=16, hosts=(), collective="all_reduce", sizes=(1 << 20,), group=None,
          counts=None):
    t = logs.Table("run.log", 7, "nccl-tests", collective, n_ranks, hosts, group)
    counts = counts or [None] * len(sizes)
    t.rows = [logs.Row(s, 100.0, c, 10 + k, count=n) for k, (s, n) in
              enumerate(zip(sizes, counts)) for c in ("out-of-place", "in-place")]
    return t


def test_whole_nodes_are_contiguous_part_nodes_are_spread():
    pl = measurements.place(table(16, ("a",) * 8 + ("b",) * 8), MULTI)
    assert (pl.group, pl.n_nodes) == ("start=0,stride=1,count=16", 2)
    pl = measurements.place(table(8, ("a",) * 4 + ("b",) * 4), MULTI)
    assert pl.group == "npus=0+1+2+3+8+9+10+11" and "2 nodes" in pl.how
    pl = measurements.place(table(8), MULTI, nodes=4)
    assert pl.group == "npus=0+1+8+9+16+17+24+25"
    pl = measurements.place(table(4), MULTI)                    # no hosts: packed
    assert pl.group == "start=0,stride=1,count=4" and "packed" in pl.how
    pl = measurements.place(table(8), MULTI, group="unit=node,at=8")
    assert pl.group == "unit=node,at=8"


@pytest.mark.parametrize("kw, words", [
    (dict(t=table(None)), ("run.log:7", "--ranks")),
    (dict(t=table(256)), ("run.log:7", "256 ranks", "128 NPUs")),
    (dict(t=table(6, ("a",) * 6), nodes=4), ("6 ranks on 4 nodes",)),
    (dict(t=table(8), group="unit=node,at=0", ranks=4), ("8 NPUs", "4 ranks")),
    (dict(t=table(64), nodes=32), ("32 nodes",)),
])
def test_placement_refusals(kw, words):
    t = kw.pop("t")
    with pytest.raises(UbemuError) as info:
        measurements.place(t, MULTI, **kw)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_points_are_distinct_and_checked():
    t = table(8, sizes=(1024, 4096))
    points, rows, placements = measurements.points_of([t], MULTI)
    assert len(points) == 2 and len(rows) == 4 and [i for *_, i in rows] == [0, 0, 1, 1]
    assert points[0].group == "start=0,stride=1,count=8"
    t_s, alg = points[1].evaluate(MULTI)
    assert t_s > 0 and alg != "auto"
    points, rows, _ = measurements.points_of([t], MULTI, columns=("in-place",))
    assert len(rows) == 2
    with pytest.raises(UbemuError, match="run.log:11: all_gather of 16 B is 4 elements, "
                                         "fewer than its 8 ranks"):
        measurements.points_of([table(8, collective="all_gather", sizes=(1024, 16))], MULTI)
    ok = table(8, collective="all_gather", sizes=(8192,), counts=(256,))   # 8192 / 4 / 8
    assert len(measurements.points_of([ok], MULTI)[0]) == 1
    with pytest.raises(UbemuError, match="run.log:10: .*says 4 ranks, not 8.*--ranks"):
        measurements.points_of([table(8, collective="all_gather", sizes=(8192,),
                                      counts=(512,))], MULTI)
    with pytest.raises(UbemuError, match="says 4,096 B"):
        measurements.points_of([table(8, sizes=(8192,), counts=(1024,))], MULTI)
    with pytest.raises(UbemuError, match="run.log:7: .*collective 'multicast'"):
        measurements.points_of([table(8, collective="multicast")], MULTI)
    with pytest.raises(UbemuError, match="--collective"):
        measurements.points_of([table(8, collective=None)], MULTI)


def test_a_row_of_a_smaller_topology_runs_on_as_many_npus():
    """The one-node rows of docs/data (dgx-h100, no group) on dgx-h100-multinode: the first
    node, 8 NPUs, not all 128; a row with a group keeps it; too large a row is refused."""
    from pathlib import Path

    from ubemu.validation.rows import read_all

    data = Path(__file__).resolve().parents[2] / "docs" / "data"
    rows = read_all([data / "nccl-tests-h100.csv", data / "nccl-tests-309-h100x2.csv"])
    multi = load_topology("dgx-h100-multinode")
    one_node = next(r for r in rows if r.topo == "dgx-h100")
    two_nodes = next(r for r in rows if r.topo == "dgx-h100-multinode")
    assert measurements.place_row(one_node, multi).group == "start=0,stride=1,count=8"
    assert measurements.place_row(two_nodes, multi) is two_nodes
    assert measurements.place_row(one_node, load_topology("dgx-h100")) is one_node
    with pytest.raises(UbemuError, match=r"measured on 'dgx-h100' \(8 NPUs\), more than "
                                         r"topology 'switch:4'"):
        measurements.place_row(one_node, load_topology("switch:4"))
    points, entries = measurements.entries_of_rows([one_node], multi)
    est = points[0].evaluate(multi)[0] * 1e6
    assert est == pytest.approx(16.14, abs=0.01)  # the validate row's ubemu figure
