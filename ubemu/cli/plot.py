"""``ubemu plot``: bandwidth or time against size from ``-J`` files, or link-class utilisation;
any other ubemu document drawn its own way.

One line per requested algorithm (an ``auto`` sweep is one line, each point annotated where
the pick changes), topology and data type. Sizes are labelled in powers of 1024 (KiB, MiB,
GiB), as ``-b`` / ``-e`` read them; ``--log`` puts the y axis on a log scale. A ``ubemu
faults`` document is drawn as time against failures, a ``ubemu plan --sweep`` document as
its plans ranked (:mod:`.plan_figure`), a ``ubemu plan`` or ``ubemu workload`` document as
its step over time (:mod:`.step_figure`), and a ``--trace`` file as an interactive page
(``-o view.html``, :mod:`.trace_view`). The file format follows the extension of ``-o``:
PNG, SVG or PDF. The figure is written through a temporary file and a rename.

matplotlib is the optional extra ``plot``; it is imported only when a plot is drawn, with the
non-interactive Agg backend.
"""

import sys
from pathlib import Path

from ..errors import UbemuError
from ..units import parse_size_bytes
from . import faults, plan, trace_view, workload
from .drawing import null_locator, pyplot, size_label
from .results import check_outputs, load_document, load_records, replace_atomically
from .table import format_number

#: metric -> (record field, axis label, factor from the field to the axis).
METRICS = {"busbw": ("busbw_GBps", "bus bandwidth (GB/s)", 1.0),
           "algbw": ("algbw_GBps", "algorithm bandwidth (GB/s)", 1.0),
           "time": ("time_s", "time (us)", 1e6)}
#: Output formats, by file extension.
FORMATS = ("png", "svg", "pdf")


def add_parsers(subparsers):
    """Add ``plot`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser("plot", help="plot results written with -J",
                              description="Plot busbw or time against size from -J files, "
                                          "or per-link-class utilisation of one run.")
    p.add_argument("files", nargs="+", metavar="RESULT.json")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png",
                   help=f"the figure; the format follows the extension ({', '.join(FORMATS)})")
    p.add_argument("--metric", choices=tuple(METRICS), default="busbw")
    p.add_argument("--log", action="store_true", help="log scale on the y axis")
    p.add_argument("--utilisation", action="store_true",
                   help="bar chart of link-class utilisation of the runs at one size")
    p.add_argument("--size", default=None, metavar="SIZE",
                   help="with --utilisation: the size to show (default the largest)")
    p.add_argument("--top", type=int, default=None, metavar="N",
                   help="a plan sweep: the N fastest plans (default 20)")
    p.add_argument("--uniform-time", action="store_true",
                   help="a plan's or workload's step: draw time uniformly (by default long "
                        "compute-only spans are drawn shortened)")
    p.add_argument("--title", default=None)
    p.set_defaults(command="plot")


def output_format(path):
    """The format of an output file from its extension; refuses one matplotlib is not given."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise UbemuError(f"-o/--output: cannot tell the format of {str(path)!r} from its "
                         f"extension; valid: {', '.join('.' + f for f in FORMATS)}")
    return ext


def series_key(rec):
    """Label of the line a record belongs to: collective, requested algorithm, topology, type.

    The requested algorithm, so that an ``auto`` sweep is one line whatever it picked.
    """
    algo = rec.get("requested_algorithm") or rec["algorithm"]
    label = f"{rec['collective']} {algo} on {rec['topology']}"
    if rec.get("n_ranks") is not None:
        label += f" ({rec['n_ranks']} ranks)"
    extra = [rec[k] for k in ("dtype", "op") if rec.get(k) and rec.get(k) != "float32"
             and not (k == "op" and rec[k] == "sum")]
    return label + (f" [{' '.join(extra)}]" if extra else "")


def group_series(records):
    """Records grouped into lines: {label: [(nbytes, record), ...] sorted by size}."""
    series = {}
    for rec in records:
        series.setdefault(series_key(rec), []).append((int(rec["nbytes"]), rec))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in series.items()}


