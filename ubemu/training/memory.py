"""Memory one NPU holds in a training step, against the NPU's capacity.

Model states (Rajbhandari et al. SC20, Section 3.1 and 5): the parameters (``dtype``), their
gradients (``grad_dtype``) and Adam's fp32 master copy, momentum and variance
(:data:`~ubemu.training.formulas.OPTIMIZER_NBYTES` = 12 B per parameter), each divided over
the NPUs holding the same shard by ZeRO stage (1: optimizer states, 2: and gradients, 3: and
parameters); the output layer's ``V h / t`` parameters on the first and the last stage.

Activations (Korthikanti et al. 2022, Section 4, in bytes per layer and micro-batch, ``s``
the sequence on one CP rank, 2-byte activations, 1-byte dropout masks): the parts inside the
tensor-parallel region split ``t`` ways, those outside only with sequence parallelism::

    none       s b h (10 + 24/t) + 5 a s^2 b / t    (34 s b h / t with sequence parallelism)
    selective  the same without the 5 a s^2 b / t of the attention scores
    full       2 s b h (each layer's input; / t with sequence parallelism)

generalised from the paper's GPT layer to grouped-query attention (``h_kv``), any FFN width
and gated MLPs; flash attention keeps no scores (as selective). MoE layers keep their
routed tokens' MLP activations (``k x capacity_factor`` times). The first pipeline stage
holds the most micro-batches in flight: ``p`` with 1F1B, and with the interleaved schedule
``(v - 1) p + 2 (p - 1) + 1`` model chunks of ``L / (p v)`` layers (Megatron's warm-up; the
paper's ``L (1 + (p - 1) / (p v))``), never more than the step has. Full recomputation adds
one layer's whole activations while it is recomputed. The last stage adds the logits and
their fp32 cross-entropy (``4 s b V / t`` twice).
"""

from dataclasses import asdict, dataclass, replace

from . import layout
from .formulas import OPTIMIZER_NBYTES
from .model import layer_params


@dataclass(frozen=True)
class Memory:
    """Bytes on the fuller of the first and the last stage's NPU (``stage`` says which)."""

    params_B: float
    grads_B: float
    optimizer_B: float
    activations_B: float
    stage: str

    @property
    def total_B(self):
        return self.params_B + self.grads_B + self.optimizer_B + self.activations_B

    def to_dict(self):
        return {**asdict(self), "total_B": self.total_B}


def layer_activation_bytes(model, plan, moe=False):
    """Activation bytes one layer keeps for one micro-batch (module docstring)."""
    t, h = plan.tp, model.hidden
    s, b = model.seq_len // plan.cp, model.micro_batch
    split = t if plan.sequence_parallel else 1
    if plan.recompute == "full":
        return 2 * s * b * h / split
    tokens = model.top_k * model.capacity_factor if moe else 1
    f, kv = model.ffn_hidden / h, model.kv_hidden / h
    mlp_inside = (6 if model.gated_mlp else 4) * f * tokens
    outside = 10 * s * b * h / split
    inside = (2 + 4 * kv + 2 + mlp_inside) * s * b * h / t
    scores = 0 if (plan.flash_attention or plan.recompute == "selective") else \
        5 * model.heads * s * model.seq_len * b / t
    return outside + inside + scores


def chunks_in_flight(model, plan):
    """(model chunks the first stage holds at once, layers per chunk)."""
    p, v = plan.pp, plan.vpp
    m = layout.micro_batches(model, plan)
    per_chunk = model.layers // (p * v)
    if v == 1:
        return min(p, m), per_chunk
    return min((v - 1) * p + 2 * (p - 1) + 1, m * v), per_chunk


def memory_of(model, plan):
    """The :class:`Memory` of ``plan`` (module docstring)."""
    layers, moe_layers = layout.layers_per_stage(model, plan)
    dense_l, _ = layer_params(model, plan.tp)
    moe_dense, expert = layer_params(model, plan.tp, moe=True, ep=plan.ep)
    dense = (layers - moe_layers) * dense_l + moe_layers * moe_dense
    embed = model.vocab * model.hidden // plan.tp
    dense += embed
    experts = moe_layers * expert
    group, egroup = plan.cp * plan.dp, plan.cp * plan.dp // plan.ep
    z = plan.zero

    def states(params, g):
        return (params * model.dtype_nbytes / (g if z >= 3 else 1),
                params * model.grad_nbytes / (g if z >= 2 else 1),
                params * OPTIMIZER_NBYTES / (g if z >= 1 else 1))

    p_d, g_d, o_d = states(dense, group)
    p_e, g_e, o_e = states(experts, egroup)
    chunks, per_chunk = chunks_in_flight(model, plan)
    frac_moe = moe_layers / layers if layers else 0.0
    per_layer = ((1 - frac_moe) * layer_activation_bytes(model, plan)
                 + frac_moe * layer_activation_bytes(model, plan, moe=True))
    first = chunks * per_chunk * per_layer
    if plan.recompute == "full":  # one layer's whole activations while recomputed
        whole = replace(plan, recompute="none")
        first += layer_activation_bytes(model, whole, moe=moe_layers > 0)
    s, b = model.seq_len // plan.cp, model.micro_batch
    logits = 2 * 4 * s * b * model.vocab / plan.tp
    last = (first / chunks if chunks else 0.0) + logits
    acts, stage = (first, "first") if plan.pp == 1 or first >= last else (last, "last")
    if plan.pp == 1:
        acts += logits
    return Memory(p_d + p_e, g_d + g_e, o_d + o_e, acts, stage)



def memory_per_npu(model, plan):
    """Bytes per NPU of ``plan`` (the total of :func:`memory_of`)."""
    return memory_of(model, plan).total_B
