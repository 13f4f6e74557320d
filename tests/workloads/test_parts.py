"""One operation timed in parts and joined (ubemu.workloads.parts): the whole profile, bit for
bit, however the steps are cut."""

import pickle

import numpy as np
import pytest

from ubemu.machine.spec import resolve_topology
from ubemu.workloads import parts
from ubemu.workloads.ops import Op
from ubemu.workloads.profile import profile_op, resolve

OPS = [  # (topology, op): windows, a pipeline, every group's replicas, repeated steps, auto,
    # sliced steps (dgx-h100: what they hid is the most of any part's)
    ("dgx-h100", Op("rs", "reduce_scatter", 3 << 20, algorithm="direct")),
    ("dgx-h100", Op("sl", "all_reduce", 3 << 20, algorithm="ring", options={"channels": 1})),
    ("ub-mesh-pod", Op("h", "all_reduce", 1 << 22, algorithm="hierarchical")),
    ("ub-mesh-pod", Op("w", "all_reduce", 1 << 22, algorithm="hierarchical",
                       options={"per_level": "direct"})),
    ("ub-mesh-pod", Op("p", "all_reduce", 1 << 22, algorithm="hierarchical",
                       options={"chunk": 1 << 16})),
    ("ub-mesh-pod", Op("r", "all_reduce", 1 << 20, group="one_per=rack", every=True,
                       algorithm="ring")),
    ("ub-mesh-rack", Op("n", "all_reduce", 5 << 20, algorithm="nhr")),
    ("ub-mesh-rack", Op("a", "all_gather", 1 << 16, group="unit=board", every=True)),
    ("ub-mesh-rack", Op("s", "sendrecv", 1 << 20, npus=np.arange(64).reshape(8, 8))),
]


def _same(a, b):
    """Two profiles equal in every field, the floats bit for bit."""
    assert (a.algorithm, a.n_groups, a.n_ranks, a.nbytes, a.time, a.n_steps, a.bottleneck,
            a.notes) == (b.algorithm, b.n_groups, b.n_ranks, b.nbytes, b.time, b.n_steps,
                         b.bottleneck, b.notes)
    assert a.usage == b.usage
    assert len(a.segments) == len(b.segments)
    for x, y in zip(a.segments, b.segments):
        assert (x.bw_s, x.fixed_s, x.k) == (y.bw_s, y.fixed_s, y.k)
        for f in ("ids", "use", "class_bytes"):
            assert np.array_equal(getattr(x, f), getattr(y, f))


@pytest.mark.parametrize("topo, op", OPS, ids=[op.name for _, op in OPS])
def test_parts_joined_are_the_whole_profile_bit_for_bit(topo, op):
    t = resolve_topology(topo)
    whole = profile_op(op, t)
    res = resolve(op, t)
    for n in (1, 2, 3, 5):
        got = [pickle.loads(pickle.dumps(parts.time_part(res, t, k, n))) for k in range(n)]
        _same(parts.join(got, t), whole)
        assert got[0].head.rows is None and got[0].head.schedule is None  # sent light


def test_cuts_are_even_and_never_inside_a_window_or_a_pipeline():
    t = resolve_topology("ub-mesh-rack")
    res = resolve(Op("n", "all_reduce", 5 << 20, algorithm="nhr"), t)  # 12 steps, no window
    runs = parts.part_steps(res, 5)
    assert [a for a, _, _ in runs] == [0, 3, 5, 8, 10] and runs[-1][1] == 12
    assert [p for _, _, p in runs] == [0, 3, 5, 8, 10]
    t = resolve_topology("ub-mesh-pod")  # windows of 7, 7, 3 and 3 steps: cut between them
    res = resolve(Op("w", "all_reduce", 1 << 22, algorithm="hierarchical",
                     options={"per_level": "direct"}), t)
    assert list(res.schedule.windows) == [(0, 7), (7, 14), (14, 17), (17, 20)]
    assert parts.part_steps(res, 4) == [(0, 7, 0), (7, 14, 7), (14, 20, 14), (20, 24, 20)]
    res = resolve(Op("p", "all_reduce", 1 << 22, algorithm="hierarchical",
                     options={"chunk": 1 << 16}), t)  # one pipeline: one part holds it
    assert parts.part_steps(res, 3) == [(0, 8, 0), (8, 8, 40), (8, 8, 40)]


def test_a_whole_profile_among_the_parts_is_the_answer():
    t = resolve_topology("ub-mesh-rack")
    op = Op("r", "all_reduce", 1 << 20, algorithm="ring")
    whole = profile_op(op, t)
    part = parts.time_part(resolve(op, t), t, 1, 2)
    assert parts.join([part, whole], t) is whole
