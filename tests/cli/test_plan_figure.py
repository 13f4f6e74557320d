"""``ubemu.cli.plan_figure``: a plan sweep drawn ranked, its parts stacked, memory against
capacity; rendered and its elements read back."""

import json

import pytest

from tests.cli.test_plan import SMALL  # a small GPT on ub-mesh-rack: fast to time
from tests.cli_helpers import run_main
from ubemu import cli
from ubemu.cli import plan_figure
from ubemu.errors import UbemuError

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def sweep_doc(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "sweep.json"
    status = cli.main(["plan", *SMALL, "--sweep", "--flops", "50e12", "--memory-gb", "0.3",
                       "--progress", "off", "-J", str(path)])
    assert status == 0
    return json.loads(path.read_text())


def test_parts_add_up_to_the_step(sweep_doc):
    for rep in sweep_doc["plans"]:
        p = plan_figure.plan_parts(rep, 0.3e9)
        assert sum(s for _, s in p["parts"]) == pytest.approx(rep["step_s"], rel=1e-9)
        names = [k for k, _ in p["parts"]]
        assert names[0] == "compute" and "other" not in names
        assert dict(p["parts"])["compute"] == pytest.approx(rep["compute_s"] - rep["bubble_s"])
        # the planner's verdict against the --memory-gb it was given (plans over it ranked last)
        assert p["capacity_bytes"] == pytest.approx(0.3e9)
        assert p["fits"] == rep["fits"] == (p["memory_bytes"] <= 0.3e9)
        assert p["label"].startswith(f"TP{rep['plan']['tp']} ")


def test_a_field_the_planner_adds_is_read_in_one_place():
    """A part of the step the record does not name is drawn as ``other``; a capacity and
    a verdict in the record win over the sweep's --memory-gb."""
    rep = {"plan": {"tp": 8, "pp": 2, "dp": 4}, "step_s": 1.0, "compute_s": 0.6,
           "bubble_s": 0.1, "axes": [{"axis": "tp", "exposed_s": 0.2}], "memory_bytes": 90e9,
           "capacity_bytes": 80e9}
    p = plan_figure.plan_parts(rep, 128e9)
    assert p["parts"] == [("compute", 0.5), ("bubble", 0.1), ("tp", 0.2),
                          ("other", pytest.approx(0.2))]
    assert (p["capacity_bytes"], p["fits"], p["label"]) == (80e9, False, "TP8 PP2 DP4")
    assert plan_figure.plan_parts({**rep, "fits": True})["fits"] is True


def test_the_sweep_drawn(sweep_doc):
    n = len(sweep_doc["plans"])
    fig, shown = plan_figure.draw(sweep_doc, top=5)
    ax, axe, axm = fig.axes
    assert shown == 5 < n
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{k + 1}. " + plan_figure.plan_parts(r)["label"]
                      for k, r in enumerate(sweep_doc["plans"][:5])]
    parts = [plan_figure.plan_parts(r)["parts"] for r in sweep_doc["plans"][:5]]
    assert len(ax.patches) == sum(len(p) for p in parts)  # one stacked piece per part
    assert len(axe.patches) == sum(k not in ("compute", "bubble") for p in parts for k, _ in p)
    assert len(axm.patches) == 5
    texts = [t.get_text() for t in ax.texts]
    assert texts[0].endswith("ms (fastest)") and all("%)" in t for t in texts[1:])
    widths = [sum(s for _, s in p) * 1e3 for p in parts]
    assert [ax.patches[k].get_x() + ax.patches[k].get_width() for k in
            [sum(len(p) for p in parts[:i + 1]) - 1 for i in range(5)]] == \
        pytest.approx(widths)  # each bar ends at its step time
    (cap,) = axm.get_lines()
    assert cap.get_xdata()[0] == pytest.approx(0.3)  # --memory-gb 0.3: the capacity line
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["compute", "pipeline bubble"] and "capacity 0.3 GB" in legend
    assert any(lab.startswith("exposed ") for lab in legend)
    assert [a.get_xlabel() for a in fig.axes] == ["step time (ms)", "exposed communication (ms)",
                                                  "memory per NPU (GB)"]


def test_plans_that_do_not_fit_are_hatched(sweep_doc):
    doc = {**sweep_doc, "command": {**sweep_doc["command"], "memory_gb": None},
           "plans": [{**{k: v for k, v in r.items() if k != "fits"},
                      "capacity_bytes": 0.15e9} for r in sweep_doc["plans"]]}
    fig, n = plan_figure.draw(doc)
    over = [r["memory_bytes"] > 0.15e9 for r in doc["plans"][:n]]
    assert 0 < sum(over) < n
    hatched = [p.get_hatch() == "//" for p in fig.axes[2].patches]
    assert hatched == over
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "needs more memory than the capacity" in legend


def test_the_command_and_bad_input(sweep_doc, tmp_path, capsys):
    src = tmp_path / "s.json"
    src.write_text(json.dumps(sweep_doc))
    png = tmp_path / "s.png"
    status, out, err = run_main(["plot", str(src), "-o", str(png), "--top", "3"], capsys)
    assert status == 0, err
    assert out == f"wrote {png} (3 of {len(sweep_doc['plans'])} plans ranked)\n"
    assert png.read_bytes().startswith(b"\x89PNG")
    status, _, err = run_main(["plot", str(src), str(src), "-o", str(png)], capsys)
    assert status == 2 and "drawn alone" in err
    status, _, err = run_main(["plot", str(src), "-o", str(png), "--log"], capsys)
    assert (status, err) == (2, "ubemu: error: plot: --log does not apply to a 'ubemu plan "
                                "--sweep' document\n")
    with pytest.raises(UbemuError, match="no timed plan"):
        plan_figure.draw({**sweep_doc, "plans": []})
    with pytest.raises(UbemuError, match="--top: must be >= 1"):
        plan_figure.draw(sweep_doc, top=0)
