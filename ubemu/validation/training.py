"""Training throughput rows: kind ``train_step``, the planner against published runs.

A row names a transformer and a parallel plan in its settings and the published throughput
per NPU; ubemu plans that step (:func:`ubemu.training.planner.plan`: the compute modelled on
the topology's NPU, every collective timed on the machine) and turns the step time into the
row's metric by the source's own FLOP count:

``tflops_per_npu``
    ``flops`` setting ``megatron``: Narayanan et al. SC21 Eq. 3,
    ``96 B s l h^2 (1 + s/(6h) + V/(16 l h))`` per step, which counts the recomputed forward;
    ``model``: the model's FLOPs without recomputation (``6 x parameters x tokens`` plus
    attention, as Llama 3's MFU and most training reports count them).

Settings: ``model`` (a preset to start from, default a plain GPT), the model fields
(``layers hidden heads kv_heads ffn_hidden seq vocab micro_batch global_batch experts top_k
moe_layers gated bias tied dtype grad_dtype``), the plan (``tp pp ep cp zero sp vpp
recompute scatter_gather flash overlap``; ``dp`` fills the machine; ``recompute=auto`` the
lightest that fits), ``npus`` (the topology resized to that many NPUs), ``flops`` and
``flops_layers`` (the layers the source's FLOP count uses, where the plan rounds them to
whole stages). A ``topo`` ending in ``.toml`` is read beside the row's file when it is not
found as given. The note says the plan and where the step's time went.
"""

from pathlib import Path

from ..errors import UbemuError
from ..training.compute import step_model_flops
from .kinds import inputs, metric, register

MODEL_KEYS = {"layers": int, "hidden": int, "heads": int, "kv_heads": int, "ffn_hidden": int,
              "seq": int, "vocab": int, "micro_batch": int, "global_batch": int,
              "experts": int, "top_k": int, "moe_layers": int, "gated": bool, "bias": bool,
              "tied": bool, "dtype": str, "grad_dtype": str}
PLAN_KEYS = {"tp": int, "pp": int, "ep": int, "cp": int, "zero": int, "sp": bool, "vpp": int,
             "recompute": str, "scatter_gather": bool, "flash": bool, "overlap": bool}
FIELD = {"seq": "seq_len", "gated": "gated_mlp", "sp": "sequence_parallel",
         "flash": "flash_attention", "overlap": "overlap_grad_reduce",
         "tied": "tied_embeddings"}
FLOPS = ("megatron", "model")


def _convert(key, text, kind, row):
    try:
        if kind is bool:
            if text not in ("0", "1", "true", "false"):
                raise ValueError
            return text in ("1", "true")
        return kind(text)
    except ValueError:
        raise UbemuError(f"{row.id}: settings {key}={text!r} is not a "
                         f"{'0/1' if kind is bool else kind.__name__}") from None


def megatron_flops(model, layers=None):
    """SC21 Eq. 3: FLOPs of one step with activation recomputation."""
    B, s, L, h, V = (model.global_batch, model.seq_len, layers or model.layers, model.hidden,
                     model.vocab)
    return 96 * B * s * L * h * h * (1 + s / (6 * h) + V / (16 * L * h))


def step_of(row, topology=None):
    """(model, plan, topology, StepReport) of a ``train_step`` row; ``topology`` replaces
    the row's own (``ubemu calibrate`` fits one to such rows)."""
    from .. import training as tr
    from ..machine.spec import load_topology, with_npus
    from ..training.planner import capacity_of
    from ..training.planner import plan as plan_step
    from ..training.sweep import lightest_recompute

    given = inputs(row, ("model", "npus", "flops", "flops_layers", *MODEL_KEYS, *PLAN_KEYS))
    base = tr.get_model(given["model"]) if "model" in given else None
    fields = {FIELD.get(k, k): _convert(k, v, MODEL_KEYS[k], row)
              for k, v in given.items() if k in MODEL_KEYS}
    if base is None:
        fields.setdefault("gated_mlp", False)
        model = tr.Model(row.id, **fields)
    else:
        model = tr.with_overrides(base, name=row.id, **fields)
    spec = row.topo
    beside = Path(row.path).parent / spec
    if spec.endswith(".toml") and not Path(spec).exists() and beside.exists():
        spec = str(beside)
    topo = topology if topology is not None else load_topology(spec)
    if "npus" in given:
        topo = with_npus(topo, _convert("npus", given["npus"], int, row), f"{row.id}: npus")
    kw = {FIELD.get(k, k): _convert(k, v, PLAN_KEYS[k], row)
          for k, v in given.items() if k in PLAN_KEYS}
    auto = kw.get("recompute") == "auto"
    if auto:
        kw["recompute"] = "none"
    t, p, c = kw.get("tp", 1), kw.get("pp", 1), kw.get("cp", 1)
    if topo.n_npus % (t * p * c):
        raise UbemuError(f"{row.id}: tp*pp*cp = {t * p * c} does not divide the "
                         f"{topo.n_npus:,} NPUs")
    plan = tr.Plan(dp=topo.n_npus // (t * p * c), **kw)
    if auto:
        plan = lightest_recompute(model, plan, capacity_of(topo))
    return model, plan, topo, plan_step(model, plan, topo, check_memory=False)


@register("train_step")
def train_step_figure(row, topology=None):
    """Per-NPU throughput of a planned training step in the row's metric (on ``topology``
    instead of the row's own when given)."""
    model, plan, topo, rep = step_of(row, topology)
    metric(row, {"tflops_per_npu": None})
    how = row.settings.get("flops", "megatron")
    if how not in FLOPS:
        raise UbemuError(f"{row.id}: settings flops={how!r}; valid: {', '.join(FLOPS)}")
    layers = row.settings.get("flops_layers")
    flops = (megatron_flops(model, layers and _convert("flops_layers", layers, int, row))
             if how == "megatron" else step_model_flops(model))
    figure = flops / (rep.step_s * topo.n_npus) / 1e12
    x = {a.axis: a.exposed_s for a in rep.axes if a.exposed_s}
    note = (f"{plan.label()} rc {plan.recompute}: step {rep.step_s:.4g} s = compute "
            f"{rep.compute_s - rep.bubble_s:.4g} + bubble {rep.bubble_s:.4g} + exposed "
            + (", ".join(f"{k} {v:.3g}" for k, v in x.items()) or "0")
            + ("" if rep.fits else "; over the NPU's memory by our count"))
    return figure, note
