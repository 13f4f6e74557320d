"""Element types: names, op support, bfloat16 / float16 rounding, avg's final division."""

import numpy as np
import pytest

from ubemu.data import dtypes as D
from ubemu.errors import UbemuError


def test_names_aliases_and_itemsize():
    assert {k: v.itemsize for k, v in D.DTYPES.items()} == {
        "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8}
    assert D.get_dtype("half").name == "float16"
    assert D.get_dtype("BF16").name == "bfloat16"
    assert D.get_dtype(np.float32).name == "float32"
    assert D.get_dtype(np.dtype(np.int64)).name == "int64"
    assert D.get_dtype("bfloat16").storage == np.uint16
    assert D.get_dtype("float16").storage == np.float16


def test_unknown_dtype_and_op_list_the_choices():
    with pytest.raises(UbemuError, match="unknown dtype 'fp8'; valid: float64, float32"):
        D.get_dtype("fp8")
    with pytest.raises(UbemuError, match="pass dtype='bfloat16'"):
        D.get_dtype(np.uint16)
    with pytest.raises(UbemuError, match="unknown op 'mean'; valid: sum, prod, max, min, avg"):
        D.check_op("float32", "mean")


def test_unsupported_pair_lists_the_dtypes_ops(monkeypatch):
    monkeypatch.setitem(D.SUPPORTED_OPS, "int32", ("sum", "max", "min"))
    with pytest.raises(UbemuError, match="unknown op for int32 'prod'; valid: sum, max, min"):
        D.check_op("int32", "prod")
    assert D.check_op("int64", "prod") == "prod"


@pytest.mark.parametrize("value, bits", [
    (1.0, 0x3F80), (1 + 2.0**-8, 0x3F80),            # tie -> even (down)
    (1 + 3 * 2.0**-8, 0x3F82),                       # tie -> even (up)
    (1 + 2.0**-8 + 2.0**-20, 0x3F81),                # above the tie
    (-2.5, 0xC020), (np.inf, 0x7F80), (-np.inf, 0xFF80),
    (3.4028234e38, 0x7F80),                          # float32 max rounds past bf16 max
    (2.0**-133, 0x0001),                             # smallest bf16 subnormal
])
def test_float32_to_bf16_hand_values(value, bits):
    assert int(D.float32_to_bf16(np.float32(value))) == bits


def test_bf16_nan_stays_nan_and_roundtrip_is_exact():
    nan_bits = D.float32_to_bf16(np.array([np.nan, -np.nan], np.float32))
    assert np.isnan(D.bf16_to_float32(nan_bits)).all()
    bits = np.arange(1 << 16, dtype=np.uint16)
    f = D.bf16_to_float32(bits)
    ok = ~np.isnan(f)
    np.testing.assert_array_equal(D.float32_to_bf16(f)[ok], bits[ok])
    np.testing.assert_array_equal(D.to_float64(bits[ok], "bfloat16"), f[ok].astype(np.float64))


def test_float64_to_bf16_rounds_once():
    # float32 rounding of this value lands on a bfloat16 tie; the correct answer is above it
    x = 1 + 2.0**-8 + 2.0**-30
    assert int(D.from_float64(x, "bfloat16")) == 0x3F81
    assert int(D.float32_to_bf16(np.float32(x))) == 0x3F80  # the naive double rounding
    assert int(D.from_float64(1 + 2.0**-8, "bfloat16")) == 0x3F80


def test_float16_conversions_follow_ieee():
    x = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, 65520.0, 2.0**-25, 2.0**-24 * 1.5])
    got = D.from_float64(x, "float16").view(np.uint16)
    np.testing.assert_array_equal(got, [0x3C00, 0x3C02, 0x7C00, 0x0000, 0x0002])
    np.testing.assert_array_equal(D.to_float32(np.float16([0.5, -2]), "float16"), [0.5, -2])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_combine_is_float32_then_rounded(dtype):
    comb = D.numpy_combine(dtype, "sum")
    u = D.DTYPES[dtype].unit_roundoff
    one, half_ulp = D.from_float64(np.array([1.0, 1.0]), dtype), D.from_float64([u, 3 * u], dtype)
    got = D.to_float64(comb(one, half_ulp), dtype)
    np.testing.assert_array_equal(got, [1.0, 1 + 4 * u])  # ties to even both ways
    mx = D.numpy_combine(dtype, "max")
    np.testing.assert_array_equal(D.to_float64(mx(one, D.from_float64([2.0, -3], dtype)),
                                               dtype), [2.0, 1.0])


def test_finish_avg_rounding():
    got = D.finish_avg(np.array([-7, 7, -8, 9], np.int32), 2, "int32")
    np.testing.assert_array_equal(got, [-3, 3, -4, 4])  # toward zero
    assert got.dtype == np.int32
    np.testing.assert_array_equal(D.finish_avg(np.float32([1.0]), 3, "float32"),
                                  np.float32(1.0) / np.float32(3))
    got = D.finish_avg(D.from_float64([1.0], "bfloat16"), 3, "bfloat16")
    assert int(got[0]) == int(D.from_float64(1 / 3, "bfloat16"))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_kernel_conversions_equal_numpy(dtype):
    from ubemu.kernels.execute import decode_many, encode_many

    dt = D.DTYPES[dtype]
    bits = np.arange(1 << 16, dtype=np.uint16)
    want = D.to_float32(bits.view(dt.storage), dt)
    got = np.empty(bits.size, np.float32)
    decode_many(bits, dt.fmt, got)
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got.view(np.uint32)[ok], want.view(np.uint32)[ok])
    assert np.isnan(got[~ok]).all()
    # every float32 whose low bits sit at, just below and just above a rounding tie, plus noise
    rng = np.random.default_rng(0)
    hi = rng.integers(0, 1 << 32, size=1 << 16, dtype=np.uint64).astype(np.uint32)
    drop = 16 if dtype == "bfloat16" else 13
    tie = np.uint32(1 << (drop - 1))
    u = np.concatenate([(hi >> drop << drop) | t for t in (tie - 1, tie, tie + 1)] + [hi])
    f = u.view(np.float32)
    got = np.empty(f.size, np.uint16)
    encode_many(f, dt.fmt, got)
    want = D.from_float32(f, dt).view(np.uint16)
    ok = ~np.isnan(f)
    np.testing.assert_array_equal(got[ok], want[ok])
    assert np.isnan(D.to_float32(got[~ok].view(dt.storage), dt)).all()
