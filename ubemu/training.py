"""A training step's parallel layout and the published per-step communication formulas.

A :class:`Model` (a transformer, optionally with mixture-of-experts layers) and a
:class:`Plan` (tensor, pipeline, data, expert and context parallel sizes, ZeRO stage,
sequence parallelism, the order of the axes on the NPU ids) give:

- the NPU groups of every parallel axis (:func:`groups_of`): NPU ids are a mixed-radix number
  whose digits are the axes in ``plan.order``, innermost first; the default
  ``tp,cp,ep,dp,pp`` is Megatron-LM's (``RankGenerator``'s ``tp-cp-ep-dp-pp``): TP groups are
  consecutive NPUs, DP groups stride ``tp * cp``, PP groups stride ``tp * cp * dp``. EP groups
  are carved out of the DP axis (its ``ep`` innermost DP digits); the gradients of the dense
  parameters are reduced over the ``cp * dp`` NPUs holding the same shard (Megatron's
  data-parallel group with context parallelism), those of the experts over ``cp * dp / ep``;
- the bytes one NPU sends per training step on each axis (:func:`formula_bytes`), one
  function per axis with its source; the symbols are those of
  ``docs/research/parallelism-formulas.md`` (b micro-batch, s sequence, h hidden, t TP, p PP,
  d DP, e EP, c CP, m micro-batches per replica per step, k top-k, B bytes per element);
- the parameters one NPU holds (:func:`params_per_npu`: one interior stage, one TP rank,
  embeddings excluded as in the digest's worked examples) and a rough memory figure.

What is left out (all approximate, see the digest): the embedding and output layers (their
all-reduce between the first and last stage, the vocabulary-parallel cross entropy), the
interleaved schedule, activation recomputation, SC21's scatter/gather optimisation of the
pipeline sends (sequence parallelism gives the same /t), uneven expert routing.
:mod:`ubemu.training_plans` turns a step into a workload and times it.
"""

from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction

import numpy as np

from .dtypes import ALIASES as DTYPE_ALIASES
from .dtypes import DTYPES
from .errors import UbemuError, choices_error

#: The parallel axes; ``plan.order`` lists each once, innermost (fastest-varying) first.
AXES = ("tp", "cp", "ep", "dp", "pp")
#: Megatron-LM's default order (``--order tp-cp-ep-dp-pp`` in Megatron-Core's RankGenerator).
DEFAULT_ORDER = "tp,cp,ep,dp,pp"
#: Mixed-precision Adam: bytes per parameter of the fp32 master copy, momentum and variance
#: (ZeRO, Rajbhandari et al. SC20, Section 3.1: K = 12).
OPTIMIZER_NBYTES = 12


def _dtype(name, where):
    name = DTYPE_ALIASES.get(name, name)
    if name not in DTYPES or not DTYPES[name].is_float:
        raise choices_error("dtype", name, [k for k, d in DTYPES.items() if d.is_float], where)
    return name


def _positive(obj, keys, where, minimum=1):
    for key in keys:
        v = getattr(obj, key)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise UbemuError(f"{where}: {key} must be an integer >= {minimum}, got {v!r}")


