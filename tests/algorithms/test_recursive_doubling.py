"""nccl-tests' hypercube all-gather: its exchange order, its power-of-two rule, its bytes."""

import numpy as np
import pytest

import ubemu
from tests.helpers import data_and_timing, run_against_reference
from ubemu.algorithms import build_schedule
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm


@pytest.mark.parametrize("p", [1, 2, 4, 16])
def test_hypercube_exchange_as_nccl_tests_runs_it(p):
    b = 3
    sched = run_against_reference("hypercube", "hypercube", Comm.flat(p), p * b)
    assert sched.n_steps == int(p).bit_length() - 1
    for i, st in enumerate(sched.steps()):  # hypercube.cu: mask = 2^i, s = rank & ~(mask-1)
        mask = 1 << i
        r = st.src
        np.testing.assert_array_equal(st.dst, r ^ mask)
        np.testing.assert_array_equal(st.src_off, (r & ~(mask - 1)) * b)
        assert (st.n == mask * b).all()
    _, sent = data_and_timing("hypercube", "hypercube", Comm.flat(p), p * b)
    assert (sent == (p - 1) * b).all()  # S (p-1)/p per rank


def test_hypercube_needs_a_power_of_two():
    with pytest.raises(UbemuError, match="needs a power-of-two rank count"):
        build_schedule("hypercube", "hypercube", 6, 12)


def test_hypercube_closed_form_and_nccl_tests_bandwidths():
    """algbw counts the p-1 blocks a rank receives and busbw equals it (hypercube.cu)."""
    est = ubemu.estimate("hypercube", 8 << 20, "switch:8@50GBps/1us", "hypercube")
    sim = ubemu.simulate("hypercube", 8 << 20, "switch:8@50GBps/1us", "hypercube")
    assert est.exact and sim.time_s == pytest.approx(est.time_s, rel=1e-9)
    # 3 steps of 1, 2, 4 blocks of 1 MiB over one 50 GB/s port, each with 1 us
    assert sim.time_s == pytest.approx(3e-6 + 7 * (1 << 20) / 50e9, rel=1e-9)
    assert sim.algbw_GBps == pytest.approx(7 * (1 << 20) / sim.time_s / 1e9)
    assert sim.busbw_GBps == sim.algbw_GBps
