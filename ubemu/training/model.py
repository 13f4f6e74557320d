"""A decoder-only transformer and its batch: :class:`Model`, the presets, parameter counts.

The symbols follow ``docs/research/parallelism-formulas.md`` (h hidden, t TP, ...).
:mod:`.layout` lays a step onto NPUs, :mod:`.formulas` gives what each axis sends, and
:mod:`.planner` times it.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from ..data.dtypes import ALIASES as DTYPE_ALIASES
from ..data.dtypes import DTYPES
from ..errors import UbemuError, choices_error


def _dtype(name, where):
    name = DTYPE_ALIASES.get(name, name)
    if name not in DTYPES or not DTYPES[name].is_float:
        raise choices_error("dtype", name, [k for k, d in DTYPES.items() if d.is_float], where)
    return name


def require_ints(obj, keys, where, minimum=1):
    """Raise a one-line error naming the first of ``keys`` of ``obj`` that is not an integer
    >= ``minimum``."""
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
        require_ints(self, ("layers", "hidden", "heads", "kv_heads", "seq_len", "global_batch",
                         "vocab", "ffn_hidden", "micro_batch", "top_k"), where)
        require_ints(self, ("experts", "moe_layers"), where, minimum=0)
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


def model_of(model):
    """``model`` itself (a :class:`Model`), or the preset of that name."""
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        return get_model(model)
    raise UbemuError(f"model must be a Model or a preset name ({', '.join(MODELS)}), got "
                     f"{type(model).__name__}")



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



def param_count(model):
    """Every parameter of the model (GPT-3: 12Lh^2 + 13Lh + Vh + sh + 2h = 174.6e9)."""
    h = model.hidden
    dense, _ = layer_params(model)
    moe_dense, expert = layer_params(model, moe=True)
    layers = (model.layers - model.moe_layers) * dense + model.moe_layers * (moe_dense + expert)
    embed = model.vocab * h * (1 if model.tied_embeddings else 2)
    return layers + embed + model.seq_len * h * model.learned_positions + (1 + model.bias) * h


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
