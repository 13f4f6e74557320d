"""The published per-step communication formulas, parameters, FLOPs and memory per NPU.

For a :class:`~.model.Model` and a :class:`~.layout.Plan`: the bytes one NPU sends per
training step on each axis (:func:`formula_bytes`), one function per axis with its source;
the symbols are those of ``docs/research/parallelism-formulas.md`` (b micro-batch, s
sequence, h hidden, t TP, p PP, d DP, e EP, c CP, m micro-batches per replica per step, k
top-k, B bytes per element); the parameters one NPU holds (:func:`params_per_npu`: one
interior stage, one TP rank, embeddings excluded as in the digest's worked examples).

What is left out (all approximate, see the digest): the embedding and output layers (their
all-reduce between the first and last stage, the vocabulary-parallel cross entropy), the
interleaved schedule's v-fold pipeline sends, full recomputation's second forward
collectives, SC21's scatter/gather optimisation of the pipeline sends (sequence parallelism
gives the same /t), uneven expert routing. The planner's ops carry all of these but the
first and the last; its report compares the two where they agree.
"""

from fractions import Fraction

from .layout import activation_nbytes, layers_per_stage, micro_batches, tokens_per_rank
from .model import layer_params

#: Mixed-precision Adam: bytes per parameter of the fp32 master copy, momentum and variance
#: (ZeRO, Rajbhandari et al. SC20, Section 3.1: K = 12).
OPTIMIZER_NBYTES = 12


def params_per_npu(model, plan):
    """(dense, expert) parameters one NPU holds: one interior stage, one TP rank, its E/ep
    experts; embeddings excluded (the digest's "params per GPU (interior)")."""
    n_layers, n_moe = layers_per_stage(model, plan)
    dense, _ = layer_params(model, plan.tp)
    moe_dense, expert = layer_params(model, plan.tp, moe=True, ep=plan.ep)
    return (n_layers - n_moe) * dense + n_moe * moe_dense, n_moe * expert



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
