"""A training step as a workload, timed on a machine; every plan of a machine, ranked.

:func:`step_workload` writes one step of a :class:`~ubemu.training.layout.Plan` as
:class:`~ubemu.workloads.ops.Op` s. Every op runs on every group of its axis at once (``Op.npus``:
all TP groups, all DP groups, ...) in lockstep, and ``Op.repeat`` stands for its identical
collectives (a TP all-reduce per layer, per pass, per micro-batch). Sizes follow nccl-tests:
all_reduce / all_gather / reduce_scatter the full tensor, alltoall what one rank sends in all,
sendrecv one message (rank r of a group sends to rank r + 1). Blocked collectives' sizes are
rounded up to whole elements per rank (Megatron pads its buffers the same way).

**Placement rule.** A step is two segments on every NPU: *main* (the forward of the m
micro-batches, the backward of m - 1 of them, the 1F1B bubble) and *last* (the backward of
the last micro-batch). Each segment is one sequential chain: its compute
(``compute.<segment>``, from ``flops_per_npu``) then its blocking communication, TP, CP, EP,
then the pipeline's forward sends (``pp.fwd``, stage r to r + 1) and backward sends
(``pp.bwd``, stage r + 1 to r). Megatron runs these on the compute stream: an NPU does one of
them at a time, so they never overlap each other or that NPU's compute, and the order inside
a segment does not change its length. What runs on a side stream overlaps the chain and is
placed concurrently with the part it overlaps, sharing links with it: the gradient
reduction (``dp.grad``, zero 0: all_reduce; 1-3: reduce_scatter) starts with the last segment
when ``overlap_grad_reduce`` (Megatron's bucketed reduction during the last backward), else
after it; ZeRO 1/2's parameter all_gather (``dp.params``) follows the reduction and the last
segment (the optimizer step in between is not timed); ZeRO 3's parameter all_gathers for the
forward and the backward (``dp.gather.*``, prefetched layer by layer) run beside the main
segment from its start. The DP ops of one NPU are one stream, in sequence; the experts' follow
the dense parameters' (``*.expert``).

Approximations: all stages are in lockstep (pipeline stages really run shifted, so a stage's
TP may meet another's pipeline send on a shared link; here they do not meet); the bubble is
compute-free idle time of (p-1)/m x the compute, counted as compute (its communication share
is left out); compute is the 6 x parameters x tokens rule at the given rate; the K/V
exchange of context parallelism, which ring attention overlaps with its blockwise attention,
is counted as blocking; ZeRO 3 gathers the parameters once per step, as SC20 Section 7
counts them (frameworks that re-gather per micro-batch move more).
"""

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .. import collectives
from ..data.dtypes import DTYPES
from ..errors import UbemuError
from ..machine.spec import resolve_topology
from ..parallel.spread import spread
from ..workloads.intervals import length_outside, union
from ..workloads.ops import COMPUTE, SENDRECV, Op
from . import formulas, layout, model

#: Communication axes, in the order the report lists them (the chain's order, then DP).
AXES = ("tp", "cp", "ep", "pp", "dp")
#: Ring attention passes the K/V blocks around a ring: its collectives run as a ring.
CP_ALGORITHM = "ring"


def _nbytes(nbytes, n, itemsize, blocked):
    """Bytes rounded up to whole elements (per rank for a blocked collective), >= one."""
    unit = itemsize * (n if blocked else 1)
    return max(unit, math.ceil(Fraction(nbytes) / unit) * unit)


class _Ops:
    """The op list under construction: ops of size-1 groups or no repeats are left out."""

    def __init__(self, model):
        self.model, self.ops = model, []

    def add(self, name, collective, nbytes, rows, repeat, after, dtype=None, algorithm="auto"):
        """Append an op; returns its name, or None when it was left out."""
        repeat = int(repeat)
        if repeat < 1 or rows.shape[1] < 2 or nbytes <= 0:
            return None
        dtype = dtype or self.model.dtype
        blocked = collective != SENDRECV and collectives.get(collective).blocked
        itemsize = DTYPES[dtype].itemsize
        self.ops.append(Op(name=name, collective=collective, npus=rows, repeat=repeat,
                           nbytes=int(_nbytes(nbytes, rows.shape[1], itemsize, blocked)),
                           dtype=dtype, algorithm=algorithm,
                           after=tuple(a for a in after if a)))
        return name

    def compute(self, name, duration_s, after):
        if duration_s <= 0:
            return None
        self.ops.append(Op(name=name, collective=COMPUTE, duration_s=float(duration_s),
                           after=tuple(a for a in after if a)))
        return name


def compute_times(model, plan, flops_per_npu):
    """(main, last, bubble) seconds of compute of one NPU (see the module docstring); zeros
    without a rate. Forward : backward = 1 : 2 of the 6 x params x tokens FLOPs."""
    if not flops_per_npu:
        return 0.0, 0.0, 0.0
    m = layout.micro_batches(model, plan)
    per_mb = formulas.flops_per_npu_step(model, plan) / m / flops_per_npu
    bubble = (plan.pp - 1) * per_mb  # (p-1)/m of the m micro-batches' compute (SC21 2.2.1)
    return per_mb * (m - 2 / 3) + bubble, per_mb * 2 / 3, bubble


