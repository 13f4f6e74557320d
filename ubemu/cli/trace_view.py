"""A ``--trace`` file as one self-contained HTML page with zoom and pan (``ubemu plot
TRACE.json -o view.html``), for machines without Perfetto (ui.perfetto.dev opens the same
file where it can be reached).

:func:`digest` reads the Trace Event Format document ``ubemu.cli.trace`` writes (a track per
operation with its slices, a counter per link class) into the few arrays the page draws; the
page holds them and ``trace_view.js``, whose ``render`` draws any time window as SVG (no
slice narrower than 2 pixels, so a pipeline send of 0.05 ms in a 1.6 s step stays visible),
and whose controls zoom (wheel, W/S, buttons) and pan (drag, A/D); F fits the whole step, C
the span of the communication. The window is kept in the address (``#t0=..&t1=..``, in
microseconds), so a view can be bookmarked or opened by a headless browser.
"""

import html
import json
from pathlib import Path

from ..errors import UbemuError
from .results import check_outputs, replace_atomically

#: The drawing and the controls, embedded in every page.
SCRIPT = Path(__file__).with_name("trace_view.js")


def digest(doc):
    """The page's data from a Trace Event Format document: ``title``, ``end`` (us),
    ``tracks`` (``name``, ``compute``, ``slices`` of ``[ts, dur, name, inner]``) and
    ``counters`` (``name``, ``t``, ``group``, ``whole``) of the classes that carried bytes,
    classes with identical curves merged (``rack.up = rack.down``)."""
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        raise UbemuError("plot: not a Trace Event Format document (no traceEvents list)")
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    tracks = {tid: {"name": name, "compute": False, "slices": []}
              for tid, name in sorted(names.items())}
    end = 0.0
    for e in events:
        if e.get("ph") != "X" or e.get("tid") not in tracks:
            continue
        inner = e.get("cat") == "steps"
        tracks[e["tid"]]["slices"].append([e["ts"], e["dur"], e["name"], inner])
        tracks[e["tid"]]["compute"] |= e.get("cat") == "compute"
        end = max(end, e["ts"] + e["dur"])
    counters = {}
    for e in (e for e in events if e.get("ph") == "C"):
        c = counters.setdefault(e["name"], {"name": e["name"], "t": [], "group": [],
                                            "whole": []})
        c["t"].append(e["ts"])
        c["whole"].append(e["args"].get("utilisation", 0.0))
        c["group"].append(e["args"].get("group_utilisation", c["whole"][-1]))
    merged = []  # classes with the same curves (a switch's up and down links) share a chart
    for c in (c for c in counters.values() if any(c["whole"])):
        same = next((m for m in merged if all(m[k] == c[k] for k in ("t", "group", "whole"))),
                    None)
        if same is None:
            merged.append(c)
        else:
            same["name"] += f" = {c['name']}"
    other = doc.get("otherData", {})
    end = max(end, other.get("makespan_s", 0.0) * 1e6) or 1.0
    return {"title": f"{other.get('topology', '')}: makespan {end / 1e3:.4g} ms",
            "end": end, "tracks": list(tracks.values()),
            "counters": merged}


def page(doc):
    """The viewer of ``doc`` as an HTML page (a string)."""
    digested = digest(doc)
    data = json.dumps(digested, separators=(",", ":")).replace("</", "<\\/")
    buttons = "".join(f'<button id="{k}">{v}</button> ' for k, v in (
        ("fit", "fit (F)"), ("comm", "communication (C)"), ("zin", "zoom in (W)"),
        ("zout", "zoom out (S)")))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(digested['title'])}</title></head>"
            "<body style='margin:8px;font-family:sans-serif'>"
            f"<div>{buttons}<span style='color:#666;font-size:12px'>wheel: zoom at the "
            "cursor; drag or A/D: pan</span></div><div id='view' style='user-select:none'>"
            f"</div><script>{SCRIPT.read_text()}\nstart({data});</script></body></html>")


def plot(doc, args):
    """``ubemu plot TRACE.json -o view.html``: write the page; returns a summary."""
    if Path(args.output).suffix.lower() != ".html":
        raise UbemuError(f"-o/--output: a trace is drawn as an interactive page; give a "
                         f".html file, got {str(args.output)!r}")
    check_outputs([("-o/--output", args.output)], [("the input", f) for f in args.files])
    text = page(doc)
    replace_atomically(args.output, lambda f: f.write(text), "-o/--output")
    data = digest(doc)
    return (f"interactive page: {len(data['tracks'])} tracks, {len(data['counters'])} "
            f"link-class counters")
