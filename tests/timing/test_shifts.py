"""A ring's repeated steps timed at once (ubemu.timing.shifts) equal timing them one by one."""

import numpy as np
import pytest

from ubemu.algorithms import build_schedule
from ubemu.api import simulate
from ubemu.machine.groups import group_of
from ubemu.machine.spec import resolve_topology, with_params
from ubemu.schedule import ShiftSteps
from ubemu.timing.shifts import _window_max, _window_sums


def test_circular_windows_against_a_loop():
    rng = np.random.default_rng(3)
    for s in (1, 2, 7, 16):
        values = rng.integers(0, 9, s)
        for length in range(1, s + 1):
            starts = np.arange(s)
            want_sum = [sum(values[(i + j) % s] for j in range(length)) for i in starts]
            want_max = [max(values[(i + j) % s] for j in range(length)) for i in starts]
            assert _window_sums(values, starts, length).tolist() == want_sum
            assert _window_max(values.astype(float), starts, length).tolist() == want_max


def _figures(res):
    return (res.time_s, res.n_steps, res.bottleneck, [u.bytes for u in res.usage],
            [u.busy_s for u in res.usage], [u.links_used for u in res.usage])


@pytest.mark.parametrize("topo", ["ub-mesh-rack", "ring:16@50GBps/1us", "torus:4x4",
                                  "dgx-h100", "switch:8,switch:4:oversub=2"])
@pytest.mark.parametrize("params", [[], ["fill_bytes=524288", "fill_GBps=20"],
                                    ["reduce_GBps=100"]])
@pytest.mark.parametrize("collective", ["all_reduce", "reduce_scatter", "all_gather"])
def test_compact_rings_time_as_their_explicit_steps(topo, params, collective, monkeypatch):
    t = with_params(resolve_topology(topo), params)
    for nbytes in (1000003, 64 * 1024 + 28):
        monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 2)
        compact = simulate(collective, nbytes, t, "ring")
        monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 10**9)
        assert _figures(compact) == _figures(simulate(collective, nbytes, t, "ring"))


def test_the_compact_form_holds_the_builders_steps(monkeypatch):
    comm = group_of(resolve_topology("ub-mesh-rack"))
    monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 2)
    compact = build_schedule("all_reduce", "ring", comm, 1000, data=False)
    shifts = list(compact.steps())  # steps are built lazily: while MIN_RANKS is 2
    compact.validate()
    monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 10**9)
    plain = build_schedule("all_reduce", "ring", comm, 1000, data=False)
    assert [type(s) for s in shifts] == [ShiftSteps, ShiftSteps]
    steps = [e for s in shifts for e in s.explicit()]
    ref = list(plain.steps())
    assert len(steps) == len(ref) == compact.n_steps
    for a, b in zip(steps, ref):
        for f in ("src", "dst", "n", "reduce"):
            assert np.array_equal(getattr(a, f), getattr(b, f))


@pytest.mark.parametrize("topo,faults", [
    ("dgx-h100-multinode", None),  # rail-aligned channels over NVSwitch and the NICs
    ("switch:8@25GBps/1us:links=18,switch:3@50GBps/2us", None),  # an odd ring of nodes
    ("full_mesh:8@56GBps/150ns,full_mesh:8@56GBps/150ns:name=b", None),
    ("switch:8:oversub=2,switch:4:oversub=2", None),
    ("ring:6@56GBps/100ns,switch:8@50GBps/1us", None),
    ("ub-mesh-rack", "link=board:0-1"),  # detours: links carrying several sliding transfers
    ("cloudmatrix384", "plane=superpod:3"),  # a port short of planes
])
@pytest.mark.parametrize("k", [2, 3, 8])
def test_compact_channel_rings_time_as_their_explicit_steps(topo, faults, k, monkeypatch):
    """Channels of a large ring: the first channels' blocks all of one size (steady), the
    last one's sliding; timed at once they give the explicit steps' figures bit for bit."""
    t = resolve_topology(topo)
    n = t.n_npus if topo != "dgx-h100-multinode" else 32
    group = None if topo != "dgx-h100-multinode" else "start=0,count=32"
    for count in (n * k * 5 + 7, n * 11 + 3, n * k * 3, 3 * n + n // 2):
        kw = dict(group=group, channels=k, faults=faults,
                  routing="apr" if faults and "link" in faults else "minimal")
        monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 2)
        compact = simulate("all_reduce", count * 4, t, "ring", **kw)
        monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 10**9)
        assert _figures(compact) == _figures(simulate("all_reduce", count * 4, t, "ring",
                                                      **kw)), count


@pytest.mark.parametrize("topo,faults", [
    ("switch:8:oversub=2,switch:4:oversub=2", None),
    ("ub-mesh-rack", "link=board:0-1"),
])
def test_compact_channel_rings_with_reductions_and_fill(topo, faults, monkeypatch):
    """The steady channels' routes serve both phases of an all-reduce (reductions in one,
    not the other): the NPUs' reductions and the messages' fill come out as the explicit
    steps'."""
    t = with_params(resolve_topology(topo), ["reduce_GBps=100", "fill_bytes=4096",
                                             "fill_GBps=20"])
    n = t.n_npus
    kw = dict(channels=3, faults=faults,
              routing="apr" if faults else "minimal")
    for count in (n * 3 * 5 + 7, 3 * n + n // 2):
        monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 2)
        compact = simulate("all_reduce", count * 4, t, "ring", **kw)
        monkeypatch.setattr(ShiftSteps, "MIN_RANKS", 10**9)
        assert _figures(compact) == _figures(simulate("all_reduce", count * 4, t, "ring",
                                                      **kw)), count
