"""nccl-tests' sendrecv (a ring shift, one step) and the pipeline's chain (workloads)."""

import numpy as np
import pytest

from tests.helpers import data_and_timing, run_against_reference
from ubemu.algorithms import build_schedule
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm


@pytest.mark.parametrize("p", [1, 2, 5, 8])
def test_ring_shift_one_step_every_rank_sends_its_buffer(p):
    count = 7
    sched = run_against_reference("sendrecv", "direct", Comm.flat(p), count)
    (st,) = list(sched.steps())
    np.testing.assert_array_equal(st.dst, (np.arange(p) + 1) % p)  # r -> r+1, n-1 -> 0
    assert (st.n == count).all() and (st.dst_off == count).all()  # into buf[count:2 count]
    _, sent = data_and_timing("sendrecv", "direct", Comm.flat(p), count)
    assert (sent == (count if p > 1 else 0)).all()  # p = 1: a local copy, no link


def test_chain_is_a_pipeline_send_and_timing_only():
    sched = build_schedule("sendrecv", "direct", Comm.flat(4), 5, data=False, chain=True)
    (st,) = list(sched.steps())
    assert st.src.tolist() == [0, 1, 2] and st.dst.tolist() == [1, 2, 3]
    assert build_schedule("sendrecv", "direct", 1, 5, data=False, chain=True).n_steps == 0
    with pytest.raises(UbemuError, match="chain=1 .* is timing only"):
        build_schedule("sendrecv", "direct", 4, 5, chain=True)


def test_closed_form_is_one_shift_of_the_buffer():
    """On a ring of 50 GB/s, 1 us links and no software costs: one message of S over one hop."""
    import ubemu

    est = ubemu.estimate("sendrecv", 1 << 20, "ring:8@50GBps/1us", "direct")
    assert est.exact and est.time_s == pytest.approx(1e-6 + (1 << 20) / 50e9, rel=1e-12)
    sim = ubemu.simulate("sendrecv", 1 << 20, "ring:8@50GBps/1us", "direct")
    assert sim.time_s == pytest.approx(est.time_s, rel=1e-9)
    assert sim.busbw_GBps == sim.algbw_GBps  # nccl-tests: busbw factor 1
