"""``ubemu calibrate LOG... --topo BASE [-o fitted.toml]``: fit a topology to your own logs.

Reads nccl-tests, hccl_test and ubemu logs (:mod:`ubemu.calibration.logs`), places every
table on the base topology (:mod:`ubemu.calibration.measurements`), fits the parameters the
rows can determine (:mod:`ubemu.calibration.fit`; ``--fit KEY,...`` names them, default every
nonzero parameter of ``[params]`` and every level's bandwidth and latency), and prints the
parameters (base, fitted, one-sigma relative uncertainty), the ones the rows could not pin
down, and per row the measured time against the model before and after. ``-o`` writes the
fitted topology as TOML (every command takes it with ``--topo``); it is tried before the fit
starts and written atomically. Bad logs and impossible fits end in one line, exit 2.
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..calibration import fit as fitting
from ..calibration import logs, measurements
from ..calibration import params as pm
from ..errors import UbemuError
from ..machine.spec import DEFAULT_TOPOLOGY, load_topology
from .results import check_outputs, replace_atomically
from .table import format_number

#: Default share of a fitted value given to a key that starts at 0 (named with --fit).
START = {"_ns": 1000.0, "_GBps": 10.0, "_bytes": 65536.0}
COLUMNS = {"both": ("out-of-place", "in-place", "time"),
           "out-of-place": ("out-of-place", "time"), "in-place": ("in-place", "time")}


def add_parsers(subparsers):
    """Add ``calibrate`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser(
        "calibrate", help="fit a topology's parameters to nccl-tests / hccl_test logs",
        description="Fit the parameters of a topology to measured collective times "
                    "(nccl-tests, hccl_test, ubemu tables or -J JSON) and write the fitted "
                    "topology as TOML.")
    p.add_argument("logs", nargs="+", metavar="LOG",
                   help="log files (several allowed); a docs/data measurement CSV too "
                        "(collective and train_step rows)")
    p.add_argument("--topo", default=DEFAULT_TOPOLOGY, metavar="BASE",
                   help=f"the topology to start from (default {DEFAULT_TOPOLOGY})")
    p.add_argument("-o", "--output", default=None, metavar="FITTED.toml",
                   help="write the fitted topology here")
    p.add_argument("--fit", default=None, metavar="KEY,...",
                   help="the parameters to fit (default: every nonzero one of [params] and "
                        "every level's bw_GBps and lat_ns); short forms like efficiency, "
                        "node.lat_ns")
    p.add_argument("--collective", default=None, metavar="NAME",
                   help="the collective of logs that do not say")
    p.add_argument("--ranks", type=int, default=None, metavar="N",
                   help="ranks of logs that do not say (nccl-tests without Rank lines)")
    p.add_argument("--nodes", type=int, default=None, metavar="N",
                   help="nodes the ranks ran on (default: the log's hosts, else packed)")
    p.add_argument("--group", default=None, metavar="SPEC",
                   help="the NPUs the ranks ran on, as --group of the collective commands")
    p.add_argument("--algo", default=None, metavar="NAME",
                   help="time every row with this algorithm (default: auto, or the one a "
                        "ubemu log names)")
    p.add_argument("--column", choices=tuple(COLUMNS), default="both",
                   help="nccl-tests columns to fit (default both)")
    p.add_argument("--plain", action="store_true",
                   help="plain least squares (default: soft-L1, so one outlier does not "
                        "pull the fit)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(command="calibrate")


def _positive(value, flag):
    if value is not None and value < 1:
        raise UbemuError(f"{flag}: must be an integer >= 1, got {value}")


def default_keys(topo):
    """Every nonzero parameter and every level's bandwidth and latency."""
    return [k for k, v in pm.fittable(topo).items()
            if v > 0 and (k.startswith("params.") or k.endswith((".bw_GBps", ".lat_ns")))]


def start_values(topo, keys):
    """Starting values of named keys whose base value is 0."""
    values = pm.fittable(topo)
    out = {}
    for k in keys:
        if values[k] <= 0:
            inherited = values.get("params." + k.rsplit(".", 1)[-1], 0.0)  # a level's 0
            out[k] = inherited if inherited > 0 else next(                  # takes [params]'
                (v for suffix, v in START.items() if k.endswith(suffix)), 0.5)
    return out


def _pct(x):
    return "-" if x != x else f"{100 * x:.2g} %"


def _ratio(model, measured):
    return f"{model / measured:.3f}"


def report_lines(res, entries, described, keys, loss):
    """The text of the report (see the module docstring)."""
    out = [f"# {d}" for d in described]
    out.append(f"# fitting {len(keys)} parameters to {len(entries)} rows ({loss}, "
               f"{res.iterations} iterations); condition number of the Jacobian "
               f"{res.condition:.3g}")
    out.append("#")
    width = max(len(k) for k in keys)
    out.append(f"# {'parameter':<{width}}  {'base':>12}  {'fitted':>12}  {'+-1 sigma':>9}")
    dropped = dict(res.undetermined)
    for k in keys:
        sig = "kept" if k in dropped else _pct(res.sigma_rel[k])
        out.append(f"  {k:<{width}}  {res.base[k]:>12.5g}  {res.fitted[k]:>12.5g}  {sig:>9}")
    for k, why in res.undetermined:
        out.append(f"# not determined by these rows, kept at its base value: {k} ({why})")
    for note in res.notes:
        out.append(f"# {note}")
    for k in res.poorly:
        out.append(f"# poorly determined (more than {fitting.POORLY:.0%}): {k}")
    out.append("#")
    where = max(len(e.where) for e in entries)
    label = max(len(e.label) for e in entries)
    out.append(f"# {'where':<{where}} {'row':<{label}} {'unit':<14} {'measured':>10} "
               f"{'before':>10} {'ratio':>6} {'after':>10} {'ratio':>6}  model")
    for k, e in enumerate(entries):
        before, after = e.shown(res.before_s[k]), e.shown(res.after_s[k])
        out.append(f"  {e.where:<{where}} {e.label:<{label}} {e.unit:<14} "
                   f"{format_number(e.measured):>10} {format_number(before):>10} "
                   f"{before / e.measured:>6.3f} {format_number(after):>10} "
                   f"{after / e.measured:>6.3f}  {res.algorithms_after[k]}")
    meas = np.array([e.measured_s for e in entries])
    within = [int(np.sum(np.abs(np.array([e.shown(x) / e.measured for e, x in
                                          zip(entries, m)]) - 1) <= 0.10))
              for m in (res.before_s, res.after_s)]
    out.append(f"# rms of log(model/measured): before {res.rms(res.before_s, meas):.3f}, "
               f"after {res.rms(res.after_s, meas):.3f}; rows within 10 %: before "
               f"{within[0]}/{len(entries)}, after {within[1]}/{len(entries)}")
    worst = int(np.argmax(np.abs(np.log(res.after_s / meas))))
    e = entries[worst]
    out.append(f"# worst row after: {e.where} ({e.label}), ratio "
               f"{e.shown(res.after_s[worst]) / e.measured:.3f}")
    return out


def fitted_toml(res, base, log_paths, n_rows, name):
    """The TOML text of the fitted topology, each fitted value commented."""
    from ..machine.totoml import topology_toml

    dropped = dict(res.undetermined)
    comments = {k: (f"kept: {dropped[k]}" if k in dropped else
                    f"fitted (+-{_pct(res.sigma_rel[k])}; base {format_number(res.base[k])})")
                for k in res.keys}
    topo = replace(res.topology, name=name, source="",
                   description=f"{base.name} fitted by ubemu calibrate on "
                               f"{', '.join(log_paths)}")
    header = [f"Fitted by `ubemu calibrate` on {n_rows} rows of {', '.join(log_paths)}",
              f"from the base topology {base.name!r}; each fitted value says its one-sigma",
              "relative uncertainty. Use it with --topo on every command."]
    return topology_toml(topo, header, comments)


def _is_rows_file(path):
    """A measurement CSV of ``docs/data`` (the validation's columns)?"""
    from ..validation.rows import COLUMNS

    if not str(path).endswith(".csv"):
        return False
    try:
        with open(path, newline="") as f:
            header = f.readline()
    except OSError:
        return False
    return all(c in header.split(",") for c in COLUMNS)


def gather(args, base):
    """(points, entries, descriptions) of every log and measurement file of the command."""
    from ..validation.rows import read_all

    csvs = [p for p in args.logs if _is_rows_file(p)]
    texts = [p for p in args.logs if p not in csvs]
    points, entries, described = [], [], []
    if texts:
        tables = [t for path in texts for t in logs.read_log(path, args.collective)]
        points, entries, placements = measurements.entries_of_logs(
            tables, base, ranks=args.ranks, nodes=args.nodes, group=args.group,
            algorithm=args.algo, columns=COLUMNS[args.column])
        described += [f"{t.where()}: {t.tool} {t.collective}, {pl.how}"
                      + (f"; group {pl.group}" if len(pl.group) < 60 else "")
                      for t, pl in zip(tables, placements)]
    if csvs:
        rows = read_all(csvs)
        more, extra = measurements.entries_of_rows(rows, base)
        shift = len(points)
        points += more
        entries += [replace(e, point=e.point + shift) for e in extra]
        described += [f"{path}: {sum(r.path == str(path) for r in rows)} measurement rows "
                      f"(kinds {', '.join(sorted({r.kind for r in rows}))})" for path in csvs]
    return points, entries, described


def run(args, out=None, err=None):
    """``ubemu calibrate ...``; returns 0."""
    out, err = out or sys.stdout, err or sys.stderr
    for value, flag in ((args.ranks, "--ranks"), (args.nodes, "--nodes")):
        _positive(value, flag)
    check_outputs([("-o/--output", args.output)],
                  [("a log", f) for f in args.logs] + [("the --topo file", args.topo)])
    base = load_topology(args.topo)
    points, entries, described = gather(args, base)
    keys = (pm.resolve(base, args.fit.split(",")) if args.fit else default_keys(base))
    if not keys:
        raise UbemuError(f"--fit: topology {base.name!r} has no nonzero parameter to fit; "
                         f"name some with --fit")
    fitting.check_counts(keys, [e.point for e in entries])
    print(f"# ubemu calibrate: {len(args.logs)} file{'s' * (len(args.logs) > 1)}, "
          f"{len(entries)} rows at {len(points)} distinct points; base {base.name} "
          f"({base.n_npus:,} NPUs)", file=out, flush=True)
    t0 = time.perf_counter()

    def progress(it, cost):
        if not args.quiet:
            print(f"ubemu: calibrate iteration {it}, loss {cost:.4g}, "
                  f"{time.perf_counter() - t0:.1f} s", file=err, flush=True)

    res = fitting.fit(base, keys, points, [e.point for e in entries],
                      [e.measured_s for e in entries],
                      robust_scale=None if args.plain else 0.05,
                      start=start_values(base, keys), on_iteration=progress)
    loss = "plain least squares" if args.plain else "soft-L1 loss, scale 5 %"
    print("\n".join(report_lines(res, entries, described, keys, loss)), file=out)
    if args.output is not None:
        text = fitted_toml(res, base, args.logs, len(entries), Path(args.output).stem)
        replace_atomically(args.output, lambda f: f.write(text), "-o/--output")
        print(f"# wrote {args.output} (use it with --topo {args.output})", file=out)
    return 0


DISPATCH = {"calibrate": run}
