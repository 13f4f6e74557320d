"""``ubemu plan``: one training step of a parallel plan timed on a machine, or every plan ranked.

``ubemu plan --model gpt3-175b --topo atlas950-superpod --tp 8 --pp 8 [--dp 128]`` prints one
row per operation of the step (:func:`ubemu.training.planner.step_workload`: collective, group
size, number of groups, repeats, size, bytes per NPU, time, exposed time, bottleneck), one
row per parallel axis (bytes per NPU by the published formula and carried by the ops, time,
exposed), then the step time and the slowest link class. ``--sweep`` times every valid
factorisation of the machine (sizes given with ``--tp`` etc. stay fixed) and prints them
ranked, fastest step first. Every flag is checked and every output path tried before
anything is timed; ``-J`` and ``--trace`` are written atomically.
"""

import os
import sys

from .. import __version__
from .. import training as tr
from ..errors import UbemuError
from ..machine.spec import DEFAULT_TOPOLOGY, PARAM_FIELDS, load_topology, with_params
from ..parallel import env
from ..units import format_size
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
    g.add_argument("--no-overlap", action="store_true",
                   help="reduce the gradients after the backward, not during the last one")
    g.add_argument("--order", default=tr.DEFAULT_ORDER, metavar="AXES",
                   help=f"axes onto NPU ids, innermost first (default {tr.DEFAULT_ORDER})")
    g = p.add_argument_group("machine and output")
    g.add_argument("--topo", default=DEFAULT_TOPOLOGY, metavar="SPEC",
                   help=f"preset, .toml file or string form (default {DEFAULT_TOPOLOGY})")
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a topology parameter (repeatable): {', '.join(PARAM_FIELDS)}")
    g.add_argument("--flops", type=float, default=None, metavar="RATE",
                   help="FLOP/s one NPU achieves (e.g. 400e12): adds the compute and the 1F1B "
                        "bubble; without it the step is communication only")
    g.add_argument("--memory-gb", type=float, default=None, metavar="GB",
                   help="--sweep: leave out plans needing more memory per NPU (rough: model "
                        "states and activations)")
    g.add_argument("--sweep", action="store_true",
                   help="time every valid TP x PP x DP (x EP) plan and rank them")
    g.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N",
                   help=f"--sweep: plans to print (default {DEFAULT_TOP}; -J keeps all)")
    g.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write the report as JSON")
    g.add_argument("--trace", default=None, metavar="FILE.json",
                   help="the step's timeline in the Trace Event Format (--sweep: the fastest)")
    g.add_argument("--progress", choices=MODES, default="auto",
                   help="--sweep: progress on stderr (auto, on, off)")
    p.set_defaults(command="plan")


def model_from_args(args):
    model = tr.get_model(args.model)
    fields = {field: getattr(args, flag) for flag, field in MODEL_FLAGS.items()}
    return tr.with_overrides(model, **fields)


