"""Pairwise and Bruck all-to-all / all-gather: closed-form step counts and bytes per rank."""

import numpy as np
import pytest

from tests.helpers import link_elements
from tests.interpret import interpret
from tests.reference import expected
from ubemu.algorithms import build_schedule
from ubemu.collectives import get
from ubemu.comm import Comm
from ubemu.layout import pack_inputs, unpack_outputs


def run(collective, name, comm, count, **options):
    sched = build_schedule(collective, name, comm, count, **options).validate()
    rng = np.random.default_rng(1)
    inputs = rng.integers(-99, 99, size=get(collective).input_shape(comm.n, count))
    buf = pack_inputs(sched, inputs)
    interpret(sched, buf)
    np.testing.assert_array_equal(unpack_outputs(sched, buf), expected(collective, inputs))
    return sched


def both(collective, name, comm, count, **options):
    """Data and timing-only schedules; both validate and send the same per-rank totals."""
    data = build_schedule(collective, name, comm, count, **options).validate()
    timing = build_schedule(collective, name, comm, count, data=False, **options).validate()
    assert data.n_steps == timing.n_steps
    sent = link_elements(data)
    np.testing.assert_array_equal(sent, link_elements(timing))
    return data, sent


def log2_ceil(p):
    return int(np.ceil(np.log2(p))) if p > 1 else 0


@pytest.mark.parametrize("p", [2, 3, 5, 8, 12, 17])
def test_pairwise_and_bruck_closed_forms(p):
    b = 4
    count = p * b
    sched, sent = both("alltoall", "pairwise", Comm.flat(p), count)
    assert sched.n_steps == p - 1
    assert (sent == (p - 1) * b).all()
    sched, sent = both("all_gather", "bruck", Comm.flat(p), count)
    assert sched.n_steps == log2_ceil(p)
    assert (sent == (p - 1) * b).all()
    sched, sent = both("alltoall", "bruck", Comm.flat(p), count)
    assert sched.n_steps == log2_ceil(p)
    popcounts = sum(bin(i).count("1") for i in range(p))
    assert (sent == b * popcounts).all()


def test_bruck_alltoall_steps_hand_count():
    # p = 5: 3 steps; indices 1..4 have 1+1+2+1 = 5 set bits -> 5 blocks sent per rank
    sched, sent = both("alltoall", "bruck", Comm.flat(5), 10)
    assert sched.n_steps == 3 and (sent == 5 * 2).all()


def test_alltoall_one_rank_is_a_local_copy():
    for name in ("pairwise", "bruck", "hierarchical"):
        sched = run("alltoall", name, Comm.flat(1), 3)
        assert link_elements(sched).sum() == 0
