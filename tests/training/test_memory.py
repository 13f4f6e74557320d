"""``ubemu.training.memory``: Korthikanti et al.'s activation formulas by hand, ZeRO's model
states, the first stage's micro-batches in flight (1F1B and interleaved)."""

from dataclasses import replace

import pytest

import ubemu.training as tr
from ubemu.training.memory import chunks_in_flight, layer_activation_bytes, memory_of

GPT3 = tr.get_model("gpt3-175b")
S, B, H, A = 2048, 1, 12288, 96


@pytest.mark.parametrize("t", [1, 8])
def test_activations_per_layer_are_the_papers(t):
    plan = tr.Plan(tp=t, dp=8, flash_attention=False)
    # Korthikanti et al. 2022, Section 4: sbh (10 + 24/t + 5as/(ht)) without sequence
    # parallelism, sbh/t (34 + 5as/h) with it, the 5as^2 b term gone with selective
    assert layer_activation_bytes(GPT3, plan) == pytest.approx(
        S * B * H * (10 + 24 / t + 5 * A * S / (H * t)))
    sp = replace(plan, sequence_parallel=True)
    assert layer_activation_bytes(GPT3, sp) == pytest.approx(S * B * H / t * (34 + 5 * A * S / H))
    assert layer_activation_bytes(GPT3, replace(sp, recompute="selective")) == \
        pytest.approx(34 * S * B * H / t)
    assert layer_activation_bytes(GPT3, replace(sp, recompute="full")) == \
        pytest.approx(2 * S * B * H / t)
    assert layer_activation_bytes(GPT3, replace(sp, flash_attention=True)) == \
        layer_activation_bytes(GPT3, replace(sp, recompute="selective"))


def test_micro_batches_in_flight_on_the_first_stage():
    one = tr.Plan(tp=8, pp=8, dp=128)                         # m = 12
    assert chunks_in_flight(GPT3, one) == (8, 12)             # p micro-batches of L/p layers
    few = tr.Plan(tp=8, pp=8, dp=128)
    assert chunks_in_flight(replace(GPT3, global_batch=512), few) == (4, 12)   # m = 4 < p
    v = tr.Plan(tp=8, pp=8, dp=16, vpp=4)                     # m = 96
    chunks, layers = chunks_in_flight(GPT3, v)
    assert (chunks, layers) == (3 * 8 + 2 * 7 + 1, 3)
    # the paper's L (1 + (p-1)/(p v)): within a chunk
    assert chunks * layers == pytest.approx(96 * (1 + 7 / 32), abs=layers)


def test_model_states_by_zero_stage():
    plan = tr.Plan(tp=8, pp=8, dp=128)
    dense = tr.params_per_npu(GPT3, plan)[0] + GPT3.vocab * GPT3.hidden // 8
    m0 = memory_of(GPT3, plan)
    assert (m0.params_B, m0.grads_B, m0.optimizer_B) == (2 * dense, 2 * dense, 12 * dense)
    m1 = memory_of(GPT3, replace(plan, zero=1))
    assert m1.optimizer_B == pytest.approx(12 * dense / 128) and m1.grads_B == 2 * dense
    m3 = memory_of(GPT3, replace(plan, zero=3))
    assert m3.params_B == pytest.approx(2 * dense / 128)
    assert m3.total_B < m1.total_B < m0.total_B
    totals = [memory_of(GPT3, replace(plan, recompute=r, flash_attention=False)).total_B
              for r in tr.RECOMPUTE]
    assert totals[0] > totals[1] > totals[2]
    assert tr.memory_per_npu(GPT3, plan) == m0.total_B and m0.stage == "first"
