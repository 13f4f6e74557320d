"""Plots from hand-built records: PNG files appear; a missing matplotlib is a clear error."""

import sys

import pytest

from ubemu import plot, report
from ubemu.errors import UbemuError
from ubemu.result import ClassUsage, Result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def records(algorithms=("ring", "tree"), sizes=(1024, 4096, 16384)):
    out = []
    for k, alg in enumerate(algorithms):
        for s in sizes:
            usage = [ClassUsage("board", 0, s * 2.0, 1e-6, 0.9 - 0.2 * k),
                     ClassUsage("rack", 1, s * 1.0, 5e-7, 0.4)]
            r = Result("all_reduce", alg, "ub-mesh-rack", 64, s, s // 4, "float32", "sum",
                       time_s=1e-6 * (k + 1) + s / 1e11, n_steps=4, usage=usage,
                       bottleneck="board")
            out.append(report.record(r))
    return out


def _is_png(path):
    data = path.read_bytes()
    return len(data) > len(PNG_SIGNATURE) and data.startswith(PNG_SIGNATURE)


def test_series_grouping():
    recs = records() + [dict(records()[0], dtype="bfloat16")]
    series = plot.group_series(recs)
    assert len(series) == 3
    ring = series["all_reduce ring on ub-mesh-rack (64 ranks)"]
    assert [n for n, _ in ring] == [1024, 4096, 16384]
    assert "all_reduce ring on ub-mesh-rack (64 ranks) [bfloat16]" in series


@pytest.mark.parametrize("metric", ["busbw", "time"])
def test_sweep_plot_writes_png(tmp_path, metric):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{metric}.png"
    summary = plot.plot_sweep(records(), out, metric=metric)
    assert _is_png(out)
    assert summary.startswith("2 series, 6 points")


def test_utilisation_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "util.png"
    assert plot.plot_utilisation(records(), out) == "2 runs x 2 link classes at 16384 B"
    assert _is_png(out)
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