def _blocking(ops, model, plan, seg, fwd, bwd, prev):
    """The blocking chain of one segment with ``fwd`` forward and ``bwd`` backward
    micro-batch passes, after ``prev``; returns the chain's last op name."""
    layers, moe = layout.layers_per_stage(model, plan)
    act = layout.activation_nbytes(model, plan)
    passes = fwd + bwd
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
    prev = ops.add(f"ep.{seg}", "alltoall", formulas.alltoall_nbytes(model, plan), g["ep"],
                   2 * moe * passes, (prev,)) or prev
    p2p = Fraction(act, plan.tp if plan.sequence_parallel else 1)
    prev = ops.add("pp.fwd", SENDRECV, p2p, g["pp"], fwd, (prev,)) or prev
    return ops.add(f"pp.bwd.{seg}", SENDRECV, p2p, g["pp"][:, ::-1], bwd, (prev,)) or prev


def step_workload(model, plan, topology, flops_per_npu=None):
    """One training step's communication (and compute) as a list of :class:`Op`.

    ``topology`` must have exactly ``tp * cp * dp * pp`` NPUs. ``flops_per_npu``: FLOP/s one
    NPU achieves (None: no compute ops). See the module docstring for the placement rule.
    """
    topo = resolve_topology(topology)
    layout.check(model, plan, topo.n_npus)
    if flops_per_npu is not None and not (isinstance(flops_per_npu, (int, float))
                                          and 0 < flops_per_npu < math.inf):
        raise UbemuError(f"flops_per_npu must be a number > 0 (FLOP/s), got {flops_per_npu!r}")
    m = layout.micro_batches(model, plan)
    main_s, last_s, _ = compute_times(model, plan, flops_per_npu)
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


@dataclass
class OpRow:
    """One op of the step as it ran (times in seconds; ``exposed_s``: its time outside
    compute and outside the ops listed before it)."""

    name: str
    axis: str
    collective: str
    algorithm: str
    group: int
    groups: int
    repeat: int
    nbytes: int
    bytes_per_npu: float
    start_s: float
    end_s: float
    time_s: float
    alone_s: float
    exposed_s: float
    bottleneck: str


@dataclass
class AxisRow:
    """One parallel axis: bytes per NPU by the formula and carried by its ops, its ops' time
    (summed) and the part of it exposed (per-axis exposed times add up to the step's)."""

    axis: str
    formula_bytes: Fraction
    op_bytes: Fraction
    time_s: float
    exposed_s: float
    ops: list


@dataclass
class StepReport:
    """One plan timed (:func:`plan`)."""

    model: model.Model
    plan: layout.Plan
    topology: str
    n_npus: int
    flops_per_npu: float
    micro_batches: int
    step_s: float
    compute_s: float
    bubble_s: float
    exposed_s: float
    bottleneck: str
    params_per_npu: tuple
    memory_bytes: float
    axes: list
    ops: list
    result: object = field(repr=False, default=None)
    wall_s: float = 0.0

    def axis(self, name):
        return next(a for a in self.axes if a.axis == name)

    def to_dict(self):
        d = {k: getattr(self, k) for k in ("topology", "n_npus", "flops_per_npu",
                                           "micro_batches", "step_s", "compute_s", "bubble_s",
                                           "exposed_s", "bottleneck", "memory_bytes", "wall_s")}
        d["model"], d["plan"] = vars(self.model).copy(), self.plan.to_dict()
        d["params_per_npu"] = {"dense": self.params_per_npu[0],
                               "expert": self.params_per_npu[1]}
        d["axes"] = [{**vars(a), "formula_bytes": float(a.formula_bytes),
                      "op_bytes": float(a.op_bytes)} for a in self.axes]
        d["ops"] = [vars(o).copy() for o in self.ops]
        d["link_usage"] = [vars(u).copy() for u in self.result.usage] if self.result else []
        return d


