"""``ubemu.cli.plot``: the ``plot`` command and its drawing, from hand-built records."""

import json
import sys

import pytest

from tests.cli_helpers import assert_one_error_line, install_fake_simulate, run_main
from ubemu.cli import plot, results
from ubemu.errors import UbemuError
from ubemu.result import ClassUsage, Result

pytest.importorskip("matplotlib")  # the dev extra installs it; `ubemu[plot]` for users
SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF"}


def records(algorithms=("ring", "tree"), sizes=(1024, 4096, 16384), requested=None):
    out = []
    for k, alg in enumerate(algorithms):
        for s in sizes:
            usage = [ClassUsage("board", 0, s * 2.0, 1e-6, 0.9 - 0.2 * k),
                     ClassUsage("rack", 1, s * 1.0, 5e-7, 0.4)]
            r = Result("all_reduce", alg, "ub-mesh-rack", 64, s, s // 4, "float32", "sum",
                       time_s=1e-6 * (k + 1) + s / 1e11, n_steps=4, usage=usage,
                       bottleneck="board")
            out.append(results.record(r, requested_algorithm=requested or alg))
    return out


def auto_records():
    """An auto sweep that picked ring at the small sizes and direct at the large ones."""
    small = records(("ring",), (1024, 4096), requested="auto")
    large = records(("direct",), (16384, 65536), requested="auto")
    return small + large


def test_series_grouping():
    recs = records() + [dict(records()[0], dtype="bfloat16")]
    series = plot.group_series(recs)
    assert len(series) == 3
    ring = series["all_reduce ring on ub-mesh-rack (64 ranks)"]
    assert [n for n, _ in ring] == [1024, 4096, 16384]
    assert "all_reduce ring on ub-mesh-rack (64 ranks) [bfloat16]" in series


def test_auto_sweep_is_one_line_annotated_where_the_pick_changes():
    series = plot.group_series(auto_records())
    assert list(series) == ["all_reduce auto on ub-mesh-rack (64 ranks)"]
    fig = plot.draw_sweep(auto_records())
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 1 and len(ax.get_lines()[0].get_xdata()) == 4
    assert [t.get_text() for t in ax.texts] == ["ring", "direct"]
    assert ax.get_legend().get_texts()[0].get_text() == "all_reduce auto on ub-mesh-rack " \
                                                        "(64 ranks)"


def test_axis_labels_in_powers_of_1024():
    fig = plot.draw_sweep(records(sizes=(1024, 1 << 20, 1 << 30)))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 KiB", "1 MiB", "1 GiB"]
    assert ax.get_xlabel() == "size (1 KiB = 1024 B)"
    assert ax.get_ylabel() == "bus bandwidth (GB/s)"
    fig = plot.draw_sweep(records(), metric="time")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "time (us)" and ax.get_yscale() == "log"
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx((1e-6 + 1024 / 1e11) * 1e6)
    fig, nbytes, _, _ = plot.draw_utilisation(records(), nbytes=4096)
    assert fig.axes[0].get_title() == "link-class utilisation at 4 KiB"


def test_busbw_on_a_log_axis_on_request(tmp_path):
    assert plot.draw_sweep(records()).axes[0].get_yscale() == "linear"
    ax = plot.draw_sweep(records(), log=True).axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert ax.get_ylabel() == "bus bandwidth (GB/s)"
    summary = plot.plot_sweep(records(), tmp_path / "b.png", log=True)
    assert summary == "2 series, 6 points, busbw, log scale"


