"""The closed-form estimator equals the step-level model on fault-free symmetric topologies."""

import re

import pytest

import ubemu
from ubemu.algorithms import REGISTRY
from ubemu.api import simulate
from ubemu.closed_form import ESTIMATORS, NoClosedForm, estimate
from ubemu.errors import UbemuError

# (topology, group, collectives' size in bytes: divisible by every block count used)
CASES = [
    ("switch:16@50GiBps/1us", None),
    ("full_mesh:8@56GBps/150ns", None),
    ("ring:8@56GBps/100ns", None),
    ("ub-mesh-rack", None),
    ("ub-mesh-rack", {"unit": "board", "at": 8}),
    ("ub-mesh-rack", {"one_per": "board", "at": 3}),
    ("dgx-h100", None),
    ("cloudmatrix384", None),
    ("ub-mesh-pod", None),
    ("switch:8:oversub=2,switch:4:oversub=2", None),
    ("full_mesh:4,full_mesh:4:trunk,switch:4:trunk", None),
    ("full_mesh:4@100GBps/100ns,ring:4,switch:2", None),
]
NBYTES = 3 * 2**20  # divides by 384 x 4 bytes and by every power of two used here
KEYS = sorted(k for k in ESTIMATORS if k in REGISTRY)


@pytest.mark.parametrize("topo,group", CASES, ids=[f"{t}-{g}" for t, g in CASES])
def test_estimate_equals_step_model(topo, group):
    try:
        ubemu.load_topology(topo)
    except UbemuError as exc:
        pytest.skip(f"preset not available: {exc}")
    compared = 0
    for collective, name in KEYS:
        try:
            est = estimate(collective, NBYTES, topo, name, group=group)
        except NoClosedForm:
            continue
        res = simulate(collective, NBYTES, topo, name, group=group)
        assert est == pytest.approx(res.time_s, rel=1e-6), (collective, name)
        compared += 1
    assert compared > 0


@pytest.mark.parametrize("per_level", ["ring", "halving_doubling", "nhr", "direct",
                                       "ring_bidir", ("direct", "ring")])
def test_hierarchical_per_level(per_level):
    try:
        est = estimate("all_reduce", 2**20, "ub-mesh-rack", "hierarchical", per_level=per_level)
    except NoClosedForm:
        pytest.skip(f"no closed form for {per_level}")
    res = simulate("all_reduce", 2**20, "ub-mesh-rack", "hierarchical", per_level=per_level)
    assert est == pytest.approx(res.time_s, rel=1e-6)


def test_ring_with_uneven_blocks_is_exact():
    est = estimate("all_reduce", 4 * 1001, "switch:7@50GBps/1us", "ring")
    assert est == pytest.approx(simulate("all_reduce", 4 * 1001, "switch:7@50GBps/1us",
                                         "ring").time_s, rel=1e-12)


def test_closed_form_by_hand():
    # ring all-reduce on one switch: 2 (p-1) (a + S / (p B)), B = 50 GB/s, a = 1 us
    p, S = 16, 2**20
    want = 2 * (p - 1) * (1e-6 + S / (p * 50e9))
    assert estimate("all_reduce", S, f"switch:{p}@50GBps/1us", "ring") == pytest.approx(want)
    assert ubemu.estimate("all_reduce", S, f"switch:{p}@50GBps/1us", "ring") == \
        pytest.approx(want)


def test_auto_is_the_fastest_closed_form():
    topo = "full_mesh:8@56GBps/150ns"
    times = []
    for collective, name in KEYS:
        if collective == "all_reduce":
            try:
                times.append(estimate("all_reduce", 2**20, topo, name))
            except NoClosedForm:
                pass
    assert len(times) > 1
    assert estimate("all_reduce", 2**20, topo) == min(times)


def test_no_closed_form_is_an_error_not_a_number():
    with pytest.raises(UbemuError, match="no closed form"):
        estimate("all_reduce", 2**20, "ub-mesh-rack", "ring")  # flat over two levels
    with pytest.raises(UbemuError, match="no closed form"):
        estimate("all_reduce", 2**20, "ring:8", "halving_doubling")  # multi-hop contention
    with pytest.raises(UbemuError, match="not a power of two"):
        estimate("all_reduce", 2**20, "switch:12", "halving_doubling")
    with pytest.raises(UbemuError, match="valid: .*ring"):
        estimate("all_reduce", 2**20, "switch:8", "rign")


def test_single_rank_and_zero_bytes():
    assert estimate("all_reduce", 2**20, "switch:8", "ring", group=[3]) == 0.0
    assert estimate("all_reduce", 0, "switch:8", "ring") == 0.0


@pytest.mark.parametrize("per_level,message", [
    ("ring", "unknown alltoall per-level algorithm 'ring'; valid: direct, pairwise"),
    (("direct", "pairwise", "direct"), "per_level: 3 names for 2 axes")])
def test_hierarchical_alltoall_per_level_checked_like_the_builder(per_level, message):
    """estimate refuses what simulate refuses, with the same message (it once answered)."""
    for fn in (estimate, simulate):
        with pytest.raises(UbemuError, match=re.escape(message)):
            fn("alltoall", 2**20, "ub-mesh-rack", "hierarchical", per_level=per_level)
