"""A training step as a workload, timed on a machine (every plan of a machine: :mod:`.sweep`).

:func:`step_workload` writes one step of a :class:`~ubemu.training.layout.Plan` as
:class:`~ubemu.workloads.ops.Op` s. Every op runs on every group of its axis at once (``Op.npus``:
all TP groups, all DP groups, ...) in lockstep, and ``Op.repeat`` stands for its identical
collectives (a TP all-reduce per layer, per pass, per micro-batch). Sizes follow nccl-tests:
all_reduce / all_gather / reduce_scatter the full tensor, alltoall(v) what one rank sends in
all, sendrecv one message (rank r of a group sends to rank r + 1). Expert parallelism's
dispatch and combine are uneven all-to-alls (``alltoallv``) of the routing of the rank's
tokens to its top-k experts (:func:`ep_ops`). Blocked collectives' sizes are
rounded up to whole elements per rank (Megatron pads its buffers the same way).

**Placement rule.** A step is two segments on every NPU: *main* (the forward of the m
micro-batches, the backward of m - 1 of them, the 1F1B bubble) and *last* (the backward of
the last micro-batch). Each segment is one sequential chain: its compute
(``compute.<segment>``, from :func:`compute_of`) then its blocking communication, TP, CP, EP,
then the pipeline's forward sends (``pp.fwd``, stage r to r + 1) and backward sends
(``pp.bwd``, stage r + 1 to r). Megatron runs these on the compute stream: an NPU does one of
them at a time, so they never overlap each other or that NPU's compute, and the order inside
a segment does not change its length. What runs on a side stream overlaps the chain and is
placed concurrently with the part it overlaps, sharing links with it: the gradient
reduction (``dp.grad``, zero 0: all_reduce; 1-3: reduce_scatter) starts with the last segment
when ``overlap_grad_reduce`` (Megatron's bucketed reduction during the last backward), else
after it; the optimizer step (``compute.optimizer``) follows the reduction and the last
segment, ZeRO 1/2's parameter all_gather (``dp.params``) the optimizer step; ZeRO 3's
parameter all_gathers for the
forward and the backward (``dp.gather.*``, prefetched layer by layer) run beside the main
segment from its start. The DP ops of one NPU are one stream, in sequence; the experts' follow
the dense parameters' (``*.expert``).

**Compute** comes from :mod:`.compute` (the layers' matmuls, attention and element-wise work
on the topology's NPU, or every FLOP at ``flops_per_npu`` / ``mfu`` of the peak): ``main`` is
``m`` forwards, ``m - 1`` backwards (with their recomputation) and the bubble ``(p - 1) / v``
of a micro-batch's forward and backward (SC21 Sections 2.2.1-2.2.2). Full recomputation
re-runs the
forward's TP all-reduces (and CP gathers, EP all-to-alls) in the backward; the interleaved
schedule sends ``v`` times the pipeline messages. :mod:`.memory` gives the memory per NPU;
:func:`plan` refuses a plan that does not fit the NPU (``check_memory=False``: marks it).

Approximations: all stages are in lockstep (pipeline stages really run shifted, so a stage's
TP may meet another's pipeline send on a shared link; here they do not meet); the bubble is
compute-free idle time, counted as compute (its communication share is left out); the
slowest stage (the last, with the logits) sets the pace; the K/V exchange of context
parallelism, which ring attention overlaps with its blockwise attention, is counted as
blocking; ZeRO 3 gathers the parameters once per step, as SC20 Section 7 counts them
(frameworks that re-gather per micro-batch move more); with ``scatter_gather`` the all-gather
that rebuilds a pipeline message on the TP links is not timed.
"""

import math
import time
from fractions import Fraction

import numpy as np

from .. import collectives
from ..data.dtypes import DTYPES
from ..errors import UbemuError, keywords_checked
from ..machine.spec import resolve_topology
from ..workloads.intervals import length_outside, union
from ..workloads.ops import COMPUTE, SENDRECV, Op
from . import compute as computing
from . import formulas, layout
from .memory import memory_of
from .model import model_of
from .report import AxisRow, OpRow, StepReport

#: Communication axes, in the order the report lists them (the chain's order, then DP).
AXES = ("tp", "cp", "ep", "pp", "dp")
#: Ring attention passes the K/V blocks around a ring: its collectives run as a ring.
CP_ALGORITHM = "ring"
#: Seed of the experts' routing the EP ops draw (uniform popularity: balanced experts).
EP_ROUTING_SEED = 0


