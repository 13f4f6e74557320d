"""``ubemu hccl BINARY ...``: Ascend's hccl_test command lines on the collective commands.

hccl_test (CANN's HCCL Test tool, source and documents in the ``oam-tools`` repository:
``docs/zh/hccl_test/cmdline_options_desc.md``, ``src/hccl_test/common/src/hccl_test_common.cc``)
is run as ``mpirun -n N ./bin/all_reduce_test -p 8 -b 8K -e 64M -f 2 -d fp32 -o sum``; here
``ubemu hccl ./bin/all_reduce_test -p 8 -b 8K -e 64M -f 2 -d fp32 -o sum`` runs the same sweep
through :func:`ubemu.cli.sweep.run_collective` and prints it the way hccl_test does
(``hccl_opbase_rootinfo_base.cc``: ``data_size(Bytes): | aveg_time(us): | alg_bandwidth(GB/s):
| check_result:``). Its flags and defaults:

- ``-b -e`` (default 64M), ``-i`` (step; default ``(e - b) / 10``; ``0``: the start size
  alone), ``-f`` (a factor > 1, taking precedence over ``-i``), ``-o sum|prod|max|min``,
  ``-r`` root, ``-d fp32|fp16|fp64|bfp16|int32|int64`` (the types ubemu models; default
  fp32), ``-c 0|1|2`` (check; default 1, as hccl_test);
- ``-p`` NPUs per node: hccl_test runs one process per NPU, so in an MPI job the rank count
  is its process count (``mpirun -n``, which ``-p`` must divide); a single process emulates
  one node of ``-p`` NPUs (the topology's first ones), or without ``-p`` every NPU of the
  topology (or ``--group``);
- ``-n -w -z -m -s -t -a``: accepted, no effect on a deterministic model (said in the header).

``alg_bandwidth`` is hccl_test's algorithm bandwidth, data size over time (GB = 1e9 B):
ubemu's algbw. The ``v`` binaries hccl_test runs with equal counts per rank
(``all_gatherv_test``, ``alltoallv_test``) are their collective's; ``alltoallvc_test`` and
``reduce_scatterv_test`` are not modelled.
"""

import os
import sys
from types import SimpleNamespace

from ..errors import UbemuError, choices_error
from ..parallel import env
from ..units import parse_size_bytes
from . import table
from .sweep import add_ubemu_options, header_lines, run_collective

#: hccl_test binary -> (ubemu collective, how hccl_test runs it when it is a "v" variant).
BINARIES = {
    "all_reduce_test": ("all_reduce", None),
    "all_gather_test": ("all_gather", None),
    "all_gatherv_test": ("all_gather", "HcclAllGatherV with every rank's count equal"),
    "alltoall_test": ("alltoall", None),
    "alltoallv_test": ("alltoall", "HcclAlltoAllV with count/n to and from every rank"),
    "broadcast_test": ("broadcast", None),
    "reduce_scatter_test": ("reduce_scatter", None),
    "reduce_test": ("reduce", None),
    "scatter_test": ("scatter", None),
}
#: hccl_test's data type names of the types ubemu models.
DTYPES = {"fp32": "float32", "fp16": "float16", "fp64": "float64", "bfp16": "bfloat16",
          "int32": "int32", "int64": "int64"}
#: hccl_test's reduction ops.
OPS = ("sum", "prod", "max", "min")
#: hccl_test flags with no effect on the model: (short, long, default, what it does).
NO_EFFECT = (
    ("-n", "--iters", 20, "iterations timed"),
    ("-w", "--warmup_iters", 10, "warm-up iterations"),
    ("-z", "--zero_copy", 0, "zero-copy buffers"),
    ("-m", "--symmetric_memory", 0, "symmetric memory"),
    ("-s", "--nslb", 0, "network-scale load balancing"),
    ("-t", "--onlydevicetime", 0, "time the device side only"),
    ("-a", "--accelerator", "default", "expansion mode (AI CPU, AIV, CCU, ...)"),
)
#: hccl_test's column titles.
TITLES = ("data_size(Bytes):", "aveg_time(us):", "alg_bandwidth(GB/s):", "check_result:")


