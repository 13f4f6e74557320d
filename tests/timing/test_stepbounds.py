"""``ubemu.timing.stepbounds``: bounds of steps whose ranks send different sizes."""

from dataclasses import replace

import pytest

from ubemu import estimate, simulate
from ubemu.machine.spec import load_topology


@pytest.mark.parametrize("topo,count", [
    ("switch:64@50GBps/1us", 20),              # fewer elements than ranks: empty blocks
    ("switch:64@50GBps/1us", 100),             # uneven blocks, none empty
    ("ub-mesh-rack", 9),                        # two levels (a grid of lines)
])
def test_direct_lower_bound_counts_the_owners_messages(topo, count):
    """With fewer elements than ranks, direct's smallest messages are empty; the lower bound
    still charges a non-empty block's owner its p - 1 messages, so ``auto`` can prune
    direct without timing it (one auto size on atlas950-superpod: 3.0 s -> 0.6 s)."""
    t = load_topology(topo)
    costed = replace(t, params=replace(t.params, send_overhead_ns=1000.0,
                                       recv_overhead_ns=800.0))
    est = estimate("all_reduce", 4 * count, costed, "direct", fallback=False)
    sim = simulate("all_reduce", 4 * count, costed, "direct").time_s
    assert est.low_s * (1 - 1e-9) <= sim <= est.time_s * (1 + 1e-9)
    p = t.n_npus
    if count < p:  # the owner's messages alone: (p - 1) x 0.8 us, in each of the 2 steps
        assert est.low_s >= 2 * (p - 1) * 0.8e-6
