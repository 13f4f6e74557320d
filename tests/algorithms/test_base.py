"""Every registered algorithm, on many rank counts, against the NumPy reference.

Parametrised over the registry: registering an algorithm is enough to have it tested here.
"""

import numpy as np
import pytest

from tests.helpers import refuses, run_against_reference
from ubemu import collectives
from ubemu.algorithms import REGISTRY, build_schedule
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm

RANK_COUNTS = [1, 2, 3, 8, 12, 64]
GRIDS = [(8, 8), (4, 3), (2, 2, 4), (8, 8, 4)]


def _counts(collective, n):
    if collectives.get(collective).blocked:
        return [n, 3 * n]
    return [1, n - 1 if n > 1 else 2, 5 * n + 3]


def _options(collective, n):
    """alltoallv: uneven per-pair weights, some pairs empty (else the defaults)."""
    if collective != "alltoallv":
        return {}
    rng = np.random.default_rng(n)
    return {"traffic": rng.integers(0, 5, (n, n)) * (rng.random((n, n)) > 0.25) + np.eye(
        n, dtype=np.int64)}


@pytest.mark.parametrize("n", RANK_COUNTS)
@pytest.mark.parametrize("key", sorted(REGISTRY), ids="-".join)
def test_flat(key, n):
    collective, name = key
    for count in _counts(collective, n):
        comm = Comm.flat(n)
        if refuses(collective, name, comm):
            return
        run_against_reference(collective, name, comm, count, **_options(collective, n))


@pytest.mark.parametrize("dims", GRIDS, ids=lambda d: "x".join(map(str, d)))
@pytest.mark.parametrize("key", sorted(REGISTRY), ids="-".join)
def test_grid(key, dims):
    collective, name = key
    comm = Comm(dims, ("full_mesh",) * len(dims))
    if refuses(collective, name, comm):
        return
    for count in _counts(collective, comm.n)[:2]:
        run_against_reference(collective, name, comm, count, **_options(collective, comm.n))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UbemuError, match="valid: .*ring"):
        build_schedule("all_reduce", "rign", 4, 8)
    with pytest.raises(UbemuError, match="unknown collective 'allreduce'; "
                                         "did you mean 'all_reduce'\\? valid:"):
        build_schedule("allreduce", "ring", 4, 8)


def test_block_collectives_need_divisible_counts():
    with pytest.raises(UbemuError, match="multiple of the rank count"):
        build_schedule("all_gather", "ring", 4, 6)


LOCAL_OK = sorted(key for key, alg in REGISTRY.items() if alg.local_ok)


@pytest.mark.parametrize("dims,block", [((8, 8, 4), (64, 200)), ((12,), (5, 12)),
                                        ((4, 3), (0, 1))])
@pytest.mark.parametrize("key", LOCAL_OK, ids="-".join)
def test_local_build_is_the_full_build_filtered_to_its_senders(key, dims, block):
    """A builder that honours Comm.local yields exactly the block's senders' transfers."""
    _assert_local_build_filters(*key, dims, block)


@pytest.mark.parametrize("per_level", ["ring_bidir", "direct", "halving_doubling", "nhr",
                                       ("direct", "nhr", "recursive_doubling"),
                                       ("ring_bidir", "halving_doubling", "multi_ring")])
def test_local_hierarchical_phases(per_level):
    """The same for hierarchical all-reduce built from each per-level phase flagged local_ok
    (a phase not flagged would make it build every rank's transfers, and fail here)."""
    from ubemu.algorithms.base import get_phase
    from ubemu.algorithms.hier_cost import level_names

    comm = Comm((8, 8, 4), ("full_mesh",) * 3)
    names = level_names(comm, per_level)
    kinds = [("reduce_scatter", "all_gather")] * 2 + [("all_reduce",)]
    assert all(get_phase(k, nm).local_ok for nm, ks in zip(names, kinds) for k in ks)
    _assert_local_build_filters("all_reduce", "hierarchical", (8, 8, 4), (64, 200),
                                per_level=per_level)


def _assert_local_build_filters(collective, name, dims, block, **options):
    full = Comm(dims, ("full_mesh",) * len(dims))
    if refuses(collective, name, full):  # asserts the refusal: a power-of-two collective
        return
    n = full.n
    lo, hi = block
    local = Comm(dims, full.fabrics, local=(lo, hi))
    count = 3 * n + 1 if collective == "all_reduce" else 3 * n
    a = build_schedule(collective, name, full, count, **options)
    b = build_schedule(collective, name, local, count, **options)
    assert a.n_steps == b.n_steps
    steps_b = list(b.steps())
    assert len(steps_b) == a.n_steps
    for sa, sb in zip(a.steps(), steps_b, strict=True):
        keep = (sa.src >= lo) & (sa.src < hi)
        for field in ("src", "dst", "n", "src_off", "dst_off", "reduce"):
            assert np.array_equal(getattr(sa, field)[keep], getattr(sb, field)), field


@pytest.mark.parametrize("dims", [(12,), (4, 3), (2, 2, 4), (4, 4, 2, 2)],
                         ids=lambda d: "x".join(map(str, d)))
@pytest.mark.parametrize("key", sorted(REGISTRY), ids="-".join)
def test_registered_buffer_is_the_built_one(key, dims):
    """The working buffer the memory check reads from the registry is the schedule's own."""
    comm = Comm(dims, ("full_mesh",) * len(dims))
    if refuses(*key, comm):
        return
    count = 6 * comm.n
    alg = REGISTRY[key]
    for data in (True, False):
        sched = build_schedule(*key, comm, count, data=data)
        assert sched.buf_count == alg.buffer_count(comm, count)


def test_buffers_that_differ_from_the_collective_default():
    assert REGISTRY[("alltoall", "multipath")].buffer_count(Comm((8, 8)), 640) == 3 * 640
    four = Comm((4, 4, 2, 2))
    assert REGISTRY[("alltoall", "hierarchical")].buffer_count(four, 640) == 5 * 640
    assert REGISTRY[("alltoall", "direct")].buffer_count(four, 640) == 2 * 640
    assert REGISTRY[("all_reduce", "ring")].buffer_count(four, 640) == 640


def test_flat_algorithms_are_generated_from_their_phases():
    """A phase registered with a flat summary is the flat algorithm's one source of steps,
    step count, windows and cost."""
    from ubemu.algorithms.base import PHASES

    flat = {key: alg for key, alg in REGISTRY.items() if alg.phase is not None}
    assert len(flat) == 19
    for key, alg in flat.items():
        assert PHASES[key] is alg.phase
        sched = build_schedule(*key, Comm.flat(9), 9 * 4)
        assert sched.n_steps == alg.phase.n_steps(9)
        want = tuple(alg.phase.windows(9)) if alg.phase.windows else ()
        assert sched.windows == want


def test_options_are_the_builders_keywords():
    assert REGISTRY[("all_reduce", "ring")].options == ["channels"]
    assert REGISTRY[("all_reduce", "direct")].options == []
    assert REGISTRY[("all_reduce", "multi_ring")].options == ["n_rings"]
    assert REGISTRY[("all_gather", "hierarchical")].options == ["per_level", "heavy_axis",
                                                                "chunk"]
    with pytest.raises(UbemuError, match="option of all_reduce algorithm 'ring' 'x'; valid: "
                                         "channels"):
        build_schedule("all_reduce", "ring", 4, 8, x=1)
    with pytest.raises(UbemuError, match="option of all_reduce algorithm 'direct' 'x'; "
                                         r"valid: \(none\)"):
        build_schedule("all_reduce", "direct", 4, 8, x=1)