def _nbytes(nbytes, n, itemsize, blocked):
    """Bytes rounded up to whole elements (per rank for a blocked collective), >= one."""
    unit = itemsize * (n if blocked else 1)
    return max(unit, math.ceil(Fraction(nbytes) / unit) * unit)


class _Ops:
    """The op list under construction: ops of size-1 groups or no repeats are left out."""

    def __init__(self, model):
        self.model, self.ops = model, []

    def add(self, name, collective, nbytes, rows, repeat, after, dtype=None, algorithm="auto",
            options=None):
        """Append an op; returns its name, or None when it was left out."""
        repeat = int(repeat)
        if repeat < 1 or rows.shape[1] < 2 or nbytes <= 0:
            return None
        dtype = dtype or self.model.dtype
        blocked = collective != SENDRECV and collectives.get(collective).blocked
        itemsize = DTYPES[dtype].itemsize
        self.ops.append(Op(name=name, collective=collective, npus=rows, repeat=repeat,
                           nbytes=int(_nbytes(nbytes, rows.shape[1], itemsize, blocked)),
                           dtype=dtype, algorithm=algorithm, options=dict(options or {}),
                           after=tuple(a for a in after if a)))
        return name

    def compute(self, name, duration_s, after):
        if duration_s <= 0:
            return None
        self.ops.append(Op(name=name, collective=COMPUTE, duration_s=float(duration_s),
                           after=tuple(a for a in after if a)))
        return name


def compute_of(model, plan, topology, flops_per_npu=None, mfu=None):
    """The step's :class:`~ubemu.training.compute.StepCompute`, or None when nothing gives
    the compute (no rate, no ``mfu`` and no ``[npu]`` table: communication only)."""
    if flops_per_npu is not None and not (isinstance(flops_per_npu, (int, float))
                                          and 0 < flops_per_npu < math.inf):
        raise UbemuError(f"flops_per_npu must be a number > 0 (FLOP/s), got {flops_per_npu!r}")
    if mfu is not None and not (isinstance(mfu, (int, float)) and 0 < mfu <= 1):
        raise UbemuError(f"mfu must be a fraction in (0, 1], got {mfu!r}")
    if flops_per_npu is None and mfu is None and topology.npu is None:
        return None
    return computing.step_compute(model, plan, topology.npu, rate=flops_per_npu, mfu=mfu)


def _blocking(ops, model, plan, seg, fwd, bwd, prev):
    """The blocking chain of one segment with ``fwd`` forward and ``bwd`` backward
    micro-batch passes, after ``prev``; returns the chain's last op name. A backward with
    full recomputation runs the forward's collectives again."""
    layers, moe = layout.layers_per_stage(model, plan)
    act = layout.activation_nbytes(model, plan)
    passes = fwd + bwd * (2 if plan.recompute == "full" else 1)
    g = {axis: layout.groups_of(plan, axis) for axis in ("tp", "cp", "ep", "pp")}
    if plan.sequence_parallel:  # per layer and pass: 2 all-gathers and 2 reduce-scatters
        for coll, tag in (("all_gather", "ag"), ("reduce_scatter", "rs")):
            prev = ops.add(f"tp.{seg}.{tag}", coll, act, g["tp"], 2 * layers * passes,
                           (prev,)) or prev
    else:  # per layer and pass: 2 all-reduces (operators f and g)
        prev = ops.add(f"tp.{seg}", "all_reduce", act, g["tp"], 2 * layers * passes,
                       (prev,)) or prev
    kv = Fraction(2 * layout.tokens_per_rank(model, plan) * plan.cp * model.kv_hidden
                  * model.dtype_nbytes, plan.tp)  # K and V of the whole ring: all_gather size
    prev = ops.add(f"cp.{seg}.kv", "all_gather", kv, g["cp"], layers * passes, (prev,),
                   algorithm=CP_ALGORITHM) or prev
    prev = ops.add(f"cp.{seg}.dkv", "reduce_scatter", kv, g["cp"], layers * bwd, (prev,),
                   algorithm=CP_ALGORITHM) or prev
    prev = ep_ops(ops, model, plan, seg, g["ep"], moe * passes, prev)
    p2p = Fraction(act, plan.tp if plan.sequence_parallel or plan.scatter_gather else 1)
    v = plan.vpp  # the interleaved schedule sends v times (SC21 Section 2.2.2)
    prev = ops.add("pp.fwd", SENDRECV, p2p, g["pp"], fwd * v, (prev,)) or prev
    return ops.add(f"pp.bwd.{seg}", SENDRECV, p2p, g["pp"][:, ::-1], bwd * v,
                   (prev,)) or prev


