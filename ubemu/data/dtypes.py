"""Element types and reduction ops of the data plane.

=========  =================  ========  ==============================================
name       stored as          itemsize  arithmetic of one combine
=========  =================  ========  ==============================================
float64    ``np.float64``     8         float64
float32    ``np.float32``     4         float32 (never widened)
float16    ``np.float16``     2         float32, rounded to float16 (nearest even)
bfloat16   ``np.uint16`` bits 2         float32, rounded to bfloat16 (nearest even)
int32      ``np.int32``       4         int32, wrapping on overflow
int64      ``np.int64``       8         int64, wrapping on overflow
=========  =================  ========  ==============================================

float16 is stored as NumPy's own ``np.float16`` (users pass and get ``np.float16`` arrays); only
bfloat16, which NumPy lacks, is stored as its ``uint16`` bit pattern (the upper half of the
float32 pattern). Rounding a float32 to bfloat16 is round-to-nearest-even; a NaN stays a
(quiet) NaN. Computing a low-precision combine in float32 and rounding once to the format is
exactly the correctly rounded result (double rounding is innocuous for +, *, / because float32
has p = 24 >= 2p + 2 for both p = 11 and p = 8), so every algorithm's summation order is
reproduced bit for bit.

Ops: ``sum``, ``prod``, ``max``, ``min`` combine pairwise; ``avg`` is ``sum`` followed by one
division by the rank count at the end (:func:`finish_avg`), rounded to the dtype; for integers
the division truncates toward zero (as C and NCCL do). Every dtype supports every op
(:data:`SUPPORTED_OPS`); an unsupported pair would raise a :class:`UbemuError`.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UbemuError, choices_error
from ..kernels.codes import FMT_BF16, FMT_FP16, FMT_NATIVE, OP_MAX, OP_MIN, OP_PROD, OP_SUM

OPS = ("sum", "prod", "max", "min", "avg")
#: Integer code of each op inside the kernels (avg runs as sum, then :func:`finish_avg`).
OP_CODES = {"sum": OP_SUM, "prod": OP_PROD, "max": OP_MAX, "min": OP_MIN, "avg": OP_SUM}


@dataclass(frozen=True)
class DType:
    """One element type of the data plane.

    Attributes
    ----------
    name : str
    storage : numpy.dtype
        How values are held in buffers (bfloat16: ``uint16`` bit patterns).
    fmt : int
        Kernel format code (``FMT_NATIVE``, ``FMT_BF16``, ``FMT_FP16``).
    precision_bits : int
        Significand bits p including the implicit bit (0 for integers).
    min_exp : int
        Exponent of the smallest positive normal number (0 for integers).
    """

    name: str
    storage: np.dtype
    fmt: int
    precision_bits: int
    min_exp: int = 0

    @property
    def itemsize(self):
        """Bytes per element."""
        return self.storage.itemsize

    @property
    def is_float(self):
        return self.precision_bits > 0

    @property
    def unit_roundoff(self):
        """u = 2**-p for floats (round to nearest), 0 for integers."""
        return 2.0 ** -self.precision_bits if self.is_float else 0.0

    @property
    def exact_int_limit(self):
        """Largest N such that every integer of magnitude <= N is representable."""
        return 2 ** self.precision_bits if self.is_float else np.iinfo(self.storage).max


DTYPES = {
    "float64": DType("float64", np.dtype(np.float64), FMT_NATIVE, 53, -1022),
    "float32": DType("float32", np.dtype(np.float32), FMT_NATIVE, 24, -126),
    "float16": DType("float16", np.dtype(np.float16), FMT_FP16, 11, -14),
    "bfloat16": DType("bfloat16", np.dtype(np.uint16), FMT_BF16, 8, -126),
    "int32": DType("int32", np.dtype(np.int32), FMT_NATIVE, 0),
    "int64": DType("int64", np.dtype(np.int64), FMT_NATIVE, 0),
}
#: Other spellings accepted for a dtype name (nccl-tests' and the usual short forms).
ALIASES = {"double": "float64", "fp64": "float64", "float": "float32", "fp32": "float32",
           "half": "float16", "fp16": "float16", "bf16": "bfloat16", "int": "int32"}
#: dtype name -> ops it supports.
SUPPORTED_OPS = {name: OPS for name in DTYPES}
_FROM_NUMPY = {np.dtype(np.float64): "float64", np.dtype(np.float32): "float32",
               np.dtype(np.float16): "float16", np.dtype(np.int32): "int32",
               np.dtype(np.int64): "int64"}


def get_dtype(dtype):
    """The :class:`DType` named ``dtype`` (a name, an alias, a DType or a NumPy dtype).

    ``np.uint16`` is ambiguous (bfloat16 bits or an integer) and must be named.
    """
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str):
        name = ALIASES.get(dtype.lower(), dtype.lower())
        if name in DTYPES:
            return DTYPES[name]
        raise choices_error("dtype", dtype, list(DTYPES))
    try:
        npd = np.dtype(dtype)
    except TypeError:
        raise choices_error("dtype", dtype, list(DTYPES)) from None
    if npd in _FROM_NUMPY:
        return DTYPES[_FROM_NUMPY[npd]]
    hint = " (bfloat16 bits: pass dtype='bfloat16')" if npd == np.uint16 else ""
    raise UbemuError(f"unknown dtype {npd.name!r}{hint}; valid: {', '.join(DTYPES)}")


def check_op(dtype, op):
    """Validate ``op`` for ``dtype``; return the op name.

    Raises
    ------
    UbemuError
        For an unknown op, or one that ``dtype`` does not support (listing the valid ones).
    """
    dt = get_dtype(dtype)
    if op not in OPS:
        raise choices_error("op", op, OPS)
    if op not in SUPPORTED_OPS[dt.name]:
        raise choices_error(f"op for {dt.name}", op, SUPPORTED_OPS[dt.name])
    return op


# -- conversions (vectorised) ---------------------------------------------------------------
def bf16_to_float32(bits):
    """bfloat16 bit patterns (uint16) -> float32 (exact)."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bf16(values):
    """float32 -> bfloat16 bit patterns, round to nearest even; NaN stays a quiet NaN."""
    u = np.asarray(values, np.float32).view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    quiet = (u >> np.uint32(16)) | np.uint32(0x0040)
    return np.where(nan, quiet, rounded).astype(np.uint16)


