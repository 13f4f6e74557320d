"""Faults on the command line: ``--faults`` / ``--routing`` and the ``ubemu faults`` sweep.

``ubemu faults COLLECTIVE`` times one collective and size with 0, 1, 2, ... failed links (or
NPUs), over several seeds, under each routing, and prints the median and worst time per
failure count (a run the routing refuses, or that the failures cut apart, counts as refused).
Each run's record is written to ``-J`` as it lands, each table row to ``--csv`` once its
count and routing are done; ``ubemu plot`` draws the document.
"""

import statistics
import sys

from .. import __version__, collectives
from ..errors import UbemuError
from ..machine.faultreport import failures
from ..machine.faults import ROUTINGS, with_faults
from ..parallel import env
from ..parallel.spread import spread
from ..units import parse_size_bytes
from .csvout import CsvWriter, add_csv_option
from .names import parse_names
from .progress import MODES, Progress
from .results import check_outputs, topology_record, write_json_atomic
from .table import format_number

#: ``kind`` of the ``-J`` document of ``ubemu faults`` (``ubemu plot`` recognises it).
DOCUMENT_KIND = "faults"


def add_fault_options(group):
    """``--faults`` and ``--routing`` on an argument group."""
    group.add_argument("--faults", default=None, metavar="SPEC",
                       help="failed links/NPUs/planes: link=board:0-1, npu=5, plane=LEVEL:1, "
                            "links=0.1%%, npus=2, seed=7, spare=off (comma list)")
    group.add_argument("--routing", choices=ROUTINGS, default="minimal",
                       help="minimal: refuse a route across a failure; apr: detour (All-Path "
                            "Routing). Default minimal")


def apply(topology, args):
    """``topology`` with the command line's ``--faults`` and ``--routing``."""
    return with_faults(topology, args.faults, args.routing)


def failed_links_text(s):
    """``board 1, rack 3; failed port planes rack.up 1`` from a :func:`failures` dict."""
    text = ", ".join(f"{k} {v:,}" for k, v in s["failed_links"].items()) or "none"
    if s["failed_port_planes"]:
        text += "; failed port planes " + ", ".join(f"{k} {v:,}" for k, v in
                                                    s["failed_port_planes"].items())
    return text


def fault_lines(topology):
    """``#`` lines naming what failed (none without faults)."""
    s = failures(topology)
    if s is None:
        return []
    links = failed_links_text(s)
    lines = [f"# Faults ({s['routing']} routing): failed links {links}; failed NPUs "
             f"{len(s['failed_npus'])}, served by spares {len(s['spared_npus'])}"]
    if s["failed_planes"]:
        lines[0] += "; failed planes " + ", ".join(f"{k} {v}" for k, v in
                                                   s["failed_planes"].items())
    return lines


