"""Max-min fair rates (ubemu.workloads.sharing) against hand-computed allocations and the
definition."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ubemu.workloads.sharing import fair_rates


def _flows(*flows):
    return ([np.array(ids, np.int64) for ids, _ in flows],
            [np.array(use, np.float64) for _, use in flows])


def test_two_flows_that_fill_one_link_get_half_each():
    rates, limit = fair_rates(*_flows(([7], [1.0]), ([7], [1.0])))
    assert rates.tolist() == [0.5, 0.5]
    assert limit.tolist() == [7, 7]


def test_disjoint_flows_keep_full_speed():
    rates, limit = fair_rates(*_flows(([1, 2], [1.0, 0.3]), ([3], [1.0])))
    assert rates.tolist() == [1.0, 1.0]
    assert limit.tolist() == [-1, -1]


def test_a_flow_frozen_elsewhere_leaves_its_share_to_the_others():
    # link 1: A (1.0) + B (0.5); link 2: B (1.0) + C (1.0). Link 2 fills first, at 1/2
    # (B, C frozen); link 1 then has 1 - 0.5 * 1.5 = 0.25 spare, so A rises to 0.75.
    rates, limit = fair_rates(*_flows(([1], [1.0]), ([1, 2], [0.5, 1.0]), ([2], [1.0])))
    np.testing.assert_allclose(rates, [0.75, 0.5, 0.5], rtol=1e-12)
    assert limit.tolist() == [1, 2, 2]


def test_links_that_never_fill_leave_full_speed():
    rates, _ = fair_rates(*_flows(([1], [0.4]), ([1], [0.5])))
    assert rates.tolist() == [1.0, 1.0]


def test_three_flows_on_a_line():
    # the textbook case: A crosses links 1 and 2, B only 1, C only 2: all get 1/2
    rates, _ = fair_rates(*_flows(([1, 2], [1.0, 1.0]), ([1], [1.0]), ([2], [1.0])))
    np.testing.assert_allclose(rates, [0.5, 0.5, 0.5], rtol=1e-12)


@given(st.lists(st.lists(st.tuples(st.integers(0, 5), st.floats(0.05, 1.0)), min_size=1,
                         max_size=4, unique_by=lambda x: x[0]), min_size=1, max_size=6))
def test_rates_are_feasible_and_max_min_fair(flows):
    ids = [np.array([k for k, _ in f], np.int64) for f in flows]
    use = [np.array([u for _, u in f]) for f in flows]
    for u in use:  # each flow's busiest link needs all of it when alone
        u /= u.max()
    rates, _ = fair_rates(ids, use)
    assert ((rates > 0) & (rates <= 1.0)).all()
    load = {}
    for y, i, u in zip(rates, ids, use):
        for k, x in zip(i.tolist(), u.tolist()):
            load[k] = load.get(k, 0.0) + y * x
    assert max(load.values()) <= 1.0 + 1e-9
    # max-min fair: a flow below full speed crosses a full link on which no flow runs faster
    for y, i in zip(rates, ids):
        if y < 1.0 - 1e-9:
            assert any(load[k] >= 1.0 - 1e-9 and
                       all(rates[j] <= y + 1e-9 for j, jj in enumerate(ids) if k in jj.tolist())
                       for k in i.tolist())
    # the linear-time distinct links give the same rates and limits, and leave scratch at -1
    scratch = np.full(6, -1, np.int64)
    dense = fair_rates(ids, use, scratch)
    assert np.array_equal(dense[0], rates) and np.array_equal(dense[1], fair_rates(ids, use)[1])
    assert (scratch == -1).all()


def test_links_one_flow_alone_uses_never_bind_first():
    """What the workload engine relies on to leave them out: the same rates without them."""
    ids, use = _flows(([1, 2], [1.0, 0.7]), ([2, 3], [0.9, 1.0]), ([3, 4], [0.5, 1.0]))
    rates, limit = fair_rates(ids, use)
    shared = [np.isin(i, [2, 3]) for i in ids]
    got = fair_rates([i[k] for i, k in zip(ids, shared)], [u[k] for u, k in zip(use, shared)])
    assert np.array_equal(got[0], rates) and np.array_equal(got[1], limit)
