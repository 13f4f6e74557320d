"""Rabenseifner's halving-doubling: the fold of Thakur et al. for non-powers of two."""

import math

import numpy as np
import pytest

from tests.helpers import link_elements
from ubemu.algorithms import build_schedule
from ubemu.machine.comm import Comm


def _lg(p):
    return int(math.floor(math.log2(p)))


@pytest.mark.parametrize("p", [3, 5, 6, 7, 12])
def test_halving_doubling_fold_bytes(p):
    """Thakur et al.'s fold: odd ranks of the first 2r send S, the rest as on p2 ranks."""
    p2 = 1 << _lg(p)
    r = p - p2
    count = 5 * p2
    sent = link_elements(build_schedule("all_reduce", "halving_doubling", Comm.flat(p), count))
    pos = np.arange(p)
    want = np.where(pos < 2 * r, count, 0) + np.where(
        (pos >= 2 * r) | (pos % 2 == 0), 2 * count * (p2 - 1) // p2, 0)
    want[(pos < 2 * r) & (pos % 2 == 1)] = count
    np.testing.assert_array_equal(sent, want)
