"""``ubemu plan``: one training step of a parallel plan timed on a machine, or every plan ranked.

``ubemu plan --model gpt3-175b --topo atlas950-superpod --tp 8 --pp 8 [--dp 128]`` prints one
row per operation of the step (:func:`ubemu.training.planner.step_workload`: collective, group
size, number of groups, repeats, size, bytes per NPU, time, exposed time, bottleneck), one
row per parallel axis (bytes per NPU by the published formula and carried by the ops, time,
exposed), then the step: compute (with its bubble), exposed communication per axis, memory
per NPU against the NPU's capacity, MFU, and the slowest link class. The compute is modelled
from the model's shapes on the topology's NPU (:mod:`ubemu.training.compute`) unless
``--flops`` or ``--mfu`` give a rate; a plan that does not fit in memory is refused.
``--sweep`` times every valid factorisation of the machine (sizes given with ``--tp`` etc.
stay fixed) and prints them ranked, those that fit first, fastest step first, marking the
ones that do not fit. Every flag is checked and every output path tried before anything is
timed; ``-J``, ``--csv`` (the operations, or ``--sweep``'s ranked plans) and ``--trace``
are written atomically.
"""

import os
import sys

from .. import __version__
from .. import training as tr
from ..errors import UbemuError
from ..machine.spec import (
    DEFAULT_TOPOLOGY,
    PARAM_FIELDS,
    load_topology,
    with_npus,
    with_params,
)
from ..parallel import env
from ..units import format_size
from .csvout import CsvWriter, add_csv_option
from .progress import MODES, Progress
from .results import check_outputs, topology_record, write_json_atomic
from .table import format_number

#: Model fields the command line overrides: flag -> Model field.
MODEL_FLAGS = {"layers": "layers", "hidden": "hidden", "heads": "heads",
               "kv_heads": "kv_heads", "ffn_hidden": "ffn_hidden", "seq": "seq_len",
               "vocab": "vocab", "micro_batch": "micro_batch", "global_batch": "global_batch",
               "experts": "experts", "top_k": "top_k", "moe_layers": "moe_layers",
               "capacity_factor": "capacity_factor", "dtype": "dtype",
               "grad_dtype": "grad_dtype"}
#: Plans listed by ``--sweep`` unless ``--top`` says otherwise.
DEFAULT_TOP = 20
#: ``kind`` of the ``-J`` documents of one plan (with its step's timeline) and of ``--sweep``
#: (``ubemu plot`` draws both).
PLAN_KIND, SWEEP_KIND = "plan", "plan_sweep"


