"""The collective commands: ``ubemu all_reduce -b 8 -e 128M -f 2`` and the other collectives.

One table per requested algorithm, nccl-tests style (:mod:`.table`), over every data type, op
and size of the :class:`~ubemu.cli.request.SweepPlan`. ``-J`` is rewritten after every row
(:class:`~ubemu.cli.results.ResultWriter`). In an MPI job every process runs the sweep and
process 0 alone prints and writes, so stdout is the same for any process count; each
process's peak memory goes to the ``-J`` document and, in a job of several processes, to one
``#`` line on stderr.
"""

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import asdict

from .. import __version__, collectives
from ..api import DEFAULT_TOPOLOGY
from ..data.dtypes import DTYPES, OPS
from ..errors import UbemuError
from ..machine.spec import PARAM_FIELDS
from ..machine.topology import TopologyParams
from ..timing.protocols import PROTOCOLS
from ..parallel import env
from ..units import format_size
from . import table
from .faults import add_fault_options, fault_lines
from .progress import MODES, Progress, row_weights
from .request import plan_from_args
from .results import ResultWriter, check_writable


class Terminated(SystemExit):
    """SIGTERM arrived (a scheduler ended the job): unwinds like ``sys.exit(143)``."""

    def __init__(self):
        super().__init__(128 + signal.SIGTERM)


def add_sweep_options(p):
    """The flags of a collective command (nccl-tests' and ubemu's own) on parser ``p``."""
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
                   help=f"{', '.join(DTYPES)} (nccl-tests names double, float, half, int "
                        "too), a comma list, or all (default float32)")
    g.add_argument("-o", "--op", default="sum", metavar="OP",
                   help=f"reduction: {', '.join(OPS)}, a comma list, or all (default sum)")
    g.add_argument("-c", "--check", type=int, choices=(0, 1), default=0,
                   help="1: run the data plane and count wrong elements (default 0)")
    g.add_argument("-r", "--root", type=int, default=None, metavar="RANK",
                   help="root rank of broadcast / reduce (default 0)")
    g.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write every result as JSON, rewritten after every row")
    u = p.add_argument_group("ubemu")
    u.add_argument("--topo", default=DEFAULT_TOPOLOGY, metavar="SPEC",
                   help="preset name, .toml file or string like full_mesh:8,switch:4@224GBps "
                        f"(default {DEFAULT_TOPOLOGY})")
    u.add_argument("--algo", default="auto", metavar="NAME[,NAME...]",
                   help="algorithm(s) to run, one table each; auto lets ubemu pick per size")
    u.add_argument("--group", default=None, metavar="SPEC",
                   help="run on a process group of the topology instead of every NPU, e.g. "
                        "unit=board,at=8 or one_per=rack")
    u.add_argument("--every", action="store_true",
                   help="run the collective on every group of the kind --group names, all at "
                        "once in lockstep (groups sharing a link share it); the time is the "
                        "slowest group's")
    add_fault_options(u)
    u.add_argument("--protocol", choices=("auto",) + PROTOCOLS, default="auto",
                   help="the library's protocol: auto picks the fastest the topology offers "
                        "per size (default auto)")
    u.add_argument("--per-level", default=None, metavar="NAME[,NAME...]",
                   help="per-level algorithms of hierarchical, innermost first (default ring "
                        "on every level; one name: every level)")
    u.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a topology parameter (repeatable; what-if runs without a "
                        f"TOML file): {', '.join(PARAM_FIELDS)}")
    u.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra option of the algorithm's builder, passed to simulate "
                        "(repeatable)")
    u.add_argument("--max-work", default=None, metavar="N",
                   help="refuse a run predicted to route more than N transfers (summed over "
                        "its steps; default 2e9); auto leaves such algorithms out")
    u.add_argument("--seed", type=int, default=0,
                   help="seed of the check's input data (0 to 2**63-1, default 0)")
    u.add_argument("--progress", choices=MODES, default="auto",
                   help="progress with ETA on stderr: auto (after a few seconds: a bar on a "
                        "terminal, a line every 10 s otherwise), on, off")


def add_parsers(subparsers):
    """Add one command per collective of :mod:`ubemu.collectives` to ``ubemu``'s."""
    for coll in collectives.COLLECTIVES.values():
        p = subparsers.add_parser(
            coll.name, help=f"sweep {coll.name} over sizes, nccl-tests style",
            description=f"Emulate {coll.name} ({coll.summary}) over a range of sizes and "
                        f"print an nccl-tests table.")
        add_sweep_options(p)
        p.set_defaults(command=coll.name, collective=coll.name)


# -- the sweep ------------------------------------------------------------------------------
def header_lines(plan):
    """The ``#`` lines before the tables: version, sweep, topology, group, options."""
    t = plan.topology
    step = (f"{plan.stepfactor}(factor)" if plan.stepfactor is not None
            else f"{plan.step_nbytes}(bytes)")
    lines = [f"# ubemu {__version__}  {plan.collective}  nRanks {plan.n_ranks}  "
             f"minBytes {plan.min_nbytes} maxBytes {plan.max_nbytes} step: {step}  "
             f"validation: {int(plan.check)}",
             "#",
             f"# Topology {t.name}: {t.n_npus} NPUs" + (f", {t.description}" if t.description
                                                       else "")]
    for i, lv in enumerate(t.levels):
        lines.append(f"#   level {i}: {table.human_spec(lv)}")
    default = asdict(TopologyParams())
    costs = {k: v for k, v in asdict(t.params).items() if v != default[k]}
    if costs:  # whole numbers in full (bytes), the others rounded for reading
        lines.append("#   params: " + "  ".join(
            f"{k}={int(v) if float(v).is_integer() else table.format_number(v)}"
            for k, v in costs.items()))
    lines += fault_lines(t)
    lines.append(f"# Group: {plan.group if plan.group is not None else 'all NPUs'}"
                 f" ({plan.n_ranks} ranks)" + (f", every group at once ({plan.n_groups} groups)"
                                               if plan.n_groups > 1 else ""))
    for dt, ds in plan.per_dtype.items():
        if list(ds.sizes_nbytes) != list(plan.sizes_nbytes):
            what = "one element per rank" if ds.unit_nbytes > ds.itemsize_nbytes else "one element"
            lines.append(f"# {dt}: sizes rounded down to multiples of {ds.unit_nbytes} B "
                         f"({what}); {len(ds.sizes_nbytes)} of {len(plan.sizes_nbytes)} "
                         f"sizes remain")
    if plan.options:
        opts = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                        for k, v in sorted(plan.options.items()))
        lines.append(f"# Options: {opts}")
    return lines


