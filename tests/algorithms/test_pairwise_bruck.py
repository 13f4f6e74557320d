"""Pairwise and Bruck all-to-all / all-gather: closed-form step counts and bytes per rank."""

import numpy as np
import pytest

from tests.helpers import data_and_timing, link_elements, run_against_reference
from ubemu.machine.comm import Comm


def log2_ceil(p):
    return int(np.ceil(np.log2(p))) if p > 1 else 0


@pytest.mark.parametrize("p", [2, 3, 5, 8, 12, 17])
def test_pairwise_and_bruck_closed_forms(p):
    b = 4
    count = p * b
    sched, sent = data_and_timing("alltoall", "pairwise", Comm.flat(p), count)
    assert sched.n_steps == p - 1
    assert (sent == (p - 1) * b).all()
    sched, sent = data_and_timing("all_gather", "bruck", Comm.flat(p), count)
    assert sched.n_steps == log2_ceil(p)
    assert (sent == (p - 1) * b).all()
    sched, sent = data_and_timing("alltoall", "bruck", Comm.flat(p), count)
    assert sched.n_steps == log2_ceil(p)
    popcounts = sum(bin(i).count("1") for i in range(p))
    assert (sent == b * popcounts).all()


def test_bruck_alltoall_steps_hand_count():
    # p = 5: 3 steps; indices 1..4 have 1+1+2+1 = 5 set bits -> 5 blocks sent per rank
    sched, sent = data_and_timing("alltoall", "bruck", Comm.flat(5), 10)
    assert sched.n_steps == 3 and (sent == 5 * 2).all()


def test_alltoall_one_rank_is_a_local_copy():
    for name in ("pairwise", "bruck", "hierarchical"):
        sched = run_against_reference("alltoall", name, Comm.flat(1), 3)
        assert link_elements(sched).sum() == 0