def add_parsers(subparsers):
    """Add ``plan`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser(
        "plan", help="time a training step's communication (TP, PP, DP, EP, CP)",
        description="Time one training step of a transformer under a parallel plan: every "
                    "TP, CP, EP, PP and DP collective of the step as a workload on the "
                    "topology (all groups at once, sharing links), next to the published "
                    "per-step byte formulas; --sweep ranks every plan of the machine.")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="gpt3-175b", metavar="NAME",
                   help=f"preset: {', '.join(tr.MODELS)} (default gpt3-175b)")
    for flag, typ, what in (("layers", int, "transformer layers"), ("hidden", int, "hidden size"),
                            ("heads", int, "attention heads"),
                            ("kv-heads", int, "key/value heads (grouped-query attention)"),
                            ("ffn-hidden", int, "FFN hidden size"),
                            ("seq", int, "sequence length"), ("vocab", int, "vocabulary"),
                            ("micro-batch", int, "sequences per micro-batch"),
                            ("global-batch", int, "sequences per step"),
                            ("experts", int, "MoE experts (0: dense)"),
                            ("top-k", int, "experts per token"),
                            ("moe-layers", int, "MoE layers (default all when --experts)"),
                            ("capacity-factor", float, "MoE capacity factor"),
                            ("dtype", str, "parameters and activations (bfloat16)"),
                            ("grad-dtype", str, "gradients as reduced (bfloat16, float32)")):
        g.add_argument(f"--{flag}", type=typ, default=None, metavar="N" if typ is int else "X",
                       help=f"{what} (default: the preset's)")
    g = p.add_argument_group("plan")
    for flag, what in (("tp", "tensor"), ("pp", "pipeline"), ("dp", "data"), ("ep", "expert"),
                       ("cp", "context")):
        g.add_argument(f"--{flag}", type=int, default=None, metavar="N",
                       help=f"{what}-parallel size (default 1"
                            + ("; dp: what the others leave" if flag == "dp" else "") + ")")
    g.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0,
                   help="ZeRO stage (1/2: Megatron's distributed optimizer; default 0)")
    g.add_argument("--sp", action="store_true", help="sequence parallelism (Korthikanti 2022)")
    g.add_argument("--recompute", choices=("auto", *tr.RECOMPUTE), default="auto",
                   help="activation recomputation; auto (default): the lightest that fits "
                        "the NPU's memory")
    g.add_argument("--vpp", type=int, default=1, metavar="V",
                   help="virtual pipeline stages per NPU: the interleaved 1F1B schedule "
                        "(bubble (p-1)/(v m); default 1)")
    g.add_argument("--scatter-gather", action="store_true",
                   help="each TP rank sends 1/t of a pipeline message (SC21 Section 4.1)")
    g.add_argument("--no-flash-attention", action="store_true",
                   help="attention writes its scores (softmax and dropout in memory)")
    g.add_argument("--no-overlap", action="store_true",
                   help="reduce the gradients after the backward, not during the last one")
    g.add_argument("--order", default=tr.DEFAULT_ORDER, metavar="AXES",
                   help=f"axes onto NPU ids, innermost first (default {tr.DEFAULT_ORDER})")
    g = p.add_argument_group("machine and output")
    g.add_argument("--topo", default=DEFAULT_TOPOLOGY, metavar="SPEC",
                   help=f"preset, .toml file or string form (default {DEFAULT_TOPOLOGY})")
    g.add_argument("--npus", type=int, default=None, metavar="N",
                   help="resize the topology's outermost level to N NPUs (more or fewer of "
                        "the same nodes)")
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a topology parameter (repeatable): {', '.join(PARAM_FIELDS)}")
    g.add_argument("--flops", type=float, default=None, metavar="RATE",
                   help="every FLOP at this rate per NPU (e.g. 400e12) instead of the "
                        "compute model of the topology's NPU")
    g.add_argument("--mfu", type=float, default=None, metavar="FRACTION",
                   help="every FLOP at this fraction of the NPU's peak (e.g. 0.45)")
    g.add_argument("--memory-gb", type=float, default=None, metavar="GB",
                   help="memory per NPU in GB (default the NPU's): plans needing more are "
                        "refused (--sweep: marked)")
    g.add_argument("--sweep", action="store_true",
                   help="time every valid TP x PP x DP (x EP) plan and rank them")
    g.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N",
                   help=f"--sweep: plans to print (default {DEFAULT_TOP}; -J keeps all)")
    g.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write the report as JSON")
    g.add_argument("--trace", default=None, metavar="FILE.json",
                   help="the step's timeline in the Trace Event Format (--sweep: the fastest)")
    add_csv_option(g)
    g.add_argument("--progress", choices=MODES, default="auto",
                   help="--sweep: progress on stderr (auto, on, off)")
    p.set_defaults(command="plan")


#: ``--csv`` of ``ubemu plan``: a row per operation (times in ms, sizes in bytes) ...
CSV_COLUMNS = ("axis", "operation", "collective", "algorithm", "group", "groups", "repeat",
               "nbytes", "bytes_per_npu", "time_ms", "exposed_ms", "bottleneck")
#: ... and of ``ubemu plan --sweep``: a row per plan printed, fastest first.
SWEEP_CSV_COLUMNS = ("rank", "tp", "cp", "pp", "vpp", "dp", "ep", "micro_batches", "recompute",
                     "step_ms", "compute_ms", "bubble_ms", "exposed_tp_ms", "exposed_cp_ms",
                     "exposed_ep_ms", "exposed_pp_ms", "exposed_dp_ms", "memory_GB", "fits",
                     "mfu", "bottleneck")


def csv_rows(rep):
    """The ``--csv`` rows of a StepReport's operations."""
    return [(o.axis, o.name, o.collective, o.algorithm, o.group, o.groups, o.repeat, o.nbytes,
             float(o.bytes_per_npu), o.time_s * 1e3, o.exposed_s * 1e3, o.bottleneck)
            for o in rep.ops]


