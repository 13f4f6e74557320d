"""Every plan of a machine, timed and ranked: :func:`candidate_plans` and :func:`sweep`.

A candidate is a valid TP x PP x DP (x EP) factorisation of the NPUs (sizes given stay
fixed) with the recomputation it needs: with ``recompute="auto"`` the lightest of none,
selective and full whose memory fits the NPU's capacity (full when none fits). Plans that
do not fit are timed too and marked (:attr:`~ubemu.training.report.StepReport.fits`); the
ranking puts the plans that fit first, fastest step first.
"""

import time
from dataclasses import dataclass, fields, replace

from ..errors import UbemuError, keyword_names, unknown_keyword
from ..machine.spec import resolve_topology
from ..parallel.spread import spread
from ..workloads.cache import shared_profiles
from . import layout
from .memory import memory_of
from .model import model_of
from .planner import capacity_of, plan, step_workload


def _divisors(n):
    return [k for k in range(1, n + 1) if n % k == 0]


def lightest_recompute(model, pl, capacity_bytes):
    """``pl`` with the lightest recomputation that fits ``capacity_bytes`` (full when none
    does; ``pl`` itself when the capacity is unknown)."""
    if capacity_bytes is None:
        return replace(pl, recompute="none")
    for rc in layout.RECOMPUTE:
        trial = replace(pl, recompute=rc)
        if memory_of(model, trial).total_B <= capacity_bytes:
            return trial
    return trial


def candidate_plans(model, n_npus, tp=None, pp=None, dp=None, ep=None, cp=1,
                    recompute="auto", capacity_bytes=None, **fixed):
    """Every valid plan of ``n_npus`` (module docstring): tp divides heads, kv_heads and
    ffn_hidden; pp divides layers (and the MoE layers, times ``vpp``); dp x micro_batch
    divides the global batch; ep divides the experts and dp. ``fixed``: other
    :class:`~ubemu.training.layout.Plan` fields (zero, vpp, order, ...). Returns (plans,
    number that do not fit ``capacity_bytes``)."""
    if n_npus % cp:
        raise UbemuError(f"sweep: cp={cp} must divide the topology's {n_npus:,} NPUs")
    plans, over = [], 0
    for t in _divisors(n_npus // cp) if tp is None else [tp]:
        for p in _divisors(n_npus // cp // t) if pp is None else [pp]:
            d = n_npus // (cp * t * p)
            if d * cp * t * p != n_npus or (dp is not None and d != dp):
                continue
            eps = [1] if not model.experts else (_divisors(d) if ep is None else [ep])
            for e in eps:
                if d % e:
                    continue
                try:
                    pl = layout.Plan(tp=t, pp=p, dp=d, ep=e, cp=cp, **fixed)
                    layout.check(model, pl, n_npus)
                except UbemuError:
                    continue
                pl = (lightest_recompute(model, pl, capacity_bytes) if recompute == "auto"
                      else replace(pl, recompute=recompute))
                over += (capacity_bytes is not None
                         and memory_of(model, pl).total_B > capacity_bytes)
                plans.append(pl)
    return plans, over


@dataclass
class SweepResult:
    """Plans timed, those that fit first, fastest step first; ``failed``: (plan, one-line
    error) of those that could not be timed; ``n_too_big``: plans that do not fit."""

    reports: list
    failed: list
    n_candidates: int
    n_too_big: int
    wall_s: float


def sweep(model, topology, flops_per_npu=None, on_plan=None, mfu=None, capacity_bytes=None,
          **constraints):
    """Time every plan of :func:`candidate_plans` on ``topology`` and rank them.
    Each distinct operation of the plans is timed alone once, over an MPI job's processes,
    then the plans are played (:func:`ubemu.workloads.cache.shared_profiles`).
    ``on_plan(k, n, label)`` is called on process 0 before each unit of work (the distinct
    operations, then the plans; ``label`` says what runs); ``constraints``: the keyword
    arguments of :func:`candidate_plans`; ``capacity_bytes``: the memory per NPU (default the
    NPU's); ``model``: a Model or a preset's name."""
    wall0 = time.perf_counter()
    model = model_of(model)
    options = keyword_names(candidate_plans)[2:] + [
        f.name for f in fields(layout.Plan) if f.name not in ("tp", "pp", "dp", "ep", "cp")]
    for key in constraints:
        if key not in options:
            raise unknown_keyword("sweep", key, keyword_names(sweep), options,
                                  "candidate_plans()")
    topo = resolve_topology(topology)
    capacity = capacity_of(topo, capacity_bytes)
    plans, too_big = candidate_plans(model, topo.n_npus, capacity_bytes=capacity,
                                     **constraints)
    if not plans:
        raise UbemuError(f"sweep: no valid plan of model {model.name!r} on the "
                         f"{topo.n_npus:,} NPUs of {topo.name!r}")

    def one(pl):
        try:
            return plan(model, pl, topo, flops_per_npu, mfu, capacity, check_memory=False)
        except UbemuError as exc:
            return str(exc)

    workloads = []
    for pl in plans:
        try:
            workloads.append(step_workload(model, pl, topo, flops_per_npu, mfu))
        except UbemuError:  # the plan's own run says why
            pass
    n_ops = [0]

    def on_op(k, n, op):
        n_ops[0] = n
        if on_plan is not None:
            on_plan(k, n + len(plans), f"timing {op.name} alone")

    def landed(k, _):  # in order: the next plan is the one running
        if on_plan is not None and k + 1 < len(plans):
            on_plan(n_ops[0] + k + 1, n_ops[0] + len(plans), plans[k + 1].label())

    # the plans share most operations: each distinct one is timed once over the job, then
    # the plans (each one process's play of its step) are dealt out
    with shared_profiles(workloads, topo, on_op=on_op):
        if on_plan is not None:
            on_plan(n_ops[0], n_ops[0] + len(plans), plans[0].label())
        done = spread(plans, one, on_result=landed)
    reports = [r for r in done if not isinstance(r, str)]
    failed = [(pl, r) for pl, r in zip(plans, done) if isinstance(r, str)]
    reports.sort(key=lambda r: (not r.fits, r.step_s, r.plan.tp, r.plan.pp, r.plan.ep))
    return SweepResult(reports, failed, len(plans), too_big, time.perf_counter() - wall0)