def plan_from_args(args, model, n_npus):
    """The :class:`~ubemu.training.layout.Plan` of the flags; dp fills the machine when not
    given."""
    tp, pp, ep, cp = (getattr(args, k) or 1 for k in ("tp", "pp", "ep", "cp"))
    for key in ("tp", "pp", "dp", "ep", "cp"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise UbemuError(f"--{key}: must be an integer >= 1, got {getattr(args, key)}")
    dp = args.dp
    if dp is None:
        if n_npus % (tp * pp * cp):
            raise UbemuError(f"--dp: tp*pp*cp = {tp * pp * cp} does not divide the topology's "
                             f"{n_npus:,} NPUs")
        dp = n_npus // (tp * pp * cp)
    plan = tr.Plan(tp=tp, pp=pp, dp=dp, ep=ep, cp=cp, zero=args.zero,
                   sequence_parallel=args.sp, order=args.order,
                   overlap_grad_reduce=not args.no_overlap)
    tr.check(model, plan, n_npus)
    return plan


def _check_args(args, root=True):
    if args.flops is not None and not 0 < args.flops < float("inf"):
        raise UbemuError(f"--flops: must be a rate > 0 in FLOP/s, got {args.flops:g}")
    if args.memory_gb is not None and not args.memory_gb > 0:
        raise UbemuError(f"--memory-gb: must be > 0, got {args.memory_gb:g}")
    if args.top < 1:
        raise UbemuError(f"--top: must be >= 1, got {args.top}")
    check_outputs([("-J/--output_file", args.output_file), ("--trace", args.trace)],
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


def header_lines(model, plan, topo, flops):
    """The ``#`` lines: the model and machine, then (``plan`` given) the plan's figures."""
    lines = [f"# ubemu {__version__}  plan  {model.name} on {topo.name} ({topo.n_npus:,} NPUs)",
             f"# model     {tr.describe(model)}"]
    compute = "# compute   " + (f"{format_number(flops / 1e12)} TFLOP/s per NPU" if flops
                                else "none (no --flops: communication only)")
    if plan is None:
        return [*lines, compute]
    m, (dense, expert) = tr.micro_batches(model, plan), tr.params_per_npu(model, plan)
    layers, moe = tr.layers_per_stage(model, plan)
    sp = "sequence parallel" if plan.sequence_parallel else "no sequence parallelism"
    ov = "overlapped" if plan.overlap_grad_reduce else "after the backward"
    params = f"{dense / 1e9:.4g}e9 params per NPU" + (f" (+{expert / 1e9:.4g}e9 of experts)"
                                                      if expert else "")
    memory = _gb(tr.memory_per_npu(model, plan))
    return [*lines,
            f"# plan      {plan.label()} (order {plan.order}), ZeRO {plan.zero}, {sp}, "
            f"gradient reduction {ov}",
            f"# step      {m} micro-batches of {model.micro_batch} per replica (global batch "
            f"{model.global_batch:,}), {layers} layers per stage"
            + (f" ({moe} MoE)" if moe else "") + f"; {params}; memory ~{memory} per NPU",
            compute]


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
    if rep.flops_per_npu:
        lines.append(f"step time  {_ms(rep.step_s)} ms: compute {_ms(rep.compute_s)} ms "
                     f"(bubble {_ms(rep.bubble_s)} ms), exposed communication "
                     f"{_ms(rep.exposed_s)} ms")
    else:
        lines.append(f"step time  {_ms(rep.step_s)} ms of communication (no compute: give "
                     f"--flops)")
    lines.append(f"slowest link class  {rep.bottleneck or '-'}")
    return lines


def sweep_lines(result, top):
    rows = []
    for k, r in enumerate(result.reports[:top], 1):
        p, t = r.plan, {a.axis: _ms(a.time_s) for a in r.axes}
        rows.append((k, p.tp, p.cp, p.pp, p.dp, p.ep, r.micro_batches, _ms(r.step_s),
                     _ms(r.exposed_s), t["tp"], t["cp"], t["ep"], t["pp"], t["dp"],
                     format_number(r.memory_bytes / 1e9), r.bottleneck or "-"))
    lines = _table(rows, ("rank", "tp", "cp", "pp", "dp", "ep", "m", "step (ms)",
                          "exposed (ms)", "tp (ms)", "cp (ms)", "ep (ms)", "pp (ms)",
                          "dp (ms)", "memory (GB)", "bottleneck"), ">>>>>>>>>>>>>>><")
    more = len(result.reports) - top
    lines.append(f"# {len(result.reports)} plans timed in {result.wall_s:.1f} s"
                 + (f" ({more} more in -J)" if more > 0 else "")
                 + (f"; {result.n_too_big} left out for memory" if result.n_too_big else ""))
    for plan, error in result.failed:
        lines.append(f"# {plan.label()}: not timed: {error}")
    return lines


def run(args, out=None, err=None):
    """``ubemu plan ...``; returns 0."""
    from ..training import planner as tp

    out, err = out or sys.stdout, err or sys.stderr
    root = env.is_root()  # in an MPI job process 0 times the step, prints and writes files
    if not root:
        out = err = open(os.devnull, "w")
    _check_args(args, root)
    model = model_from_args(args)
    topo = with_params(load_topology(args.topo), args.param)
    head = {"ubemu": __version__, "command": {k: v for k, v in vars(args).items()
                                              if k not in ("command", "command_name")},
            "topology": topology_record(topo)}
    if args.sweep:
        memory = None if args.memory_gb is None else args.memory_gb * 1e9
        fixed = {k: getattr(args, k) for k in ("tp", "pp", "dp", "ep")}
        shown = []

        def on_plan(k, n, pl):
            if not shown:
                shown.append(Progress([1.0] * n, stream=err, mode=args.progress).start())
            shown[0].update(k, pl.label())

        try:
            result = tp.sweep(model, topo, args.flops, on_plan=on_plan, cp=args.cp or 1,
                              zero=args.zero, sequence_parallel=args.sp, order=args.order,
                              overlap_grad_reduce=not args.no_overlap, memory_bytes=memory,
                              **fixed)
        finally:
            if shown:
                shown[0].close()
        print("\n".join(header_lines(model, None, topo, args.flops)), file=out)
        print("\n".join(sweep_lines(result, args.top)), file=out, flush=True)
        best = result.reports[0] if result.reports else None
        doc = {**head, "n_candidates": result.n_candidates, "n_too_big": result.n_too_big,
               "wall_s": result.wall_s, "plans": [r.to_dict() for r in result.reports],
               "failed": [{"plan": p.to_dict(), "error": e} for p, e in result.failed]}
    else:
        plan = plan_from_args(args, model, topo.n_npus)
        best = tp.plan(model, plan, topo, args.flops)
        print("\n".join(header_lines(model, plan, topo, args.flops)), file=out)
        print("\n".join(report_lines(best)), file=out, flush=True)
        doc = {**head, "report": best.to_dict()}
    if not root:
        return 0
    if args.output_file is not None:
        write_json_atomic(args.output_file, doc)
    if args.trace is not None and best is not None:
        from .trace import write_trace

        write_trace(best.result, args.trace)
    return 0


DISPATCH = {"plan": run}
