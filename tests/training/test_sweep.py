"""``ubemu.training.sweep``: every valid plan by hand, the lightest recomputation that fits,
and a ranking that puts the plans that fit first and marks the others."""

import pytest

import ubemu.training as tr
from ubemu.errors import UbemuError
from ubemu.training.sweep import candidate_plans, lightest_recompute, sweep

TINY = tr.Model("tiny", layers=8, hidden=512, heads=8, seq_len=256, global_batch=32,
                vocab=1000)
TINY_MOE = tr.Model("tiny-moe", layers=8, hidden=512, heads=8, kv_heads=4, seq_len=256,
                    global_batch=32, vocab=1000, experts=8, top_k=2, gated_mlp=True,
                    bias=False)
GPT3 = tr.get_model("gpt3-175b")


def test_candidate_plans_by_hand():
    plans, over = candidate_plans(TINY, 64)
    # tp | 8 heads, pp | 8 layers, dp | 32 sequences, tp * pp * dp = 64
    want = {(t, p, 64 // (t * p)) for t in (1, 2, 4, 8) for p in (1, 2, 4, 8)
            if 64 % (t * p) == 0 and 32 % (64 // (t * p)) == 0}
    assert {(pl.tp, pl.pp, pl.dp) for pl in plans} == want and over == 0
    assert {pl.recompute for pl in plans} == {"none"}                  # no capacity known
    moe, _ = candidate_plans(TINY_MOE, 64, tp=2)
    assert {pl.ep for pl in moe} == {1, 2, 4, 8}                        # ep | 8 experts and dp
    assert all(pl.tp == 2 and pl.dp % pl.ep == 0 for pl in moe)
    v, _ = candidate_plans(TINY, 64, vpp=2)
    assert v and all(pl.vpp == 2 and pl.pp > 1 for pl in v)             # interleaving rules


def test_lightest_recompute_that_fits():
    plan = tr.Plan(tp=8, pp=8, dp=128, flash_attention=False)
    need = {rc: tr.memory_per_npu(GPT3, tr.Plan(tp=8, pp=8, dp=128, recompute=rc,
                                                flash_attention=False))
            for rc in tr.RECOMPUTE}
    assert lightest_recompute(GPT3, plan, need["none"]).recompute == "none"
    assert lightest_recompute(GPT3, plan, need["none"] - 1).recompute == "selective"
    assert lightest_recompute(GPT3, plan, need["selective"] - 1).recompute == "full"
    assert lightest_recompute(GPT3, plan, need["full"] - 1).recompute == "full"   # none fits
    plans, over = candidate_plans(GPT3, 8192, capacity_bytes=40e9)
    assert over > 0 and any(pl.recompute != "none" for pl in plans)


def test_sweep_ranks_the_plans_that_fit_first():
    # 64 NPUs of 0.05 GB: only some plans fit; those that do not are timed and marked
    res = sweep(TINY, "switch:8@100GBps/1us,switch:8@25GBps/2us", flops_per_npu=50e12,
                capacity_bytes=0.05e9, pp=2)
    fits = [r.fits for r in res.reports]
    assert res.n_too_big == fits.count(False) > 0 and True in fits
    assert fits == sorted(fits, reverse=True)                           # fitting ones first
    ok = [r.step_s for r in res.reports if r.fits]
    assert ok == sorted(ok) and len(res.reports) == res.n_candidates == 4   # tp 1, 2, 4, 8
    assert all(r.memory_bytes > 0.05e9 for r in res.reports if not r.fits)
    with pytest.raises(UbemuError, match="no valid plan"):
        sweep(TINY, "ub-mesh-rack", tp=3)


def test_progress_counts_the_distinct_operations_then_the_plans():
    seen = []
    res = sweep(TINY, "ub-mesh-rack", 400e12, on_plan=lambda k, n, label: seen.append(
        (k, n, label)))
    plans = res.n_candidates
    ops = seen[0][1] - plans
    assert 0 < ops and all(n == ops + plans for _, n, _ in seen)
    assert [k for k, _, _ in seen] == list(range(ops + plans))
    assert all(label.startswith("timing ") for _, _, label in seen[:ops])
    assert [label for _, _, label in seen[ops:]] == \
        [pl.label() for pl in candidate_plans(TINY, 64)[0]]
