"""Plots of ``-J`` result records: bandwidth or time against size, link-class utilisation.

matplotlib is the optional extra ``plot``; it is imported only when a plot is drawn, with the
non-interactive Agg backend.
"""

from .errors import UbemuError
from .units import format_size

METRICS = {"busbw": ("busbw_GBps", "bus bandwidth (GB/s)"),
           "algbw": ("algbw_GBps", "algorithm bandwidth (GB/s)"),
           "time": ("time_s", "time (us)")}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UbemuError("plotting needs matplotlib: pip install 'ubemu[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def series_key(rec):
    """Label of the line a record belongs to: collective, algorithm run, topology, dtype/op."""
    label = f"{rec['collective']} {rec['algorithm']} on {rec['topology']}"
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


def plot_sweep(records, out_path, metric="busbw", title=None):
    """Draw ``metric`` against size (log2 x axis), one line per series; returns a summary."""
    if metric not in METRICS:
        raise UbemuError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if not records:
        raise UbemuError("plot: no records to draw")
    key, ylabel = METRICS[metric]
    series = group_series(records)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    try:
        sizes = set()
        for label, pts in series.items():
            x = [n for n, _ in pts]
            y = [r[key] * (1e6 if metric == "time" else 1.0) for _, r in pts]
            sizes.update(x)
            ax.plot(x, y, marker="o", markersize=3, label=label)
        ax.set_xscale("log", base=2)
        if metric == "time":
            ax.set_yscale("log")
        ticks = sorted(sizes)
        step = max(1, len(ticks) // 10)
        ax.set_xticks(ticks[::step], [format_size(t) for t in ticks[::step]])
        ax.set_xlabel("size (bytes)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(title or f"{ylabel.split(' (')[0]} vs size")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_path, format="png", dpi=120)
    finally:
        plt.close(fig)
    return f"{len(series)} series, {sum(len(v) for v in series.values())} points, {metric}"


def plot_utilisation(records, out_path, nbytes=None, title=None):
    """Bar chart of each link class's utilisation for the runs at one size (default largest).

    One group of bars per link class, one bar per series (algorithm, topology) at that size.
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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(classes) + 3), 4.5 + 0.2 * len(runs)))
    try:
        width = 0.8 / len(runs)
        for i, rec in enumerate(runs):
            util = {u["name"]: u["utilisation"] * 100 for u in rec["usage"]}
            xs = [c + (i - (len(runs) - 1) / 2) * width for c in range(len(classes))]
            ax.bar(xs, [util.get(name, 0.0) for name in classes], width, label=series_key(rec))
        ax.set_xticks(range(len(classes)), classes)
        ax.set_xlabel("link class")
        ax.set_ylabel("utilisation (%)")
        ax.set_ylim(0, 105)
        ax.set_title(title or f"link-class utilisation at {format_size(nbytes)}B")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12))
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_path, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return f"{len(runs)} runs x {len(classes)} link classes at {nbytes} B"
