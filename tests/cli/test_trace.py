"""The Trace Event Format timeline (ubemu.cli.trace), loaded back."""

import json

import pytest

from ubemu.cli.trace import write_trace
from ubemu.workloads.ops import Op
from ubemu.workloads.run import run_workload


def test_trace_has_a_track_per_operation_nested_steps_and_link_counters(tmp_path):
    res = run_workload([Op("tp", "all_reduce", 2**24, group="unit=board", every=True,
                           algorithm="ring"),
                        Op("dp", "all_reduce", 2**24, group="one_per=board", every=True,
                           algorithm="halving_doubling"),
                        Op("compute", "compute", duration_s=1e-3, after=("tp",))],
                       "ub-mesh-rack")
    path = tmp_path / "trace.json"
    write_trace(res, str(path))
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert sorted(names.values()) == ["compute", "dp", "tp"]
    for k, op in enumerate(res.ops):
        (whole,) = [e for e in events if e["ph"] == "X" and e["tid"] == k
                    and e["name"] == op.name]
        assert whole["ts"] == pytest.approx(op.start_s * 1e6)
        assert whole["dur"] == pytest.approx(op.duration_s * 1e6)
        steps = [e for e in events if e.get("cat") == "steps" and e["tid"] == k]
        if op.collective != "compute":
            assert steps and steps[0]["ts"] == pytest.approx(whole["ts"])
            assert sum(e["dur"] for e in steps) == pytest.approx(whole["dur"], rel=1e-9)
    counters = [e for e in events if e["ph"] == "C"]
    assert {e["name"] for e in counters} <= set(res.class_names)
    assert {"board", "rack"} <= {e["name"] for e in counters}
    assert all(0 <= e["args"]["utilisation"] <= 1 + 1e-9 for e in counters)
    assert doc["otherData"]["makespan_s"] == res.makespan_s
