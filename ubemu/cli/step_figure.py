"""The picture of one step (``ubemu plan -J`` or ``ubemu workload -J``): a Gantt chart of the
operations over time, link-class utilisation under it.

One row per parallel axis of a plan (``compute``, ``tp``, ``cp``, ``ep``, ``pp``, ``dp``) or
per operation of a workload; each operation a bar with its name and length, its runs of
equal steps drawn inside it. Under it, per link class that carried bytes, the utilisation of
the links carrying traffic at each moment (solid) and of the whole class (dotted); classes
with the same curves (a switch's up and down links) share one line.

Short operations stay visible: no bar is drawn narrower than :data:`MIN_WIDTH` of the axis,
and a span in which only compute runs that is longer than half the step (a plan's forward
and backward passes fill 93 % of it) is drawn shortened to :data:`SHORT` of the rest, marked
with a break and its real length (``uniform=True`` draws time uniformly).
"""

import textwrap

import numpy as np

from ..errors import UbemuError
from ..training.planner import AXES, axis_of
from ..workloads.intervals import union
from .drawing import pyplot
from .table import format_number

#: Narrowest bar, as a fraction of the axis width.
MIN_WIDTH = 0.004
#: A compute-only span longer than this fraction of the step is shortened ...
LONG = 0.5
#: ... to this fraction of the length of the rest of the step.
SHORT = 0.12
#: Width of one character of a bar's label, as a fraction of the axis width.
CHAR_WIDTH = 0.0058
#: Colours of the rows, in order; compute is grey.
COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f"]
COMPUTE = "compute"
GREY = "#bab0ac"


def step_of(doc):
    """What the picture needs from a plan or workload document: ``title``, ``rows`` (names,
    top to bottom), ``ops`` (``(row, name, collective, start_s, end_s)``), ``slices``
    (``(op index, start_s, end_s)``) and the ``counters`` of the timeline."""
    plan = doc.get("report")
    tl = (plan or doc).get("timeline")
    if tl is None:
        raise UbemuError("plot: the document has no timeline (written by an older ubemu); "
                         "run ubemu plan / ubemu workload -J again")
    cols = tl["ops"]
    names = cols["name"]
    rows_of = [axis_of(n) if plan else n for n in names]
    order = [COMPUTE, *AXES] if plan else names
    rows = [r for r in order if r in rows_of]
    rows += [r for r in dict.fromkeys(rows_of) if r not in rows]
    ops = list(zip(rows_of, names, cols["collective"], cols["start_s"], cols["end_s"]))
    sl = tl["slices"]
    slices = list(zip(sl["op"], sl["start_s"], sl["end_s"]))
    topo = doc.get("topology")
    topo = topo.get("name", "") if isinstance(topo, dict) else topo or ""
    if plan:
        p = plan["plan"]
        title = (f"{plan['model']['name']} {'TP{tp} PP{pp} DP{dp}'.format(**p)}"
                 + "".join(f" {k.upper()}{p[k]}" for k in ("ep", "cp") if p.get(k, 1) > 1)
                 + f" on {topo}: step {_ms(plan['step_s'])}, exposed communication "
                   f"{_ms(plan['exposed_s'])}")
    else:
        title = (f"workload on {topo}: makespan {_ms(doc['makespan_s'])}, exposed "
                 f"communication {_ms(doc['exposed_s'])}")
    return {"title": title, "rows": rows, "ops": ops, "slices": slices,
            "counters": tl["counters"]}


def _ms(seconds):
    return f"{format_number(seconds * 1e3)} ms" if seconds >= 1e-3 else \
        f"{format_number(seconds * 1e6)} us"


class TimeAxis:
    """Time -> drawn position, piecewise linear: compute-only spans longer than
    :data:`LONG` of the step are drawn shortened (see the module docstring)."""

    def __init__(self, ops, end_s, uniform=False):
        comm = union([(s, e) for _, _, c, s, e in ops if c != COMPUTE and e > s])
        gaps, t = [], 0.0
        for s, e in comm + [(end_s, end_s)]:
            if s > t:
                gaps.append((t, s))
            t = max(t, e)
        long = [] if uniform or not comm else [g for g in gaps if g[1] - g[0] > LONG * end_s]
        rest = end_s - sum(e - s for s, e in long)
        knots_t, knots_x, x = [0.0], [0.0], 0.0
        for s, e in long:
            x += s - knots_t[-1]
            knots_t += [s, e]
            knots_x += [x, x + SHORT * rest]
            x += SHORT * rest
        knots_t.append(end_s)
        knots_x.append(x + end_s - knots_t[-2])
        self.knots_t, self.knots_x, self.breaks = np.array(knots_t), np.array(knots_x), long
        self.end_s, self.width = end_s, knots_x[-1]

    def __call__(self, t):
        return np.interp(t, self.knots_t, self.knots_x)

    def ticks(self, scale):
        """(positions, labels) of round times outside the shortened spans, in ``scale``
        units (1e3: ms, 1e6: us)."""
        step = _nice(self.width / 8)
        ts = np.arange(0.0, self.end_s * (1 + 1e-9), step)
        keep = [t for t in ts if not any(s + 0.02 * (e - s) < t < e - 0.02 * (e - s)
                                         for s, e in self.breaks)]
        ends = [t for s, e in self.breaks for t in (s, e)]
        ticks = sorted(set(keep) | set(ends))
        pos = self(np.array(ticks))
        out_t, out_x = [], []
        for t, x in zip(ticks, pos):  # drop a tick crowding the previous one
            if out_x and x - out_x[-1] < 0.06 * self.width:
                if t in ends:
                    out_t[-1], out_x[-1] = t, x
                continue
            out_t.append(t)
            out_x.append(x)
        return out_x, [format_number(t * scale) for t in out_t]