def add_parsers(subparsers):
    """Add ``hccl`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser(
        "hccl", help="run an hccl_test command line (all_reduce_test -p 8 -b 8K ...)",
        description="Run Ascend hccl_test's command line (binary name and flags) on the "
                    "model and print its result table.")
    p.add_argument("binary", metavar="BINARY",
                   help=f"hccl_test binary, name or path: {', '.join(BINARIES)}")
    g = p.add_argument_group("hccl_test flags")
    g.add_argument("-b", "--minbytes", default="64M", metavar="SIZE",
                   help="smallest size, K/M/G suffixes (default 64M)")
    g.add_argument("-e", "--maxbytes", default="64M", metavar="SIZE",
                   help="largest size (default 64M)")
    g.add_argument("-i", "--stepbytes", default=None, metavar="BYTES",
                   help="add BYTES between sizes (default (e - b) / 10; 0: the start size)")
    g.add_argument("-f", "--stepfactor", type=float, default=None, metavar="X",
                   help="multiply the size by X > 1 between sizes (precedence over -i)")
    g.add_argument("-o", "--op", default="sum", metavar="OP",
                   help=f"reduction: {', '.join(OPS)} (default sum)")
    g.add_argument("-r", "--root", default=None, metavar="RANK", help="root (default 0)")
    g.add_argument("-d", "--datatype", default="fp32", metavar="TYPE",
                   help=f"{', '.join(DTYPES)} (default fp32)")
    g.add_argument("-c", "--check", type=int, choices=(0, 1, 2), default=1,
                   help="check the results (default 1; 2: with details)")
    g.add_argument("-p", "--npus", type=int, default=None, metavar="N",
                   help="NPUs per node; one process: the ranks (default every NPU)")
    for short, long, default, what in NO_EFFECT:
        g.add_argument(short, long, default=None, metavar="X",
                       help=f"{what} (hccl_test, default {default}); no effect on the model")
    u = p.add_argument_group("ubemu")
    u.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write every result as JSON, rewritten after every row")
    add_ubemu_options(u)
    p.set_defaults(command="hccl")


def _sizes(args):
    """hccl_test's sweep as (minbytes, maxbytes, factor, stepbytes) for the sweep plan."""
    lo = parse_size_bytes(args.minbytes, field="-b/--minbytes")
    hi = parse_size_bytes(args.maxbytes, field="-e/--maxbytes")
    if lo < 1 or hi < 1:
        raise UbemuError("-b/--minbytes and -e/--maxbytes must be > 0 (hccl_test)")
    if args.stepfactor is not None:
        if not args.stepfactor > 1:
            raise UbemuError(f"-f/--stepfactor must be greater than 1, got "
                             f"{args.stepfactor:g}")
        return lo, hi, args.stepfactor, None
    if args.stepbytes is not None:
        step = parse_size_bytes(args.stepbytes, field="-i/--stepbytes")
        return (lo, lo, None, 1) if step == 0 else (lo, hi, None, step)
    return lo, hi, None, max((hi - lo) // 10, 1)


def _name(table_, flag, text, what):
    if text not in table_:
        raise choices_error(f"{what} ({flag})", text, list(table_))
    return table_[text] if isinstance(table_, dict) else text


def sweep_args(args, world_size=1):
    """The collective command's arguments for an hccl_test command line, and the binary's
    collective and note."""
    binary = os.path.basename(args.binary)
    if binary not in BINARIES:
        raise choices_error("hccl_test binary", binary, list(BINARIES))
    collective, note = BINARIES[binary]
    lo, hi, factor, step = _sizes(args)
    if args.npus is not None and args.npus < 1:
        raise UbemuError(f"-p/--npus must be >= 1, got {args.npus}")
    if world_size > 1 and args.npus is not None and world_size % args.npus:
        raise UbemuError(f"-p/--npus {args.npus} does not divide the job's {world_size} "
                         f"processes (mpirun -n: one per NPU)")
    ranks = ((world_size, f"mpirun -n {world_size}") if world_size > 1 else
             None if args.npus is None else (args.npus, f"-p {args.npus}"))
    out = SimpleNamespace(**{k: v for k, v in vars(args).items() if k != "binary"})
    out.__dict__.update(
        collective=collective, minbytes=str(lo), maxbytes=str(hi),
        stepfactor=factor, stepbytes=None if step is None else str(step),
        datatype=_name(DTYPES, "-d", args.datatype, "datatype"),
        op=_name(OPS, "-o", args.op, "reduction op"), check=args.check, ranks=ranks,
        report_timestamps=0, binary=binary, note=note)
    return out


class HcclStyle:
    """hccl_test's output around ubemu's header: its size line, its table per algorithm."""

    def __init__(self, plan, args):
        self.plan, self.args = plan, args

    def head(self):
        a, plan = self.args, self.plan
        lines = [f"# hccl_test {a.binary} on ubemu: {plan.collective}"
                 + (f" ({a.note})" if a.note else "")]
        given = [f"{short} {getattr(a, long[2:])}" for short, long, _, _ in NO_EFFECT
                 if getattr(a, long[2:]) is not None]
        if given:
            lines.append(f"# no effect on a deterministic model: {' '.join(given)}")
        iters = a.iters if a.iters is not None else NO_EFFECT[0][2]
        warmup = a.warmup_iters if a.warmup_iters is not None else NO_EFFECT[1][2]
        return [*lines, *header_lines(plan),
                f"the minbytes is {plan.min_nbytes}, maxbytes is {plan.max_nbytes}, iters is "
                f"{iters}, warmup_iters is {warmup}"]

    def table_start(self, algo):
        extra = "" if not self.plan.extra else " | maxrelerr | bottleneck | algorithm"
        head = "{:<15} | {:<12} | {:<18} | {}".format(*TITLES)  # hccl_test's printf
        return [f"# Algorithm: {algo}", head + extra]

    def row(self, res):
        verdict = ("NULL" if res.wrong is None else "success" if res.wrong == 0 else "failed")
        line = (f"{res.nbytes:<17d} | {res.time_s * 1e6:<14.2f} | {res.algbw_GBps:<20.5f} | "
                f"{verdict}")
        if self.plan.extra:
            err = "N/A" if res.max_rel_err is None else f"{res.max_rel_err:.2e}"
            line += f" | {err} | {res.bottleneck or '-'} | {res.algorithm}"
        return line

    def table_end(self, results):
        return table.usage_lines(results[-1])

    def tail(self):
        return []


def run_hccl(args, out=None, err=None):
    """``ubemu hccl BINARY ...``; returns 0."""
    return run_collective(sweep_args(args, env.world_size()), out=out or sys.stdout, err=err,
                          style=HcclStyle)


DISPATCH = {"hccl": run_hccl}