def test_utilisation_bars_beside_the_group_outline():
    recs = records(("ring",), (1024,))
    for u in recs[0]["usage"]:
        u.update(group_utilisation=0.99, links=64, links_used=8)
    fig, _, n_runs, n_classes = plot.draw_utilisation(recs)
    ax = fig.axes[0]
    filled = [p for p in ax.patches if p.get_fill()]
    outlined = [p for p in ax.patches if not p.get_fill() and p.get_width() > 0]
    assert [p.get_height() for p in filled] == pytest.approx([90.0, 40.0])
    assert [p.get_height() for p in outlined] == pytest.approx([99.0, 99.0])
    assert [t.get_text() for t in ax.texts] == ["90", "40"]  # the machine-wide values
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["all_reduce ring on ub-mesh-rack (64 ranks)",
                      "outline: over the links used"]


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_format_follows_the_extension(tmp_path, fmt):
    out = tmp_path / f"busbw.{fmt.upper() if fmt == 'pdf' else fmt}"
    summary = plot.plot_sweep(records(), out, metric="busbw")
    assert out.read_bytes().startswith(SIGNATURES[fmt])
    assert summary.startswith("2 series, 6 points")
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_utilisation_plot(tmp_path):
    out = tmp_path / "util.png"
    assert plot.plot_utilisation(records(), out) == "2 runs x 2 link classes at 16384 B"
    assert out.read_bytes().startswith(SIGNATURES["png"])
    with pytest.raises(UbemuError, match="no run of 999 B; valid: 1024, 4096, 16384"):
        plot.plot_utilisation(records(), out, nbytes=999)


def test_bad_plot_input(tmp_path):
    with pytest.raises(UbemuError, match="unknown metric 'speed'; valid: busbw"):
        plot.plot_sweep(records(), tmp_path / "x.png", metric="speed")
    with pytest.raises(UbemuError, match="no records"):
        plot.plot_sweep([], tmp_path / "x.png")
    bare = [dict(r, usage=[]) for r in records()]
    with pytest.raises(UbemuError, match="no link-class usage"):
        plot.plot_utilisation(bare, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(UbemuError, match=r"pip install 'ubemu\[plot\]'"):
        plot.plot_sweep(records(), tmp_path / "x.png")


# -- the command ----------------------------------------------------------------------------
@pytest.fixture
def sweep_json(monkeypatch, capsys, tmp_path):
    install_fake_simulate(monkeypatch)
    path = tmp_path / "r.json"
    assert run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "1M", "-f", "4",
                     "-J", str(path)], capsys)[0] == 0
    return path


def test_plot_command(sweep_json, capsys, tmp_path):
    png = tmp_path / "p.png"
    status, out, _ = run_main(["plot", str(sweep_json), "-o", str(png)], capsys)
    # the stand-in's auto picks ring, then direct: still one line
    assert status == 0 and out.startswith(f"wrote {png} (1 series, 6 points")
    assert png.read_bytes().startswith(SIGNATURES["png"])
    status, out, _ = run_main(["plot", str(sweep_json), "-o", str(png), "--utilisation",
                               "--size", "4K"], capsys)
    assert status == 0 and "at 4096 B" in out
    status, out, _ = run_main(["plot", str(sweep_json), "-o", str(png), "--log"], capsys)
    assert status == 0 and out.rstrip().endswith("points, busbw, log scale)")
    status, out, err = run_main(["plot", str(sweep_json), "-o", str(png), "--top", "3"], capsys)
    assert_one_error_line(status, out, err, "ubemu: error: plot: --top does not apply to the "
                                            "records of a size sweep")


@pytest.mark.parametrize("output, message", [
    ("x.txt", "-o/--output: cannot tell the format of '{dir}/x.txt' from its extension; "
              "valid: .png, .svg, .pdf"),
    ("x", "-o/--output: cannot tell the format of '{dir}/x' from its extension"),
    ("no/such/dir/x.png", "-o/--output: cannot write '{dir}/no/such/dir/x.png' (No such file"),
])
def test_bad_output_is_refused_before_drawing(sweep_json, capsys, tmp_path, output, message):
    before = sorted(p.name for p in tmp_path.iterdir())
    status, out, err = run_main(["plot", str(sweep_json), "-o", str(tmp_path / output)],
                                capsys)
    assert_one_error_line(status, out, err,
                          "ubemu: error: " + message.format(dir=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unreadable_input(capsys, tmp_path):
    status, out, err = run_main(["plot", str(tmp_path / "none.json"), "-o",
                                 str(tmp_path / "p.png")], capsys)
    assert_one_error_line(status, out, err)
    assert "cannot read result file" in err
    (tmp_path / "bad.json").write_text(json.dumps({"records": [{"collective": "x"}]}))
    status, out, err = run_main(["plot", str(tmp_path / "bad.json"), "-o",
                                 str(tmp_path / "p.png")], capsys)
    assert_one_error_line(status, out, err)
    assert "record 0 lacks field" in err
