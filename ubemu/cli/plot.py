"""``ubemu plot``: bandwidth or time against size from ``-J`` files, or link-class utilisation.

One line per requested algorithm (an ``auto`` sweep is one line, each point annotated where
the pick changes), topology and data type. Sizes are labelled in powers of 1024 (KiB, MiB,
GiB), as ``-b`` / ``-e`` read them. The file format follows the extension of ``-o``: PNG, SVG
or PDF. The figure is written through a temporary file and a rename.

matplotlib is the optional extra ``plot``; it is imported only when a plot is drawn, with the
non-interactive Agg backend.
"""

import sys
from pathlib import Path

from ..errors import UbemuError
from ..units import parse_size_bytes
from .drawing import null_locator, pyplot, size_label
from .results import check_outputs, load_document, load_records, replace_atomically

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
    p.add_argument("--utilisation", action="store_true",
                   help="bar chart of link-class utilisation of the runs at one size")
    p.add_argument("--size", default=None, metavar="SIZE",
                   help="with --utilisation: the size to show (default the largest)")
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


def draw_sweep(records, metric="busbw", title=None):
    """The figure of ``metric`` against size (log2 x axis), one line per series."""
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
    if metric == "time":
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

    One group of bars per link class, one bar per run at that size (default the largest).

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
        xs = [c + (i - (len(runs) - 1) / 2) * width for c in range(len(classes))]
        picked = rec["algorithm"] != (rec.get("requested_algorithm") or rec["algorithm"])
        label = series_key(rec) + (f": {rec['algorithm']}" if picked else "")
        ax.bar(xs, [util.get(name, 0.0) for name in classes], width, label=label)
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


def plot_sweep(records, out_path, metric="busbw", title=None):
    """Draw ``metric`` against size into ``out_path``; returns a one-line summary."""
    fig = draw_sweep(records, metric, title)
    save_figure(fig, out_path)
    series = group_series(records)
    return f"{len(series)} series, {sum(len(v) for v in series.values())} points, {metric}"


def plot_utilisation(records, out_path, nbytes=None, title=None):
    """Draw the utilisation bars into ``out_path``; returns a one-line summary."""
    fig, nbytes, n_runs, n_classes = draw_utilisation(records, nbytes, title)
    save_figure(fig, out_path)
    return f"{n_runs} runs x {n_classes} link classes at {nbytes} B"


def run_plot(args, out=None):
    """``ubemu plot FILES -o OUT.{png,svg,pdf}``; the output is checked before anything."""
    out = out if out is not None else sys.stdout
    output_format(args.output)
    check_outputs([("-o/--output", args.output)], [("the input", f) for f in args.files])
    nbytes = parse_size_bytes(args.size, field="--size") if args.size else None
    from .faults import DOCUMENT_KIND, draw

    first = load_document(args.files[0])
    if isinstance(first, dict) and first.get("kind") == DOCUMENT_KIND:  # ubemu faults -J
        if len(args.files) > 1:
            raise UbemuError("plot: a 'ubemu faults' document is drawn alone; give one file")
        save_figure(draw(first, args.title), args.output)
        print(f"wrote {args.output} (time against failed {first['what']})", file=out)
        return 0
    records = load_records(args.files[0], first)
    for path in args.files[1:]:
        records += load_records(path)
    if args.utilisation:
        shown = plot_utilisation(records, args.output, nbytes=nbytes, title=args.title)
    else:
        shown = plot_sweep(records, args.output, metric=args.metric, title=args.title)
    print(f"wrote {args.output} ({shown})", file=out)
    return 0


DISPATCH = {"plot": run_plot}
