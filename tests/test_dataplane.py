"""emulate(): every registered algorithm gives the NumPy reference's outputs (exact for ints)."""

import subprocess
import sys

import numpy as np
import pytest

import ubemu
from tests.reference import expected
from ubemu.algorithms import REGISTRY
from ubemu.dataplane import emulate, emulate_verify
from ubemu.dtypes import finish_avg, from_float64, to_float64
from ubemu.errors import UbemuError
from ubemu.groups import comm_for
from ubemu.layout import input_shape
from ubemu.topospec import load_topology

KEYS = sorted(REGISTRY)
INT_OPS = ("sum", "prod", "max", "min", "avg")


def _int_expected(collective, inputs, op, dtype):
    if op != "avg" or collective not in ("all_reduce", "reduce_scatter", "reduce"):
        return expected(collective, inputs, op)
    s = expected(collective, inputs, "sum")
    return finish_avg(s.astype(dtype), inputs.shape[0], dtype.__name__)


def _check(collective, name, n, count, topology, dtype, op, seed):
    rng = np.random.default_rng(seed)
    hi = 3 if op == "prod" else 1000
    inputs = rng.integers(-hi, hi, size=input_shape(collective, n, count)).astype(dtype)
    try:
        got = emulate(collective, inputs, topology, algorithm=name, op=op)
    except UbemuError as exc:
        if "cannot run on" in str(exc):
            pytest.skip(str(exc))
        raise
    np.testing.assert_array_equal(got, _int_expected(collective, inputs, op, dtype))
    assert got.dtype == dtype


@pytest.mark.parametrize("n", [1, 3, 8, 12])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_flat_matches_reference_exactly(key, n):
    collective, name = key
    i = KEYS.index(key) + n
    count = 2 * n if collective in ("all_gather", "reduce_scatter", "alltoall") else n + 5
    dtype = (np.int32, np.int64)[i % 2]
    _check(collective, name, n, count, None, dtype, INT_OPS[i % 5], seed=i)


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_ub_mesh_rack_matches_reference_exactly(key):
    collective, name = key
    i = KEYS.index(key)
    _check(collective, name, 64, 128, load_topology("ub-mesh-rack"), np.int64, INT_OPS[i % 5],
           seed=i)


def test_float_dtypes_and_conversion():
    x = np.random.default_rng(0).random((8, 16))
    out = emulate("all_reduce", x, dtype="bfloat16")
    assert out.dtype == np.uint16 and out.shape == (8, 16)
    ref = to_float64(from_float64(x, "bfloat16"), "bfloat16").sum(axis=0)
    np.testing.assert_allclose(to_float64(out, "bfloat16")[3], ref, rtol=8 * 2.0**-8)
    out16 = emulate("all_reduce", x.astype(np.float16), op="max")
    np.testing.assert_array_equal(out16[0], x.astype(np.float16).max(axis=0))


def test_topology_given_as_string_and_checked():
    x = np.ones((64, 8), np.int64)
    np.testing.assert_array_equal(emulate("all_reduce", x, "ub-mesh-rack",
                                          algorithm="hierarchical"), 64 * x)
    with pytest.raises(UbemuError, match="8 rows but topology 'ub-mesh-rack' has 64 NPUs"):
        emulate("all_reduce", np.ones((8, 8)), "ub-mesh-rack")
    with pytest.raises(UbemuError, match="cannot be emulated as int32"):
        emulate("all_reduce", np.ones((8, 8)), dtype="int32")
    with pytest.raises(UbemuError, match="valid: .*ring"):
        emulate("all_reduce", np.ones((8, 8)), algorithm="rign")


def test_package_level_emulate_is_lazy_and_callable():
    code = ("import sys, ubemu; assert 'numba' not in sys.modules; "
            "import numpy as np; out = ubemu.emulate('all_reduce', np.ones((4, 2))); "
            "assert (out == 4).all(); from ubemu.dataplane import comm_for; "
            "assert (ubemu.emulate('all_gather', np.ones((2, 1))) == 1).all()")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert callable(ubemu.emulate)


def test_emulate_verify_on_a_group_comm():
    comm = comm_for(load_topology("ub-mesh-rack"))
    assert emulate_verify("all_reduce", "hierarchical", comm, 128, "bfloat16", "sum")[0] == 0
