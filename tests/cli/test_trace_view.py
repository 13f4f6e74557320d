"""``ubemu.cli.trace_view``: a --trace file as an interactive page. The page's data is read
back in Python; its drawing (``trace_view.js``) is run under node for whole and zoomed
windows and the SVG's elements are counted and measured."""

import json
import re
import shutil
import subprocess

import pytest

from tests.cli_helpers import run_main
from ubemu.cli import trace_view
from ubemu.cli.trace import trace_events
from ubemu.errors import UbemuError
from ubemu.workloads.ops import Op
from ubemu.workloads.run import run_workload

NODE = shutil.which("node")


@pytest.fixture(scope="module")
def trace_doc():
    """A long compute with a short pipeline send after it: 0.05 % of the step."""
    res = run_workload([Op("fwd", "compute", duration_s=0.1),
                        Op("tp", "all_reduce", 2**24, group="unit=board", every=True,
                           algorithm="ring", after=("fwd",)),
                        Op("pp", "sendrecv", 2**14, group="one_per=board", every=True,
                           after=("tp",))], "ub-mesh-rack")
    return {"traceEvents": trace_events(res), "otherData": {"makespan_s": res.makespan_s,
                                                            "topology": res.topology}}


def test_digest(trace_doc):
    data = trace_view.digest(trace_doc)
    assert [t["name"] for t in data["tracks"]] == ["fwd", "tp", "pp"]
    assert [t["compute"] for t in data["tracks"]] == [True, False, False]
    tp = data["tracks"][1]["slices"]
    assert tp[0][2] == "tp" and not tp[0][3] and all(s[3] for s in tp[1:])  # op, then runs
    assert data["end"] == pytest.approx(trace_doc["otherData"]["makespan_s"] * 1e6)
    names = [c["name"] for c in data["counters"]]
    assert names == ["board", "rack"]  # the classes that carried bytes
    board = data["counters"][0]
    assert max(board["group"]) == pytest.approx(1.0) and max(board["whole"]) < 0.2
    with pytest.raises(UbemuError, match="no traceEvents"):
        trace_view.digest({"records": []})


def test_the_page_embeds_the_data_and_the_script(trace_doc):
    text = trace_view.page(trace_doc)
    assert text.startswith("<!doctype html>") and "function render(" in text
    data = re.search(r"start\((\{.*\})\);</script>", text).group(1)
    assert json.loads(data.replace("<\\/", "</")) == trace_view.digest(trace_doc)
    for control in ('id="fit"', 'id="comm"', 'id="zin"', 'id="zout"', "id='view'"):
        assert control in text


def _render(data, t0, t1, width=1200):
    script = (f"const v = require({json.dumps(str(trace_view.SCRIPT))});"
              f"process.stdout.write(v.render({json.dumps(data)}, {t0}, {t1}, {width}));")
    run = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _slices(svg):
    return [(float(x), float(w)) for x, w in
            re.findall(r'<rect class="slice" x="([\d.-]+)" y="[\d.]+" width="([\d.]+)"', svg)]


@pytest.mark.skipif(NODE is None, reason="the page's drawing runs under node (not installed)")
def test_whole_and_zoomed_windows_drawn(trace_doc):
    data = trace_view.digest(trace_doc)
    end = data["end"]
    whole = _render(data, 0, end)
    n = sum(len(t["slices"]) for t in data["tracks"])
    slices = _slices(whole)
    assert len(slices) == n  # every slice is in the whole window
    assert min(w for _, w in slices) >= 2.0  # the pipeline send, 0.05 % of the step: 2 px
    assert [m for m in re.findall(r'class="track"[^>]*>([^<]+)<', whole)] == ["fwd", "tp", "pp"]
    assert len(re.findall(r'<polyline class="group"', whole)) == len(data["counters"])
    assert len(re.findall(r'<polyline class="whole"', whole)) == len(data["counters"])
    assert "fwd 100.0 ms" in whole  # the compute's label fits; the short ones do not
    ticks = re.findall(r'class="tick"[^>]*>([^<]+)<', whole)
    assert ticks[0] == "0 ms" and len(ticks) >= 4
    # zoomed on the communication after the compute: the compute touches the window's edge
    zoom = _render(data, 0.1e6, end)
    inside = _slices(zoom)
    assert len(inside) == n and inside[0] == (179.0, 2.0)  # the compute: clamped, 2 px
    assert all(179.0 <= x and x + w <= 1185.0 for x, w in inside)
    assert max(w for _, w in inside) > 900  # the ring all-reduce fills the window
    # zoomed on the pipeline send: wide, labelled
    ts, dur = data["tracks"][2]["slices"][0][:2]
    close = _render(data, ts - dur / 10, ts + dur * 1.1)
    (send, run) = _slices(close)[-2:]
    assert send[1] > 800 and run[1] > 800
    assert re.search(r'class="label"[^>]*>pp [\d.]+ us<', close)
    assert re.search(r"view ([\d.]+ us) of ", close).group(1) == f"{dur * 1.2:.4g} us"


def test_the_command(trace_doc, tmp_path, capsys):
    src = tmp_path / "trace.json"
    src.write_text(json.dumps(trace_doc))
    out_html = tmp_path / "view.html"
    status, out, err = run_main(["plot", str(src), "-o", str(out_html)], capsys)
    assert status == 0, err
    assert out == f"wrote {out_html} (interactive page: 3 tracks, 2 link-class counters)\n"
    assert out_html.read_text().startswith("<!doctype html>")
    status, _, err = run_main(["plot", str(src), "-o", str(tmp_path / "v.png")], capsys)
    assert status == 2 and "give a .html file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.json", "view.html"]
