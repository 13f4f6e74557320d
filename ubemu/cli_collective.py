"""The nccl-tests-style commands: ``ubemu all_reduce -b 8 -e 128M -f 2``, ``algorithms``, ``plot``.

:func:`add_parsers` hangs the sub-commands on ``ubemu.cli``'s sub-parsers; each sets
``command``, the key of :data:`DISPATCH` (the function that runs it, ``-> exit status``).
Bad input raises
:class:`~ubemu.errors.UbemuError`, which ``ubemu.cli.main`` prints as one line (exit 2).
"""

import os
import sys
import time

from . import __version__, report
from .api import DEFAULT_TOPOLOGY
from .collectives import COLLECTIVES
from .dtypes import ALIASES as DTYPE_ALIASES
from .dtypes import DTYPES, OPS, check_op
from .errors import UbemuError, choices_error
from .units import format_size, parse_size_bytes

#: Element size in bytes of each data type ubemu emulates.
DTYPE_BYTES = {name: dt.itemsize for name, dt in DTYPES.items()}
#: Collectives that always get a command; the others get one once an algorithm is registered.
MAIN_COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "alltoall")
MAX_SIZES = 10000


# -- argument parsing ------------------------------------------------------------------------
def parse_dtypes(text):
    """``-d`` value: one name (ubemu's or nccl-tests'), a comma list, or ``all``."""
    if text.strip() == "all":
        return list(DTYPE_BYTES)
    out = []
    for name in text.split(","):
        name = name.strip()
        canon = DTYPE_ALIASES.get(name.lower(), name.lower())
        if canon not in DTYPE_BYTES:
            raise choices_error("datatype (-d)", name,
                                [*DTYPE_BYTES, *DTYPE_ALIASES, "all"])
        out.append(canon)
    return list(dict.fromkeys(out))


def parse_ops(text):
    """``-o`` value: one op, a comma list, or ``all``."""
    if text.strip() == "all":
        return list(OPS)
    out = []
    for name in text.split(","):
        name = name.strip()
        if name not in OPS:
            raise choices_error("reduction op (-o)", name, [*OPS, "all"])
        out.append(name)
    return list(dict.fromkeys(out))


def parse_algorithms(collective, text):
    """``--algo`` value: ``auto`` or names registered for ``collective`` (comma list)."""
    from .algorithms import algorithm_names

    valid = ["auto", *algorithm_names(collective)]
    out = []
    for name in text.split(","):
        name = name.strip()
        if name not in valid:
            raise choices_error(f"{collective} algorithm (--algo)", name, valid)
        out.append(name)
    return list(dict.fromkeys(out))


def parse_options(pairs):
    """``-O KEY=VALUE`` pairs into a dict; values become int or float when they parse."""
    options = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        if not eq or not key.strip().isidentifier():
            raise UbemuError(f"-O/--option: expected KEY=VALUE, got {pair!r}")
        for conv in (int, float):
            try:
                value = conv(value)
                break
            except ValueError:
                pass
        options[key.strip()] = value
    return options


def sweep_sizes(min_nbytes, max_nbytes, factor=None, step_nbytes=None):
    """nccl-tests' size sweep: multiply by ``factor`` or add ``step_nbytes`` until past the max."""
    if min_nbytes > max_nbytes:
        raise UbemuError(f"-b/--minbytes {min_nbytes} is larger than -e/--maxbytes {max_nbytes}")
    if factor is not None and factor < 2:
        raise UbemuError(f"-f/--stepfactor must be an integer >= 2, got {factor}")
    if factor is None and step_nbytes < 1:
        raise UbemuError(f"-i/--stepbytes must be >= 1, got {step_nbytes}")
    if factor is not None and min_nbytes < 1 and max_nbytes > 0:
        raise UbemuError("-b/--minbytes must be >= 1 with -f/--stepfactor")
    sizes, s = [], min_nbytes
    while s <= max_nbytes:
        sizes.append(s)
        if len(sizes) > MAX_SIZES:
            raise UbemuError(f"the sweep has more than {MAX_SIZES} sizes; raise -f or -i")
        s = s * factor if factor is not None else s + step_nbytes
        if s == sizes[-1]:  # -b 0 with -f: 0 * factor stays 0
            break
    return sizes