def float64_to_bf16(values):
    """float64 -> bfloat16 bits, rounded once to nearest even (no double-rounding error).

    The float32 rounding is nudged off a bfloat16 tie that it created, so the second
    rounding sees which side of the tie the float64 value lies on.
    """
    x = np.asarray(values, np.float64)
    with np.errstate(over="ignore"):
        f = x.astype(np.float32)
    bits = f.view(np.uint32)
    tie = ((bits & np.uint32(0xFFFF)) == np.uint32(0x8000)) & (f.astype(np.float64) != x)
    tie &= np.isfinite(f)
    if np.any(tie):
        f = np.where(tie, np.nextafter(f, np.where(x > f, np.inf, -np.inf).astype(np.float32)),
                     f)
    return float32_to_bf16(f)


def to_float32(values, dtype):
    """Stored values of ``dtype`` -> float32 (exact for float16 and bfloat16)."""
    dt = get_dtype(dtype)
    if dt.fmt == FMT_BF16:
        return bf16_to_float32(values)
    return np.asarray(values).astype(np.float32)


def from_float32(values, dtype):
    """float32 -> stored values of ``dtype``, rounding to nearest even."""
    dt = get_dtype(dtype)
    if dt.fmt == FMT_BF16:
        return float32_to_bf16(values)
    with np.errstate(over="ignore"):  # overflow rounds to +-inf, as intended
        return np.asarray(values, np.float32).astype(dt.storage)


def to_float64(values, dtype):
    """Stored values of ``dtype`` -> float64 (exact for every float dtype)."""
    dt = get_dtype(dtype)
    if dt.fmt == FMT_BF16:
        return bf16_to_float32(values).astype(np.float64)
    return np.asarray(values).astype(np.float64)


def from_float64(values, dtype):
    """float64 -> stored values of ``dtype``, rounded once to nearest even (integers: rint)."""
    dt = get_dtype(dtype)
    if dt.fmt == FMT_BF16:
        return float64_to_bf16(values)
    x = np.asarray(values, np.float64)
    if not dt.is_float:
        x = np.rint(x)
    with np.errstate(over="ignore"):  # overflow rounds to +-inf, as intended
        return x.astype(dt.storage)


# -- ops in NumPy (the interpreter's arithmetic) ----------------------------------------------
_UFUNC = {"sum": np.add, "avg": np.add, "prod": np.multiply, "max": np.maximum,
          "min": np.minimum}


def numpy_combine(dtype, op):
    """``combine(dst_values, src_values) -> values`` in stored form, as the kernels compute it.

    float16 / bfloat16: decode to float32, combine, round to the format once.
    """
    dt, ufunc = get_dtype(dtype), _UFUNC[check_op(dtype, op)]
    if dt.fmt == FMT_NATIVE:
        return ufunc

    def combine(a, b):
        return from_float32(ufunc(to_float32(a, dt), to_float32(b, dt)), dt)

    return combine


def finish_avg(values, n_ranks, dtype):
    """Divide reduced sums by the rank count, rounded to ``dtype`` (integers: toward zero)."""
    dt = get_dtype(dtype)
    values = np.asarray(values)
    if not dt.is_float:
        q = values // n_ranks
        return (q + ((values % n_ranks != 0) & (values < 0))).astype(dt.storage)
    if dt.fmt == FMT_NATIVE:
        return (values / dt.storage.type(n_ranks)).astype(dt.storage)
    return from_float32(to_float32(values, dt) / np.float32(n_ranks), dt)


def as_storage(values, dtype):
    """``values`` in the storage type of ``dtype`` (floats rounded once to nearest even).

    bfloat16 takes ``uint16`` arrays as bit patterns and rounds float arrays; integer dtypes
    refuse float inputs rather than rounding them silently.
    """
    dt = get_dtype(dtype)
    a = np.asarray(values)
    if a.dtype == dt.storage:
        return a
    if a.dtype.kind == "f" and not dt.is_float:
        raise UbemuError(f"inputs of type {a.dtype.name} cannot be emulated as {dt.name}; "
                         f"convert them to an integer type first")
    if a.dtype.kind not in "fiub":
        raise UbemuError(f"inputs of type {a.dtype.name} are not numbers")
    if not dt.is_float:
        return a.astype(dt.storage)
    return from_float64(a.astype(np.float64), dt)