def _nice(x):
    """A round step (1, 2 or 5 times a power of ten) near ``x``."""
    if x <= 0:
        return 1.0
    p = 10 ** np.floor(np.log10(x))
    return float(min((m * p for m in (1, 2, 5, 10)), key=lambda v: abs(v - x)))


def draw(doc, title=None, uniform=False):
    """The figure of a plan's or workload's step (see the module docstring).

    Returns
    -------
    (Figure, dict)
        The figure and what it shows (:func:`step_of`).
    """
    step = step_of(doc)
    ops, rows = step["ops"], step["rows"]
    end = max((e for *_, e in ops), default=0.0)
    if end <= 0:
        raise UbemuError("plot: the step takes no time")
    axis = TimeAxis(ops, end, uniform)
    scale, unit = (1e3, "ms") if end >= 1e-2 else (1e6, "us")
    lines = utilisation_curves(step["counters"])
    plt = pyplot()
    fig, (ax, axu) = plt.subplots(2, 1, sharex=True, figsize=(12, 1.6 + 0.45 * len(rows) + 2.6),
                                  gridspec_kw={"height_ratios": (0.45 * len(rows) + 0.6, 2.4),
                                               "hspace": 0.08})
    _draw_ops(ax, axis, step, scale)
    times = axis(np.asarray(step["counters"]["time_s"], float))
    for n, (label, group, whole) in enumerate(lines):
        colour = COLOURS[n % len(COLOURS)]
        lw = 1.2 + 0.6 * (len(lines) - 1 - n)  # lines drawn later are thinner: none hidden
        axu.step(times, group * 100, where="post", color=colour, lw=lw, label=label)
        axu.step(times, whole * 100, where="post", color=colour, lw=lw * 0.8, ls=":")
    axu.plot([], [], color="black", lw=1.2, label="links in use")
    axu.plot([], [], color="black", lw=0.9, ls=":", label="whole class")
    axu.set_ylim(0, 108)
    axu.set_ylabel("link utilisation (%)")
    axu.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    axu.grid(True, alpha=0.3)
    for s, e in axis.breaks:
        for a in (ax, axu):
            a.axvspan(axis(s), axis(e), color="#f2f2f2", zorder=0)
    pos, labels = axis.ticks(scale)
    axu.set_xticks(pos, labels)
    axu.set_xlim(0, axis.width)
    axu.set_xlabel(f"time ({unit})" + ("; grey: compute-only span drawn shortened"
                                       if axis.breaks else ""))
    ax.set_title(title or "\n".join(textwrap.wrap(step["title"], 120)), fontsize=10,
                 loc="left")
    return fig, step


def utilisation_curves(counters):
    """``[(label, group curve, whole-class curve)]`` of the link classes that carried bytes,
    classes with identical curves under one label (``rack.up = rack.down``)."""
    group = np.asarray(counters["group_utilisation"], float).reshape(-1, len(counters["classes"]))
    whole = np.asarray(counters["utilisation"], float).reshape(group.shape)
    out = []
    for k, name in enumerate(counters["classes"]):
        if not group[:, k].any():
            continue
        for line in out:
            if np.array_equal(line[1], group[:, k]) and np.array_equal(line[2], whole[:, k]):
                line[0] += f" = {name}"
                break
        else:
            out.append([name, group[:, k], whole[:, k]])
    return [tuple(line) for line in out]


def _draw_ops(ax, axis, step, scale):
    """The Gantt rows: a bar per operation, its runs of steps inside, labels beside."""
    rows, ops = step["rows"], step["ops"]
    min_w = MIN_WIDTH * axis.width
    colour = {r: COLOURS[k % len(COLOURS)]
              for k, r in enumerate(r for r in rows if r != COMPUTE)}
    placed = {}
    for k, (row, name, coll, s, e) in enumerate(ops):
        y = rows.index(row)
        x0, x1 = axis(s), axis(e)
        w = max(x1 - x0, min_w)
        x0 = min(x0, axis.width - w)
        c = GREY if coll == COMPUTE else colour[row]
        ax.broken_barh([(x0, w)], (y - 0.35, 0.7), facecolors=c, alpha=0.45,
                       edgecolor=c, linewidth=0.8)
        runs = [(axis(a), max(axis(b) - axis(a), min_w)) for i, a, b in step["slices"]
                if i == k]
        if runs:
            ax.broken_barh(runs, (y - 0.2, 0.4), facecolors=c, edgecolor="white",
                           linewidth=0.3)
        text = f"{name} {_short(e - s, scale)}"
        room = (len(text) + 2) * CHAR_WIDTH * axis.width
        if w > room:
            ax.text(x0 + w / 2, y, text, ha="center", va="center", fontsize=7)
            continue
        right = x0 + w + room < axis.width
        span = (x0 + w, x0 + w + room) if right else (x0 - room, x0)
        lanes = placed.setdefault(y, {-0.38: [], 0.38: []})  # above and below the bar
        dy = next((d for d, taken in lanes.items()
                   if all(span[1] <= a or b <= span[0] for a, b in taken)), -0.38)
        lanes[dy].append(span)
        ax.text(span[0], y + dy, f" {text}", ha="left", va="center", fontsize=6.5)
    for s, e in axis.breaks:  # a break mark on the shortened span
        ax.text((axis(s) + axis(e)) / 2, -0.5, "≈", ha="center", va="center", fontsize=12)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_ylim(len(rows) - 0.05, -0.6)
    ax.grid(True, axis="x", alpha=0.3)


def _short(seconds, scale):
    unit = "ms" if scale == 1e3 else "us"
    return f"{format_number(seconds * scale, 3)} {unit}"