def round_sizes(sizes, unit_nbytes):
    """Round sizes down to multiples of ``unit_nbytes``; drop zeros and repeats (in order)."""
    out = [s // unit_nbytes * unit_nbytes for s in sizes]
    return list(dict.fromkeys(s for s in out if s > 0))


def _common_options(p):
    g = p.add_argument_group("sweep (nccl-tests flags)")
    g.add_argument("-b", "--minbytes", default="32M", metavar="SIZE",
                   help="smallest size in bytes, K/M/G suffixes (default 32M)")
    g.add_argument("-e", "--maxbytes", default="32M", metavar="SIZE",
                   help="largest size (default 32M)")
    g.add_argument("-f", "--stepfactor", type=int, default=None, metavar="N",
                   help="multiply the size by N between runs")
    g.add_argument("-i", "--stepbytes", default=None, metavar="SIZE",
                   help="add SIZE between runs (default 1M when -f is not given)")
    g.add_argument("-d", "--datatype", default="float32", metavar="TYPE",
                   help=f"{', '.join(DTYPE_BYTES)} (nccl-tests names double, float, half, int "
                        "too), a comma list, or all (default float32)")
    g.add_argument("-o", "--op", default="sum", metavar="OP",
                   help=f"reduction: {', '.join(OPS)}, a comma list, or all (default sum)")
    g.add_argument("-c", "--check", type=int, choices=(0, 1), default=0,
                   help="1: run the data plane and count wrong elements (default 0)")
    g.add_argument("-r", "--root", type=int, default=None, metavar="RANK",
                   help="root rank of broadcast / reduce (default 0)")
    g.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write every result as JSON (written only when the run succeeds)")
    u = p.add_argument_group("ubemu")
    u.add_argument("--topo", default=DEFAULT_TOPOLOGY, metavar="SPEC",
                   help="preset name, .toml file or string like full_mesh:8,switch:4@224GBps "
                        f"(default {DEFAULT_TOPOLOGY})")
    u.add_argument("--algo", default="auto", metavar="NAME[,NAME...]",
                   help="algorithm(s) to run, one table each; auto lets ubemu pick per size")
    u.add_argument("--group", default=None, metavar="SPEC",
                   help="run on a process group of the topology instead of every NPU")
    u.add_argument("--per-level", default=None, metavar="NAME[,NAME...]",
                   help="per-level algorithms of a hierarchical algorithm, innermost first")
    u.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra algorithm option passed to simulate (repeatable)")
    u.add_argument("--seed", type=int, default=0, help="seed of the check's input data")
    u.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="progress bar on stderr for sweeps over 1 s (auto: when a terminal)")


def add_parsers(subparsers):
    """Add the collective commands, ``algorithms`` and ``plot`` to ``ubemu``'s sub-parsers."""
    from .algorithms import REGISTRY

    registered = {c for c, _ in REGISTRY}
    for coll in COLLECTIVES:
        if coll not in MAIN_COLLECTIVES and coll not in registered:
            continue
        p = subparsers.add_parser(
            coll, help=f"sweep {coll} over sizes, nccl-tests style",
            description=f"Emulate {coll} over a range of sizes and print an nccl-tests table.")
        _common_options(p)
        p.set_defaults(command=coll, collective=coll)

    p = subparsers.add_parser("algorithms", help="list the registered algorithms",
                              description="List the algorithm registry.")
    p.add_argument("collective", nargs="?", default=None, help="only this collective")
    p.set_defaults(command="algorithms")

    p = subparsers.add_parser("plot", help="plot results written with -J",
                              description="Plot busbw or time against size from -J files, "
                                          "or per-link-class utilisation of one run.")
    p.add_argument("files", nargs="+", metavar="RESULT.json")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png")
    p.add_argument("--metric", choices=("busbw", "algbw", "time"), default="busbw")
    p.add_argument("--utilisation", action="store_true",
                   help="bar chart of link-class utilisation of the runs at one size")
    p.add_argument("--size", default=None, metavar="SIZE",
                   help="with --utilisation: the size to show (default the largest)")
    p.add_argument("--title", default=None)
    p.set_defaults(command="plot")