def sweep_csv_rows(result, top):
    """The ``--csv`` rows of ``--sweep``: the plans printed."""
    rows = []
    for k, r in enumerate(result.reports[:top], 1):
        p, x = r.plan, {a.axis: a.exposed_s * 1e3 for a in r.axes}
        rows.append((k, p.tp, p.cp, p.pp, p.vpp, p.dp, p.ep, r.micro_batches, p.recompute,
                     r.step_s * 1e3, r.compute_s * 1e3, r.bubble_s * 1e3, x["tp"], x["cp"],
                     x["ep"], x["pp"], x["dp"], r.memory_bytes / 1e9,
                     "yes" if r.fits else "no", "" if r.mfu is None else r.mfu,
                     r.bottleneck))
    return rows


def model_from_args(args):
    model = tr.get_model(args.model)
    fields = {field: getattr(args, flag) for flag, field in MODEL_FLAGS.items()}
    return tr.with_overrides(model, **fields)


def plan_from_args(args, model, n_npus):
    """The :class:`~ubemu.training.layout.Plan` of the flags; dp fills the machine when not
    given."""
    tp, pp, ep, cp = (getattr(args, k) or 1 for k in ("tp", "pp", "ep", "cp"))
    for key in ("tp", "pp", "dp", "ep", "cp", "vpp"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise UbemuError(f"--{key}: must be an integer >= 1, got {getattr(args, key)}")
    dp = args.dp
    if dp is None:
        if n_npus % (tp * pp * cp):
            raise UbemuError(f"--dp: tp*pp*cp = {tp * pp * cp} does not divide the topology's "
                             f"{n_npus:,} NPUs")
        dp = n_npus // (tp * pp * cp)
    plan = tr.Plan(tp=tp, pp=pp, dp=dp, ep=ep, cp=cp, **plan_fields(args))
    tr.check(model, plan, n_npus)
    return plan


def plan_fields(args):
    """The Plan fields every plan of the command line shares (recompute: ``none`` for
    ``auto``, resolved later)."""
    return dict(zero=args.zero, sequence_parallel=args.sp, order=args.order,
                overlap_grad_reduce=not args.no_overlap, vpp=args.vpp,
                scatter_gather=args.scatter_gather,
                flash_attention=not args.no_flash_attention,
                recompute="none" if args.recompute == "auto" else args.recompute)


def _check_args(args, root=True):
    if args.flops is not None and not 0 < args.flops < float("inf"):
        raise UbemuError(f"--flops: must be a rate > 0 in FLOP/s, got {args.flops:g}")
    if args.mfu is not None and not 0 < args.mfu <= 1:
        raise UbemuError(f"--mfu: must be a fraction in (0, 1], got {args.mfu:g}")
    if args.mfu is not None and args.flops is not None:
        raise UbemuError("--flops and --mfu: give one rate, not both")
    if args.memory_gb is not None and not args.memory_gb > 0:
        raise UbemuError(f"--memory-gb: must be > 0, got {args.memory_gb:g}")
    if args.top < 1:
        raise UbemuError(f"--top: must be >= 1, got {args.top}")
    check_outputs([("-J/--output_file", args.output_file), ("--trace", args.trace),
                   ("--csv", args.csv)],
                  [("the --topo file", args.topo)], writable=root)


def _ms(seconds):
    return format_number(seconds * 1e3)


def _gb(nbytes):
    return f"{format_number(float(nbytes) / 1e9)} GB"


def _size(nbytes):
    """``48M`` (nccl-tests' powers of 1024), ``5.064G`` when not a whole number of them."""
    short = format_size(nbytes)
    if short[-1:] in "MG" or nbytes < 2**10:
        return short
    for suffix, scale in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if nbytes >= scale:
            return f"{format_number(nbytes / scale)}{suffix}"


def _table(rows, header, align):
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths))
    return [fmt.format(*map(str, r)).rstrip() for r in [header, *rows]]


