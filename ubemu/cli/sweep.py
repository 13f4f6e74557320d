"""The collective commands: ``ubemu all_reduce -b 8 -e 128M -f 2`` and the other collectives.

Each takes every flag of its nccl-tests binary (:mod:`.ncclflags`; ``ubemu all_reduce_perf``
is the same command) and prints one nccl-tests table per requested algorithm (:mod:`.table`)
over every data type, op, root and size of the :class:`~ubemu.cli.request.SweepPlan`; ``ubemu
hccl`` prints the same sweep the way hccl_test does (:mod:`.hccl`). ``-J`` is rewritten after
every row (:class:`~ubemu.cli.results.ResultWriter`), ``--csv`` gets a row as each completes
(:mod:`.csvout`). In an MPI job every process runs the sweep and process 0 alone prints and
writes, so stdout is the same for any process count; each process's peak memory goes to the
``-J`` document and, in a job of several processes, to one ``#`` line on stderr.
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
from ..parallel import env
from ..parallel.spread import in_order
from ..timing.protocols import PROTOCOLS
from ..units import format_size
from . import ncclflags, table
from .csvout import CsvWriter, add_csv_option
from .faults import add_fault_options, fault_lines
from .progress import MODES, Progress
from .request import left_out_line, plan_from_args
from .results import ResultWriter, check_outputs


class Terminated(SystemExit):
    """SIGTERM arrived (a scheduler ended the job): unwinds like ``sys.exit(143)``."""

    def __init__(self):
        super().__init__(128 + signal.SIGTERM)


def add_sweep_options(p):
    """The flags of a collective command (nccl-tests' and ubemu's own) on parser ``p``."""
    g = p.add_argument_group("sweep (nccl-tests flags)")
    add_size_options(g)
    g.add_argument("-d", "--datatype", default="float32", metavar="TYPE",
                   help=f"{', '.join(DTYPES)} (nccl-tests names double, float, half, int "
                        "too), a comma list, or all (default float32)")
    g.add_argument("-o", "--op", default="sum", metavar="OP",
                   help=f"reduction: {', '.join(OPS)}, a comma list, or all (default sum)")
    g.add_argument("-c", "--check", type=int, default=0, metavar="N",
                   help="N >= 1: run the data plane and count wrong elements (nccl-tests' "
                        "check iterations: every one is the same here; default 0)")
    g.add_argument("-r", "--root", default=None, metavar="RANK",
                   help="root rank of broadcast / reduce / gather / scatter (default 0; all or "
                        "-1: every rank, one row each)")
    g.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write every result as JSON, rewritten after every row")
    ncclflags.add_nccl_options(g)
    add_ubemu_options(p.add_argument_group("ubemu"))


def add_size_options(g):
    """``-b -e -f -i``: the size sweep (nccl-tests' flags and defaults)."""
    g.add_argument("-b", "--minbytes", default="32M", metavar="SIZE",
                   help="smallest size in bytes, K/M/G suffixes (default 32M)")
    g.add_argument("-e", "--maxbytes", default="32M", metavar="SIZE",
                   help="largest size (default 32M)")
    g.add_argument("-f", "--stepfactor", type=int, default=None, metavar="N",
                   help="multiply the size by N between runs")
    g.add_argument("-i", "--stepbytes", default=None, metavar="SIZE",
                   help="add SIZE between runs (default 1M when -f is not given)")


def add_ubemu_options(u):
    """ubemu's own flags of a collective command (the machine, algorithms, outputs)."""
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
    u.add_argument("--extra", action="store_true",
                   help="ubemu's columns after nccl-tests' thirteen: maxrelerr (with -c), the "
                        "bottleneck link class, the algorithm that ran")
    add_csv_option(u)
    u.add_argument("--progress", choices=MODES, default="auto",
                   help="progress with ETA on stderr: auto (after a few seconds: a bar on a "
                        "terminal, a line every 10 s otherwise), on, off")


def add_parsers(subparsers):
    """Add one command per collective of :mod:`ubemu.collectives` to ``ubemu``'s (also under
    its nccl-tests binary's name, ``all_reduce_perf``)."""
    for coll in collectives.COLLECTIVES.values():
        p = subparsers.add_parser(
            coll.name, aliases=[f"{coll.name}_perf"],
            help=f"sweep {coll.name} over sizes, nccl-tests style",
            description=f"Emulate {coll.name} ({coll.summary}) over a range of sizes and "
                        f"print nccl-tests' table; every {coll.name}_perf flag is accepted.")
        add_sweep_options(p)
        if coll.name == "alltoallv":
            p.add_argument_group("alltoallv").add_argument(
                "--traffic", default=None, metavar="SPEC",
                help="per-pair sizes, scaled to the size (what a rank sends on average): "
                     "uniform (default), a matrix file (.npy, .csv, .txt; row i: what rank i "
                     "sends each rank), or MoE routing moe:tokens=T,experts=E,topk=K[,seed=S]"
                     "[,skew=X][,combine]")
        p.set_defaults(command=coll.name, collective=coll.name)


# -- the sweep ------------------------------------------------------------------------------
def header_lines(plan):
    """ubemu's ``#`` lines: what ran (collective, ranks), the topology, group and options."""
    t = plan.topology
    lines = [f"# ubemu {__version__}  {plan.collective}  nRanks {plan.n_ranks}  (modelled "
             f"times, not measured)",
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
    why = f": {plan.ranks_from}" if plan.ranks_from else ""
    lines.append(f"# Group: {plan.group if plan.group is not None else 'all NPUs'}"
                 f" ({plan.n_ranks} ranks{why})" + (
                     f", every group at once ({plan.n_groups} groups)" if plan.n_groups > 1
                     else ""))
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
    left_out = left_out_line(plan)
    return lines + ([left_out] if left_out else [])


class NcclStyle:
    """nccl-tests' output around ubemu's header: its run line, one table per algorithm
    (:mod:`.table`), its closing lines."""

    def __init__(self, plan, args):
        self.plan, self.args = plan, args
        self.layout = table.Layout(check=plan.check, extra=plan.extra,
                                   timestamps=plan.timestamps)

    def head(self):
        name = f"ubemu {self.plan.collective}"
        return [f"# Collective test starting: {name}",
                *ncclflags.header_lines(self.args, self.plan), *header_lines(self.plan),
                "# In place: the same schedule on one buffer per rank (ubemu charges no "
                "local copy): the out-of-place figures"]

    def table_start(self, algo):
        return ["#", f"# Algorithm: {algo}", *table.table_header(self.layout)]

    def row(self, res):
        stamp = time.strftime(table.TIMESTAMP_FORMAT) if self.layout.timestamps else None
        return table.format_row(res, self.layout, stamp)

    def table_end(self, results):
        return table.footer_lines(results) + table.usage_lines(results[-1])

    def tail(self):
        return ["#", f"# Collective test concluded: ubemu {self.plan.collective}"]


def run_sweep(plan, style, out=None, progress=None, on_row=None, simulate=None):
    """Run every (algorithm, dtype, op, root, size) of ``plan``, printing tables to ``out``
    in ``style`` (:class:`NcclStyle`: nccl-tests' tables; :class:`ubemu.cli.hccl.HcclStyle`).

    ``on_row(requested_algorithm, result)`` is called after each row is printed. The header
    is printed before the first row runs and a table's title lines with its first row, so
    bad input that only ``simulate`` detects before the first row leaves only the header. In
    an MPI job the rows of a timing-only sweep are spread over the processes
    (:func:`spreads_rows`) and process 0 prints them in order as they land (``on_row`` runs
    there only).

    Returns
    -------
    list of (str, Result)
        The requested algorithm and the result of every row (none on the other processes
        when the rows were spread).
    """
    if simulate is None:
        from .. import api

        simulate = api.simulate
    out = out if out is not None else sys.stdout
    progress = progress or Progress([], mode="off")
    shared_screen = getattr(out, "isatty", lambda: False)()
    with progress.hold(clear=shared_screen):  # whole lines, before the first long row
        print("\n".join(style.head()), file=out, flush=True)
    results, table_rows = [], []
    for done, res in _rows(plan, simulate, progress):
        algo = plan.jobs[done].algorithm
        with progress.hold(clear=shared_screen):  # a bar on the same terminal: cleared first
            if table_rows and table_rows[0][0] != algo:
                print("\n".join(style.table_end([r for _, r in table_rows])), file=out)
                table_rows = []
            if not table_rows:
                print("\n".join(style.table_start(algo)), file=out)
            print(style.row(res), file=out, flush=True)
            progress.done, progress.label = done + 1, ""
        table_rows.append((algo, res))
        results.append((algo, res))
        if on_row is not None:
            on_row(algo, res)
    with progress.hold(clear=shared_screen):
        lines = (style.table_end([r for _, r in table_rows]) if table_rows else [])
        print("\n".join(lines + style.tail()), file=out, flush=True)
    return results


def spreads_rows(plan):
    """The rows of ``plan`` are spread over an MPI job's processes: several of them, timing
    only (a checked row spreads its own data and timing over the processes instead)."""
    return env.active() and not plan.check and len(plan.jobs) > 1


def _rows(plan, simulate, progress):
    """``(index, Result)`` of every row in order: run here one after the other, or spread
    over the processes (:func:`spreads_rows`; process 0 gets them as they land)."""
    jobs = list(plan.jobs)
    apart = spreads_rows(plan)

    def label(k):
        job = jobs[k]
        return f"{job.algorithm} {job.dtype} {job.op} {format_size(job.nbytes)}"

    def row(job):
        t0_s = time.perf_counter()
        res = simulate(plan.collective, job.nbytes, topology=plan.topology,
                       algorithm=job.algorithm, dtype=job.dtype, op=job.op, group=plan.group,
                       verify=plan.check, seed=plan.seed, max_work=plan.max_work,
                       every=plan.n_groups > 1, progress=None if apart else progress.within,
                       protocol=plan.protocol, **plan.options,
                       **({} if job.root is None else {"root": job.root}))
        if res.wall_s is None:
            res.wall_s = time.perf_counter() - t0_s
        return res

    if not apart:
        for done, job in enumerate(jobs):
            progress.update(done, label(done))
            yield done, row(job)
        return
    progress.update(0, label(0))
    for done, res in in_order(jobs, row, weights=plan.row_s or None):  # each alone
        yield done, res
        if done + 1 < len(jobs):
            progress.update(done + 1, label(done + 1))


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


def run_collective(args, out=None, err=None, style=None):
    """``ubemu <collective> ...``: sweep, print the tables, write ``-J`` and ``--csv``;
    returns 0. ``style(plan, args)`` makes the output style (default :class:`NcclStyle`).

    Every output path is checked before the first run. With ``-J`` each process's peak
    memory is measured after every row (a collective call, so every process makes it).
    """
    from ..parallel.failstop import peak_memory_mib

    root = env.is_root()  # in an MPI job only process 0 prints and writes files
    check_outputs([("-J/--output_file", args.output_file), ("--csv", args.csv)],
                  [("the --topo file", args.topo)], writable=root)
    plan = plan_from_args(args)
    csv_out = CsvWriter(plan.csv_file if root else None, table.CSV_COLUMNS)
    writer = ResultWriter(plan.output_file if root else None, plan, n_procs=env.world_size())
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    progress = Progress(plan.row_s, stream=err, mode=args.progress if root else "off",
                        out=out, predicted_s=True)
    progress.start()
    track = plan.output_file is not None and not spreads_rows(plan)  # a collective per row

    def on_row(algo, res):
        writer.add(algo, res, peak_memory_mib() if track else None)
        csv_out.add(table.csv_record(res, algo))

    sink = None if root else open(os.devnull, "w")
    try:
        with _sigterm_unwinds():
            run_sweep(plan, (style or NcclStyle)(plan, args), out=out if root else sink,
                      progress=progress, on_row=on_row)
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