# -- running ---------------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on ``stream``, drawn only once the sweep has run ``delay_s``.

    ``mode``: ``auto`` draws when the stream is a terminal, ``on`` always, ``off`` never.
    """

    def __init__(self, total, stream=None, mode="auto", delay_s=1.0, width=30):
        self.stream = stream if stream is not None else sys.stderr
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = mode == "on" or (mode == "auto" and tty)
        self.total, self.delay_s, self.width = max(total, 1), delay_s, width
        self.start, self.shown, self.last_len = time.monotonic(), False, 0

    def update(self, done, label=""):
        if not self.enabled or time.monotonic() - self.start < self.delay_s:
            return
        filled = self.width * done // self.total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {label}"
        pad = max(self.last_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self.shown, self.last_len = True, len(line)

    def close(self):
        if self.shown:
            self.stream.write("\r" + " " * self.last_len + "\r")
            self.stream.flush()
            self.shown = False


def group_size(topology, group):
    """Ranks in ``group`` (the whole topology when None)."""
    if group is None:
        return topology.n_npus
    from .groups import group_of

    return group_of(topology, group).n


def plan_from_args(args):
    """Validate the command line and return the sweep plan (a dict); raises UbemuError."""
    from .topospec import load_topology

    coll = args.collective
    min_nbytes = parse_size_bytes(args.minbytes, field="-b/--minbytes")
    max_nbytes = parse_size_bytes(args.maxbytes, field="-e/--maxbytes")
    if args.stepfactor is not None and args.stepbytes is not None:
        raise UbemuError("give -f/--stepfactor or -i/--stepbytes, not both")
    step_nbytes = (parse_size_bytes(args.stepbytes, field="-i/--stepbytes")
                   if args.stepbytes is not None else 2**20)
    sizes = sweep_sizes(min_nbytes, max_nbytes, args.stepfactor, step_nbytes)
    dtypes = parse_dtypes(args.datatype)
    ops = parse_ops(args.op) if coll not in report.NO_REDOP else ["sum"]
    for dt in dtypes:
        for op in ops:
            check_op(dt, op)
    algos = parse_algorithms(coll, args.algo)
    options = parse_options(args.option)
    if args.root is not None:
        if coll not in report.ROOTED:
            raise UbemuError(f"-r/--root: {coll} has no root; only "
                             f"{' and '.join(report.ROOTED)} take one")
        options["root"] = args.root
    if args.per_level:
        names = tuple(n.strip() for n in args.per_level.split(","))
        options["per_level"] = names[0] if len(names) == 1 else names  # one name: every level
    topology = load_topology(args.topo)
    n_ranks = group_size(topology, args.group)
    per_dtype = {}
    for dt in dtypes:
        unit = DTYPE_BYTES[dt] * (n_ranks if COLLECTIVES[coll].blocked else 1)
        per_dtype[dt] = (unit, round_sizes(sizes, unit))
        if not per_dtype[dt][1]:
            raise UbemuError(f"{coll}: every size from -b {min_nbytes} to -e {max_nbytes} is "
                             f"below one {dt} element per rank ({unit} B)")
    return dict(collective=coll, sizes=sizes, dtypes=dtypes, ops=ops, algorithms=algos,
                options=options, topology=topology, n_ranks=n_ranks, per_dtype=per_dtype,
                check=bool(args.check), group=args.group, seed=args.seed,
                min_nbytes=min_nbytes, max_nbytes=max_nbytes, stepfactor=args.stepfactor,
                step_nbytes=step_nbytes)


def header_lines(plan):
    """The ``#`` lines before the tables: version, sweep, topology, group, algorithms."""
    t = plan["topology"]
    step = (f"{plan['stepfactor']}(factor)" if plan["stepfactor"] is not None
            else f"{plan['step_nbytes']}(bytes)")
    lines = [f"# ubemu {__version__}  {plan['collective']}  nRanks {plan['n_ranks']}  "
             f"minBytes {plan['min_nbytes']} maxBytes {plan['max_nbytes']} step: {step}  "
             f"validation: {int(plan['check'])}",
             "#",
             f"# Topology {t.name}: {t.n_npus} NPUs" + (f", {t.description}" if t.description
                                                       else "")]
    for i, desc in enumerate(t.describe_levels()):
        lines.append(f"#   level {i}: {desc}")
    lines.append(f"# Group: {plan['group'] if plan['group'] is not None else 'all NPUs'}"
                 f" ({plan['n_ranks']} ranks)")
    for dt, (unit, kept) in plan["per_dtype"].items():
        if kept != plan["sizes"]:
            lines.append(f"# {dt}: sizes rounded down to multiples of {unit} B "
                         f"({'one element per rank' if unit > DTYPE_BYTES[dt] else 'one element'})"
                         f"; {len(kept)} of {len(plan['sizes'])} sizes remain")
    if plan["options"]:
        opts = " ".join(f"{k}={v}" for k, v in sorted(plan["options"].items()))
        lines.append(f"# Options: {opts}")
    return lines


def run_sweep(plan, out=None, progress=None, simulate=None):
    """Run every (algorithm, dtype, op, size) of ``plan``, printing tables to ``out``.

    Returns the list of (requested algorithm, Result). The header and a table's title lines are
    printed only once its first result exists, so bad input that only ``simulate`` detects
    leaves stdout empty.
    """
    if simulate is None:
        from .api import simulate
    out = out if out is not None else sys.stdout
    coll, check = plan["collective"], plan["check"]
    jobs = [(a, dt, op, s) for a in plan["algorithms"] for dt in plan["dtypes"]
            for op in plan["ops"] for s in plan["per_dtype"][dt][1]]
    progress = progress or Progress(len(jobs), mode="off")
    pending = header_lines(plan)  # printed with the first row: a failed first run prints none
    done, results, table = 0, [], []
    shared_screen = getattr(out, "isatty", lambda: False)()
    try:
        for algo, dt, op, nbytes in jobs:
            progress.update(done, f"{algo} {dt} {op} {format_size(nbytes)}")
            t0 = time.perf_counter()
            res = simulate(coll, nbytes, topology=plan["topology"], algorithm=algo, dtype=dt,
                           op=op, group=plan["group"], verify=check, seed=plan["seed"],
                           **plan["options"])
            if res.wall_s is None:
                res.wall_s = time.perf_counter() - t0
            done += 1
            if table and table[0][0] != algo:
                _close_table(table, check, out)
                table = []
            if not table:
                lines = [*pending, "#", f"# Algorithm: {algo}", "#", *report.table_header(check)]
                print("\n".join(lines), file=out)
                pending = []
            table.append((algo, res))
            results.append((algo, res))
            if shared_screen:
                progress.close()  # the row and the bar share the terminal: clear the bar first
            print(report.format_row(res, check), file=out, flush=True)
        if table:
            _close_table(table, check, out)
    finally:
        progress.close()
    return results