def npu_line(topo, model):
    """The ``# npu`` line: the NPU, its peak for the model's dtype, its memory."""
    npu = topo.npu
    if npu is None:
        return "# npu       none (the topology has no [npu] table)"
    peak = (f"{format_number(npu.tflops[model.dtype])} TFLOP/s {model.dtype} peak"
            if model.dtype in npu.tflops else f"no {model.dtype} rate")
    return (f"# npu       {npu.name} ({npu.status}): {peak}, {format_number(npu.mem_GB)} GB "
            f"at {npu.mem_GBps:,.0f} GB/s")


def compute_line(topo, args):
    """How the compute is obtained (the ``# compute`` line)."""
    if args.flops:
        return f"# compute   every FLOP at {format_number(args.flops / 1e12)} TFLOP/s (--flops)"
    if args.mfu:
        return f"# compute   every FLOP at {args.mfu:.3g} of the peak (--mfu)"
    if topo.npu is None:
        return "# compute   none: communication only (no [npu] table; give --flops)"
    npu = topo.npu
    return (f"# compute   modelled: matmuls at {npu.matmul_fraction:.3g} x k/(k + "
            f"{npu.matmul_half_dim:g}) of the peak (k: the smallest dimension), element-wise "
            f"work at {npu.memory_fraction:.3g} of the memory bandwidth")


def header_lines(model, plan, topo, args, auto_note=""):
    """The ``#`` lines: the model and machine, then (``plan`` given) the plan's figures."""
    lines = [f"# ubemu {__version__}  plan  {model.name} on {topo.name} ({topo.n_npus:,} NPUs)",
             f"# model     {tr.describe(model)}", npu_line(topo, model)]
    compute = compute_line(topo, args)
    if plan is None:
        return [*lines, compute]
    m, (dense, expert) = tr.micro_batches(model, plan), tr.params_per_npu(model, plan)
    layers, moe = tr.layers_per_stage(model, plan)
    sp = "sequence parallel" if plan.sequence_parallel else "no sequence parallelism"
    ov = "overlapped" if plan.overlap_grad_reduce else "after the backward"
    params = f"{dense / 1e9:.4g}e9 params per NPU" + (f" (+{expert / 1e9:.4g}e9 of experts)"
                                                      if expert else "")
    extras = ([f"interleaved x{plan.vpp}"] if plan.vpp > 1 else []) + \
        (["scatter/gather"] if plan.scatter_gather else []) + \
        ([] if plan.flash_attention else ["no flash attention"])
    return [*lines,
            f"# plan      {plan.label()} (order {plan.order}), ZeRO {plan.zero}, {sp}, "
            f"recompute {plan.recompute}{auto_note}, gradient reduction {ov}"
            + "".join(f", {e}" for e in extras),
            f"# step      {m} micro-batches of {model.micro_batch} per replica (global batch "
            f"{model.global_batch:,}), {layers} layers per stage"
            + (f" ({moe} MoE)" if moe else "") + f"; {params}",
            compute]


def _pct(x):
    return f"{100 * x:.3g} %"


def memory_line(rep):
    """The ``memory`` line: per NPU, by kind, against the capacity."""
    mem, cap = rep.memory, rep.capacity_bytes
    parts = (f"params {format_number(mem.params_B / 1e9)}, gradients "
             f"{format_number(mem.grads_B / 1e9)}, optimizer {format_number(mem.optimizer_B / 1e9)}"
             f", activations {format_number(mem.activations_B / 1e9)}; {mem.stage} stage")
    if cap is None:
        return f"memory     {_gb(mem.total_B)} per NPU ({parts}); capacity unknown"
    verdict = "fits" if rep.fits else "DOES NOT FIT"
    return f"memory     {_gb(mem.total_B)} per NPU of {_gb(cap)} ({parts}): {verdict}"


