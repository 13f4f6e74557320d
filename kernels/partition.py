"""Pack and unpack kernels of the partitioned data plane (:mod:`ubemu.partition`).

A process sends the source ranges of its cross-process transfers as one flat array
(:func:`pack`) and applies the flat array it receives to its local rows (:func:`unpack`), with
the same copy / combine arithmetic as the execute kernel.
"""

from ._jit import kernel
from .execute import _apply


@kernel
def pack(buf, src, src_off, n, out):
    """Copy ``buf[src[t], src_off[t]:src_off[t] + n[t]]`` for every t, back to back, to ``out``."""
    pos = 0
    for t in range(src.shape[0]):
        m = n[t]
        out[pos:pos + m] = buf[src[t], src_off[t]:src_off[t] + m]
        pos += m


@kernel
def unpack(buf, dst, dst_off, n, reduce, data, op, fmt):
    """Apply consecutive ranges of ``data`` to ``buf[dst[t], dst_off[t]:...]`` (copy or combine)."""
    pos = 0
    for t in range(dst.shape[0]):
        _apply(buf[dst[t]], dst_off[t], data, pos, n[t], reduce[t], op, fmt)
        pos += n[t]
