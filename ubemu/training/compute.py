"""How long an NPU computes in a training step, from the model's shapes and the NPU.

Per transformer layer and micro-batch, on one NPU (one TP rank holding ``T = b s / c``
tokens):

- **matmuls**: QKV, the attention projection, the MLP (two matrices, three gated), the MoE
  router and the experts of the NPU (``T k C`` routed tokens), and attention's two batched
  products (``QK^T`` and ``AV``, per head ``s/c x s x d``; flash attention skips the masked
  half). A matmul of ``F = 2 M N K`` FLOPs takes ``max(F / (peak x eta), bytes / bw_mem)`` with
  ``eta = matmul_fraction x k / (k + matmul_half_dim)``, ``k = min(M, N, K)``: its achieved
  fraction of the peak grows with its smallest dimension (arithmetic intensity, tile fill);
  the backward is two matmuls of the same shape (data and weight gradients).
- **element-wise work** bound by memory bandwidth (``mem_GBps x memory_fraction``): the
  LayerNorms, bias-dropout-adds and activation function, read and written once forward and
  twice backward (22 + 4 f/h bytes per token and hidden unit forward, 6 f/h gated, the
  LayerNorms' and dropouts' part split t ways only with sequence parallelism); without flash
  attention also the softmax and its dropout on the ``a/t x s/c x s`` scores (9 bytes per
  score forward, as Megatron's fused scale-mask-softmax and dropout read and write them).
- **recomputation** (Korthikanti et al. 2022): ``full`` runs each layer's forward again in its
  backward; ``selective`` only the attention core (the scores, their softmax and dropout);
  ``none`` nothing.
- the **logits** (``T x h x V/t``, forward and backward) on the last stage, and the optimizer
  step (Adam, memory bound: :data:`ADAM_BYTES` bytes read and written per parameter held,
  over the ZeRO shard).

``rate=`` (FLOP/s) or ``mfu=`` (a fraction of the peak) replace the shape model: every FLOP
then runs at that rate. The constants of the achieved-fraction model are the NPU's
(:mod:`ubemu.machine.npu`, fitted on Megatron-LM's weak-scaling table).
"""

from dataclasses import dataclass

from ..data.dtypes import DTYPES
from ..errors import UbemuError
from . import layout
from .model import layer_params

#: Adam with mixed precision, bytes moved per parameter of the shard updated: read fp32
#: master, momentum, variance and the gradient, write them back and the bf16 copy.
ADAM_BYTES = 4 * 3 * 2 + 4 + 2
#: Activation-function element-wise bytes per token per FFN unit, forward (read + write).
ACT_BYTES = {False: 4, True: 6}
#: LayerNorm (2 x 4) and bias-dropout-add (2 x 7) bytes per token per hidden unit, forward.
NORM_DROPOUT_BYTES = 22
#: Scale-mask-softmax (4) and its dropout (5) bytes per attention score, forward.
SCORE_BYTES = 9


@dataclass(frozen=True)
class Pass:
    """One layer's (or the logits') work on one micro-batch: seconds of matmul, of attention's
    core (its products and, without flash attention, its element-wise work), of other
    element-wise work, and the FLOPs."""

    matmul_s: float = 0.0
    attention_s: float = 0.0
    elementwise_s: float = 0.0
    flops: float = 0.0

    @property
    def time_s(self):
        return self.matmul_s + self.attention_s + self.elementwise_s

    def __add__(self, other):
        return Pass(self.matmul_s + other.matmul_s, self.attention_s + other.attention_s,
                    self.elementwise_s + other.elementwise_s, self.flops + other.flops)

    def __mul__(self, k):
        return Pass(self.matmul_s * k, self.attention_s * k, self.elementwise_s * k,
                    self.flops * k)


@dataclass(frozen=True)
class StepCompute:
    """The compute of one step on the busiest NPU (seconds): ``fwd_s`` and ``bwd_s`` per
    micro-batch on the slowest stage (``bwd_s`` with its recomputation), ``bubble_s`` the
    pipeline's idle time, ``optimizer_s``; ``breakdown`` splits one micro-batch's forward and
    backward into matmul, attention and element-wise; ``model_flops`` are the step's FLOPs
    of one NPU without recomputation, ``hardware_flops`` with it."""

    fwd_s: float
    bwd_s: float
    bubble_s: float
    optimizer_s: float
    micro_batches: int
    model_flops: float
    hardware_flops: float
    breakdown: dict
    how: str

    @property
    def main_s(self):
        """The forwards of every micro-batch, the backwards of all but the last, the bubble."""
        m = self.micro_batches
        return m * self.fwd_s + (m - 1) * self.bwd_s + self.bubble_s

    @property
    def last_s(self):
        return self.bwd_s

    @property
    def total_s(self):
        return self.main_s + self.last_s + self.optimizer_s