def compute_lines(rep):
    """The ``compute`` line: one micro-batch's passes, where their time goes."""
    c = rep.compute
    if c is None:
        return []
    b = c.breakdown
    total = c.fwd_s + c.bwd_s
    share = ", ".join(f"{name} {_pct(b[key] / total)}" for name, key in
                      (("matmul", "matmul_s"), ("attention", "attention_s"),
                       ("element-wise", "elementwise_s"), ("logits", "logits_s")))
    rec = (f" (recompute {_ms(b['recompute_s'])} ms)" if b["recompute_s"] else "")
    return [f"compute    per micro-batch on the slowest stage: forward {_ms(c.fwd_s)} ms, "
            f"backward {_ms(c.bwd_s)} ms{rec}; {share}; optimizer {_ms(c.optimizer_s)} ms"]


def report_lines(rep):
    """The operation table, the axis table and the summary of a StepReport."""
    rows = [(o.axis, o.name, o.collective, o.algorithm, o.group, f"{o.groups:,}", o.repeat,
             _size(o.nbytes), _gb(o.bytes_per_npu), _ms(o.time_s), _ms(o.exposed_s),
             o.bottleneck or "-") for o in rep.ops]
    lines = _table(rows, ("axis", "operation", "collective", "algorithm", "group", "groups",
                          "repeat", "size", "bytes/NPU", "time (ms)", "exposed (ms)",
                          "bottleneck"), "<<<<>>>>>>><")
    axes = [(a.axis, _gb(a.formula_bytes), _gb(a.op_bytes), _ms(a.time_s), _ms(a.exposed_s))
            for a in rep.axes if a.formula_bytes or a.op_bytes]
    lines += ["", *_table(axes, ("axis", "bytes/NPU (formula)", "bytes/NPU (ops)", "time (ms)",
                                 "exposed (ms)"), "<>>>>"), ""]
    lines += compute_lines(rep)
    lines.append(memory_line(rep))
    exposed = ", ".join(f"{a.axis} {_ms(a.exposed_s)}" for a in rep.axes if a.time_s)
    if rep.compute is not None:
        lines.append(f"step time  {_ms(rep.step_s)} ms: compute {_ms(rep.compute_s)} ms "
                     f"(bubble {_ms(rep.bubble_s)} ms), exposed communication "
                     f"{_ms(rep.exposed_s)} ms ({exposed})")
        if rep.mfu is not None:
            lines.append(f"MFU        {_pct(rep.mfu)} (the model's FLOPs of the step over "
                         f"{rep.n_npus:,} NPUs x the step time x "
                         f"{format_number(rep.peak_flops / 1e12)} TFLOP/s peak)")
    else:
        lines.append(f"step time  {_ms(rep.step_s)} ms of communication (no compute: the "
                     f"topology has no [npu] table; give --flops)")
    lines.append(f"slowest link class  {rep.bottleneck or '-'}")
    return lines