def _close_table(table, check, out):
    res = [r for _, r in table]
    lines = report.footer_lines(res, check) + report.usage_lines(res[-1])
    print("\n".join(lines), file=out, flush=True)


def json_document(plan, results):
    """The ``-J`` document: command metadata, topology and one record per run."""
    t = plan["topology"]
    meta = {k: plan[k] for k in ("collective", "dtypes", "ops", "algorithms", "check", "group",
                                 "seed", "min_nbytes", "max_nbytes", "stepfactor",
                                 "step_nbytes", "options")}
    return {
        "ubemu": __version__,
        "command": meta,
        "topology": {"name": t.name, "n_npus": t.n_npus, "description": t.description,
                     "levels": t.describe_levels()},
        "n_ranks": plan["n_ranks"],
        report.RECORDS_KEY: [report.record(r, requested_algorithm=a,
                                           root=report.root_label(r.collective, r))
                             for a, r in results],
    }


def run_collective(args, out=None, err=None):
    """``ubemu <collective> ...``: sweep, print the tables, write ``-J``; returns 0."""
    from .parallel import env
    from .parallel.failstop import peak_memory_mib

    plan = plan_from_args(args)
    n_jobs = sum(len(plan["per_dtype"][dt][1]) for dt in plan["dtypes"]) \
        * len(plan["ops"]) * len(plan["algorithms"])
    root = env.is_root()  # in an MPI job only rank 0 prints and writes files
    sink = None if root else open(os.devnull, "w")
    try:
        progress = Progress(n_jobs, stream=err, mode=args.progress if root else "off")
        results = run_sweep(plan, out=out if root else sink, progress=progress)
        if env.active():
            mib = peak_memory_mib()
            if root:
                print(f"# peak memory per process (MiB): {' '.join(f'{m:.0f}' for m in mib)}",
                      file=out if out is not None else sys.stdout, flush=True)
    finally:
        if sink is not None:
            sink.close()
    if args.output_file and root:
        report.write_json_atomic(args.output_file, json_document(plan, results))
    return 0


def run_algorithms(args, out=None):
    """``ubemu algorithms [COLLECTIVE]``: the registry, one line per algorithm."""
    from .algorithms import REGISTRY
    from .algorithms.base import PHASES

    out = out if out is not None else sys.stdout
    colls = sorted({c for c, _ in REGISTRY})
    if args.collective is not None and args.collective not in colls:
        raise choices_error("collective", args.collective, colls)
    rows = [(c, n, REGISTRY[(c, n)].summary) for c, n in sorted(REGISTRY)
            if args.collective in (None, c)]
    w1, w2 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print(f"# {'collective':<{w1 - 2}}  {'algorithm':<{w2}}  summary", file=out)
    for c, n, s in rows:
        print(f"{c:<{w1}}  {n:<{w2}}  {s}", file=out)
    kinds = sorted({k for k, _ in PHASES})
    if kinds and args.collective is None:
        print("# per-level phases (for --per-level):", file=out)
        for k in kinds:
            print(f"#   {k}: {', '.join(sorted(n for kk, n in PHASES if kk == k))}", file=out)
    return 0


def run_plot(args, out=None):
    """``ubemu plot FILES -o OUT.png``: busbw / time against size, or utilisation bars."""
    from . import plot

    out = out if out is not None else sys.stdout
    records = []
    for path in args.files:
        records += report.load_records(path)
    if args.utilisation:
        nbytes = parse_size_bytes(args.size, field="--size") if args.size else None
        shown = plot.plot_utilisation(records, args.output, nbytes=nbytes, title=args.title)
    else:
        shown = plot.plot_sweep(records, args.output, metric=args.metric, title=args.title)
    print(f"wrote {args.output} ({shown})", file=out)
    return 0


#: ``args.command`` -> function running it, for ``ubemu.cli.DISPATCH``.
DISPATCH = {**{c: run_collective for c in COLLECTIVES}, "algorithms": run_algorithms,
            "plot": run_plot}

