"""``--faults`` / ``--routing`` on the commands and the ``ubemu faults`` sweep."""

import json

import pytest

from tests.cli_helpers import assert_one_error_line, run_main, table_rows
from ubemu.api import simulate


def test_a_collective_under_faults_reports_them_and_matches_simulate(capsys):
    status, out, err = run_main(["all_reduce", "--topo", "ub-mesh-rack", "-b", "1M", "-e", "1M",
                                 "--algo", "ring", "--faults", "link=board:0-1", "--routing",
                                 "apr"], capsys)
    assert status == 0, err
    assert "# Faults (apr routing): failed links board 1" in out
    want = simulate("all_reduce", 1 << 20, "ub-mesh-rack", "ring", faults="link=board:0-1",
                    routing="apr")
    assert table_rows(out)[0]["time"] == pytest.approx(want.time_s * 1e6, rel=1e-3)


def test_a_route_across_a_failure_is_refused_in_one_line(capsys):
    """Which routes cross a failure is known once they are routed: the header is out."""
    status, _, err = run_main(["all_reduce", "-b", "1M", "-e", "1M", "--algo", "ring",
                               "--faults", "link=board:0-1"], capsys)
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "routing minimal: NPU 0 -> NPU 1 crosses the failed board link" in err


@pytest.mark.parametrize("argv, words", [
    (["all_reduce", "--faults", "lonks=2"], "did you mean 'links'"),
    (["all_reduce", "--faults", "npu=3,spare=off"], "NPU 3 of the group failed"),
    (["all_reduce", "--routing", "best"], "invalid choice"),
    (["topo", "show", "ub-mesh-rack", "--faults", "link=board:0-9"], "not joined"),
    (["faults", "all_reduce", "--links", "1,x"], "--links"),
    (["faults", "all_reduce", "--links", "1000"], "more than")])
def test_bad_fault_input_is_one_line(argv, words, capsys):
    status, out, err = run_main(argv + ["-b", "1M"] if argv[0] == "all_reduce" else argv,
                                capsys)
    assert_one_error_line(status, out, err)
    assert words in err


def test_topo_show_reports_what_is_down_and_what_it_costs(capsys):
    status, out, _ = run_main(["topo", "show", "ub-mesh-pod", "--faults",
                               "link=row:0-64,npu=5"], capsys)
    assert status == 0
    assert "failed links: row 1" in out and "failed NPUs: 5" in out
    assert "(served by their rack's spare: 5)" in out and "bisection" in out
    status, out, _ = run_main(["topo", "show", "ub-mesh-pod", "--json", "--faults",
                               "link=row:0-64"], capsys)
    doc = json.loads(out)["faults"]
    assert doc["failed_links"] == {"row": 1} and doc["bisection_lost_GBps"] == 0


def test_the_sweep_prints_medians_writes_json_as_it_goes_and_plots(tmp_path, capsys):
    path = tmp_path / "f.json"
    status, out, err = run_main(["faults", "all_reduce", "--topo", "ub-mesh-rack", "-b", "1G",
                                 "--algo", "ring", "--links", "0,2,8", "--seeds", "3", "-J",
                                 str(path)], capsys)
    assert status == 0, err
    rows = [line.split() for line in out.splitlines() if not line.startswith("#")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("0", "minimal", "1"), ("0", "apr", "1"), ("2", "minimal", "3"), ("2", "apr", "3"),
        ("8", "minimal", "3"), ("8", "apr", "3")]
    doc = json.loads(path.read_text())
    assert doc["complete"] and len(doc["records"]) == 14
    intact = simulate("all_reduce", 1 << 30, "ub-mesh-rack", "ring").time_s
    assert float(rows[0][4]) == pytest.approx(intact * 1e6, rel=1e-3)
    apr = [r for r in doc["records"] if r["routing"] == "apr" and r["failed"]]
    assert all(r["time_s"] >= intact for r in apr)  # detours never beat the intact rack
    assert int(rows[1][3]) == 0 and int(rows[5][3]) == 0  # apr refuses nothing here
    png = tmp_path / "f.png"
    pytest.importorskip("matplotlib")
    status, out, err = run_main(["plot", str(path), "-o", str(png)], capsys)
    assert status == 0, err
    assert png.stat().st_size > 1000 and "time against failed links" in out


def _faults_document(counts, refused_from, runs=3):
    """A ``ubemu faults -J`` document: both routings at every count, every run refused from
    ``refused_from`` failures on (``minimal`` from 1), times growing with the count."""
    records = []
    for c in counts:
        for routing in ("minimal", "apr"):
            for seed in range(runs if c else 1):
                ok = c < refused_from and (routing == "apr" or c == 0)
                records.append({"failed": c, "seed": seed, "routing": routing,
                                "time_s": (100 + 3 * c + seed) * 1e-6 if ok else None})
    return {"kind": "ubemu faults", "collective": "alltoall", "nbytes": 65536,
            "algorithm": "direct", "what": "links", "topology": {"name": "torus-8x8"},
            "records": records}


@pytest.mark.parametrize("counts, refused_from", [
    ((0, 1, 4, 16, 64), 100),                                # the README's: minimal refused
    ((0, 1, 2, 4, 8, 32, 64, 128), 32),                      # the largest counts all refused
    (tuple(range(0, 21)) + (40, 41, 42), 3),                 # crowded labels: stacked
])
def test_refused_labels_stay_inside_the_axes_off_the_data_and_apart(tmp_path, counts,
                                                                    refused_from):
    from ubemu.cli.faults import draw
    from ubemu.cli.plot import save_figure

    fig = draw(_faults_document(counts, refused_from))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    n_refused = sum(1 for c in counts if c) + sum(1 for c in counts if c >= refused_from)
    assert len(labels) == n_refused
    for k, lab in enumerate(labels):
        assert box.x0 <= lab.x0 and lab.x1 <= box.x1 and box.y0 <= lab.y0 and lab.y1 <= box.y1
        assert not any(lab.overlaps(other) for other in labels[k + 1:])
    data = [line for line in ax.lines if line.get_marker() != "x"]  # medians and worst
    data_y = [y for line in data for _, y in ax.transData.transform(line.get_xydata())]
    assert data_y and max(lab.y1 for lab in labels) < min(data_y)  # every label below the data
    png = tmp_path / "f.png"
    save_figure(fig, png)
    from matplotlib.image import imread

    height, width = imread(png).shape[:2]
    assert width <= 7 * 120 and height <= 4.2 * 120  # the figure keeps its size