def add_parsers(subparsers):
    """Add ``faults`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser(
        "faults", help="time a collective against the number of failed links or NPUs",
        description="Sweep the number of failed links (or NPUs) over several seeds and print "
                    "the median and worst time per count, for each routing.")
    p.add_argument("collective", choices=tuple(collectives.COLLECTIVES))
    p.add_argument("-b", "--nbytes", default="1M", metavar="SIZE", help="size (default 1M)")
    p.add_argument("--topo", default="ub-mesh-rack", metavar="SPEC")
    p.add_argument("--algo", default="auto", metavar="NAME")
    p.add_argument("--group", default=None, metavar="SPEC")
    p.add_argument("--links", default="0,1,2,4,8,16", metavar="N[,N...]",
                   help="failed-link counts to sweep (default 0,1,2,4,8,16)")
    p.add_argument("--npus", action="store_true",
                   help="the counts are failed NPUs (served by spares where free), not links")
    p.add_argument("--seeds", type=int, default=5, help="random fault sets per count (5)")
    p.add_argument("--routing", default="minimal,apr", metavar="NAME[,NAME]",
                   help="routings to compare (default minimal,apr)")
    p.add_argument("-d", "--datatype", default="float32", metavar="TYPE")
    p.add_argument("-J", "--output_file", default=None, metavar="FILE.json")
    add_csv_option(p)
    p.add_argument("--progress", choices=MODES, default="auto")
    p.set_defaults(command="faults")


#: ``--csv`` of ``ubemu faults``: a row per table row.
CSV_COLUMNS = ("failed", "what", "routing", "runs", "refused", "median_us", "worst_us",
               "collective", "nbytes", "algorithm", "topology")


def _counts(text):
    try:
        counts = sorted({int(x) for x in text.split(",")})
    except ValueError:
        counts = [-1]
    if not counts or counts[0] < 0:
        raise UbemuError(f"--links: expected a comma list of whole numbers >= 0, got {text!r}")
    return counts


def _run_one(args, topology, nbytes, count, seed, routing):
    """One record: the time, or why the run was refused."""
    from ..api import simulate

    key = "npus" if args.npus else "links"
    spec = f"{key}={count},seed={seed}" if count else None
    rec = {"failed": count, "seed": seed, "routing": routing, "faults": spec}
    try:
        res = simulate(args.collective, nbytes, topology, args.algo, args.datatype,
                       group=args.group, faults=spec, routing=routing)
        rec.update(time_s=res.time_s, algorithm=res.algorithm, bottleneck=res.bottleneck)
    except UbemuError as exc:
        if "fault" not in str(exc) and "routing" not in str(exc):
            raise
        rec.update(time_s=None, refused=str(exc))
    return rec


def table_rows(records, counts, routings):
    """Per (count, routing): (count, routing, runs, refused, median_s, worst_s)."""
    out = []
    for count in counts:
        for routing in routings:
            runs = [r for r in records if r["failed"] == count and r["routing"] == routing]
            times = [r["time_s"] for r in runs if r["time_s"] is not None]
            out.append((count, routing, len(runs), len(runs) - len(times),
                        statistics.median(times) if times else None,
                        max(times) if times else None))
    return out


def run(args, out=None):
    """``ubemu faults ...``; returns 0. In an MPI job the runs are spread over the processes
    (each timed alone) and process 0 writes, in order, as they land."""
    from ..machine.spec import load_topology

    out = out if out is not None else sys.stdout
    root = env.is_root()
    nbytes = parse_size_bytes(args.nbytes, field="-b/--nbytes")
    counts = _counts(args.links)
    routings = parse_names(args.routing, list(ROUTINGS), "--routing", "routing")
    if args.seeds < 1:
        raise UbemuError(f"--seeds must be >= 1, got {args.seeds}")
    check_outputs([("-J/--output_file", args.output_file), ("--csv", args.csv)],
                  [("the --topo file", args.topo)], writable=root)
    topology = load_topology(args.topo)
    with_faults(topology, f"{'npus' if args.npus else 'links'}={max(counts)}", "apr")
    runs = [(c, s, r) for c in counts for r in routings for s in (range(args.seeds) if c else [0])]
    doc = {"ubemu": __version__, "kind": DOCUMENT_KIND, "collective": args.collective,
           "nbytes": nbytes, "algorithm": args.algo, "group": args.group,
           "what": "npus" if args.npus else "links", "topology": topology_record(topology),
           "records": [], "complete": False}
    csv_out = CsvWriter(args.csv if root else None, CSV_COLUMNS)
    progress = Progress([1.0] * len(runs), mode=args.progress if root else "off")
    progress.start()

    def label(k):
        count, seed, routing = runs[k]
        return f"{count} failed, seed {seed}, {routing}"

    def landed(k, rec):
        doc["records"].append(rec)
        if args.output_file:
            write_json_atomic(args.output_file, doc)
        count, _, routing = runs[k]
        if k + 1 == len(runs) or runs[k + 1][::2] != (count, routing):  # its row is done
            _, _, n, refused, med, worst = table_rows(doc["records"], [count], [routing])[0]
            csv_out.add((count, doc["what"], routing, n, refused, *(
                None if t is None else t * 1e6 for t in (med, worst)), args.collective,
                nbytes, args.algo, topology.name))
        progress.update(k + 1, label(k + 1) if k + 1 < len(runs) else "")

    try:
        progress.update(0, label(0))
        spread(runs, lambda run: _run_one(args, topology, nbytes, *run), on_result=landed,
               everywhere=False)
    finally:
        progress.close()
    if not root:
        return 0
    doc["complete"] = True
    if args.output_file:
        write_json_atomic(args.output_file, doc)
    what = "NPUs" if args.npus else "links"
    print(f"# ubemu faults: {args.collective} {args.nbytes} on {topology.name} "
          f"({topology.n_npus} NPUs), algorithm {args.algo}, {args.seeds} seeds per count",
          file=out)
    print(f"# {'failed ' + what:>14}  {'routing':>8}  {'runs':>4}  {'refused':>7}  "
          f"{'median (us)':>12}  {'worst (us)':>12}", file=out)
    for count, routing, n, refused, med, worst in table_rows(doc["records"], counts, routings):
        print(f"  {count:>14}  {routing:>8}  {n:>4}  {refused:>7}  {_us(med):>12}  "
              f"{_us(worst):>12}", file=out)
    return 0


def _us(time_s):
    return "-" if time_s is None else format_number(time_s * 1e6)


#: Font size of the refused-run labels (points).
REFUSED_FONT = 7


def draw(doc, title=None):
    """The degradation figure: median (line) and worst (dashed) time against the count.

    Refused runs are marked in a band at the bottom of the axes, below every data point:
    a cross per count with refusals, one row per routing, labelled ``refused/runs`` and
    stacked on further rows where neighbours would overlap; the figure keeps its size. Many
    counts over a wide range (``0, 1, 4, 16, 64``) are spread on a symlog axis."""
    from .drawing import pyplot, size_label

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    counts = sorted({r["failed"] for r in doc["records"]})
    routings = list(dict.fromkeys(r["routing"] for r in doc["records"]))
    rows = table_rows(doc["records"], counts, routings)
    positive = [c for c in counts if c > 0]
    if positive and counts[-1] >= 16 * positive[0]:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("symlog", linthresh=max(positive[0], 1), linscale=0.5)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    colours, times = {}, []
    for routing in routings:
        pts = [(c, med, worst) for c, r, _, _, med, worst in rows if r == routing and med]
        shown = bool(pts)  # a routing refused everywhere has no line, only crosses
        line, = ax.plot([p[0] for p in pts], [p[1] * 1e6 for p in pts], marker="o",
                        label=f"{routing} median" if shown else "_nolegend_")
        colours[routing] = line.get_color()
        ax.plot([p[0] for p in pts], [p[2] * 1e6 for p in pts], ls="--",
                color=colours[routing], label=f"{routing} worst" if shown else "_nolegend_")
        times += [t * 1e6 for p in pts for t in p[1:]]
    lo, hi = (min(times), max(times)) if times else (0.0, 1.0)
    ax.update_datalim([(c, lo) for c in counts] + [(c, hi) for c in counts])
    ax.autoscale_view()
    if len(counts) <= 12:
        ax.set_xticks(counts, [str(c) for c in counts])
    refused = [(r, c, k, n) for c, r, n, k, _, _ in rows if k]
    band = _refused_band(fig, ax, refused, routings, colours) if refused else 0.0
    span = (hi - lo) or max(abs(hi), 1.0)
    top = 0.06
    ax.set_ylim(lo - span * (band + 0.04) / (1 - band - 0.04 - top),
                hi + span * top / (1 - band - 0.04 - top))
    if refused:  # no time ticks beside the band
        ax.set_yticks([t for t in ax.get_yticks() if lo - 0.02 * span <= t <= ax.get_ylim()[1]])
    ax.set_xlabel(f"failed {doc['what']}")
    ax.set_ylabel("time (us)")
    ax.set_title(title or f"{doc['collective']} {size_label(doc['nbytes'])} on "
                          f"{doc['topology']['name']}, {doc['algorithm']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def _refused_band(fig, ax, refused, routings, colours):
    """Draw the refused runs (``(routing, count, refused, runs)``) as crosses and labels in
    a band at the bottom of ``ax``; returns the band's height (a fraction of the axes)."""
    from matplotlib.patches import Rectangle

    fig.canvas.draw()  # the x transform is final; measure the labels in pixels
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    gap_px = 4.0
    placed = []  # (routing, count, text, row within its routing, ha)
    n_rows = {}
    for routing in routings:
        ends = []  # the right end (px) of the last label on each row of this routing
        for r, c, k, n in refused:
            if r != routing:
                continue
            text = ax.text(0, 0, f"{k}/{n}", fontsize=REFUSED_FONT)
            width = text.get_window_extent(renderer).width
            text.remove()
            x = ax.transData.transform((c, 0))[0]
            ha = "left" if x + gap_px + width <= box.x1 - 2 else "right"
            x0, x1 = (x - gap_px, x + gap_px + width) if ha == "left" else \
                (x - gap_px - width, x + gap_px)
            row = next((j for j, end in enumerate(ends) if x0 > end + gap_px), len(ends))
            if row == len(ends):
                ends.append(x1)
            ends[row] = x1
            placed.append((routing, c, f"{k}/{n}", row, ha))
        if ends:
            n_rows[routing] = len(ends)
        ax.plot([], [], ls="none", marker="x", color=colours.get(routing, "0.3"),
                label=f"{routing}: refused/runs") if ends else None
    text_px = REFUSED_FONT * fig.dpi / 72
    row_h = 1.6 * text_px / box.height
    first, total = {}, 0
    for routing in routings:
        if routing in n_rows:
            first[routing], total = total, total + n_rows[routing]
    band = total * row_h + 0.02
    ax.add_patch(Rectangle((0, 0), 1, band, transform=ax.transAxes, color="0.94", zorder=0,
                           lw=0))
    where = ax.get_xaxis_transform()  # x in data, y in axes fractions
    for routing, c, label, row, ha in placed:
        y = band - 0.01 - (first[routing] + row + 0.5) * row_h
        colour = colours.get(routing, "0.3")
        ax.plot([c], [y], transform=where, marker="x", ms=4, color=colour, clip_on=False)
        ax.annotate(label, (c, y), xycoords=where, xytext=(4 if ha == "left" else -4, 0),
                    textcoords="offset points", ha=ha, va="center", fontsize=REFUSED_FONT,
                    color=colour)
    return band


DISPATCH = {"faults": run}