class _Cost:
    """Time of a matmul or of element-wise bytes on one NPU (module docstring)."""

    def __init__(self, npu, dtype, rate=None):
        self.npu, self.rate = npu, rate
        self.peak = None if rate else npu.peak_flops(dtype)
        self.itemsize = DTYPES[dtype].itemsize
        self.mem_Bps = (npu.mem_GBps * 1e9 * npu.memory_fraction) if npu is not None else 0.0

    def matmul(self, m, n, k, count=1.0, elements=None):
        """(seconds, FLOPs) of ``count`` matmuls of (m x k) @ (k x n); ``elements``: what
        each reads and writes in memory (default its two inputs and its output)."""
        flops = 2.0 * m * n * k * count
        if flops <= 0:
            return 0.0, 0.0
        if self.rate:
            return flops / self.rate, flops
        dim = min(m, n, k)
        eta = self.npu.matmul_fraction * dim / (dim + self.npu.matmul_half_dim)
        moved = m * k + k * n + m * n if elements is None else elements
        bytes_ = self.itemsize * moved * count
        return max(flops / (self.peak * eta), bytes_ / self.mem_Bps), flops

    def memory(self, nbytes):
        if self.rate or nbytes <= 0:
            return 0.0
        return nbytes / self.mem_Bps


def _layer(model, plan, cost, moe):
    """(forward, attention core forward) of one layer on one micro-batch."""
    t, c = plan.tp, plan.cp
    b, s, h = model.micro_batch, model.seq_len, model.hidden
    T = b * s // c
    kv, f, d = model.kv_hidden, model.ffn_hidden, h // model.heads
    heads = model.heads // t
    mm = [cost.matmul(T, (h + 2 * kv) / t, h), cost.matmul(T, h, h / t)]
    if moe:
        routed = T * model.top_k * model.capacity_factor     # tokens this NPU's experts get
        local = max(model.experts // plan.ep, 1)
        per_expert = routed / local
        mm.append(cost.matmul(T, model.experts, h))           # the router (replicated)
        up = (2 if model.gated_mlp else 1) * f / t
        mm += [cost.matmul(per_expert, up, h, local), cost.matmul(per_expert, h, f / t, local)]
        ffn_tokens = routed
    else:
        mm += [cost.matmul(T, (2 if model.gated_mlp else 1) * f / t, h), cost.matmul(T, h, f / t)]
        ffn_tokens = T
    flash = plan.flash_attention
    share = 0.5 if flash else 1.0                             # causal: flash skips half
    q, kv_len = s / c, s
    # flash attention keeps the scores on chip: Q, K, V and the output cross memory
    qk = cost.matmul(q, kv_len, d, b * heads * share,
                     q * d + kv_len * d if flash else None)
    av = cost.matmul(q, d, kv_len, b * heads * share,
                     kv_len * d + q * d if flash else None)
    split = t if plan.sequence_parallel else 1
    elem = (T * h * NORM_DROPOUT_BYTES / split
            + ffn_tokens * f / t * ACT_BYTES[model.gated_mlp])
    scores = 0.0 if flash else b * heads * (s / c) * s * SCORE_BYTES
    attn = Pass(0.0, qk[0] + av[0] + cost.memory(scores), 0.0, qk[1] + av[1])
    body = Pass(sum(x[0] for x in mm), 0.0, cost.memory(elem), sum(x[1] for x in mm))
    return body + attn, attn


def _logits(model, plan, cost):
    T = model.micro_batch * model.seq_len // plan.cp
    t_s, flops = cost.matmul(T, model.vocab / plan.tp, model.hidden)
    softmax = cost.memory(T * model.vocab / plan.tp * 4 * 3)   # fp32 cross entropy
    return Pass(t_s, 0.0, softmax, flops)


def step_compute(model, plan, npu=None, rate=None, mfu=None):
    """The :class:`StepCompute` of ``plan`` (module docstring; ``plan.recompute``,
    ``plan.vpp`` and ``plan.flash_attention`` shape it).

    ``npu``: a :class:`~ubemu.machine.npu.NPU` (needed unless ``rate`` is given);
    ``rate``: FLOP/s for every FLOP; ``mfu``: that rate as a fraction of the NPU's peak.
    """
    if mfu is not None:
        if npu is None:
            raise UbemuError("--mfu needs the NPU's peak rate: a topology with an [npu] table")
        rate = mfu * npu.peak_flops(model.dtype)
        how = f"every FLOP at {mfu:.3g} of the {npu.name}'s {model.dtype} peak"
    elif rate is not None:
        how = f"every FLOP at {rate / 1e12:.4g} TFLOP/s"
    elif npu is None:
        raise UbemuError("no compute model: the topology has no [npu] table; give a rate "
                         "(--flops) or a topology with one")
    else:
        how = (f"{npu.name}: matmuls at {npu.matmul_fraction:.3g} x k/(k+"
               f"{npu.matmul_half_dim:g}) of {npu.peak_flops(model.dtype) / 1e12:.4g} "
               f"TFLOP/s {model.dtype}, element-wise at {npu.memory_fraction:.3g} of "
               f"{npu.mem_GBps:,.0f} GB/s")
    cost = _Cost(npu, model.dtype, rate)
    layers, moe_layers = layout.layers_per_stage(model, plan)
    dense_f, dense_attn = _layer(model, plan, cost, False)
    moe_f, moe_attn = _layer(model, plan, cost, True) if moe_layers else (Pass(), Pass())
    fwd = dense_f * (layers - moe_layers) + moe_f * moe_layers
    attn = dense_attn * (layers - moe_layers) + moe_attn * moe_layers
    bwd = fwd * 2.0
    if plan.flash_attention:                  # the backward recomputes the scores (QK^T)
        bwd = bwd + attn * 0.5
    extra = {"none": Pass(), "selective": attn, "full": fwd}[plan.recompute]
    logits = _logits(model, plan, cost)
    # the last stage adds the logits; the slowest stage sets the pace of the pipeline
    fwd_last, bwd_last = fwd + logits, bwd + logits * 2.0 + extra
    m = layout.micro_batches(model, plan)
    bubble = (plan.pp - 1) / plan.vpp * (fwd_last.time_s + bwd_last.time_s)
    dense, expert = layout_params(model, plan)
    shard = plan.cp * plan.dp if plan.zero >= 1 else 1
    eshard = plan.cp * plan.dp // plan.ep if plan.zero >= 1 else 1
    opt = cost.memory(ADAM_BYTES * (dense / shard + expert / eshard))
    model_flops = m * (fwd_last.flops + 2 * fwd_last.flops)
    hardware = m * (fwd_last.flops + bwd_last.flops)
    layers_only = fwd + bwd + extra
    breakdown = {"matmul_s": layers_only.matmul_s, "attention_s": layers_only.attention_s,
                 "elementwise_s": layers_only.elementwise_s, "recompute_s": extra.time_s,
                 "logits_s": 3 * logits.time_s}
    return StepCompute(fwd_last.time_s, bwd_last.time_s, bubble, opt, m, model_flops,
                       hardware, breakdown, how)


def step_model_flops(model):
    """FLOPs of one training step of the whole model without recomputation, as MFU counts
    them (Chowdhery et al. 2022, PaLM, Appendix B): ``6 N`` per token for the ``N``
    parameters a token's matmuls use (its ``k`` experts in a MoE layer; the output layer, not
    the input embedding or positions) plus ``12 L h s`` per token for attention."""
    from .model import param_count

    h, L, s = model.hidden, model.layers, model.seq_len
    n = param_count(model) - model.vocab * h * (0 if model.tied_embeddings else 1) \
        - s * h * model.learned_positions
    if model.experts:
        _, expert = layer_params(model, moe=True, ep=model.experts)   # one expert
        n -= model.moe_layers * expert * (model.experts - model.top_k)
    tokens = model.global_batch * s
    return 6 * n * tokens + 12 * L * h * s * tokens


def layout_params(model, plan):
    """(dense, expert) parameters of the last stage's NPU: its layers and the output layer
    (V h / t, tied or not: the last stage holds it)."""
    layers, moe_layers = layout.layers_per_stage(model, plan)
    dense, _ = layer_params(model, plan.tp)
    moe_dense, expert = layer_params(model, plan.tp, moe=True, ep=plan.ep)
    return ((layers - moe_layers) * dense + moe_layers * moe_dense
            + model.vocab * model.hidden // plan.tp, moe_layers * expert)
