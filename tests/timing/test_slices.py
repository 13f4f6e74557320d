"""Steps moving their data in slices (ubemu.timing.slices): by hand against the step rule."""

import pytest

from ubemu.algorithms import build_schedule
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm
from ubemu.machine.spec import topology_from_dict, with_params
from ubemu.timing.slices import sliced
from ubemu.timing.walk import time_schedule


def _time(collective, name, topo, p, count):
    sched = build_schedule(collective, name, Comm.flat(p), count, data=False)
    return time_schedule(sched, topo, None, 4)[0]


def test_the_rule():
    assert sliced(10.0, 4.0, 1) == 10.0             # unsliced: the step as it is
    assert sliced(10.0, 4.0, 2) == 8.0              # the fixed 6 hide behind half the data
    assert sliced(10.0, 9.0, 2) == 9.0              # never below the stream itself


def test_sliced_steps_hide_their_fixed_costs_behind_the_previous_slices():
    """Each step's data in 2 slices: a ring step lasts max(Y, D - Y/2) (D its unsliced time,
    Y its bytes' time), and the run pays the most a step hid once; a lone step is unchanged."""
    spec = {"params": {"overhead_ns": 2000, "send_overhead_ns": 1000},
            "level": [{"fabric": "switch", "size": 8, "bw_GBps": 50, "lat_ns": 1000}]}
    plain = topology_from_dict(spec, "plain")
    fast = with_params(plain, ["slices=2"])
    p = 8
    for count in (8 * 1000, 8 * 100_000):  # fixed costs above the bytes' time, then below
        y = count * 4 / p / 50e9
        d = 2e-6 + 1e-6 + 1e-6 + y
        d_s = max(y, d - y / 2)
        want = 2 * (p - 1) * d_s + (d - d_s)
        assert _time("all_reduce", "ring", fast, p, count) == pytest.approx(want, rel=1e-12)
        assert _time("all_reduce", "ring", plain, p, count) == pytest.approx(2 * (p - 1) * d,
                                                                              rel=1e-12)
        one_step = _time("all_gather", "direct", plain, p, count)
        assert _time("all_gather", "direct", fast, p, count) == pytest.approx(one_step,
                                                                                   rel=1e-12)
    with pytest.raises(UbemuError, match=r"^--param: slices must be >= 1, got 0.5$"):
        with_params(plain, ["slices=0.5"])
