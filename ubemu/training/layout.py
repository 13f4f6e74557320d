"""A training step's parallel layout: :class:`Plan` and the NPU groups of every axis.

A :class:`~.model.Model` and a :class:`Plan` (tensor, pipeline, data, expert and context
parallel sizes, ZeRO stage, sequence parallelism, the order of the axes on the NPU ids) give
the NPU groups of every parallel axis (:func:`groups_of`): NPU ids are a mixed-radix number
whose digits are the axes in ``plan.order``, innermost first; the default ``tp,cp,ep,dp,pp``
is Megatron-LM's (``RankGenerator``'s ``tp-cp-ep-dp-pp``): TP groups are consecutive NPUs, DP
groups stride ``tp * cp``, PP groups stride ``tp * cp * dp``. EP groups are carved out of the
DP axis (its ``ep`` innermost DP digits); the gradients of the dense parameters are reduced
over the ``cp * dp`` NPUs holding the same shard (Megatron's data-parallel group with context
parallelism), those of the experts over ``cp * dp / ep``.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UbemuError
from .model import require_ints

#: The parallel axes; ``plan.order`` lists each once, innermost (fastest-varying) first.
AXES = ("tp", "cp", "ep", "dp", "pp")
#: Megatron-LM's default order (``--order tp-cp-ep-dp-pp`` in Megatron-Core's RankGenerator).
DEFAULT_ORDER = "tp,cp,ep,dp,pp"
#: Activation recomputation, lightest first.
RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class Plan:
    """How one training step is parallelised (see the module docstring for ``order``).

    ``zero``: 0 plain data parallelism, 1 and 2 ZeRO stages 1/2 (Megatron's distributed
    optimizer: reduce-scatter of the gradients, all-gather of the updated parameters), 3 the
    parameters gathered before the forward and the backward passes too. ``overlap_grad_reduce``:
    the gradient reduction overlaps the last micro-batch's backward (Megatron's
    ``--overlap-grad-reduce``). ``recompute``: activation recomputation, ``none``,
    ``selective`` (the attention core) or ``full`` (every layer's forward again in its
    backward), Korthikanti et al. 2022. ``vpp``: virtual pipeline stages per NPU, the
    interleaved 1F1B schedule (SC21 Section 2.2.2: bubble (p-1)/(v m), v times the pipeline
    sends). ``scatter_gather``: SC21 Section 4.1, each TP rank sends 1/t of a pipeline
    message. ``flash_attention``: the attention core as one kernel that never writes the
    scores (and recomputes them in the backward).
    """

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1
    zero: int = 0
    sequence_parallel: bool = False
    order: str = DEFAULT_ORDER
    overlap_grad_reduce: bool = True
    recompute: str = "none"
    vpp: int = 1
    scatter_gather: bool = False
    flash_attention: bool = True

    def __post_init__(self):
        require_ints(self, ("tp", "pp", "dp", "ep", "cp", "vpp"), "plan")
        if self.recompute not in RECOMPUTE:
            raise UbemuError(f"plan: recompute must be one of {', '.join(RECOMPUTE)}, got "
                             f"{self.recompute!r}")
        if isinstance(self.zero, bool) or self.zero not in (0, 1, 2, 3):
            raise UbemuError(f"plan: zero must be 0, 1, 2 or 3, got {self.zero!r}")
        if self.dp % self.ep:
            raise UbemuError(f"plan: ep={self.ep} must divide dp={self.dp} (expert-parallel "
                             f"groups are carved out of the data-parallel axis)")
        axes = tuple(a.strip() for a in str(self.order).replace("-", ",").split(","))
        if sorted(axes) != sorted(AXES):
            raise UbemuError(f"plan: order {self.order!r} must name each of "
                             f"{', '.join(AXES)} once (innermost first)")
        object.__setattr__(self, "order", ",".join(axes))

    @property
    def n_npus(self):
        return self.tp * self.cp * self.dp * self.pp

    @property
    def axes(self):
        """The axes innermost first."""
        return tuple(self.order.split(","))

    def radix(self, axis):
        """The digit range of ``axis`` in an NPU id (the DP digit is what EP leaves)."""
        return self.dp // self.ep if axis == "dp" else getattr(self, axis)

    def label(self):
        """``TP8 PP8 DP128`` (EP, CP and VPP when > 1)."""
        parts = [("TP", self.tp), ("CP", self.cp), ("PP", self.pp), ("VPP", self.vpp),
                 ("DP", self.dp), ("EP", self.ep)]
        return " ".join(f"{k}{v}" for k, v in parts if v > 1 or k in ("TP", "PP", "DP"))

    def to_dict(self):
        return asdict(self)


def check(model, plan, n_npus=None, where="plan"):
    """Raise a one-line :class:`UbemuError` naming the field unless ``plan`` fits ``model``
    (and a machine of ``n_npus`` NPUs)."""
    m = model
    rules = [("tp", plan.tp, "heads", m.heads), ("tp", plan.tp, "kv_heads", m.kv_heads),
             ("tp", plan.tp, "ffn_hidden", m.ffn_hidden), ("pp", plan.pp, "layers", m.layers),
             ("cp", plan.cp, "seq_len", m.seq_len),
             ("dp*micro_batch", plan.dp * m.micro_batch, "global_batch", m.global_batch)]
    if m.moe_layers:
        rules += [("pp", plan.pp, "moe_layers", m.moe_layers),
                  ("ep", plan.ep, "experts", m.experts)]
    elif plan.ep > 1:
        raise UbemuError(f"{where}: ep={plan.ep} needs a model with experts "
                         f"(model {m.name!r} has none)")
    for key, value, what, total in rules:
        if total % value:
            raise UbemuError(f"{where}: {key}={value} must divide {what}={total} "
                             f"(model {m.name!r})")
    if plan.vpp > 1:
        if m.layers % (plan.pp * plan.vpp) or m.moe_layers % (plan.pp * plan.vpp):
            raise UbemuError(f"{where}: pp*vpp={plan.pp * plan.vpp} must divide layers="
                             f"{m.layers}" + (f" and moe_layers={m.moe_layers}"
                                              if m.moe_layers else "") + f" (model {m.name!r})")
        mb = m.global_batch // (plan.dp * m.micro_batch)
        if plan.pp == 1 or mb % plan.pp:
            raise UbemuError(f"{where}: vpp={plan.vpp} (interleaved 1F1B) needs pp > 1 and "
                             f"the {mb} micro-batches a multiple of pp={plan.pp} (Megatron's "
                             f"rule)")
    if plan.sequence_parallel and (m.seq_len // plan.cp) % plan.tp:
        raise UbemuError(f"{where}: tp={plan.tp} must divide seq_len/cp="
                         f"{m.seq_len // plan.cp} with sequence parallelism")
    if n_npus is not None and plan.n_npus != n_npus:
        raise UbemuError(f"{where}: tp*cp*dp*pp = {plan.tp}*{plan.cp}*{plan.dp}*{plan.pp} = "
                         f"{plan.n_npus:,} NPUs, the topology has {n_npus:,} (change dp)")


# -- shape of one step ---------------------------------------------------------------------
def micro_batches(model, plan):
    """m: micro-batches per data-parallel replica per step."""
    return model.global_batch // (plan.dp * model.micro_batch)


def layers_per_stage(model, plan):
    """(layers, MoE layers) of one pipeline stage."""
    return model.layers // plan.pp, model.moe_layers // plan.pp


def tokens_per_rank(model, plan):
    """Tokens of one micro-batch on one NPU: b s / c (context parallelism splits the
    sequence)."""
    return model.micro_batch * model.seq_len // plan.cp


def activation_nbytes(model, plan):
    """M = b (s/c) h B: the activation tensor of one micro-batch on one NPU (one TP message)."""
    return tokens_per_rank(model, plan) * model.hidden * model.dtype_nbytes


# -- groups --------------------------------------------------------------------------------
#: Named groups: the axes whose digits vary inside one group.
GROUP_AXES = {"tp": ("tp",), "cp": ("cp",), "ep": ("ep",), "pp": ("pp",), "dp": ("ep", "dp"),
              "grad": ("cp", "ep", "dp"), "expert_grad": ("cp", "dp")}


def groups_of(plan, group):
    """Every group of kind ``group`` (an axis, ``grad`` or ``expert_grad``, or a tuple of
    axes) as an int64 array (G, n): row g holds group g's NPU ids, rank order innermost axis
    first; rows follow the other axes, row 0 holds NPU 0; every NPU appears once."""
    axes = GROUP_AXES[group] if isinstance(group, str) else tuple(group)
    order = plan.axes
    sizes = [plan.radix(a) for a in order]
    ids = np.arange(plan.n_npus, dtype=np.int64).reshape(sizes[::-1])  # dim k: order[-1-k]
    member = sorted(len(order) - 1 - order.index(a) for a in axes)
    rest = [k for k in range(len(order)) if k not in member]
    n = int(np.prod([sizes[order.index(a)] for a in axes], dtype=np.int64))
    return np.ascontiguousarray(ids.transpose(rest + member).reshape(-1, n))


