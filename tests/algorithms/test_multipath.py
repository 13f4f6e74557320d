"""UB-Mesh's two-path all-to-all on a 2D full mesh: bytes, links, constraints."""

import pytest

from tests.helpers import data_and_timing
from tests.helpers import run_against_reference as run_ref
from ubemu.algorithms import build_schedule
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm


@pytest.mark.parametrize("dims", [(8, 8), (4, 3), (2, 5), (1, 4)])
def test_multipath_closed_form_and_links(dims):
    nx, ny = dims
    p, b = nx * ny, 2
    sched, sent = data_and_timing("alltoall", "multipath", Comm(dims), p * b)
    assert sched.n_steps == (2 if nx > 1 and ny > 1 else 1)
    assert (sent == (p - 1) * b + (nx - 1) * (ny - 1) * b).all()
    for st in sched.steps():
        link = st.src != st.dst
        s, d = st.src[link], st.dst[link]
        differ = (s % nx != d % nx).astype(int) + (s // nx != d // nx)
        assert (differ == 1).all()


def test_multipath_odd_blocks_and_constraints():
    run_ref("alltoall", "multipath", Comm((3, 4)), 12 * 3)  # halves of 2 and 1 elements
    with pytest.raises(UbemuError, match="2-axis grid"):
        build_schedule("alltoall", "multipath", Comm((2, 2, 2)), 8)
    with pytest.raises(UbemuError, match="full-mesh"):
        build_schedule("alltoall", "multipath", Comm((4, 4), ("full_mesh", "ring")), 16)
