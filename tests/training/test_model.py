"""``ubemu.training.model`` and ``ubemu.training.planner``: the per-step byte formulas against the
worked examples of docs/research/parallelism-formulas.md (section 7, by hand here), the
groups of every axis, the workload of one step, bad inputs, and plans timed end to end."""

import json
from dataclasses import replace

import numpy as np
import pytest

import ubemu.training as tr
from ubemu.cli.results import dumps
from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology
from ubemu.training import planner as tp

GPT3 = tr.get_model("gpt3-175b")
MIXTRAL = tr.get_model("mixtral-8x7b")
#: A model small enough to time on ub-mesh-rack (64 NPUs) in a fraction of a second.
TINY = tr.Model("tiny", layers=8, hidden=512, heads=8, seq_len=256, global_batch=32,
                vocab=1000)
TINY_MOE = replace(TINY, name="tiny-moe", experts=8, top_k=2, moe_layers=8, kv_heads=4,
                   gated_mlp=True, bias=False)


def topo_of(n):
    """A machine of n NPUs (n a multiple of 8) for the workloads that are not timed."""
    return load_topology(f"switch:8@100GBps/1us,switch:{n // 8}@50GBps/2us")


def ops_by_name(ops):
    return {op.name: op for op in ops}


# -- the worked examples, by hand -------------------------------------------------------------
def test_gpt3_tp8_pp8_dp128_example_a():
    plan = tr.Plan(tp=8, pp=8, dp=128)
    h, msg = 12288, 1 * 2048 * 12288 * 2          # b s h B: 48 MiB
    assert msg == 50_331_648 == tr.activation_nbytes(GPT3, plan)
    m, layers = 1536 // 128, 96 // 8               # 12 micro-batches, 12 layers per stage
    per_allreduce = 2 * msg * 7 // 8              # ring, t = 8
    assert per_allreduce == 88_080_384
    assert tr.tp_bytes(GPT3, plan) == 4 * per_allreduce * layers * m == 50_734_301_184
    assert tr.pp_bytes(GPT3, plan) == 2 * msg * m == 1_207_959_552
    assert tr.pp_bytes(GPT3, plan, stage=0) == tr.pp_bytes(GPT3, plan, stage=7) == 603_979_776
    per_layer = 12 * h * h // 8 + 7 * h // 8 + 6 * h
    assert per_layer == 226_576_896
    assert tr.params_per_npu(GPT3, plan) == (12 * per_layer, 0) == (2_718_922_752, 0)
    assert tr.dp_bytes(GPT3, plan) == 2 * 2_718_922_752 * 2 * 127 / 128 == 10_790_724_672
    fp32 = replace(GPT3, grad_dtype="float32")
    assert tr.dp_bytes(fp32, plan) == 21_581_449_344
    for zero in (1, 2):
        assert tr.dp_bytes(GPT3, replace(plan, zero=zero)) == 10_790_724_672
    assert tr.dp_bytes(GPT3, replace(plan, zero=3)) == 16_186_087_008   # 1.5 x
    assert tr.ep_bytes(GPT3, plan) == tr.cp_bytes(GPT3, plan) == 0


def test_gpt3_megatron_tp8_pp16_example_b():
    plan = tr.Plan(tp=8, pp=16, dp=8)
    msg, m, layers = 2048 * 12288 * 2, 1536 // 8, 96 // 16
    assert tr.tp_bytes(GPT3, plan) == 4 * layers * m * 88_080_384 == 405_874_409_472
    assert tr.pp_bytes(GPT3, plan) == 2 * msg * m == 19_327_352_832
    sp = replace(plan, sequence_parallel=True)      # the tensor goes split t ways
    assert tr.pp_bytes(GPT3, sp) == 2_415_919_104
    assert tr.tp_bytes(GPT3, sp) == tr.tp_bytes(GPT3, plan)  # SP: no extra communication
    assert tr.params_per_npu(GPT3, plan)[0] == 6 * 226_576_896 == 1_359_461_376
    assert tr.dp_bytes(GPT3, plan) == 2 * 7 * 1_359_461_376 * 2 // 8 == 4_758_114_816
    assert tr.dp_bytes(replace(GPT3, grad_dtype="float32"), plan) == 9_516_229_632