@dataclass(frozen=True)
class Model:
    """A decoder-only transformer and its batch.

    ``kv_heads`` defaults to ``heads`` (no grouped-query attention), ``ffn_hidden`` to
    ``4 * hidden``, ``moe_layers`` to every layer when ``experts > 0``. ``gated_mlp``: three
    FFN matrices (SwiGLU) instead of two; ``bias``: linear biases and LayerNorm betas (False:
    RMSNorm, no biases); ``tied_embeddings`` and ``learned_positions`` only enter
    :func:`param_count`. ``dtype``: parameters and activations; ``grad_dtype``: the gradients
    as the data-parallel reduction moves them (``float32`` with Megatron's
    ``--accumulate-allreduce-grads-in-fp32``). MoE layers are spread evenly over the stages;
    ``capacity_factor`` scales the all-to-all buffers (Switch Transformer).
    """

    name: str
    layers: int
    hidden: int
    heads: int
    seq_len: int
    global_batch: int
    vocab: int
    kv_heads: int = None
    ffn_hidden: int = None
    micro_batch: int = 1
    dtype: str = "bfloat16"
    grad_dtype: str = "bfloat16"
    gated_mlp: bool = False
    bias: bool = True
    tied_embeddings: bool = True
    learned_positions: bool = True
    experts: int = 0
    top_k: int = 1
    moe_layers: int = None
    capacity_factor: float = 1.0
    source: str = field(default="", compare=False)

    def __post_init__(self):
        where = f"model {self.name!r}"
        set_ = object.__setattr__
        set_(self, "kv_heads", self.heads if self.kv_heads is None else self.kv_heads)
        set_(self, "ffn_hidden", 4 * self.hidden if self.ffn_hidden is None else self.ffn_hidden)
        if self.moe_layers is None:
            set_(self, "moe_layers", self.layers if self.experts else 0)
        _positive(self, ("layers", "hidden", "heads", "kv_heads", "seq_len", "global_batch",
                         "vocab", "ffn_hidden", "micro_batch", "top_k"), where)
        _positive(self, ("experts", "moe_layers"), where, minimum=0)
        set_(self, "dtype", _dtype(self.dtype, f"{where}: dtype"))
        set_(self, "grad_dtype", _dtype(self.grad_dtype, f"{where}: grad_dtype"))
        for key, what in (("hidden", "heads"), ("heads", "kv_heads"),
                          ("global_batch", "micro_batch")):
            if getattr(self, key) % getattr(self, what):
                raise UbemuError(f"{where}: {what}={getattr(self, what)} must divide "
                                 f"{key}={getattr(self, key)}")
        if self.experts and not self.top_k <= self.experts:
            raise UbemuError(f"{where}: top_k={self.top_k} must be <= experts={self.experts}")
        if self.moe_layers > (self.layers if self.experts else 0):
            raise UbemuError(f"{where}: moe_layers={self.moe_layers} must be <= layers="
                             f"{self.layers} (and 0 without experts)")
        cf = self.capacity_factor
        if isinstance(cf, bool) or not isinstance(cf, (int, float)) or not 0 < cf < 1e6:
            raise UbemuError(f"{where}: capacity_factor must be a number > 0, got {cf!r}")

    @property
    def dtype_nbytes(self):
        return DTYPES[self.dtype].itemsize

    @property
    def grad_nbytes(self):
        return DTYPES[self.grad_dtype].itemsize

    @property
    def kv_hidden(self):
        """h_kv = kv_heads x d_head."""
        return self.kv_heads * (self.hidden // self.heads)


#: Presets. GPT-3 175B: Brown et al. 2020 (arXiv 2005.14165) Table 2.1 (96 layers, d_model
#: 12,288, 96 heads, context 2,048), vocabulary 50,257 (GPT-2 BPE); the global batch of 1,536
#: sequences is Megatron-LM's example (examples/gpt3/train_gpt3_175b_distributed.sh) and
#: SC21 Table 1 (Brown: 3.2M tokens = 1,563 sequences). Mixtral 8x7B: Jiang et al. 2024
#: (arXiv 2401.04088) Table 1 (dim 4,096, 32 layers, 32 heads, 8 KV heads, FFN 14,336,
#: vocabulary 32,000, 8 experts, top-2; SwiGLU, RMSNorm, RoPE, untied embeddings); its
#: training batch is not published: sequences of 4,096 tokens (the digest's example C; Table 1's
#: context is 32,768, --seq 32768) and 1,024 of them per step are our assumption.
MODELS = {
    "gpt3-175b": Model("gpt3-175b", layers=96, hidden=12288, heads=96, seq_len=2048,
                       global_batch=1536, vocab=50257,
                       source="Brown et al. 2020 Table 2.1; batch: Megatron-LM example"),
    "mixtral-8x7b": Model("mixtral-8x7b", layers=32, hidden=4096, heads=32, kv_heads=8,
                          ffn_hidden=14336, seq_len=4096, global_batch=1024, vocab=32000,
                          gated_mlp=True, bias=False, tied_embeddings=False,
                          learned_positions=False, experts=8, top_k=2,
                          source="Jiang et al. 2024 Table 1; seq and batch assumed"),
}


def get_model(name):
    """A preset :class:`Model` by name."""
    if name not in MODELS:
        raise choices_error("model", name, MODELS)
    return MODELS[name]


@dataclass(frozen=True)
class Plan:
    """How one training step is parallelised (see the module docstring for ``order``).

    ``zero``: 0 plain data parallelism, 1 and 2 ZeRO stages 1/2 (Megatron's distributed
    optimizer: reduce-scatter of the gradients, all-gather of the updated parameters), 3 the
    parameters gathered before the forward and the backward passes too. ``overlap_grad_reduce``:
    the gradient reduction overlaps the last micro-batch's backward (Megatron's
    ``--overlap-grad-reduce``).
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

    def __post_init__(self):
        _positive(self, ("tp", "pp", "dp", "ep", "cp"), "plan")
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
        """``TP8 PP8 DP128`` (EP and CP when > 1)."""
        parts = [("TP", self.tp), ("CP", self.cp), ("PP", self.pp), ("DP", self.dp),
                 ("EP", self.ep)]
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


# -- parameters ----------------------------------------------------------------------------
def layer_params(model, t=1, moe=False, ep=1):
    """(dense, expert) parameters of one layer on one of ``t`` TP ranks holding ``E/ep``
    experts. GPT-3: 12h^2/t + 7h/t + 6h (the digest, Section 7): QKV, projection and the two
    MLP matrices split t ways with their column biases, the row biases and the two
    LayerNorms replicated."""
    h, f, kv, b = model.hidden, model.ffn_hidden, model.kv_hidden, int(model.bias)
    attn = (h * (h + 2 * kv) + h * h + b * (h + 2 * kv)) // t + b * h
    mlp = ((3 if model.gated_mlp else 2) * h * f + b * f) // t + b * h
    norms = 2 * (1 + b) * h
    if not moe:
        return attn + mlp + norms, 0
    return attn + norms + h * model.experts, mlp * (model.experts // ep)  # router replicated


def params_per_npu(model, plan):
    """(dense, expert) parameters one NPU holds: one interior stage, one TP rank, its E/ep
    experts; embeddings excluded (the digest's "params per GPU (interior)")."""
    n_layers, n_moe = layers_per_stage(model, plan)
    dense, _ = layer_params(model, plan.tp)
    moe_dense, expert = layer_params(model, plan.tp, moe=True, ep=plan.ep)
    return (n_layers - n_moe) * dense + n_moe * moe_dense, n_moe * expert


def param_count(model):
    """Every parameter of the model (GPT-3: 12Lh^2 + 13Lh + Vh + sh + 2h = 174.6e9)."""
    h = model.hidden
    dense, _ = layer_params(model)
    moe_dense, expert = layer_params(model, moe=True)
    layers = (model.layers - model.moe_layers) * dense + model.moe_layers * (moe_dense + expert)
    embed = model.vocab * h * (1 if model.tied_embeddings else 2)
    return layers + embed + model.seq_len * h * model.learned_positions + (1 + model.bias) * h


def flops_per_npu_step(model, plan):
    """Training FLOPs of one NPU per step by the 6 x parameters x tokens rule (Kaplan et al.
    2020; forward 2, backward 4): the dense parameters it holds on all its tokens, each
    token's k experts (1/t of them) on the tokens routed to its E/e experts (k per token under
    uniform routing). Attention's s^2 term and the embeddings are left out."""
    tokens = tokens_per_rank(model, plan) * micro_batches(model, plan)
    dense, _ = params_per_npu(model, plan)
    _, n_moe = layers_per_stage(model, plan)
    one_expert = layer_params(model, plan.tp, moe=True, ep=model.experts or 1)[1]
    return 6 * tokens * (dense + n_moe * model.top_k * one_expert)


def memory_per_npu(model, plan):
    """Rough bytes one NPU of the first stage holds: model states (2 B parameters, the
    gradients, 12 B of Adam states per parameter, partitioned over the gradient group by ZeRO
    stage, SC20 Section 5) and activations without recomputation (Korthikanti et al. 2022,
    Section 4: s b h (34 + 5 a s / h) bytes per layer, the 34 split t ways with sequence
    parallelism, 10 + 24/t without; 1F1B keeps min(p, m) micro-batches in flight on stage 0)."""
    dense, expert = params_per_npu(model, plan)
    total = 0.0
    for params, group in ((dense, plan.cp * plan.dp), (expert, plan.cp * plan.dp // plan.ep)):
        os_, gr, pa = OPTIMIZER_NBYTES, model.grad_nbytes, model.dtype_nbytes
        total += params * (pa / (group if plan.zero >= 3 else 1)
                           + gr / (group if plan.zero >= 2 else 1)
                           + os_ / (group if plan.zero >= 1 else 1))
    t, h, a = plan.tp, model.hidden, model.heads
    s = model.seq_len // plan.cp
    linear = 34 / t if plan.sequence_parallel else 10 + 24 / t
    per_layer = s * model.micro_batch * h * (linear + 5 * a * s / (h * t))
    in_flight = min(plan.pp, micro_batches(model, plan))
    return total + per_layer * layers_per_stage(model, plan)[0] * in_flight


# -- the formulas: bytes one NPU sends per step --------------------------------------------
def tp_bytes(model, plan):
    """Tensor parallelism: 2 all-reduces forward and 2 backward per layer on b s h elements
    (Shoeybi et al. 2019, Section 3, Figures 3-4), 8 b s h (t-1)/t elements per layer per
    micro-batch (Narayanan et al. SC21, Section 3.3); with sequence parallelism 4 all-gathers
    and 4 reduce-scatters of the same volume (Korthikanti et al. 2022, Section 4.2.2).
    TP_bytes = 8 b s h (t-1)/t B (L/p) m."""
    t = plan.tp
    return (Fraction(8 * (t - 1), t) * activation_nbytes(model, plan)
            * layers_per_stage(model, plan)[0] * micro_batches(model, plan))


def pp_bytes(model, plan, stage=None):
    """Pipeline parallelism: b s h elements forward and b s h backward per micro-batch between
    consecutive stages (SC21, Section 3.3): an interior stage sends 2 b s h B m, the first and
    the last b s h B m (``stage=None``: the busiest stage). Sequence parallelism sends the
    sequence-split tensor, b s h / t (as SC21 Section 4.1's scatter/gather)."""
    p = plan.pp
    if p == 1:
        return Fraction(0)
    stage = (1 if p > 2 else 0) if stage is None else stage
    sends = 2 if 0 < stage < p - 1 else 1
    return (Fraction(sends * activation_nbytes(model, plan), plan.tp if plan.sequence_parallel
                     else 1) * micro_batches(model, plan))


def dp_bytes(model, plan):
    """Data parallelism and ZeRO (Rajbhandari et al. SC20, Section 7): all-reduce of the
    gradients, 2 (n-1)/n Psi B_grad; ZeRO 1/2: reduce-scatter of the gradients plus
    all-gather of the parameters, (n-1)/n Psi (B_grad + B); ZeRO 3: parameters gathered for the
    forward and for the backward too, (n-1)/n Psi (B_grad + 2 B) = 1.5x with B_grad = B.
    The dense parameters go over the cp*dp NPUs holding them, the experts' over cp*dp/ep."""
    dense, expert = params_per_npu(model, plan)
    gb, pb = model.grad_nbytes, model.dtype_nbytes
    per_param = {0: 2 * gb, 1: gb + pb, 2: gb + pb, 3: gb + 2 * pb}[plan.zero]
    total = Fraction(0)
    for params, n in ((dense, plan.cp * plan.dp), (expert, plan.cp * plan.dp // plan.ep)):
        total += Fraction(n - 1, n) * params * per_param
    return total


def ep_bytes(model, plan):
    """Expert parallelism: a dispatch and a combine all-to-all forward, their transposes
    backward, each of T k h B x capacity_factor bytes per NPU, T = b s (/t with sequence
    parallelism) (GShard, Lepikhin et al. 2020, Sections 2-3; Switch Transformer, Fedus et
    al. 2021, capacity factor; DeepSpeed-MoE, Rajbhandari et al. 2022).
    MoE_bytes = 4 (e-1)/e T k h B C (MoE layers per stage) m."""
    e = plan.ep
    return (4 * Fraction(e - 1, e) * alltoall_nbytes(model, plan)
            * layers_per_stage(model, plan)[1] * micro_batches(model, plan))


def alltoall_nbytes(model, plan):
    """One EP all-to-all's buffer: what one NPU sends in total (T k h B C)."""
    tokens = Fraction(tokens_per_rank(model, plan), plan.tp if plan.sequence_parallel else 1)
    return (tokens * model.top_k * model.hidden * model.dtype_nbytes
            * Fraction(model.capacity_factor))


def cp_bytes(model, plan):
    """Context parallelism, ring attention (Liu, Zaharia, Abbeel 2023, Section 3; Megatron-Core
    context parallelism): the forward passes a K and a V block of b (s/c) h_kv/t elements
    c-1 times around the ring; the backward passes K and V again and their gradients, 2x the
    forward. CP_bytes = 3 (c-1) 2 b (s/c) (h_kv/t) B (L/p) m (the /t: each TP rank holds
    kv_heads/t heads)."""
    c = plan.cp
    block = Fraction(2 * tokens_per_rank(model, plan) * model.kv_hidden * model.dtype_nbytes,
                     plan.tp)
    return (3 * (c - 1) * block * layers_per_stage(model, plan)[0]
            * micro_batches(model, plan))


#: Axis -> its formula, in the order reports list them.
FORMULAS = {"tp": tp_bytes, "cp": cp_bytes, "ep": ep_bytes, "pp": pp_bytes, "dp": dp_bytes}


def formula_bytes(model, plan):
    """{axis: bytes one NPU sends per step (a Fraction)} by the published formulas."""
    return {axis: f(model, plan) for axis, f in FORMULAS.items()}


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


def describe(model):
    """One line: the model's figures."""
    m = model
    moe = (f", {m.experts} experts top-{m.top_k} in {m.moe_layers} layers"
           if m.experts else "")
    return (f"{m.name}: {m.layers} layers, hidden {m.hidden:,}, {m.heads} heads "
            f"({m.kv_heads} kv), ffn {m.ffn_hidden:,}, seq {m.seq_len:,}, vocab {m.vocab:,}"
            f"{moe}; {param_count(m) / 1e9:.4g}e9 params")


def with_overrides(model, **fields):
    """``model`` with the fields that are not None replaced (checked again); the defaults
    that follow another field (kv_heads = heads, ffn_hidden = 4 hidden, moe_layers = layers)
    follow it when the model had them."""
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        return model
    named = ", ".join(f"{k}={v}" for k, v in given.items() if k != "name")
    given.setdefault("name", f"{model.name} (with {named})")
    follows = (("kv_heads", "heads", model.kv_heads == model.heads),
               ("ffn_hidden", "hidden", model.ffn_hidden == 4 * model.hidden),
               ("moe_layers", "layers", model.moe_layers in (0, model.layers)),
               ("moe_layers", "experts", model.moe_layers in (0, model.layers)))
    for key, base, default in follows:
        if base in given and key not in given and default:
            given[key] = None
    return replace(model, **given)
