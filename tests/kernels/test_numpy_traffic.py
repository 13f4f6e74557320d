"""The NumPy twin of the MoE routing kernel (``kernels/numpy_traffic.py``) draws the kernel's
experts to the last token, uses as many spares, runs out where it runs out, and hands a strong
skew to the kernel; ``ubemu.traffic`` picks the side as documented."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ubemu.kernels import numpy_traffic, select
from ubemu.kernels.traffic import draw_experts as kernel_draw

from ubemu.traffic import MoE, draw_experts, moe_weights


def _cdf(moe):
    cdf = np.cumsum(moe.popularity())
    cdf[-1] = 1.0
    return cdf


def _both(moe, n_tokens, n_spare, budget=None):
    """(spares used, experts) of the kernel and of the twin, from the same seed."""
    rng = np.random.default_rng(moe.seed)
    first = rng.random((n_tokens, moe.topk))
    spare = rng.random(n_spare)
    a, b = (np.full((n_tokens, moe.topk), -7, np.int32) for _ in range(2))
    got_a = kernel_draw(_cdf(moe), first, spare, a)
    got_b = numpy_traffic.draw_experts(_cdf(moe), np.random.default_rng(moe.seed), n_spare, b,
                                       budget)
    return (got_a, a), (got_b, b)


CASES = [  # (tokens, experts, topk, seed, skew): DeepEP-like, skewed, crowded, k=1, k=E
    (20000, 256, 8, 0, 0.0), (20000, 256, 8, 5, 0.8), (4000, 64, 6, 3, 1.2),
    (3000, 32, 4, 7, 0.5), (800, 8, 8, 1, 0.0), (600, 9, 8, 4, 1.0), (500, 3, 3, 0, 0.0),
    (500, 5, 1, 0, 1.0), (60, 1000, 30, 3, 1.5), (1, 4, 2, 9, 0.0)]


@pytest.mark.parametrize("tokens,experts,topk,seed,skew", CASES)
def test_the_twin_draws_the_kernels_experts(tokens, experts, topk, seed, skew):
    moe = MoE(tokens, experts, topk, seed=seed, skew=skew)
    for n_spare in (64 * tokens * topk, tokens * topk // 8, 16):  # plenty, the first try, few
        (used_a, a), (used_b, b) = _both(moe, tokens, n_spare)
        assert used_a == used_b  # as many spares, or both -1: ran out
        if used_a >= 0:
            np.testing.assert_array_equal(a, b)


def test_tiny_bands_walk_the_same_way(monkeypatch):
    """Bands of 3 tokens and 2 shifts: every unclean token re-bands, and the bands shrink."""
    monkeypatch.setattr(numpy_traffic, "BAND_TOKENS", 3)
    monkeypatch.setattr(numpy_traffic, "BAND_SHIFTS", 2)
    monkeypatch.setattr(numpy_traffic, "CHUNK", 5)
    for moe in (MoE(2000, 64, 8, seed=2), MoE(300, 16, 8, seed=1, skew=0.7)):
        (used_a, a), (used_b, b) = _both(moe, moe.tokens, 64 * moe.tokens * moe.topk)
        assert used_a == used_b > 0
        np.testing.assert_array_equal(a, b)


@given(tokens=st.integers(1, 300), experts=st.integers(1, 40), k=st.integers(1, 40),
       seed=st.integers(0, 2**63 - 1), skew=st.sampled_from([0.0, 0.3, 1.0, 2.5]),
       spare=st.integers(1, 5000))
def test_any_routing_is_the_kernels(tokens, experts, k, seed, skew, spare):
    moe = MoE(tokens, experts, min(k, experts), seed=seed, skew=skew)
    (used_a, a), (used_b, b) = _both(moe, tokens, spare)
    assert used_a == used_b
    if used_a >= 0:
        np.testing.assert_array_equal(a, b)


def test_experts_of_is_the_kernels_search_at_every_boundary():
    moe = MoE(1, 50, 1, seed=3, skew=1.5)
    cdf = _cdf(moe)
    u = np.concatenate([cdf[:-1], np.nextafter(cdf[:-1], 0), np.nextafter(cdf[:-1], 1),
                        [0.0, np.nextafter(1.0, 0)], np.random.default_rng(0).random(10000)])
    got = numpy_traffic.experts_of(cdf, u)
    np.testing.assert_array_equal(got, np.searchsorted(cdf, u, side="right"))
    out = np.empty((u.size, 1), np.int32)
    kernel_draw(cdf, u[:, None], np.zeros(1), out)
    np.testing.assert_array_equal(got, out[:, 0])


def test_a_strong_skew_goes_to_the_kernel(monkeypatch):
    moe = MoE(500, 16, 8, seed=2, skew=2.5)  # most tokens redraw many times
    (_, _), (used, _) = _both(moe, moe.tokens, 64 * moe.tokens * moe.topk,
                              budget=numpy_traffic.BUDGET)
    assert used is None  # over budget: the caller runs the kernel
    calls = []
    real = numpy_traffic.draw_experts
    monkeypatch.setattr(numpy_traffic, "draw_experts",
                        lambda *a: calls.append(a[-1]) or real(*a))
    with select.forced("numba"):
        want = draw_experts(moe, moe.tokens)
    assert calls == []  # numba asked: the twin is not tried
    for side, budget in (("auto", numpy_traffic.BUDGET), ("numpy", None)):
        with select.forced(side):
            np.testing.assert_array_equal(draw_experts(moe, moe.tokens), want)
        assert calls.pop() == budget


def test_moe_weights_count_every_routed_copy():
    """The (rank, rank) counts are the copies of the drawn experts, counted one by one."""
    moe = MoE(300, 32, 6, seed=8, skew=0.4)
    experts = draw_experts(moe, 8 * 300)
    want = np.zeros((8, 8), np.int64)
    for token, row in enumerate(experts.tolist()):
        for e in row:
            want[token // 300, e // 4] += 1
    np.testing.assert_array_equal(moe_weights(moe, 8), want)
