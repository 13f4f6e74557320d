"""Execute kernel: apply a block of schedule steps to the (n_ranks, buf_count) working buffer.

Steps come flattened (CSR): transfers ``step_ptr[k]:step_ptr[k+1]`` form step ``k``. A step
whose ``stage[k]`` is set has a transfer reading a range that another one writes: its sources
are copied to ``scratch`` first, so every transfer reads the values from before the step.
Other steps apply in place.

``op`` and ``fmt`` are the codes of :mod:`.codes`: ``FMT_NATIVE`` computes in the buffer
type's own arithmetic; ``FMT_BF16`` / ``FMT_FP16`` buffers hold 16-bit patterns (``uint16``),
decoded to float32, combined, and rounded back to nearest even after every combine.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import kernel
from .codes import FMT_BF16, FMT_NATIVE, OP_MAX, OP_PROD, OP_SUM


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as float32."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        low = args[0]
        if bits.bitwidth > 32:
            low = builder.trunc(low, ir.IntType(32))
        elif bits.bitwidth < 32:
            low = builder.zext(low, ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _f32_bits(typingctx, value):
    """Reinterpret a float32 as uint32."""
    if value != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(types.float32), codegen


@kernel
def _bf16_decode(h):
    return _f32_from_bits(np.int64(h) << 16)


@kernel
def _bf16_encode(x):
    u = np.int64(_f32_bits(np.float32(x)))
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return np.uint16(((u >> 16) | 0x40) & 0xFFFF)
    return np.uint16(((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF)


@kernel
def _fp16_decode(h):
    h = np.int64(h)
    sign = (h & 0x8000) << 16
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = np.float32(m) * np.float32(5.9604644775390625e-08)  # m * 2**-24, exact
        return -v if sign else v
    if e == 31:
        return _f32_from_bits(sign | 0x7F800000 | (m << 13))
    return _f32_from_bits(sign | ((e + 112) << 23) | (m << 13))


@kernel
def _fp16_encode(x):
    u = np.int64(_f32_bits(np.float32(x)))
    sign = (u >> 16) & 0x8000
    a = u & 0x7FFFFFFF
    if a > 0x7F800000:  # NaN: keep the top payload bits, set the quiet bit
        return np.uint16(sign | 0x7E00 | ((a >> 13) & 0x3FF))
    if a >= 0x47800000:  # >= 2**16 (and inf): overflows
        return np.uint16(sign | 0x7C00)
    if a < 0x38800000:  # below 2**-14: subnormal or zero, scaled by 2**24 is exact
        v = abs(np.float32(x)) * np.float32(16777216.0)
        return np.uint16(sign | np.int64(np.rint(v)))
    a -= 0x38000000  # rebias the exponent from 127 to 15
    return np.uint16(sign | ((a + 0xFFF + ((a >> 13) & 1)) >> 13))


@kernel
def decode(h, fmt):
    """A 16-bit pattern of format ``fmt`` as float32."""
    if fmt == FMT_BF16:
        return _bf16_decode(h)
    return _fp16_decode(h)


@kernel
def encode(x, fmt):
    """float32 -> 16-bit pattern of format ``fmt``, round to nearest even."""
    if fmt == FMT_BF16:
        return _bf16_encode(x)
    return _fp16_encode(x)


@kernel
def _combine_native(d, s, op):
    """``d = d (op) s`` element-wise in the arrays' own type (views of equal length)."""
    if op == OP_SUM:
        for i in range(d.size):
            d[i] = d[i] + s[i]
    elif op == OP_PROD:
        for i in range(d.size):
            d[i] = d[i] * s[i]
    elif op == OP_MAX:
        for i in range(d.size):
            x, y = d[i], s[i]
            d[i] = x if (x >= y or x != x) else y
    else:
        for i in range(d.size):
            x, y = d[i], s[i]
            d[i] = x if (x <= y or x != x) else y


@kernel
def _combine_16bit(d, s, op, fmt):
    """``d = round(decode(d) (op) decode(s))`` for 16-bit patterns, computing in float32."""
    for i in range(d.size):
        x = decode(d[i], fmt)
        y = decode(s[i], fmt)
        if op == OP_SUM:
            z = x + y
        elif op == OP_PROD:
            z = x * y
        elif op == OP_MAX:
            z = x if (x >= y or x != x) else y
        else:
            z = x if (x <= y or x != x) else y
        d[i] = encode(z, fmt)


@kernel
def apply_range(d, doff, s, soff, m, reduce, op, fmt):
    """``d[doff:doff+m]`` = ``s[soff:soff+m]`` (copy), or combined into it with ``op``."""
    dv = d[doff:doff + m]
    sv = s[soff:soff + m]
    if not reduce:
        dv[:] = sv
    elif fmt == FMT_NATIVE:
        _combine_native(dv, sv, op)
    else:
        _combine_16bit(dv, sv, op, fmt)


@kernel
def apply_steps(buf, src, dst, n, src_off, dst_off, reduce, step_ptr, stage, op, fmt, scratch):
    """Apply steps ``0..len(step_ptr)-2`` to ``buf`` in order (see the module docstring)."""
    width = buf.shape[1]
    flat = buf.reshape(buf.size)
    for k in range(step_ptr.size - 1):
        lo, hi = step_ptr[k], step_ptr[k + 1]
        if stage[k]:
            pos = 0
            for t in range(lo, hi):
                m = n[t]
                a = src[t] * width + src_off[t]
                scratch[pos:pos + m] = flat[a:a + m]
                pos += m
            pos = 0
            for t in range(lo, hi):
                apply_range(flat, dst[t] * width + dst_off[t], scratch, pos, n[t], reduce[t],
                            op, fmt)
                pos += n[t]
        else:
            for t in range(lo, hi):
                apply_range(flat, dst[t] * width + dst_off[t], flat,
                            src[t] * width + src_off[t], n[t], reduce[t], op, fmt)


@kernel
def encode_many(values, fmt, out_bits):
    """float32 -> 16-bit format (RNE) for every element, as the combine does."""
    for i in range(values.size):
        out_bits[i] = encode(values[i], fmt)


@kernel
def decode_many(bits, fmt, out):
    """16-bit patterns -> float32 for every element, as the combine does."""
    for i in range(bits.size):
        out[i] = decode(bits[i], fmt)