def run_sweep(plan, out=None, progress=None, on_row=None, simulate=None):
    """Run every (algorithm, dtype, op, size) of ``plan``, printing tables to ``out``.

    ``on_row(requested_algorithm, result)`` is called after each row is printed. The header
    and a table's title lines are printed only with its first row, so bad input that only
    ``simulate`` detects before the first row leaves stdout empty.

    Returns
    -------
    list of (str, Result)
        The requested algorithm and the result of every row.
    """
    if simulate is None:
        from .. import api

        simulate = api.simulate
    out = out if out is not None else sys.stdout
    progress = progress or Progress([], mode="off")
    print("\n".join(header_lines(plan)), file=out, flush=True)  # before the first long row
    results, table_rows = [], []
    shared_screen = getattr(out, "isatty", lambda: False)()
    for done, (algo, dt, op, nbytes) in enumerate(plan.jobs):
        progress.update(done, f"{algo} {dt} {op} {format_size(nbytes)}")
        t0_s = time.perf_counter()
        res = simulate(plan.collective, nbytes, topology=plan.topology, algorithm=algo,
                       dtype=dt, op=op, group=plan.group, verify=plan.check, seed=plan.seed,
                       max_work=plan.max_work, every=plan.n_groups > 1,
                       progress=progress.within, protocol=plan.protocol, **plan.options)
        if res.wall_s is None:
            res.wall_s = time.perf_counter() - t0_s
        with progress.hold(clear=shared_screen):  # a bar on the same terminal: cleared first
            if table_rows and table_rows[0][0] != algo:
                _close_table(table_rows, plan.check, out)
                table_rows = []
            if not table_rows:
                print("\n".join(["#", f"# Algorithm: {algo}", "#",
                                 *table.table_header(plan.check)]), file=out)
            print(table.format_row(res, plan.check), file=out, flush=True)
            progress.done, progress.label = done + 1, ""
        table_rows.append((algo, res))
        results.append((algo, res))
        if on_row is not None:
            on_row(algo, res)
    with progress.hold(clear=shared_screen):
        if table_rows:
            _close_table(table_rows, plan.check, out)
    return results


def _close_table(rows, check, out):
    res = [r for _, r in rows]
    lines = table.footer_lines(res, check) + table.usage_lines(res[-1])
    print("\n".join(lines), file=out, flush=True)


@contextlib.contextmanager
def _sigterm_unwinds():
    """SIGTERM raises :class:`Terminated` inside (so the ``-J`` file is closed tidily).

    Only in the main thread of a job of one process: in an MPI job a process waiting in a
    collective would not see it, so there the default (immediate end) stays.
    """
    if env.active() or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def peak_memory_line(peaks_mib):
    """The ``#`` line of every process's peak memory (stderr, jobs of several processes)."""
    return (f"# peak memory per process (MiB): {' '.join(f'{m:.0f}' for m in peaks_mib)}  "
            f"(max {max(peaks_mib):.0f}, total {sum(peaks_mib):.0f}, "
            f"{len(peaks_mib)} processes)")


def run_collective(args, out=None, err=None):
    """``ubemu <collective> ...``: sweep, print the tables, write ``-J``; returns 0.

    Every output path is checked before the first run. With ``-J`` each process's peak
    memory is measured after every row (a collective call, so every process makes it).
    """
    from ..parallel.failstop import peak_memory_mib

    plan = plan_from_args(args)
    root = env.is_root()  # in an MPI job only process 0 prints and writes files
    if plan.output_file is not None and root:
        check_writable(plan.output_file, "-J/--output_file")
    writer = ResultWriter(plan.output_file if root else None, plan, n_procs=env.world_size())
    err = err if err is not None else sys.stderr
    progress = Progress(row_weights(plan), stream=err, mode=args.progress if root else "off")
    progress.start()
    track = plan.output_file is not None

    def on_row(algo, res):
        writer.add(algo, res, peak_memory_mib() if track else None)

    sink = None if root else open(os.devnull, "w")
    try:
        with _sigterm_unwinds():
            run_sweep(plan, out=out if root else sink, progress=progress, on_row=on_row)
    except (UbemuError, Terminated, KeyboardInterrupt) as exc:
        if writer.records:  # keep the rows done, saying why the rest is missing
            why = {Terminated: "terminated by SIGTERM", KeyboardInterrupt: "interrupted"}
            writer.finish(error=why.get(type(exc)) or " ".join(str(exc).split()))
        raise
    finally:
        progress.close()
        if sink is not None:
            sink.close()
    peaks = peak_memory_mib()
    writer.finish(peaks)
    if env.active() and root:
        print(peak_memory_line(peaks), file=err, flush=True)
    return 0


#: ``args.command`` -> function running it, for ``ubemu.cli.DISPATCH``.
DISPATCH = {c: run_collective for c in collectives.NAMES}
