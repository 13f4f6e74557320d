"""Compact partner steps timed from one route (``ubemu/timing/partners.py``) equal routing their
every transfer, bit for bit; the closed form is taken exactly where its conditions hold."""

from dataclasses import replace

import numpy as np
import pytest

from ubemu.algorithms import build_schedule
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology
from ubemu.schedule import PartnerStep
from ubemu.timing import partners
from ubemu.timing.timer import StepTimer
from ubemu.timing.walk import time_steps

PARAMS = dict(overhead_ns=700.0, send_overhead_ns=300.0, recv_overhead_ns=90.0,
              fill_bytes=4096.0, fill_GBps=20.0, hop_lat_ns=11.0, reduce_GBps=80.0,
              efficiency=0.9)
#: machine -> which of its whole-machine XOR and shift steps the closed form serves
MACHINES = {"switch:64": ("all", "all"), "full_mesh:8,full_mesh:8": ("all", "none"),
            "ring:2,full_mesh:4,switch:8": ("all", "none"),
            "full_mesh:4,switch:4:trunk": ("some", "none"),  # not the trunk level's
            "switch:8:oversub=2,switch:8": ("some", "none"),  # not the core pool's
            "ring:8,ring:8": ("none", "none"), "switch:12": ("none", "all")}  # 12: a fold
CASES = [("all_reduce", "halving_doubling"), ("reduce_scatter", "halving_doubling"),
         ("all_gather", "halving_doubling"), ("all_reduce", "recursive_doubling"),
         ("all_gather", "recursive_doubling"), ("all_gather", "bruck"), ("alltoall", "bruck"),
         ("all_reduce", "nhr"), ("reduce_scatter", "nhr"), ("all_gather", "nhr")]


def _timed(sched, topo, comm, closed):
    timer = StepTimer(topo, comm.npus)
    used = []
    real = partners.figures

    def spy(*args):
        out = real(*args) if closed else None
        if isinstance(args[1], PartnerStep) and args[1].sizes is not None:
            used.append(out is not None)
        return out

    partners.figures = spy
    try:
        time_steps(sched, sched.steps(), timer, 2)
    finally:
        partners.figures = real
    return (timer.exact_time, list(timer.busy_s), list(timer.bytes), timer.usage()), used


@pytest.mark.parametrize("spec", MACHINES)
@pytest.mark.parametrize("coll,name", CASES)
@pytest.mark.parametrize("count_per_rank", [0.25, 3, 37.5])
def test_partner_steps_time_as_their_transfers(spec, coll, name, count_per_rank):
    topo = load_topology(spec)
    topo = replace(topo, params=replace(topo.params, **PARAMS))
    comm = group_of(topo)
    p = comm.n
    count = max(1, int(count_per_rank * p))
    if coll in ("reduce_scatter", "all_gather", "alltoall"):
        count = max(p, count - count % p)
    sched = build_schedule(coll, name, comm, count, data=False)
    compact = [s for s in sched.steps() if isinstance(s, PartnerStep)]
    assert compact
    want, _ = _timed(sched, topo, comm, closed=False)
    got, used = _timed(sched, topo, comm, closed=True)
    assert got == want
    serves = MACHINES[spec][name in ("bruck", "nhr")]
    assert {"all": used and all(used), "none": not any(used),
            "some": any(used) and not all(used)}[serves]


def test_a_group_off_the_first_npus_is_routed():
    topo = load_topology("switch:16")
    comm = group_of(topo, [8, 9, 10, 11, 12, 13, 14, 15])
    sched = build_schedule("all_reduce", "halving_doubling", comm, 800, data=False)
    want, _ = _timed(sched, topo, comm, closed=False)
    got, used = _timed(sched, topo, comm, closed=True)
    assert got == want and not any(used)


def test_partner_step_gives_its_explicit_transfers():
    step = next(s for s in build_schedule("all_reduce", "halving_doubling", 8, 20,
                                          data=False).steps())
    assert isinstance(step, PartnerStep) and step.xor == 4
    assert np.array_equal(step.dst, np.arange(8) ^ 4)
    values, counts = step.sizes
    assert sorted(np.repeat(values, counts)) == sorted(np.r_[step.n, [0] * (8 - step.n.size)])
    assert step.n_transfers == step.n.size
