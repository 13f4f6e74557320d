"""nccl-tests' command line on the collective commands: every flag of ``all_reduce_perf``.

The flags and defaults are NVIDIA/nccl-tests' (``src/common.cu``'s ``longopts`` and its
README, up to the 2.20 releases' ``-u``, ``-I``, ``-K``). What each means here:

- ``-t/--nthreads``, ``-g/--ngpus``: as in nccl-tests the rank count is processes x threads x
  GPUs per thread (an MPI job of ubemu: its processes); the ranks are the topology's first NPUs
  (``--group start=0,count=N``). Without them ubemu runs every NPU of the topology.
- ``-c/--check N``: check the results (any ``N >= 1``; every check of the model is the same);
- ``-r/--root``: the root of the rooted collectives (``all`` or ``-1``: every rank, one row
  each); the others ignore it, as nccl-tests does (said in the header);
- ``-S/--report_timestamps 1``: nccl-tests' timestamp column (when the row was computed);
- ``-b -e -i -f -d -o -r -J``: as before (``ubemu.cli.sweep``);
- everything else (:data:`NO_EFFECT`) is accepted and printed in the header as having no
  effect: iterations, warm-up, graphs, blocking, registration, CTA policies, timeouts do not
  change a deterministic model's time.
"""

#: nccl-tests flags that a deterministic model has no use for:
#: (short, long, default, what it does in nccl-tests).
NO_EFFECT = (
    ("-n", "--iters", 20, "iterations timed"),
    ("-w", "--warmup_iters", 1, "warm-up iterations"),
    ("-m", "--agg_iters", 1, "operations aggregated per iteration"),
    ("-N", "--run_cycles", 1, "cycles run and printed (0: forever)"),
    ("-a", "--average", 1, "how ranks' times are combined (0 rank 0, 1 avg, 2 min, 3 max)"),
    ("-p", "--parallel_init", 0, "threads initialise NCCL in parallel"),
    ("-z", "--blocking", 0, "blocking collectives"),
    ("-y", "--stream_null", 0, "the default CUDA stream"),
    ("-T", "--timeout", 0, "timeout of each test in seconds"),
    ("-G", "--cudagraph", 0, "CUDA graph launches"),
    ("-C", "--report_cputime", 0, "report CPU time"),
    ("-R", "--local_register", 0, "buffer registration (1 local, 2 symmetric)"),
    ("-x", "--cta_policy", -1, "NCCL CTA policy"),
    ("-D", "--device_implementation", 0, "device-side implementation"),
    ("-V", "--device_cta_count", 16, "CTAs of the device implementation"),
    ("-M", "--memory_report", 0, "GPU memory report (also --memory)"),
    ("-u", "--unalign", 0, "buffers offset by this many elements"),
    ("-I", "--per_iter_timing", 0, "per-iteration timing columns (every iteration is alike)"),
    ("-K", "--per_iter_skip", 0, "iterations left out of those statistics"),
)
#: Other long forms nccl-tests versions gave a flag.
ALIASES = {"--memory_report": ("--memory",)}


def dest(long_flag):
    """The argparse attribute of a long flag (``--warmup_iters`` -> ``warmup_iters``)."""
    return long_flag.lstrip("-")


def add_nccl_options(group):
    """nccl-tests' flags that :mod:`ubemu.cli.sweep` does not add itself, on ``group``."""
    group.add_argument("-t", "--nthreads", type=int, default=None, metavar="N",
                       help="threads per process (nccl-tests): ranks = processes x -t x -g")
    group.add_argument("-g", "--ngpus", type=int, default=None, metavar="N",
                       help="GPUs per thread (nccl-tests): ranks = processes x -t x -g, the "
                            "topology's first NPUs (default: every NPU)")
    group.add_argument("-S", "--report_timestamps", type=int, choices=(0, 1), default=0,
                       help="1: nccl-tests' timestamp column (when each row was computed)")
    for short, long, default, what in NO_EFFECT:
        group.add_argument(short, long, *ALIASES.get(long, ()), type=int, default=None,
                           metavar="N",
                           help=f"{what} (nccl-tests, default {default}); no effect on the "
                                "model")


def requested_ranks(args, world_size):
    """``(ranks, why)`` from ``-t``/``-g`` (None when neither is given)."""
    threads, gpus = args.nthreads, args.ngpus
    if threads is None and gpus is None:
        return None
    for flag, value in (("-t/--nthreads", threads), ("-g/--ngpus", gpus)):
        if value is not None and value < 1:
            from ..errors import UbemuError

            raise UbemuError(f"{flag} must be >= 1, got {value}")
    threads, gpus = threads or 1, gpus or 1
    why = f"-t {threads} x -g {gpus}" + (f" x {world_size} processes" if world_size > 1
                                         else "")
    return world_size * threads * gpus, why


def header_lines(args, plan):
    """nccl-tests' run line (``# nThread ...``) and what had no effect."""
    threads = args.nthreads or 1
    gpus = args.ngpus if args.ngpus is not None else plan.n_ranks // threads
    step = (f"{plan.stepfactor}(factor)" if plan.stepfactor is not None
            else f"{plan.step_nbytes}(bytes)")
    value = {dest(long): getattr(args, dest(long)) for _, long, _, _ in NO_EFFECT}
    shown = {dest(long): (default if value[dest(long)] is None else value[dest(long)])
             for _, long, default, _ in NO_EFFECT}
    lines = [f"# nThread {threads} nGpus {gpus} minBytes {plan.min_nbytes} maxBytes "
             f"{plan.max_nbytes} step: {step} warmup iters: {shown['warmup_iters']} iters: "
             f"{shown['iters']} agg iters: {shown['agg_iters']} validation: {args.check} "
             f"graph: {shown['cudagraph']}"]
    given = [f"{short} {value[dest(long)]}" for short, long, _, _ in NO_EFFECT
             if value[dest(long)] is not None]
    if args.check > 1:
        given.append(f"-c {args.check} (checked once)")
    if args.root is not None and plan.roots == (None,):
        given.append(f"-r {args.root} ({plan.collective} has no root)")
    if given:
        lines.append(f"# no effect on a deterministic model: {' '.join(given)}")
    return lines
