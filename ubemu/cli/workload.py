"""``ubemu workload FILE.toml``: several operations at once, sharing links.

The file names a ``topology`` (or ``--topo`` overrides it) and lists ``[[op]]`` tables
(:func:`ubemu.workloads.ops.ops_from_dicts`); the command prints one row per operation (start, end,
time, time alone, slowdown, bottleneck), the makespan and the exposed communication, each
link class's usage (machine-wide and over the links the operations use), and writes the JSON
(``-J``), the table as CSV (``--csv``) and the Trace Event Format timeline (``--trace``).
Every output path is checked before anything runs.
"""

import os
import sys

from ..errors import UbemuError
from ..machine.faults import with_faults
from ..machine.spec import load_topology, with_params
from ..parallel import env
from ..units import format_size
from ..workloads.ops import ops_from_dicts
from .csvout import CsvWriter, add_csv_option
from .faults import add_fault_options, fault_lines
from .progress import MODES, Progress
from .request import check_max_work
from .results import check_outputs, topology_record, write_json_atomic
from .table import class_lines, format_number
from .trace import write_trace

#: Keys at the top of a workload file.
TOP_KEYS = ("topology", "faults", "routing", "op")
#: ``kind`` of the ``-J`` document (``ubemu plot`` draws its timeline).
DOCUMENT_KIND = "workload"


def add_parsers(subparsers):
    p = subparsers.add_parser(
        "workload", help="run several collectives at once (a TOML workload)",
        description="Time the operations of a workload file together: operations in flight "
                    "at the same time share links (max-min fair).")
    p.add_argument("file", metavar="FILE.toml", help="the workload: topology = ..., [[op]] ...")
    p.add_argument("--topo", default=None, metavar="SPEC",
                   help="topology (overrides the file's topology =)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a topology parameter (repeatable)")
    add_fault_options(p)
    p.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write the result as JSON")
    p.add_argument("--trace", default=None, metavar="FILE.json",
                   help="write a timeline in the Trace Event Format (chrome://tracing, "
                        "Perfetto)")
    add_csv_option(p)
    p.add_argument("--max-work", default=None, metavar="N",
                   help="refuse a workload predicted to take more than N transfers of work "
                        "(timing each operation alone, then playing them together; default "
                        "2e9)")
    p.add_argument("--progress", choices=MODES, default="auto",
                   help="progress with ETA on stderr: auto (after a few seconds: a bar on a "
                        "terminal, a line every 10 s otherwise), on, off")
    p.set_defaults(command="workload")


#: ``--csv`` of ``ubemu workload``: a row per operation (times in microseconds).
CSV_COLUMNS = ("operation", "collective", "algorithm", "groups", "ranks", "nbytes", "start_us",
               "end_us", "time_us", "alone_us", "slowdown", "bottleneck")


def csv_rows(result):
    """The ``--csv`` rows of a workload's result, in table order."""
    return [(op.name, op.collective, op.algorithm, op.n_groups if op.n_ranks else None,
             op.n_ranks or None, op.nbytes or None, op.start_s * 1e6, op.end_s * 1e6,
             op.duration_s * 1e6, op.alone_s * 1e6, op.slowdown, op.bottleneck)
            for op in result.ops]


def read_workload(path):
    """(topology spec or None, list of Op, the file's faults table or None, its routing)."""
    from ..machine.spec import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise UbemuError(f"workload {path!r}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UbemuError(f"workload {path!r}: not valid TOML "
                         f"({str(exc).splitlines()[0]})") from None
    for key in data:
        if key not in TOP_KEYS:
            raise UbemuError(f"workload {path!r}: unknown key {key!r}; valid: "
                             f"{', '.join(TOP_KEYS)} (operations go in [[op]] tables)")
    ops = ops_from_dicts(data.get("op", []), f"workload {path!r}")
    return data.get("topology"), ops, data.get("faults"), data.get("routing", "minimal")


def table_lines(result):
    """The per-operation table, then the makespan and the exposed communication."""
    head = (f"{'operation':<14} {'collective':<14} {'algorithm':<18} {'groups':>6} "
            f"{'ranks':>6} {'size':>6} {'start(us)':>10} {'end(us)':>10} {'time(us)':>10} "
            f"{'alone(us)':>10} {'slowdown':>8}  bottleneck")
    lines = [head]
    for op in result.ops:
        size = format_size(op.nbytes) if op.nbytes else "-"
        groups, ranks = (op.n_groups, op.n_ranks) if op.n_ranks else ("-", "-")
        lines.append(f"{op.name:<14} {op.collective:<14} {op.algorithm or '-':<18} "
                     f"{groups:>6} {ranks:>6} {size:>6} "
                     f"{format_number(op.start_s * 1e6):>10} {format_number(op.end_s * 1e6):>10} "
                     f"{format_number(op.duration_s * 1e6):>10} "
                     f"{format_number(op.alone_s * 1e6):>10} {op.slowdown:>8.3f}  "
                     f"{op.bottleneck or '-'}")
    lines.append(f"# makespan {format_number(result.makespan_s * 1e6)} us; exposed "
                 f"communication {format_number(result.exposed_s * 1e6)} us; busiest link "
                 f"class {result.bottleneck or '-'}")
    return lines + class_lines("link classes over the makespan", result.usage)


def run(args, out=None, err=None):
    from ..workloads.run import run_workload

    out, err = out or sys.stdout, err or sys.stderr
    root = env.is_root()  # in an MPI job process 0 times the workload, prints, writes files
    if not root:
        out = open(os.devnull, "w")
    max_work = check_max_work(args.max_work)
    spec, ops, faults, routing = read_workload(args.file)
    check_outputs([("-J/--output_file", args.output_file), ("--trace", args.trace),
                   ("--csv", args.csv)],
                  [("the workload file", args.file), ("the topology file", args.topo or spec)],
                  writable=root)
    if args.topo is None and spec is None:
        raise UbemuError(f"workload {args.file!r}: no topology (add topology = \"...\" or "
                         f"give --topo)")
    topology = with_params(load_topology(args.topo or spec), args.param)
    routing = args.routing if args.routing != "minimal" or args.faults else routing
    topology = with_faults(topology, args.faults if args.faults else faults, routing)
    csv_out = CsvWriter(args.csv if root else None, CSV_COLUMNS)
    progress = Progress([1.0], stream=err, mode=args.progress if root else "off", out=out,
                        unit=None).start()
    progress.update(0)
    try:
        result = run_workload(ops, topology, max_work=max_work, progress=progress.within)
        progress.within(1.0, "")
    finally:
        progress.close()
    print(f"# ubemu workload {args.file}: {len(ops)} operations on {topology.name} "
          f"({topology.n_npus} NPUs)", file=out)
    for line in fault_lines(topology):
        print(line, file=out)
    print("\n".join(table_lines(result)), file=out, flush=True)
    if not root:
        return 0
    csv_out.add_all(csv_rows(result))
    if args.output_file is not None:
        doc = {**result.to_dict(), "kind": DOCUMENT_KIND, "topology": topology_record(topology)}
        write_json_atomic(args.output_file, doc)
    if args.trace is not None:
        write_trace(result, args.trace)
    return 0


DISPATCH = {"workload": run}
