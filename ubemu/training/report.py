"""What :func:`ubemu.training.planner.plan` returns: one step's operations, axes, compute and
memory, as records (and their JSON form)."""

from dataclasses import dataclass, field
from fractions import Fraction

from .layout import Plan
from .model import Model


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
    """One plan timed. ``compute_s`` is the step's compute with its bubble (``bubble_s``) and
    optimizer step; ``compute`` the :class:`~ubemu.training.compute.StepCompute` (None:
    communication only); ``memory`` the :class:`~ubemu.training.memory.Memory` per NPU,
    ``capacity_bytes`` what the NPU holds (None: unknown) and ``fits`` whether it does;
    ``peak_flops`` the NPU's peak for the model's dtype (None: unknown)."""

    model: Model
    plan: Plan
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
    compute: object = None
    memory: object = None
    capacity_bytes: float = None
    fits: bool = True
    peak_flops: float = None

    def axis(self, name):
        return next(a for a in self.axes if a.axis == name)

    @property
    def mfu(self):
        """The model's FLOPs of the step (:func:`~ubemu.training.compute.step_model_flops`)
        over NPUs x step time x peak, or None."""
        from .compute import step_model_flops

        if self.compute is None or not self.peak_flops or not self.step_s:
            return None
        return step_model_flops(self.model) / (self.n_npus * self.step_s * self.peak_flops)

    def to_dict(self, timeline=True):
        """The report as plain data; with ``timeline`` (and a result) the step's
        :meth:`~ubemu.workloads.run.WorkloadResult.timeline` too."""
        d = {k: getattr(self, k) for k in ("topology", "n_npus", "flops_per_npu",
                                           "micro_batches", "step_s", "compute_s", "bubble_s",
                                           "exposed_s", "bottleneck", "memory_bytes", "wall_s",
                                           "capacity_bytes", "fits", "peak_flops", "mfu")}
        d["model"], d["plan"] = vars(self.model).copy(), self.plan.to_dict()
        d["params_per_npu"] = {"dense": self.params_per_npu[0],
                               "expert": self.params_per_npu[1]}
        d["memory"] = self.memory.to_dict() if self.memory is not None else None
        d["compute"] = None if self.compute is None else {
            **{k: getattr(self.compute, k) for k in ("fwd_s", "bwd_s", "bubble_s",
                                                     "optimizer_s", "model_flops",
                                                     "hardware_flops", "how")},
            **self.compute.breakdown}
        d["axes"] = [{**vars(a), "formula_bytes": float(a.formula_bytes),
                      "op_bytes": float(a.op_bytes)} for a in self.axes]
        d["ops"] = [vars(o).copy() for o in self.ops]
        d["link_usage"] = [vars(u).copy() for u in self.result.usage] if self.result else []
        if timeline and self.result is not None:
            d["timeline"] = self.result.timeline()
        return d
