"""``ubemu.cli.step_figure``: a plan's or a workload's step as a Gantt chart over link-class
utilisation; rendered and its elements read back (rows, bars and their widths, labels,
legend), the shortened time axis by hand."""

import json

import numpy as np
import pytest

from tests.cli.test_plan import SMALL  # a small GPT on ub-mesh-rack: fast to time
from tests.cli_helpers import run_main
from ubemu import cli
from ubemu.cli import step_figure
from ubemu.cli.workload import DOCUMENT_KIND
from ubemu.errors import UbemuError
from ubemu.workloads.ops import Op
from ubemu.workloads.run import run_workload

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory):
    """TP8 PP2 DP4 at 5 TFLOP/s: compute fills most of the step."""
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    assert cli.main(["plan", *SMALL, "--tp", "8", "--pp", "2", "--flops", "5e12",
                     "-J", str(path)]) == 0
    return path


def workload_doc():
    res = run_workload([Op("fwd", "compute", duration_s=1e-3),
                        Op("tp", "all_reduce", 2**24, group="unit=board", every=True,
                           algorithm="ring", after=("fwd",)),
                        Op("dp", "all_reduce", 2**22, group="one_per=board", every=True,
                           algorithm="direct", after=("fwd",))], "ub-mesh-rack")
    return {**res.to_dict(), "kind": DOCUMENT_KIND}


def test_time_axis_shortens_long_compute_only_spans():
    ops = [("c", "c1", "compute", 0.0, 10.0), ("tp", "t", "all_reduce", 10.0, 11.0),
           ("c", "c2", "compute", 11.0, 12.0)]
    axis = step_figure.TimeAxis(ops, 12.0)
    assert axis.breaks == [(0.0, 10.0)]  # 10 of 12: more than half; [11, 12] is short
    rest = 2.0
    assert axis(np.array([0.0, 10.0, 11.0, 12.0])).tolist() == pytest.approx(
        [0.0, step_figure.SHORT * rest, step_figure.SHORT * rest + 1, step_figure.SHORT * rest + 2])
    pos, labels = axis.ticks(1.0)
    inside = [x for x in pos if 0.02 < x < axis(10.0) - 0.02]
    assert not inside and "0" in labels and "10" in labels and float(labels[-1]) <= 12.0
    assert step_figure.TimeAxis(ops, 12.0, uniform=True).breaks == []
    same = step_figure.TimeAxis([("c", "c", "compute", 0.0, 12.0)], 12.0)  # nothing to show
    assert same.breaks == [] and same(7.0) == 7.0


def _widths(ax):
    """(x, width) of every bar the Gantt axis holds."""
    out = []
    for coll in ax.collections:
        for path in coll.get_paths():
            v = path.vertices
            out.append((v[:, 0].min(), v[:, 0].max() - v[:, 0].min()))
    return out


def test_a_plan_step_drawn(plan_path):
    doc = json.loads(plan_path.read_text())
    fig, step = step_figure.draw(doc)
    ax, axu = fig.axes[:2]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["compute", "tp", "pp", "dp"]
    names = doc["report"]["timeline"]["ops"]["name"]
    n_runs = len(doc["report"]["timeline"]["slices"]["op"])
    bars = _widths(ax)
    assert len(bars) == len(names) + n_runs  # a bar per operation, a bar per run of steps
    width = ax.get_xlim()[1]
    assert min(w for _, w in bars) >= step_figure.MIN_WIDTH * width * (1 - 1e-9)
    texts = " ".join(t.get_text() for t in ax.texts)
    for name in names:
        assert f"{name} " in texts
    assert "≈" in texts  # the forward's compute is drawn shortened, and marked
    assert "shortened" in axu.get_xlabel() and axu.get_xlabel().startswith("time (ms)")
    legend = [t.get_text() for t in axu.get_legend().get_texts()]
    assert legend[-2:] == ["links in use", "whole class"]
    assert set(legend[:-2]) <= {"board", "rack", "board = rack"}
    assert axu.get_ylabel() == "link utilisation (%)"
    assert ax.get_title(loc="left").startswith("gpt3-175b") and "TP8 PP2 DP4 on ub-mesh-rack" in \
        ax.get_title(loc="left")
    uniform, _ = step_figure.draw(doc, uniform=True)
    assert "shortened" not in uniform.axes[1].get_xlabel()


def test_a_workload_step_drawn():
    doc = workload_doc()
    fig, step = step_figure.draw(doc)
    ax, axu = fig.axes[:2]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fwd", "tp", "dp"]
    assert ax.get_title(loc="left").startswith("workload on ub-mesh-rack: makespan")
    assert len(step["ops"]) == 3 and {s[0] for s in step["slices"]} == {1, 2}
    lines = step_figure.utilisation_curves(doc["timeline"]["counters"])
    assert [label for label, _, _ in lines] == ["board", "rack"]
    board = lines[0]
    assert board[1].max() == pytest.approx(1.0)  # each ring's links run flat out
    assert (board[1] >= board[2]).all()  # the links in use, never below the whole class
    assert len(axu.get_lines()) == 2 * len(lines) + 2  # two curves per line, two legend keys


def test_identical_curves_share_a_line():
    counters = {"classes": ["up", "down", "x"], "time_s": [0.0, 1.0],
                "utilisation": [[0.1, 0.1, 0.0], [0.0, 0.0, 0.0]],
                "group_utilisation": [[0.9, 0.9, 0.0], [0.0, 0.0, 0.0]]}
    assert [k for k, _, _ in step_figure.utilisation_curves(counters)] == ["up = down"]


def test_the_command_and_bad_input(plan_path, tmp_path, capsys):
    png = tmp_path / "p.png"
    status, out, err = run_main(["plot", str(plan_path), "-o", str(png)], capsys)
    assert status == 0, err
    assert out.startswith(f"wrote {png} (") and "rows over time" in out
    assert png.read_bytes().startswith(b"\x89PNG")
    src = tmp_path / "w.json"
    src.write_text(json.dumps(workload_doc()))
    svg = tmp_path / "w.svg"
    assert run_main(["plot", str(src), "-o", str(svg), "--uniform-time"], capsys)[0] == 0
    assert svg.read_text().startswith("<?xml")
    old = {"kind": DOCUMENT_KIND, "ops": [], "makespan_s": 1.0}
    with pytest.raises(UbemuError, match="no timeline"):
        step_figure.draw(old)
