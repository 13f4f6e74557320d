"""The closed forms' step vocabulary (ubemu.timing.shapes): what every position of a line
sends and receives and what every link carries, against a loop over every message."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ubemu.timing.shapes import Cost, Sizes, line_figures


def _by_hand(p, sizes, partners):
    """A loop over every position and message: (busiest link, largest message, bytes sent,
    bytes received, messages sent, messages received)."""
    link, sent, got = {}, np.zeros(p, np.int64), np.zeros(p, np.int64)
    n_sent, n_got = np.zeros(p, np.int64), np.zeros(p, np.int64)
    big = 0
    for b, (kind, k) in zip(sizes, partners):
        row = b.row() if isinstance(b, Sizes) else np.full(p, b)
        for q in range(p):
            if row[q] == 0:
                continue
            d = q ^ k if kind == "xor" else (q + k) % p
            link[(q, d)] = link.get((q, d), 0) + row[q]
            sent[q] += row[q]
            got[d] += row[q]
            n_sent[q] += 1
            n_got[d] += 1
            big = max(big, row[q])
    return max(link.values(), default=0), big, sent, got, n_sent, n_got


def _call(p, sizes, partners):
    pos = np.arange(p)
    came = [pos ^ k if kind == "xor" else (pos - k) % p for kind, k in partners]
    links = [k if kind == "xor" else k % p - p for kind, k in partners]
    return line_figures(p, sizes, came, links)


def _same(a, b):
    assert a[:2] == b[:2]
    for x, y in zip(a[2:], b[2:]):
        np.testing.assert_array_equal(x, y)


@st.composite
def _step(draw):
    p = draw(st.integers(2, 12))
    xor = p & (p - 1) == 0 and draw(st.booleans())
    n_msgs = draw(st.integers(1, 4))
    sizes, partners = [], []
    for _ in range(n_msgs):
        if xor:
            partners.append(("xor", draw(st.integers(1, p - 1))))
        else:
            partners.append(("shift", draw(st.integers(1, p - 1))))
        if draw(st.booleans()):
            sizes.append(draw(st.integers(1, 9)))
        else:
            vec = np.array(draw(st.lists(st.integers(0, 9), min_size=p, max_size=p)), np.int64)
            vec[0] = max(vec[0], 1)
            sizes.append(Sizes(vec, draw(st.integers(0, p - 1))))
    return p, sizes, partners


@given(_step())
def test_line_figures_are_those_of_every_message(case):
    """Messages to one partner share a link; an empty block is no message."""
    p, sizes, partners = case
    _same(_call(p, sizes, partners), _by_hand(p, sizes, partners))


@pytest.mark.parametrize("scatter", [True, False])
@pytest.mark.parametrize("p,count", [(8, 7), (8, 1), (12, 1001), (5, 3), (2, 1)])
def test_every_peer_at_once_in_o_p_is_the_loop(p, count, scatter):
    """A one-shot reduce-scatter (position q sends block q+k to q+k) or all-gather (its own
    block to every peer): one vector, so the O(p) sums apply; copies take the general path."""
    base, extra = divmod(count, p)
    vec = (base + (np.arange(p) < extra)) * 4
    partners = [("shift", k) for k in range(1, p)]
    one = [Sizes(vec, k if scatter else 0) for k in range(1, p)]
    copies = [Sizes(vec.copy(), k if scatter else 0) for k in range(1, p)]
    want = _by_hand(p, one, partners)
    _same(_call(p, one, partners), want)
    _same(_call(p, copies, partners), want)


def test_sizes_between_and_cost_counts():
    assert Sizes.between(8, 8) == 8
    b = Sizes.between(4, 8)
    assert (b.max(), b.min(), b.exact) == (8, 4, False)
    assert Sizes(np.array([1, 2, 3]), 1).row().tolist() == [2, 3, 1]
    c = Cost(1.5, 10, 4, 2) * 3 + Cost(0.5, 1, 6, 1)
    assert (float(c), c.transfers, c.peak, c.held) == (5.0, 31, 6, 2)