def sweep_lines(result, top):
    rows = []
    for k, r in enumerate(result.reports[:top], 1):
        p, x = r.plan, {a.axis: _ms(a.exposed_s) for a in r.axes}
        rows.append((k, p.tp, p.cp, p.pp, p.vpp, p.dp, p.ep, r.micro_batches, p.recompute,
                     _ms(r.step_s), _ms(r.compute_s), _ms(r.bubble_s), x["tp"], x["cp"],
                     x["ep"], x["pp"], x["dp"], format_number(r.memory_bytes / 1e9),
                     "yes" if r.fits else "NO", "-" if r.mfu is None else _pct(r.mfu),
                     r.bottleneck or "-"))
    lines = ["# exposed communication per axis (ms): time in which that axis communicates "
             "and nothing computes", *_table(
                 rows, ("rank", "tp", "cp", "pp", "v", "dp", "ep", "m", "recompute",
                        "step (ms)", "compute (ms)", "bubble (ms)", "x.tp", "x.cp", "x.ep",
                        "x.pp", "x.dp", "memory (GB)", "fits", "MFU", "bottleneck"),
                 ">>>>>>>><>>>>>>>>>><>")]
    more = len(result.reports) - top
    lines.append(f"# {len(result.reports)} plans timed in {result.wall_s:.1f} s"
                 + (f" ({more} more in -J)" if more > 0 else "")
                 + (f"; {result.n_too_big} do not fit in memory (fits NO, ranked last)"
                    if result.n_too_big else ""))
    for plan, error in result.failed:
        lines.append(f"# {plan.label()}: not timed: {error}")
    return lines


def run(args, out=None, err=None):
    """``ubemu plan ...``; returns 0."""
    from ..training import planner as tp
    from ..training.sweep import lightest_recompute, sweep

    out, err = out or sys.stdout, err or sys.stderr
    root = env.is_root()  # in an MPI job process 0 times the step, prints and writes files
    if not root:
        out = err = open(os.devnull, "w")
    _check_args(args, root)
    csv_out = CsvWriter(args.csv if root else None,
                        SWEEP_CSV_COLUMNS if args.sweep else CSV_COLUMNS)
    model = model_from_args(args)
    topo = with_params(load_topology(args.topo), args.param)
    if args.npus is not None:
        topo = with_npus(topo, args.npus)
    capacity = tp.capacity_of(topo, None if args.memory_gb is None else args.memory_gb * 1e9)
    head = {"ubemu": __version__, "command": {k: v for k, v in vars(args).items()
                                              if k not in ("command", "command_name")},
            "topology": topology_record(topo)}
    if args.sweep:
        fixed = {k: getattr(args, k) for k in ("tp", "pp", "dp", "ep")}
        shown = []

        def on_plan(k, n, label):
            if not shown:
                shown.append(Progress([1.0] * n, stream=err, mode=args.progress).start())
            shown[0].update(k, label)

        fields = {k: v for k, v in plan_fields(args).items() if k != "recompute"}
        try:
            result = sweep(model, topo, args.flops, on_plan=on_plan, mfu=args.mfu,
                           capacity_bytes=capacity, cp=args.cp or 1,
                           recompute=args.recompute, **fields, **fixed)
        finally:
            if shown:
                shown[0].close()
        print("\n".join(header_lines(model, None, topo, args)), file=out)
        print("\n".join(sweep_lines(result, args.top)), file=out, flush=True)
        best = result.reports[0] if result.reports else None
        doc = {**head, "kind": SWEEP_KIND, "n_candidates": result.n_candidates,
               "n_too_big": result.n_too_big, "wall_s": result.wall_s,
               "plans": [r.to_dict(timeline=False) for r in result.reports],
               "failed": [{"plan": p.to_dict(), "error": e} for p, e in result.failed]}
    else:
        plan = plan_from_args(args, model, topo.n_npus)
        note = ""
        if args.recompute == "auto":
            plan = lightest_recompute(model, plan, capacity)
            note = " (the lightest that fits)" if capacity is not None else ""
        best = tp.plan(model, plan, topo, args.flops, args.mfu, capacity)
        print("\n".join(header_lines(model, plan, topo, args, note)), file=out)
        print("\n".join(report_lines(best)), file=out, flush=True)
        doc = {**head, "kind": PLAN_KIND, "report": best.to_dict()}
    if not root:
        return 0
    csv_out.add_all(sweep_csv_rows(result, args.top) if args.sweep else csv_rows(best))
    if args.output_file is not None:
        write_json_atomic(args.output_file, doc)
    if args.trace is not None and best is not None:
        from .trace import write_trace

        write_trace(best.result, args.trace)
    return 0


DISPATCH = {"plan": run}
