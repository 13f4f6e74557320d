"""Multi-ring: the rings are link-disjoint and visit every rank; the n_rings option."""

import numpy as np
import pytest

from tests.helpers import run_against_reference
from ubemu.algorithms import build_schedule
from ubemu.algorithms.multi_ring import grid_rings
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm


@pytest.mark.parametrize("dims, n_rings", [((8,), 4), ((64,), 32), ((12,), 4), ((2,), 1),
                                           ((7,), 6), ((8, 8), 4), ((4, 3), 2), ((8, 8, 4), 2),
                                           ((2, 2, 4), 2), ((3, 3), 6)])
def test_multi_ring_rings_are_link_disjoint(dims, n_rings):
    orders = grid_rings(dims)
    n = int(np.prod(dims))
    assert len(orders) == n_rings
    for o in orders:  # each ring visits every rank once
        np.testing.assert_array_equal(np.sort(o), np.arange(n))
    links = [(int(a), int(b)) for o in orders for a, b in zip(o, np.roll(o, -1))]
    assert len(links) == len(set(links))  # no directed link serves two rings
    if any(a % 2 == 0 for a in dims if a > 1) or len(dims) == 1:
        strides = np.cumprod((1,) + tuple(dims[:-1]))
        src, dst = np.array(links).T
        coord = lambda r: (r[:, None] // strides) % np.array(dims)  # noqa: E731
        assert ((coord(src) != coord(dst)).sum(axis=1) == 1).all()  # a direct full-mesh hop
    sched = build_schedule("all_reduce", "multi_ring", Comm(dims), 5 * n)
    assert sched.notes["n_rings"] == n_rings


def test_multi_ring_n_rings_option():
    run_against_reference("all_reduce", "multi_ring", Comm.flat(8), 29, n_rings=3)
    with pytest.raises(UbemuError, match="n_rings must be in 1..4"):
        build_schedule("all_reduce", "multi_ring", Comm.flat(8), 16, n_rings=5)