def ep_ops(ops, model, plan, seg, rows, repeat, prev):
    """Expert parallelism's exchanges of one segment, after ``prev``: per MoE layer and pass a
    dispatch (each token's row to the ranks of its top-k experts) and a combine (every routed
    copy back), alltoallv of the routing drawn for the EP group (:mod:`ubemu.traffic`: the
    rank's tokens, ``model.top_k`` of ``model.experts`` experts, uniform popularity), each
    moving on average the formula's bytes (:func:`~ubemu.training.formulas.alltoall_nbytes`).
    The backward's gradients take the same two patterns. Returns the chain's last op."""
    if not model.experts or rows.shape[1] < 2 or repeat < 1:
        return prev
    tokens = int(Fraction(layout.tokens_per_rank(model, plan),
                          plan.tp if plan.sequence_parallel else 1))
    routing = (f"moe:tokens={max(tokens, 1)},experts={model.experts},topk={model.top_k},"
               f"seed={EP_ROUTING_SEED}")
    nbytes = formulas.alltoall_nbytes(model, plan)
    for phase, traffic in (("dispatch", routing), ("combine", routing + ",combine")):
        prev = ops.add(f"ep.{seg}.{phase}", "alltoallv", nbytes, rows, repeat, (prev,),
                       options={"traffic": traffic}) or prev
    return prev


