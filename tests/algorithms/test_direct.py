"""Direct (mesh one-shot): link-disjoint steps in one window, the all-to-all's local copy."""

import pytest

from tests.helpers import run_against_reference
from ubemu.algorithms import build_schedule
from ubemu.machine.comm import Comm


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
    sched = run_against_reference("alltoall", "direct", Comm.flat(p), 3 * p)
    (st,) = list(sched.steps())
    assert int((st.src == st.dst).sum()) == p
