"""Draw a ubemu trace (Trace Event Format) as a self-contained HTML page with inline SVG.

A viewer for machines without network access to Perfetto: one row per operation track
(the operation's slice, its step slices inside), then one line chart per link-class
counter. Usage: ``python docs/tools/trace_view.py trace.json out.html``; then, for a
picture, ``chromium --headless --screenshot=out.png --window-size=1400,900 out.html``.
"""

import html
import json
import sys

WIDTH, ROW, CHART, LEFT = 1300, 34, 70, 150
COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]


def render(doc):
    events = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    slices = [e for e in events if e["ph"] == "X"]
    counters = {}
    for e in events:
        if e["ph"] == "C":
            counters.setdefault(e["name"], []).append((e["ts"], e["args"]["utilisation"]))
    topology = doc.get("otherData", {}).get("topology", "")
    end = max([e["ts"] + e["dur"] for e in slices] + [0]) or 1.0
    x = lambda ts: LEFT + (WIDTH - LEFT - 10) * ts / end  # noqa: E731
    rows = sorted(names)
    used = [c for c, pts in counters.items() if any(u > 0 for _, u in pts)]
    height = 40 + ROW * len(rows) + (CHART + 20) * len(used) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="15">{html.escape(topology)}'
           f' - makespan {end:.1f} us</text>']
    for i, tid in enumerate(rows):
        y = 35 + ROW * i
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<text x="10" y="{y + 20}">{html.escape(names[tid])}</text>')
        for e in (s for s in slices if s["tid"] == tid):
            steps = e.get("cat") == "steps"
            top, h = (y + 14, 14) if steps else (y + 2, 28)
            w = max(x(e["ts"] + e["dur"]) - x(e["ts"]), 0.5)
            out.append(f'<rect x="{x(e["ts"]):.1f}" y="{top}" width="{w:.1f}" height="{h}" '
                       f'fill="{colour}" fill-opacity="{0.9 if steps else 0.35}" '
                       f'stroke="white" stroke-width="0.5"><title>{html.escape(e["name"])} '
                       f'{e["dur"]:.2f} us</title></rect>')
    y0 = 45 + ROW * len(rows)
    for j, name in enumerate(used):
        y = y0 + (CHART + 20) * j
        pts = sorted(counters[name]) + [(end, 0.0)]
        path = []
        for (t0, u), (t1, _) in zip(pts, pts[1:]):
            yy = y + CHART - CHART * min(u, 1.0)
            path.append(f"{x(t0):.1f},{yy:.1f} {x(t1):.1f},{yy:.1f}")
        out.append(f'<text x="10" y="{y + CHART / 2}">{html.escape(name)} util</text>')
        out.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - 10}" height="{CHART}" '
                   f'fill="#f4f4f4"/>')
        out.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="#333"/>')
    axis_y = height - 12
    for k in range(6):
        ts = end * k / 5
        out.append(f'<text x="{x(ts):.0f}" y="{axis_y}" text-anchor="middle">{ts:.0f} us</text>')
    out.append("</svg>")
    return "<!doctype html><html><body style='margin:0'>" + "".join(out) + "</body></html>"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        page = render(json.load(f))
    with open(sys.argv[2], "w") as f:
        f.write(page)