def test_mixtral_expert_traffic_example_c():
    model = replace(MIXTRAL, seq_len=4096, global_batch=8)   # one micro-batch per replica
    plan = tr.Plan(tp=1, pp=1, dp=8, ep=8)
    one = 4096 * 2 * 4096 * 2                       # T k h B
    assert one == 67_108_864 == tr.alltoall_nbytes(model, plan)
    assert one * 7 // 8 == 58_720_256
    assert tr.ep_bytes(model, plan) == 4 * 58_720_256 * 32 == 7_516_192_768
    ops = ops_by_name(tp.step_workload(model, plan, topo_of(8)))
    ep = [ops[f"ep.{seg}.{phase}"] for seg in ("main", "last")
          for phase in ("dispatch", "combine")]
    assert all(op.collective == "alltoallv" and op.nbytes == one for op in ep)
    assert sum(op.repeat for op in ep) == 4 * 32
    assert ep[0].options == {"traffic": "moe:tokens=4096,experts=8,topk=2,seed=0"}
    assert ep[1].options == {"traffic": "moe:tokens=4096,experts=8,topk=2,seed=0,combine"}
    assert tp.ops_bytes(ops.values(), 8)["ep"] == 7_516_192_768
    # capacity factor 1.25 pads the buffers by 1.25 (Switch Transformer)
    assert tr.ep_bytes(replace(model, capacity_factor=1.25), plan) == 7_516_192_768 * 5 / 4


