"""UB-Mesh's two-path all-to-all on a 2D full mesh: bytes, links, constraints."""

import numpy as np
import pytest

from tests.helpers import link_elements
from tests.interpret import interpret
from tests.reference import expected
from ubemu.algorithms import build_schedule
from ubemu.collectives import get
from ubemu.comm import Comm
from ubemu.errors import UbemuError
from ubemu.layout import pack_inputs, unpack_outputs


def run(collective, name, comm, count, **options):
    sched = build_schedule(collective, name, comm, count, **options).validate()
    rng = np.random.default_rng(1)
    inputs = rng.integers(-99, 99, size=get(collective).input_shape(comm.n, count))
    buf = pack_inputs(sched, inputs)
    interpret(sched, buf)
    np.testing.assert_array_equal(unpack_outputs(sched, buf), expected(collective, inputs))
    return sched


def both(collective, name, comm, count, **options):
    """Data and timing-only schedules; both validate and send the same per-rank totals."""
    data = build_schedule(collective, name, comm, count, **options).validate()
    timing = build_schedule(collective, name, comm, count, data=False, **options).validate()
    assert data.n_steps == timing.n_steps
    sent = link_elements(data)
    np.testing.assert_array_equal(sent, link_elements(timing))
    return data, sent


@pytest.mark.parametrize("dims", [(8, 8), (4, 3), (2, 5), (1, 4)])
def test_multipath_closed_form_and_links(dims):
    nx, ny = dims
    p, b = nx * ny, 2
    sched, sent = both("alltoall", "multipath", Comm(dims), p * b)
    assert sched.n_steps == (2 if nx > 1 and ny > 1 else 1)
    assert (sent == (p - 1) * b + (nx - 1) * (ny - 1) * b).all()
    for st in sched.steps():
        link = st.src != st.dst
        s, d = st.src[link], st.dst[link]
        differ = (s % nx != d % nx).astype(int) + (s // nx != d // nx)
        assert (differ == 1).all()


def test_multipath_odd_blocks_and_constraints():
    run("alltoall", "multipath", Comm((3, 4)), 12 * 3)  # halves of 2 and 1 elements
    with pytest.raises(UbemuError, match="2-axis grid"):
        build_schedule("alltoall", "multipath", Comm((2, 2, 2)), 8)
    with pytest.raises(UbemuError, match="full-mesh"):
        build_schedule("alltoall", "multipath", Comm((4, 4), ("full_mesh", "ring")), 16)
