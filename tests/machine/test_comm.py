"""The communicator: a grid of ranks, its axes, and the block of senders a builder makes."""

import numpy as np

from ubemu.machine.comm import Comm


def test_axes_positions_and_peers():
    comm = Comm((4, 3))
    ax0, ax1 = comm.axis(0), comm.axis(1)
    assert (ax0.size, ax0.stride, ax1.size, ax1.stride) == (4, 1, 3, 4)
    np.testing.assert_array_equal(ax0.pos[:5], [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(ax1.peer(1)[:5], [4, 5, 6, 7, 8])
    np.testing.assert_array_equal(ax0.peer(-1)[:4], [3, 0, 1, 2])  # cyclic on each line


def test_local_block_of_senders():
    comm = Comm((4, 3)).restricted(5, 9)
    assert comm.n == 12 and comm.senders.tolist() == [5, 6, 7, 8]
    assert comm.axis(0).ranks.tolist() == [5, 6, 7, 8]
    assert comm.whole().local is None and comm.whole().n == 12
    assert Comm.flat(6).shape_label == "6" and Comm((8, 8, 4)).shape_label == "8x8x4"
