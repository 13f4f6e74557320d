"""Training steps: the model, its parallel layout, the published formulas, and the planner.

Owns :mod:`.model` (a transformer and its batch, the presets), :mod:`.layout` (a parallel
plan and the NPU groups of every axis), :mod:`.formulas` (bytes each axis sends, parameters
and FLOPs per NPU), :mod:`.compute` (the compute of a step from the model's shapes and the
NPU), :mod:`.memory` (memory per NPU), :mod:`.planner` (a step as a workload on a machine,
timed), :mod:`.report` (its records) and :mod:`.sweep` (every plan of a machine, ranked). May
import the workloads, the engine and everything below them; only the command line, the
validation and the package's lazy API import it. ``import ubemu.training`` stays light
(no kernels): the planner is imported where it is used.
"""

from .formulas import (
    FORMULAS,
    OPTIMIZER_NBYTES,
    alltoall_nbytes,
    cp_bytes,
    dp_bytes,
    ep_bytes,
    flops_per_npu_step,
    formula_bytes,
    params_per_npu,
    pp_bytes,
    tp_bytes,
)
from .layout import (
    AXES,
    DEFAULT_ORDER,
    GROUP_AXES,
    RECOMPUTE,
    Plan,
    activation_nbytes,
    check,
    groups_of,
    layers_per_stage,
    micro_batches,
    tokens_per_rank,
)
from .memory import Memory, memory_of, memory_per_npu
from .model import MODELS, Model, describe, get_model, layer_params, param_count, with_overrides

__all__ = ["AXES", "DEFAULT_ORDER", "FORMULAS", "GROUP_AXES", "MODELS", "OPTIMIZER_NBYTES",
           "RECOMPUTE", "Memory", "Model", "Plan", "activation_nbytes", "alltoall_nbytes",
           "check", "cp_bytes", "memory_of",
           "describe", "dp_bytes", "ep_bytes", "flops_per_npu_step", "formula_bytes",
           "get_model", "groups_of", "layer_params", "layers_per_stage", "memory_per_npu",
           "micro_batches", "param_count", "params_per_npu", "pp_bytes", "tokens_per_rank",
           "tp_bytes", "with_overrides"]
