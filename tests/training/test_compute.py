"""``ubemu.training.compute``: FLOPs counted by hand, the achieved-fraction rule, element-wise
bytes at the memory bandwidth, recomputation, the bubble, and the rate overrides."""

from dataclasses import replace

import pytest

import ubemu.training as tr
from ubemu.errors import UbemuError
from ubemu.machine.npu import NPU
from ubemu.training.compute import step_compute, step_model_flops

GPT = tr.Model("gpt", layers=8, hidden=4096, heads=32, seq_len=2048, global_batch=64,
               vocab=51200, micro_batch=2)
NPU_ = NPU("x", tflops={"bfloat16": 1000.0}, mem_GBps=2000.0, mem_GB=80.0,
           matmul_fraction=0.5, matmul_half_dim=100.0, memory_fraction=0.5)


def layer_flops(m, t=1, attention=1.0):
    """Forward FLOPs of one layer on one TP rank by hand: QKV, projection, two MLP matrices
    (2 M N K each), and QK^T and AV (2 b s^2 h each, ``attention`` of them)."""
    T, h, f = m.micro_batch * m.seq_len, m.hidden, m.ffn_hidden
    return (2 * T * h * 3 * h + 2 * T * h * h + 2 * 2 * T * h * f) / t \
        + attention * 2 * 2 * m.micro_batch * m.seq_len ** 2 * h / t


def test_flops_by_hand_at_a_fixed_rate():
    rate = 1e15
    plan = tr.Plan(tp=2, pp=2, dp=16, flash_attention=False)
    c = step_compute(GPT, plan, rate=rate)
    T = GPT.micro_batch * GPT.seq_len
    logits = 2 * T * GPT.hidden * GPT.vocab / 2
    fwd = 4 * layer_flops(GPT, t=2) + logits                # 4 layers on the last stage
    assert c.fwd_s == pytest.approx(fwd / rate, rel=1e-12)
    assert c.bwd_s == pytest.approx(2 * fwd / rate, rel=1e-12)
    assert c.micro_batches == 2
    assert c.bubble_s == pytest.approx((2 - 1) * (c.fwd_s + c.bwd_s))
    assert c.main_s == pytest.approx(2 * c.fwd_s + c.bwd_s + c.bubble_s)
    assert c.model_flops == pytest.approx(2 * 3 * fwd)
    full = step_compute(GPT, replace(plan, recompute="full"), rate=rate)
    assert full.bwd_s == pytest.approx((3 * fwd - logits) / rate)   # the layers again
    assert full.hardware_flops > full.model_flops == c.model_flops
    flash = step_compute(GPT, replace(plan, flash_attention=True), rate=rate)
    half = 4 * layer_flops(GPT, t=2, attention=0.5) + logits          # causal: half
    assert flash.fwd_s == pytest.approx(half / rate)
    v2 = step_compute(GPT, replace(plan, pp=2, vpp=2), rate=rate)
    assert v2.bubble_s == pytest.approx(c.bubble_s / 2)               # (p-1)/(v m)


def test_achieved_fraction_and_memory_bound_work():
    # one big layer: the matmuls' smallest dimension is the token count T (TP 1)
    m = tr.Model("one", layers=1, hidden=8192, heads=64, seq_len=4096, global_batch=1,
                 vocab=64, micro_batch=1)
    plan = tr.Plan(flash_attention=True)
    c = step_compute(m, plan, NPU_)
    T, h = 4096, 8192
    eta = 0.5 * T / (T + 100)                                          # k = min(M, N, K) = T
    body = (2 * T * h * 3 * h + 2 * T * h * h + 2 * 2 * T * h * 4 * h) / (1e15 * eta)
    d = h // 64
    attn = 2 * (2 * T * T * d * 64 * 0.5) / (1e15 * 0.5 * d / (d + 100))
    elem = (T * h * 22 + T * 4 * h * 4) / (2000e9 * 0.5)               # LN+dropout, GeLU
    logits = max(2 * T * h * 64 / (1e15 * 0.5 * 64 / 164),             # memory bound
                 2 * (T * h + h * 64 + T * 64) / 1e12) + T * 64 * 12 / 1e12
    assert c.fwd_s == pytest.approx(body + attn + elem + logits, rel=1e-9)
    b = c.breakdown
    assert b["attention_s"] == pytest.approx(3.5 * attn, rel=1e-9)    # fwd, 2 bwd, scores again
    assert b["elementwise_s"] == pytest.approx(3 * elem, rel=1e-9)
    assert c.optimizer_s > 0


def test_recompute_orders_the_backward_and_rates_override():
    plan = tr.Plan(tp=2, pp=2, dp=16, flash_attention=False)
    bwd = [step_compute(GPT, replace(plan, recompute=r), NPU_).bwd_s for r in tr.RECOMPUTE]
    assert bwd[0] < bwd[1] < bwd[2]
    mfu = step_compute(GPT, plan, NPU_, mfu=0.4)
    rate = step_compute(GPT, plan, rate=0.4 * 1000e12)
    assert mfu.fwd_s == pytest.approx(rate.fwd_s) and "0.4 of the x" in mfu.how
    with pytest.raises(UbemuError, match=r"no \[npu\] table"):
        step_compute(GPT, plan)
    with pytest.raises(UbemuError, match="no peak rate for 'float32'"):
        step_compute(replace(GPT, dtype="float32"), plan, NPU_)


def test_model_flops_of_a_step_by_hand():
    gpt3 = tr.get_model("gpt3-175b")
    n = tr.param_count(gpt3) - 2048 * 12288                          # no learned positions
    tokens = 1536 * 2048
    assert step_model_flops(gpt3) == 6 * n * tokens + 12 * 96 * 12288 * 2048 * tokens
    mix = tr.get_model("mixtral-8x7b")
    active = tr.param_count(mix) - 32000 * 4096 - 32 * 6 * 3 * 4096 * 14336   # 2 of 8 experts
    assert step_model_flops(mix) == 6 * active * 1024 * 4096 + 12 * 32 * 4096 * 4096 * \
        1024 * 4096
