"""The timing kernel's receive tail (kernels/timing.py) against brute force and a fluid model."""

import math

import numpy as np
import pytest
from ubemu.kernels.timing import harmonic, receive_tail_s


def _tail_brute(m, k, send_s, recv_s):
    """The tail's definition, every completion index tried, harmonic sums added up."""
    if m == 0:
        return 0.0
    if m == 1:
        return recv_s
    g = send_s * min(1.0, (k - 1) / (m - 1)) if k > 1 else 0.0
    best = -math.inf
    for i in range(1, m + 1):
        ahead = g * sum((m - j) / j for j in range(i, m))
        best = max(best, (m - i + 1) * recv_s - ahead)
    return max(recv_s, best)


def _fluid_tail(m, gap_s, size_s, recv_s):
    """Processor sharing on one link: m equal messages (``size_s`` alone) arrive ``gap_s``
    apart; the receiver handles each for ``recv_s`` once complete, in completion order.
    Returns (time after the data's end at which the receiver is done, first completion)."""
    arrivals = [i * gap_s for i in range(m)]
    t, left, done, nxt = 0.0, [], [], 0
    while len(done) < m:
        t_arr = arrivals[nxt] if nxt < m else math.inf
        t_fin = t + min(left) * len(left) if left else math.inf
        step = min(t_arr, t_fin) - t
        left = [x - step / len(left) for x in left] if left else left
        t += step
        if t_arr <= t_fin:
            left.append(size_s)
            nxt += 1
        else:
            left.remove(min(left))
            done.append(t)
    busy = -math.inf
    for c in done:
        busy = max(busy, c) + recv_s
    return busy - done[-1], done[0]


def test_harmonic_numbers():
    for n in (0, 1, 2, 7, 64, 65, 100, 1000, 123457):
        want = math.fsum(1.0 / j for j in range(1, n + 1))
        assert harmonic(float(n)) == pytest.approx(want, rel=1e-13, abs=0)


@pytest.mark.parametrize("m", [1, 2, 3, 7, 63, 255, 1000])
@pytest.mark.parametrize("k", [0, 1, 2, None])
@pytest.mark.parametrize("send_s,recv_s", [(0.0, 1e-6), (2e-6, 1e-6), (1e-6, 2e-6),
                                           (1.11e-6, 0.165e-6), (3e-6, 0.0)])
def test_tail_is_its_definition(m, k, send_s, recv_s):
    k = m if k is None else k
    got = receive_tail_s(float(m), float(k), send_s, recv_s)
    assert got == pytest.approx(_tail_brute(m, k, send_s, recv_s), rel=1e-12, abs=1e-18)


def test_tail_limits():
    """One message: one receive; posted together (a gather, or no send cost): all queue."""
    assert receive_tail_s(0.0, 5.0, 1e-6, 1e-6) == 0.0
    assert receive_tail_s(1.0, 5.0, 1e-6, 3e-6) == 3e-6
    assert receive_tail_s(63.0, 0.0, 2e-6, 1e-6) == 63 * 1e-6
    assert receive_tail_s(63.0, 63.0, 0.0, 1e-6) == 63 * 1e-6
    # more stagger, shorter queue; more receive cost, longer
    tails = [receive_tail_s(63.0, 63.0, s, 1e-6) for s in (0.0, 0.5e-6, 1e-6, 2e-6, 8e-6)]
    assert tails == sorted(tails, reverse=True) and tails[-1] >= 1e-6


@pytest.mark.parametrize("m,send_s,recv_s", [(7, 2e-6, 1e-6), (15, 2e-6, 1e-6),
                                             (63, 1e-6, 2e-6), (127, 0.5e-6, 2e-6),
                                             (31, 1e-6, 1e-6), (255, 2e-6, 0.2e-6)])
def test_tail_is_the_fluid_models_when_every_message_arrives_before_one_completes(
        m, send_s, recv_s):
    """The formula is exact for processor sharing once all m messages are in before the
    first completes (a bandwidth-bound exchange): a fluid simulation agrees to rounding."""
    size_s = 40 * m * send_s  # heavy: the first completion comes after the last arrival
    tail, first = _fluid_tail(m, send_s, size_s, recv_s)
    assert first > (m - 1) * send_s
    assert receive_tail_s(float(m), float(m), send_s, recv_s) == pytest.approx(tail, rel=1e-9)


def test_tail_is_the_same_in_python_and_in_the_drain_kernel():
    """The drain kernel's longest tail is the function's value for the busiest NPU."""
    from ubemu.kernels.timing import RECV_UNIT, drain

    n_npus = 4
    red = np.zeros(2 * n_npus)
    red[n_npus + 1] = 5 + RECV_UNIT * 9  # NPU 1: 5 sent, 9 received
    red[n_npus + 2] = 2 + RECV_UNIT * 2
    touched = np.array([n_npus + 1, n_npus + 2], np.int64)
    out = drain(np.zeros(1, np.int64), np.ones(1), np.zeros(1), np.zeros(1, np.int64), 0, red,
                touched, 2, np.zeros(1), np.zeros(1), 1e-6, 3e-6, np.zeros(0))
    assert out[2] == 5e-6 + 27e-6
    assert out[3] == receive_tail_s(9.0, 5.0, 1e-6, 3e-6)
    assert not red.any()
