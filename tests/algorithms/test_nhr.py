"""HCCL's NHR: p-1 blocks per phase at any p, ring distances 2^t and halving shares."""

import numpy as np
import pytest

from tests.helpers import link_elements
from ubemu.algorithms import build_schedule
from ubemu.machine.comm import Comm


@pytest.mark.parametrize("p", [3, 5, 6, 7, 12, 13, 33])
def test_nhr_sends_p_minus_1_blocks_any_p(p):
    count = 2 * p
    for coll, phases in (("reduce_scatter", 1), ("all_gather", 1), ("all_reduce", 2)):
        sched = build_schedule(coll, "nhr", Comm.flat(p), count)
        np.testing.assert_array_equal(link_elements(sched), phases * 2 * (p - 1))


@pytest.mark.parametrize("p, shares", [(5, [2, 1, 1]), (8, [4, 2, 1]), (12, [6, 3, 1, 1])])
def test_nhr_distances_and_shares(p, shares):
    sched = build_schedule("reduce_scatter", "nhr", Comm.flat(p), p)
    for t, st in enumerate(sched.steps()):
        np.testing.assert_array_equal((st.src - st.dst) % p, 2 ** t)  # ring distance 2^t
        np.testing.assert_array_equal(np.bincount(st.src, st.n, minlength=p), shares[t])
    sched = build_schedule("all_gather", "nhr", Comm.flat(p), p)
    for t, st in enumerate(sched.steps()):
        np.testing.assert_array_equal((st.dst - st.src) % p, 2 ** (len(shares) - 1 - t))
        np.testing.assert_array_equal(np.bincount(st.src, st.n, minlength=p), shares[::-1][t])