def test_parameter_counts():
    L, h, V, s = 96, 12288, 50257, 2048
    assert tr.param_count(GPT3) == 12 * L * h * h + 13 * L * h + V * h + s * h + 2 * h
    assert tr.param_count(GPT3) == 174_604_259_328
    # Mixtral: attention (GQA, 8 KV heads of 128), 8 SwiGLU experts, router, 2 RMSNorms
    # per layer; untied embeddings and a final RMSNorm: 46.7e9
    layer = 4096 * (4096 + 2 * 1024) + 4096 * 4096 + 8 * 3 * 4096 * 14336 + 4096 * 8 + 2 * 4096
    assert tr.param_count(MIXTRAL) == 32 * layer + 2 * 32000 * 4096 + 4096 == 46_702_792_704
    dense, expert = tr.params_per_npu(MIXTRAL, tr.Plan(tp=2, pp=4, dp=8, ep=4))
    assert expert == 8 * (8 // 4) * 3 * 4096 * 14336 // 2       # 8 layers, 2 experts, /t
    assert dense == 8 * ((4096 * 6144 + 4096 * 4096) // 2 + 4096 * 8 + 2 * 4096)


def test_cp_bytes_ring_attention():
    model = replace(MIXTRAL, seq_len=8192, global_batch=4)
    plan = tr.Plan(tp=2, cp=4, dp=4, pp=1)
    block = 2 * (8192 // 4) * 1024 // 2 * 2          # K and V of s/c tokens, h_kv/t, bf16
    assert tr.cp_bytes(model, plan) == 3 * 3 * block * 32 * 1    # m = 1
    ops = tp.step_workload(model, plan, topo_of(32))
    assert tp.ops_bytes(ops, 32)["cp"] == tr.cp_bytes(model, plan)
    assert {op.algorithm for op in ops if op.name.startswith("cp.")} == {"ring"}


# -- the ops carry what the formulas say -----------------------------------------------------
@pytest.mark.parametrize("model, plan", [
    (GPT3, tr.Plan(tp=8, pp=8, dp=128)),
    (GPT3, tr.Plan(tp=8, pp=8, dp=128, zero=1, sequence_parallel=True)),
    (GPT3, tr.Plan(tp=4, pp=16, dp=128, zero=3)),
    (GPT3, tr.Plan(tp=8, pp=2, dp=256, cp=2, zero=2, overlap_grad_reduce=False)),
    (MIXTRAL, tr.Plan(tp=2, pp=4, dp=1024, ep=8, sequence_parallel=True)),
    (MIXTRAL, tr.Plan(tp=8, pp=1, dp=512, ep=4, cp=2, zero=3)),
])
def test_op_bytes_agree_with_the_formulas(model, plan):
    ops = tp.step_workload(model, plan, "atlas950-superpod")
    assert tp.ops_bytes(ops, 8192) == tr.formula_bytes(model, plan)
    for op in ops:
        if not op.is_compute:
            assert op.npus.shape[0] * op.npus.shape[1] == 8192     # every group at once
            assert op.dtype == (model.grad_dtype if op.name.startswith("dp.grad")
                                else model.dtype)


def test_repeats_and_segments():
    plan = tr.Plan(tp=8, pp=8, dp=128)
    ops = ops_by_name(tp.step_workload(GPT3, plan, "atlas950-superpod", 400e12))
    m, layers = 12, 12
    assert ops["tp.main"].repeat == 2 * layers * (2 * m - 1)    # all forwards, m-1 backwards
    assert ops["tp.last"].repeat == 2 * layers
    assert ops["pp.fwd"].repeat == m and ops["pp.bwd.main"].repeat == m - 1
    assert ops["pp.bwd.last"].repeat == 1
    assert (ops["pp.bwd.main"].npus == ops["pp.fwd"].npus[:, ::-1]).all()  # stage r+1 -> r
    # the chain: compute, blocking communication, the last backward, and beside it DP
    assert ops["tp.main"].after == ("compute.main",)
    assert ops["compute.last"].after == ("pp.bwd.main",)
    assert ops["dp.grad"].after == ("pp.bwd.main",)             # overlaps the last backward
    late = ops_by_name(tp.step_workload(GPT3, replace(plan, overlap_grad_reduce=False),
                                        "atlas950-superpod", 400e12))
    assert late["dp.grad"].after == ("pp.bwd.last",)
    z1 = ops_by_name(tp.step_workload(GPT3, replace(plan, zero=1), "atlas950-superpod"))
    assert z1["dp.grad"].collective == "reduce_scatter"
    assert z1["dp.params"].collective == "all_gather"
    # the NPU's compute is modelled: the optimizer step between the reduction and the gather
    assert z1["compute.optimizer"].after == ("dp.grad", "pp.bwd.last")
    assert z1["dp.params"].after == ("compute.optimizer", "pp.bwd.last")
    bare = ops_by_name(tp.step_workload(GPT3, replace(plan, zero=1), topo_of(8192)))
    assert "compute.main" not in bare and "compute.optimizer" not in bare  # no [npu], no rate
    assert bare["dp.params"].after == ("dp.grad", "pp.bwd.last")
    z3 = ops_by_name(tp.step_workload(GPT3, replace(plan, zero=3), "atlas950-superpod"))
    assert z3["dp.gather.fwd"].after == () and z3["dp.gather.fwd"].repeat == layers
    assert z3["dp.gather.bwd"].after == ("dp.gather.fwd",)
    sp = ops_by_name(tp.step_workload(GPT3, replace(plan, sequence_parallel=True),
                                      "atlas950-superpod"))
    assert sp["tp.main.ag"].repeat == sp["tp.main.rs"].repeat == 2 * layers * (2 * m - 1)
    assert sp["pp.fwd"].nbytes == 50_331_648 // 8


def test_recompute_interleaving_and_scatter_gather_in_the_ops():
    plan = tr.Plan(tp=8, pp=8, dp=128)
    m, layers = 12, 12
    full = ops_by_name(tp.step_workload(GPT3, replace(plan, recompute="full"), topo_of(8192)))
    # the backward re-runs the forward's two all-reduces per layer
    assert full["tp.main"].repeat == 2 * layers * (m + 2 * (m - 1))
    assert full["tp.last"].repeat == 2 * layers * 2
    sel = ops_by_name(tp.step_workload(GPT3, replace(plan, recompute="selective"),
                                       topo_of(8192)))
    assert sel["tp.main"].repeat == 2 * layers * (2 * m - 1)       # no extra collective
    four = tr.Plan(tp=8, pp=4, dp=64, vpp=2, scatter_gather=True)     # m = 24, 4 | 24
    v = ops_by_name(tp.step_workload(GPT3, four, topo_of(2048)))
    assert v["pp.fwd"].repeat == 2 * 24 and v["pp.bwd.main"].repeat == 2 * 23
    assert v["pp.fwd"].nbytes == 50_331_648 // 8                   # each TP rank sends 1/t


# -- groups --------------------------------------------------------------------------------
def test_groups_default_order():
    plan = tr.Plan(tp=4, cp=2, dp=4, ep=2, pp=2)                     # 64 NPUs
    ids = np.arange(64)
    assert (tr.groups_of(plan, "tp") == ids.reshape(16, 4)).all()    # consecutive NPUs
    cp = tr.groups_of(plan, "cp")
    assert (cp[:, 1] - cp[:, 0] == 4).all()                          # stride tp
    dp = tr.groups_of(plan, "dp")
    assert dp.shape == (16, 4) and (np.diff(dp, axis=1) == 8).all()  # stride tp * cp
    ep = tr.groups_of(plan, "ep")
    assert ep.shape == (32, 2) and (np.diff(ep, axis=1) == 8).all()  # inside DP: innermost
    dp_row = np.empty(64, int)
    dp_row[dp.reshape(-1)] = np.repeat(np.arange(16), 4)
    assert all(len(set(dp_row[row])) == 1 for row in ep)             # each inside one DP group
    pp = tr.groups_of(plan, "pp")
    assert (np.diff(pp, axis=1) == 32).all()                         # stride tp * cp * dp
    assert tr.groups_of(plan, "grad").shape == (8, 8)                # cp * dp
    assert tr.groups_of(plan, "expert_grad").shape == (16, 4)        # cp * dp / ep
    for name in tr.GROUP_AXES:
        g = tr.groups_of(plan, name)
        assert (np.sort(g.reshape(-1)) == ids).all()                 # every NPU once
        assert g[0, 0] == 0


def test_groups_other_order():
    plan = tr.Plan(tp=4, dp=2, pp=8, order="pp-dp-tp-cp-ep")         # Megatron's dashes too
    assert plan.order == "pp,dp,tp,cp,ep"
    assert (tr.groups_of(plan, "pp") == np.arange(64).reshape(8, 8)).all()
    assert (np.diff(tr.groups_of(plan, "tp"), axis=1) == 16).all()   # stride pp * dp
    assert (np.diff(tr.groups_of(plan, "dp"), axis=1) == 8).all()


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("make, words", [
    (lambda: tr.check(GPT3, tr.Plan(tp=5, dp=1)), ("tp=5", "heads=96")),
    (lambda: tr.check(GPT3, tr.Plan(pp=7)), ("pp=7", "layers=96")),
    (lambda: tr.check(GPT3, tr.Plan(dp=1000)), ("dp*micro_batch", "global_batch")),
    (lambda: tr.check(MIXTRAL, tr.Plan(tp=16)), ("tp=16", "kv_heads=8")),
    (lambda: tr.check(MIXTRAL, tr.Plan(dp=32, ep=16)), ("ep=16", "experts=8")),
    (lambda: tr.check(GPT3, tr.Plan(dp=2, ep=2)), ("ep=2", "experts")),
    (lambda: tr.Plan(dp=6, ep=4), ("ep=4", "dp=6")),
    (lambda: tr.Plan(zero=4), ("zero",)),
    (lambda: tr.Plan(tp=0), ("tp",)),
    (lambda: tr.Plan(order="tp,dp,pp"), ("order",)),
    (lambda: replace(TINY, heads=7), ("heads=7", "hidden")),
    (lambda: replace(TINY, dtype="int32"), ("dtype",)),
    (lambda: replace(TINY, global_batch=30, micro_batch=4), ("micro_batch=4",)),
    (lambda: replace(TINY, experts=4, top_k=5), ("top_k",)),
    (lambda: tr.get_model("gpt3-175"), ("gpt3-175b",)),
    (lambda: tp.step_workload(GPT3, tr.Plan(tp=8, pp=8, dp=64), "atlas950-superpod"),
     ("4,096", "8,192", "dp")),
    (lambda: tp.step_workload(TINY, tr.Plan(tp=2, dp=32), "ub-mesh-rack", flops_per_npu=-1),
     ("flops_per_npu",)),
])
def test_bad_input_is_one_line(make, words):
    with pytest.raises(UbemuError) as info:
        make()
    text = str(info.value)
    assert "\n" not in text
    for w in words:
        assert w in text


def test_overrides_follow_defaults():
    m = tr.with_overrides(GPT3, heads=16, hidden=1024, layers=8, seq_len=None)
    assert (m.kv_heads, m.ffn_hidden, m.layers, m.seq_len) == (16, 4096, 8, 2048)
    assert "layers=8" in m.name
    x = tr.with_overrides(MIXTRAL, layers=4)
    assert x.moe_layers == 4 and x.kv_heads == 8
    assert tr.with_overrides(GPT3) is GPT3


# -- timed end to end ------------------------------------------------------------------------
@pytest.mark.parametrize("model, plan", [
    (TINY, tr.Plan(tp=4, pp=2, dp=8)),
    (TINY, tr.Plan(tp=2, pp=2, dp=8, cp=2, zero=1, sequence_parallel=True)),
    (TINY_MOE, tr.Plan(tp=2, pp=2, dp=16, ep=4, zero=3)),
])
def test_plan_end_to_end(model, plan):
    rep = tp.plan(model, plan, "ub-mesh-rack", flops_per_npu=50e12)
    res = rep.result
    assert rep.step_s == res.makespan_s > rep.compute_s > 0
    assert sum(a.exposed_s for a in rep.axes) == pytest.approx(rep.exposed_s, rel=1e-9)
    assert rep.exposed_s == pytest.approx(rep.step_s - rep.compute_s, rel=1e-6, abs=1e-12)
    names = {c for c in res.class_names}
    assert rep.bottleneck in names
    for a in rep.axes:
        assert a.op_bytes == a.formula_bytes
        assert a.time_s == pytest.approx(sum(o.time_s for o in rep.ops if o.axis == a.axis))
        assert 0 <= a.exposed_s <= a.time_s * (1 + 1e-9)
    for o in rep.ops:
        if o.axis != "dp":            # the blocking chain: fully exposed
            assert o.exposed_s == pytest.approx(o.time_s)
    json.loads(dumps(rep.to_dict()))


def test_overlap_hides_the_gradient_reduction():
    plan = tr.Plan(tp=4, pp=2, dp=8)
    rate = 5e12    # slow NPUs: the last backward outlasts the reduction
    on = tp.plan(TINY, plan, "ub-mesh-rack", rate)
    off = tp.plan(TINY, replace(plan, overlap_grad_reduce=False), "ub-mesh-rack", rate)
    assert on.axis("dp").exposed_s < off.axis("dp").exposed_s == pytest.approx(
        off.axis("dp").time_s)
    assert on.step_s < off.step_s
    bare = tp.plan(TINY, plan, "ub-mesh-rack")           # no rate: communication only
    assert bare.compute_s == 0 and bare.exposed_s == pytest.approx(bare.step_s)


def test_gpt3_on_atlas950_superpod():
    rep = tp.plan(GPT3, tr.Plan(tp=8, pp=8, dp=128), "atlas950-superpod", 400e12)
    assert rep.axis("tp").op_bytes == 50_734_301_184
    assert rep.step_s > rep.compute_s
    assert rep.axis("tp").exposed_s == pytest.approx(rep.axis("tp").time_s)