def _annotate_picks(ax, pts, ys):
    """Name the algorithm an ``auto`` line ran, where the pick changes."""
    last = None
    for (x, rec), y in zip(pts, ys):
        if rec.get("requested_algorithm") == "auto" and rec["algorithm"] != last:
            ax.annotate(rec["algorithm"], (x, y), textcoords="offset points", xytext=(3, 5),
                        fontsize=7)
        last = rec["algorithm"]


def draw_sweep(records, metric="busbw", title=None, log=False):
    """The figure of ``metric`` against size (log2 x axis; ``log``: log y axis too; time
    always has one), one line per series."""
    if metric not in METRICS:
        raise UbemuError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if not records:
        raise UbemuError("plot: no records to draw")
    key, ylabel, factor = METRICS[metric]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    sizes = set()
    for label, pts in group_series(records).items():
        x = [n for n, _ in pts]
        y = [r[key] * factor for _, r in pts]
        sizes.update(x)
        ax.plot(x, y, marker="o", markersize=3, label=label)
        _annotate_picks(ax, pts, y)
    ax.set_xscale("log", base=2)
    if metric == "time" or log:
        ax.set_yscale("log")
    ticks = sorted(sizes)
    step = max(1, len(ticks) // 10)
    ax.set_xticks(ticks[::step], [size_label(t) for t in ticks[::step]])
    ax.xaxis.set_minor_locator(null_locator())  # no unlabelled log-scale ticks between
    ax.set_xlabel("size (1 KiB = 1024 B)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title or f"{ylabel.split(' (')[0]} vs size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_utilisation(records, nbytes=None, title=None):
    """The bar chart of each link class's utilisation for the runs at one size.

    One group of bars per link class, one bar per run at that size (default the largest):
    filled machine-wide, outlined over the links the run used (its group's).

    Returns
    -------
    (Figure, int, int, int)
        The figure, the size, the runs and the link classes shown.
    """
    with_usage = [r for r in records if r.get("usage")]
    if not with_usage:
        raise UbemuError("plot --utilisation: the records carry no link-class usage")
    if nbytes is None:
        nbytes = max(int(r["nbytes"]) for r in with_usage)
    runs = [r for r in with_usage if int(r["nbytes"]) == nbytes]
    if not runs:
        valid = sorted({int(r["nbytes"]) for r in with_usage})
        raise UbemuError(f"plot --size: no run of {nbytes} B; valid: "
                         f"{', '.join(str(v) for v in valid)}")
    classes = list(dict.fromkeys(u["name"] for r in runs for u in r["usage"]))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(classes) + 3), 4.5 + 0.2 * len(runs)))
    width = 0.8 / len(runs)
    for i, rec in enumerate(runs):
        util = {u["name"]: u["utilisation"] * 100 for u in rec["usage"]}
        group = {u["name"]: u.get("group_utilisation", 0.0) * 100 for u in rec["usage"]}
        xs = [c + (i - (len(runs) - 1) / 2) * width for c in range(len(classes))]
        picked = rec["algorithm"] != (rec.get("requested_algorithm") or rec["algorithm"])
        label = series_key(rec) + (f": {rec['algorithm']}" if picked else "")
        bars = ax.bar(xs, [util.get(name, 0.0) for name in classes], width, label=label,
                      color=f"C{i}")
        ax.bar_label(bars, [format_number(v, 2) if v else "" for v in bars.datavalues],
                     fontsize=6, padding=1)
        ax.bar(xs, [group.get(name, 0.0) for name in classes], width, fill=False,
               edgecolor=f"C{i}", linewidth=1.2)
    ax.bar([0], [0], 0, fill=False, edgecolor="black", label="outline: over the links used")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_xlabel("link class")
    ax.set_ylabel("utilisation (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title or f"link-class utilisation at {size_label(nbytes)}")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig, nbytes, len(runs), len(classes)


def save_figure(fig, out_path):
    """Write ``fig`` to ``out_path`` in the format of its extension, atomically; close it."""
    fmt = output_format(out_path)
    plt = pyplot()
    try:
        replace_atomically(out_path, lambda f: fig.savefig(f, format=fmt, dpi=120,
                                                           bbox_inches="tight"),
                           "-o/--output", mode="wb")
    finally:
        plt.close(fig)


def plot_sweep(records, out_path, metric="busbw", title=None, log=False):
    """Draw ``metric`` against size into ``out_path``; returns a one-line summary."""
    fig = draw_sweep(records, metric, title, log)
    save_figure(fig, out_path)
    series = group_series(records)
    return (f"{len(series)} series, {sum(len(v) for v in series.values())} points, {metric}"
            + (", log scale" if log else ""))


def plot_utilisation(records, out_path, nbytes=None, title=None):
    """Draw the utilisation bars into ``out_path``; returns a one-line summary."""
    fig, nbytes, n_runs, n_classes = draw_utilisation(records, nbytes, title)
    save_figure(fig, out_path)
    return f"{n_runs} runs x {n_classes} link classes at {nbytes} B"


#: The kind of a size sweep's records (other documents name theirs in ``kind``).
RECORDS = "records"
#: Flags that apply to some documents only: flag -> (argument, the kinds it applies to).
DOCUMENT_FLAGS = {"--log": ("log", (RECORDS,)), "--utilisation": ("utilisation", (RECORDS,)),
                  "--size": ("size", (RECORDS,)), "--top": ("top", (plan.SWEEP_KIND,)),
                  "--uniform-time": ("uniform_time", (plan.PLAN_KIND, workload.DOCUMENT_KIND))}


def run_plot(args, out=None):
    """``ubemu plot FILES -o OUT.{png,svg,pdf}``; the output is checked before drawing."""
    out = out if out is not None else sys.stdout
    first = load_document(args.files[0])
    kind, what, draw = _drawer(first)
    for flag, (name, kinds) in DOCUMENT_FLAGS.items():
        if getattr(args, name) not in (None, False) and kind not in kinds:
            raise UbemuError(f"plot: {flag} does not apply to {what}")
    if draw is not None:
        if len(args.files) > 1:
            raise UbemuError(f"plot: {what} is drawn alone; give one file")
        print(f"wrote {args.output} ({draw(first, args)})", file=out)
        return 0
    _figure_out(args)
    nbytes = parse_size_bytes(args.size, field="--size") if args.size else None
    records = load_records(args.files[0], first)
    for path in args.files[1:]:
        records += load_records(path)
    if args.utilisation:
        shown = plot_utilisation(records, args.output, nbytes=nbytes, title=args.title)
    else:
        shown = plot_sweep(records, args.output, metric=args.metric, title=args.title,
                           log=args.log)
    print(f"wrote {args.output} ({shown})", file=out)
    return 0


def _drawer(doc):
    """(kind, what it is, draw(doc, args) -> summary) of a document; ``draw`` is None for
    the records of a size sweep."""
    if isinstance(doc, dict) and "traceEvents" in doc:
        return "trace", "a trace", trace_view.plot
    kind = doc.get("kind") if isinstance(doc, dict) else None
    drawers = {faults.DOCUMENT_KIND: ("a 'ubemu faults' document", _plot_faults),
               plan.SWEEP_KIND: ("a 'ubemu plan --sweep' document", _plot_plans),
               plan.PLAN_KIND: ("a 'ubemu plan' document", _plot_step),
               workload.DOCUMENT_KIND: ("a 'ubemu workload' document", _plot_step)}
    if kind in drawers:
        return (kind, *drawers[kind])
    return RECORDS, "the records of a size sweep", None


def _figure_out(args):
    """The checked output path of a figure."""
    output_format(args.output)
    check_outputs([("-o/--output", args.output)], [("the input", f) for f in args.files])
    return args.output


def _plot_faults(doc, args):
    path = _figure_out(args)
    save_figure(faults.draw(doc, args.title), path)
    return f"time against failed {doc['what']}"


def _plot_plans(doc, args):
    from .plan_figure import DEFAULT_TOP, draw

    path = _figure_out(args)
    fig, n = draw(doc, args.top or DEFAULT_TOP, args.title)
    save_figure(fig, path)
    return f"{n} of {len(doc['plans'])} plans ranked"


def _plot_step(doc, args):
    from .step_figure import draw

    path = _figure_out(args)
    fig, step = draw(doc, args.title, args.uniform_time)
    save_figure(fig, path)
    return f"{len(step['ops'])} operations in {len(step['rows'])} rows over time"


DISPATCH = {"plot": run_plot}