def plan(model, plan, topology, flops_per_npu=None):
    """Time one training step of ``plan`` on ``topology`` (a Topology or a name): a
    :class:`StepReport` with the time per axis, the step time, the exposed communication,
    the slowest link class and the bytes per NPU by formula and by op."""
    from ..workloads.run import run_workload

    wall0 = time.perf_counter()
    topo = resolve_topology(topology)
    ops = step_workload(model, plan, topo, flops_per_npu)
    res = run_workload(ops, topo)
    by_name = {r.name: r for r in res.ops}
    compute = union([(by_name[o.name].start_s, by_name[o.name].end_s) for o in ops
                      if o.is_compute])
    rows, earlier = [], []
    for op in ops:
        if op.is_compute:
            continue
        r = by_name[op.name]
        covered = union(compute + earlier)
        rows.append(OpRow(op.name, axis_of(op.name), op.collective, r.algorithm,
                          op.npus.shape[1], op.npus.shape[0], op.repeat, op.nbytes,
                          float(op_send_bytes(op)), r.start_s, r.end_s, r.duration_s,
                          r.alone_s, length_outside(r.start_s, r.end_s, covered), r.bottleneck))
        earlier.append((r.start_s, r.end_s))
    expected, carried = formulas.formula_bytes(model, plan), ops_bytes(ops, topo.n_npus)
    axes = [AxisRow(a, expected[a], carried[a], sum(o.time_s for o in rows if o.axis == a),
                    sum(o.exposed_s for o in rows if o.axis == a),
                    [o.name for o in rows if o.axis == a]) for a in AXES]
    main_s, last_s, bubble_s = compute_times(model, plan, flops_per_npu)
    return StepReport(model, plan, topo.name, topo.n_npus, flops_per_npu,
                      layout.micro_batches(model, plan), res.makespan_s, main_s + last_s,
                      bubble_s, res.exposed_s, res.bottleneck, formulas.params_per_npu(model, plan),
                      formulas.memory_per_npu(model, plan), axes, rows, res,
                      time.perf_counter() - wall0)


def _divisors(n):
    return [k for k in range(1, n + 1) if n % k == 0]


def candidate_plans(model, n_npus, tp=None, pp=None, dp=None, ep=None, cp=1, zero=0,
                    sequence_parallel=False, order=layout.DEFAULT_ORDER, overlap_grad_reduce=True,
                    memory_bytes=None):
    """Every valid TP x PP x DP (x EP) factorisation of ``n_npus`` (with ``cp`` fixed):
    tp divides heads, kv_heads and ffn_hidden; pp divides layers (and the MoE layers); dp x
    micro_batch divides the global batch; ep divides the experts and dp. Given sizes are
    kept fixed; ``memory_bytes`` drops plans that need more (:func:`ubemu.training.model.
    memory_per_npu`). Returns (plans, number dropped for memory)."""
    plans, too_big = [], 0
    if n_npus % cp:
        raise UbemuError(f"sweep: cp={cp} must divide the topology's {n_npus:,} NPUs")
    for t in _divisors(n_npus // cp) if tp is None else [tp]:
        for p in _divisors(n_npus // cp // t) if pp is None else [pp]:
            d = n_npus // (cp * t * p)
            if d * cp * t * p != n_npus or (dp is not None and d != dp):
                continue
            eps = [1] if not model.experts else (_divisors(d) if ep is None else [ep])
            for e in eps:
                if d % e:
                    continue
                pl = layout.Plan(tp=t, pp=p, dp=d, ep=e, cp=cp, zero=zero, order=order,
                             sequence_parallel=sequence_parallel,
                             overlap_grad_reduce=overlap_grad_reduce)
                try:
                    layout.check(model, pl, n_npus)
                except UbemuError:
                    continue
                if memory_bytes is not None and formulas.memory_per_npu(model, pl) > memory_bytes:
                    too_big += 1
                    continue
                plans.append(pl)
    return plans, too_big


@dataclass
class SweepResult:
    """Plans timed, fastest step first; ``failed``: (plan, one-line error) of those that
    could not be timed (a collective refused as too big, ...)."""

    reports: list
    failed: list
    n_candidates: int
    n_too_big: int
    wall_s: float


def sweep(model, topology, flops_per_npu=None, on_plan=None, **constraints):
    """Time every plan of :func:`candidate_plans` on ``topology`` and rank them (fastest
    step first). ``on_plan(k, n, plan)`` is called before each. ``constraints``: the keyword
    arguments of :func:`candidate_plans`."""
    wall0 = time.perf_counter()
    topo = resolve_topology(topology)
    plans, too_big = candidate_plans(model, topo.n_npus, **constraints)
    if not plans:
        raise UbemuError(f"sweep: no valid plan of model {model.name!r} on the "
                         f"{topo.n_npus:,} NPUs of {topo.name!r}"
                         + (f" ({too_big} need more memory)" if too_big else ""))
    def one(pl):
        try:
            return plan(model, pl, topo, flops_per_npu)
        except UbemuError as exc:
            return str(exc)

    def landed(k, _):  # in order: the next plan is the one running
        if on_plan is not None and k + 1 < len(plans):
            on_plan(k + 1, len(plans), plans[k + 1])

    if on_plan is not None:
        on_plan(0, len(plans), plans[0])
    # independent plans: spread over an MPI job's processes, each timed alone
    done = spread(plans, one, on_result=landed)
    reports = [r for r in done if not isinstance(r, str)]
    failed = [(pl, r) for pl, r in zip(plans, done) if isinstance(r, str)]
    reports.sort(key=lambda r: (r.step_s, r.plan.tp, r.plan.pp, r.plan.ep))
    return SweepResult(reports, failed, len(plans), too_big, time.perf_counter() - wall0)
