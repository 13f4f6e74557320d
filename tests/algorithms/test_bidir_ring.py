"""The bidirectional ring: half of each block each way."""

import numpy as np

from ubemu.algorithms import build_schedule
from ubemu.machine.comm import Comm


def test_ring_bidir_halves_each_way():
    p, count = 6, 6 * 5  # blocks of 5 elements: 3 clockwise, 2 counter-clockwise
    for st in build_schedule("reduce_scatter", "ring_bidir", Comm.flat(p), count).steps():
        cw = (st.dst - st.src) % p == 1
        np.testing.assert_array_equal(np.bincount(st.src[cw], st.n[cw], minlength=p), 3)
        np.testing.assert_array_equal(np.bincount(st.src[~cw], st.n[~cw], minlength=p), 2)
