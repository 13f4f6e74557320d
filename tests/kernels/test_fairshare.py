"""The progressive filling kernel (ubemu.kernels.fairshare) against a NumPy reference: the same
rates and limits to the bit."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ubemu.workloads.sharing import FULL, fair_rates


def reference(ids, use):
    """Progressive filling over arrays: every level's loads from ``np.bincount`` of the live
    flows' entries."""
    n = len(ids)
    owner = np.repeat(np.arange(n), [a.size for a in ids])
    links, inv = np.unique(np.concatenate(ids), return_inverse=True)
    u = np.concatenate(use)
    rates, limit = np.zeros(n), np.full(n, -1, np.int64)
    frozen = np.zeros(n, bool)
    spare = np.ones(links.size)
    level = 0.0
    while not frozen.all():
        live = ~frozen[owner]
        w = np.bincount(inv[live], weights=u[live], minlength=links.size)
        busy = w > 0
        step = 1.0 - level
        if busy.any():
            step = min(step, float((spare[busy] / w[busy]).min()))
        level += step
        spare -= step * w
        full = busy & (spare <= FULL * np.maximum(w, 1.0))
        if level >= 1.0 or not full.any():
            rates[~frozen] = min(level, 1.0)
            break
        hit = live & full[inv]
        first = np.full(n, -1, np.int64)
        np.maximum.at(first, owner[hit], links[inv[hit]])
        now = (first >= 0) & ~frozen
        rates[now], limit[now] = level, first[now]
        frozen |= now
    return rates, limit


@given(st.lists(st.lists(st.tuples(st.integers(0, 40), st.floats(0.01, 1.0)), min_size=1,
                         max_size=12, unique_by=lambda x: x[0]), min_size=1, max_size=9))
def test_kernel_equals_the_numpy_reference_to_the_bit(flows):
    ids = [np.array([k for k, _ in f], np.int64) for f in flows]
    use = [np.array([u for _, u in f]) for f in flows]
    for u in use:
        u /= u.max()
    want = reference(ids, use)
    scratch = np.full(41, -1, np.int64)
    got = fair_rates(ids, use, scratch)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert (scratch == -1).all()  # left as it was given


def test_many_flows_on_many_links():
    rng = np.random.default_rng(3)
    ids = [np.unique(rng.integers(0, 5000, rng.integers(50, 3000))) for _ in range(40)]
    use = [rng.random(a.size) for a in ids]
    for u in use:
        u /= u.max()
    want = reference(ids, use)
    got = fair_rates(ids, use)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert (got[0] < 1.0).any()  # some flows are held back: the filling ran levels
