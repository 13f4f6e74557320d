"""Every registered algorithm, on many rank counts, against the NumPy reference.

Parametrised over the registry: registering an algorithm is enough to have it tested here.
"""

import numpy as np
import pytest

from tests.reference import expected
from ubemu.algorithms import REGISTRY, Comm, build_schedule
from ubemu.errors import UbemuError
from ubemu.interpret import interpret
from ubemu.layout import input_shape, pack_inputs, unpack_outputs

RANK_COUNTS = [1, 2, 3, 8, 12, 64]
GRIDS = [(8, 8), (4, 3), (2, 2, 4), (8, 8, 4)]
OPS = {"all_reduce": "sum", "reduce_scatter": "sum", "reduce": "sum"}


def _counts(collective, n):
    if collective in ("all_gather", "reduce_scatter", "alltoall"):
        return [n, 3 * n]
    return [1, n - 1 if n > 1 else 2, 5 * n + 3]


def _run(collective, name, comm, count, seed=0):
    try:
        sched = build_schedule(collective, name, comm, count)
    except UbemuError as exc:
        pytest.skip(str(exc))
    sched.validate()
    rng = np.random.default_rng(seed)
    inputs = rng.integers(-1000, 1000, size=input_shape(collective, comm.n, count))
    buf = pack_inputs(sched, inputs.astype(np.int64))
    interpret(sched, buf, OPS.get(collective, "sum"))
    got = unpack_outputs(sched, buf)
    want = expected(collective, inputs, OPS.get(collective, "sum"))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", RANK_COUNTS)
@pytest.mark.parametrize("key", sorted(REGISTRY), ids="-".join)
def test_flat(key, n):
    collective, name = key
    for count in _counts(collective, n):
        _run(collective, name, Comm.flat(n), count)


@pytest.mark.parametrize("dims", GRIDS, ids=lambda d: "x".join(map(str, d)))
@pytest.mark.parametrize("key", sorted(REGISTRY), ids="-".join)
def test_grid(key, dims):
    collective, name = key
    comm = Comm(dims, ("full_mesh",) * len(dims))
    for count in _counts(collective, comm.n)[:2]:
        _run(collective, name, comm, count)


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
    from ubemu.algorithms.hierarchical import _level_names

    comm = Comm((8, 8, 4), ("full_mesh",) * 3)
    names = _level_names(comm, per_level)
    kinds = [("reduce_scatter", "all_gather")] * 2 + [("all_reduce",)]
    assert all(get_phase(k, nm).local_ok for nm, ks in zip(names, kinds) for k in ks)
    _assert_local_build_filters("all_reduce", "hierarchical", (8, 8, 4), (64, 200),
                                per_level=per_level)


def _assert_local_build_filters(collective, name, dims, block, **options):
    full = Comm(dims, ("full_mesh",) * len(dims))
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
