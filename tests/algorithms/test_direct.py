"""Direct (mesh one-shot): link-disjoint steps in one window, the all-to-all's local copy."""

import numpy as np
import pytest

from tests.interpret import interpret
from tests.reference import expected
from ubemu.algorithms import build_schedule
from ubemu.collectives import get
from ubemu.comm import Comm
from ubemu.layout import pack_inputs, unpack_outputs


def _run(coll, name, comm, count, seed=0, **opts):
    sched = build_schedule(coll, name, comm, count, **opts)
    sched.validate()
    rng = np.random.default_rng(seed)
    inputs = rng.integers(-1000, 1000, size=get(coll).input_shape(comm.n, count))
    buf = pack_inputs(sched, inputs.astype(np.int64))
    interpret(sched, buf, "sum")
    np.testing.assert_array_equal(unpack_outputs(sched, buf), expected(coll, inputs, "sum"))
    return sched


def test_direct_steps_use_disjoint_links():
    p = 7
    sched = build_schedule("all_reduce", "direct", Comm.flat(p), 3 * p)
    steps = list(sched.steps())
    assert sched.windows == ((0, p - 1),)
    links = [set(zip(st.src.tolist(), st.dst.tolist())) for st in steps[:p - 1]]
    assert sum(map(len, links)) == len(set().union(*links)) == p * (p - 1)
    assert steps[-1].n_transfers == p * (p - 1)  # one-shot all-gather


@pytest.mark.parametrize("p", [1, 2, 5])
def test_direct_alltoall_local_copy(p):
    sched = _run("alltoall", "direct", Comm.flat(p), 3 * p)
    (st,) = list(sched.steps())
    assert int((st.src == st.dst).sum()) == p