def step_workload(model, plan, topology, flops_per_npu=None, mfu=None):
    """One training step's communication (and compute) as a list of :class:`Op`.

    ``topology`` must have exactly ``tp * cp * dp * pp`` NPUs. The compute comes from
    :func:`compute_of` (``flops_per_npu``: FLOP/s one NPU achieves; ``mfu``: a fraction of
    its peak; neither: the NPU's shape model, or no compute ops without an ``[npu]``). See the
    module docstring for the placement rule.
    """
    topo = resolve_topology(topology)
    layout.check(model, plan, topo.n_npus)
    m = layout.micro_batches(model, plan)
    comp = compute_of(model, plan, topo, flops_per_npu, mfu)
    main_s, last_s, opt_s = ((comp.main_s, comp.last_s, comp.optimizer_s) if comp
                             else (0.0, 0.0, 0.0))
    ops = _Ops(model)
    prev = ops.compute("compute.main", main_s, ())
    prev = _blocking(ops, model, plan, "main", m, m - 1, prev)
    main_end = prev
    prev = ops.compute("compute.last", last_s, (prev,)) or prev
    last_end = _blocking(ops, model, plan, "last", 0, 1, prev)
    # the DP stream
    dense, expert = formulas.params_per_npu(model, plan)
    groups = (("", dense, layout.groups_of(plan, "grad")),
              (".expert", expert, layout.groups_of(plan, "expert_grad")))
    stream = None
    if plan.zero == 3:
        layers = layout.layers_per_stage(model, plan)
        for pas in ("fwd", "bwd"):
            for (tag, params, rows), n in zip(groups, layers):
                k = n if n and params % n == 0 else 1  # one gather per layer when they agree
                stream = ops.add(f"dp.gather.{pas}{tag}", "all_gather",
                                 params // k * model.dtype_nbytes, rows, k, (stream,)) or stream
    start = main_end if plan.overlap_grad_reduce else last_end
    grad = "all_reduce" if plan.zero == 0 else "reduce_scatter"
    for tag, params, rows in groups:
        stream = ops.add(f"dp.grad{tag}", grad, params * model.grad_nbytes, rows, 1,
                         (stream, start)) or stream
    stream = ops.compute("compute.optimizer", opt_s, (stream, last_end)) or stream
    if plan.zero in (1, 2):
        for tag, params, rows in groups:
            stream = ops.add(f"dp.params{tag}", "all_gather", params * model.dtype_nbytes,
                             rows, 1, (stream, last_end)) or stream
    if not ops.ops:
        raise UbemuError(f"plan {plan.label()}: no communication and no compute to time")
    return ops.ops


def axis_of(op_name):
    """``tp.main`` -> ``tp``; compute ops -> ``compute``."""
    return op_name.split(".", 1)[0]


def op_send_bytes(op):
    """Bytes the busiest rank of ``op`` sends (exact): nccl-tests' bus-bandwidth factor x
    size x repeat (all_reduce 2(n-1)/n, the others (n-1)/n); sendrecv its message."""
    if op.is_compute:
        return Fraction(0)
    n = op.npus.shape[1]
    if op.collective == SENDRECV:
        return Fraction(op.nbytes * op.repeat)
    c = collectives.get(op.collective)
    return Fraction(c.busbw_num * (n - 1), c.busbw_den * n) * op.nbytes * op.repeat


def ops_bytes(ops, n_npus):
    """{axis: bytes the busiest NPU sends on that axis}, from the ops themselves."""
    out = {a: Fraction(0) for a in AXES}
    p2p = {a: np.zeros(n_npus, np.int64) for a in AXES}
    for op in ops:
        if op.is_compute:
            continue
        axis = axis_of(op.name)
        if op.collective == SENDRECV:  # ranks 0..n-2 of every row send
            np.add.at(p2p[axis], op.npus[:, :-1].reshape(-1), op.nbytes * op.repeat)
        else:  # every NPU of the planner's ops is in one row: all send the same
            out[axis] += op_send_bytes(op)
    return {a: out[a] + int(p2p[a].max()) for a in AXES}


@keywords_checked
def plan(model, plan, topology, flops_per_npu=None, mfu=None, capacity_bytes=None,
         check_memory=True):
    """Time one training step of ``plan`` on ``topology`` (a Topology or a name): a
    :class:`~ubemu.training.report.StepReport` with the time per axis, the compute, the
    bubble, the step time, the exposed communication, the slowest link class, the bytes per
    NPU by formula and by op, and the memory per NPU against the capacity
    (``capacity_bytes``, default the NPU's). A plan that does not fit is refused in one
    line unless ``check_memory=False`` (the report then says it does not fit). ``model``: a
    :class:`~ubemu.training.model.Model` or a preset's name (``"gpt3-175b"``)."""
    from ..workloads.run import run_workload

    wall0 = time.perf_counter()
    model = model_of(model)
    topo = resolve_topology(topology)
    layout.check(model, plan, topo.n_npus)
    mem = memory_of(model, plan)
    capacity = capacity_of(topo, capacity_bytes)
    fits = capacity is None or mem.total_B <= capacity
    if check_memory and not fits:
        raise UbemuError(
            f"plan {plan.label()} (recompute {plan.recompute}, ZeRO {plan.zero}) needs "
            f"{mem.total_B / 1e9:.4g} GB per NPU ({mem.stage} stage), the NPU holds "
            f"{capacity / 1e9:.4g} GB: recompute more, raise tp, pp or zero, or set the "
            f"capacity (--memory-gb)")
    comp = compute_of(model, plan, topo, flops_per_npu, mfu)
    ops = step_workload(model, plan, topo, flops_per_npu, mfu)
    res = run_workload(ops, topo)
    by_name = {r.name: r for r in res.ops}
    compute_spans = union([(by_name[o.name].start_s, by_name[o.name].end_s) for o in ops
                           if o.is_compute])
    rows, earlier = [], []
    for op in ops:
        if op.is_compute:
            continue
        r = by_name[op.name]
        covered = union(compute_spans + earlier)
        rows.append(OpRow(op.name, axis_of(op.name), op.collective, r.algorithm,
                          op.npus.shape[1], op.npus.shape[0], op.repeat, op.nbytes,
                          float(op_send_bytes(op)), r.start_s, r.end_s, r.duration_s,
                          r.alone_s, length_outside(r.start_s, r.end_s, covered), r.bottleneck))
        earlier.append((r.start_s, r.end_s))
    expected, carried = formulas.formula_bytes(model, plan), ops_bytes(ops, topo.n_npus)
    axes = [AxisRow(a, expected[a], carried[a], sum(o.time_s for o in rows if o.axis == a),
                    sum(o.exposed_s for o in rows if o.axis == a),
                    [o.name for o in rows if o.axis == a]) for a in AXES]
    peak = (topo.npu.peak_flops(model.dtype) if topo.npu is not None
            and model.dtype in topo.npu.tflops else None)
    return StepReport(model, plan, topo.name, topo.n_npus, flops_per_npu,
                      layout.micro_batches(model, plan), res.makespan_s,
                      comp.total_s if comp else 0.0, comp.bubble_s if comp else 0.0,
                      res.exposed_s, res.bottleneck, formulas.params_per_npu(model, plan),
                      mem.total_B, axes, rows, res, time.perf_counter() - wall0, comp, mem,
                      capacity, fits, peak)


def capacity_of(topology, capacity_bytes=None):
    """Bytes one NPU holds: ``capacity_bytes`` if given, else the NPU's, else None."""
    if capacity_bytes is not None:
        if not capacity_bytes > 0:
            raise UbemuError(f"memory capacity must be > 0 bytes, got {capacity_bytes!r}")
        return float(capacity_bytes)
    npu = topology.npu
    return npu.mem_GB * 1e9 if npu is not None and npu.mem_GB > 0 else None
