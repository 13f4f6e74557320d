"""Run a data schedule on a working buffer with the Numba execute kernel.

The wrapper validates, flattens steps into blocks of CSR arrays, decides per step whether the
sources need staging (some transfer reads a range that another transfer of the step writes),
and allocates the scratch; ``ubemu.kernels.execute._kernel`` only loops.
"""

import numpy as np

from .dtypes import FMT_NATIVE, OP_CODES, check_op, get_dtype
from .errors import UbemuError

#: Transfers gathered into one kernel call (bounds the flattened arrays' memory).
BLOCK_TRANSFERS = 1 << 20


def needs_staging(step, buf_count):
    """True when a transfer of ``step`` reads elements that another transfer writes.

    Vectorised: intervals are keyed ``rank * buf_count + offset``; each read range is checked
    against the write range that starts last before the read range ends (write ends taken as
    a running maximum, so overlapping writes are handled too).
    """
    if step.n_transfers < 2:
        return False
    w_lo = step.dst * buf_count + step.dst_off
    order = np.argsort(w_lo, kind="stable")
    w_lo = w_lo[order]
    w_hi = np.maximum.accumulate(w_lo + step.n[order])
    r_lo = step.src * buf_count + step.src_off
    r_hi = r_lo + step.n
    j = np.searchsorted(w_lo, r_hi, side="left") - 1
    ok = j >= 0
    return bool(np.any(w_hi[j[ok]] > r_lo[ok]))


def _blocks(schedule):
    """Yield lists of steps holding about :data:`BLOCK_TRANSFERS` transfers together."""
    block, size = [], 0
    for step in schedule.steps():
        if step.repeat != 1:
            raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a data schedule "
                             f"step has repeat={step.repeat}")
        block.append(step)
        size += step.n_transfers
        if size >= BLOCK_TRANSFERS:
            yield block
            block, size = [], 0
    if block:
        yield block


def _check_bounds(schedule, src, dst, n, src_off, dst_off):
    """Refuse transfers outside the buffer (the kernel does not check bounds)."""
    if src.size == 0:
        return
    n_ranks, count = schedule.n_ranks, schedule.buf_count
    if min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n_ranks:
        raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a transfer's rank is "
                         f"outside 0..{n_ranks - 1}")
    if (min(src_off.min(), dst_off.min()) < 0
            or max((src_off + n).max(), (dst_off + n).max()) > count):
        raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a transfer's range is "
                         f"outside the buffer of {count} elements")


def execute(schedule, buf, op="sum", dtype=None):
    """Apply every step of ``schedule`` to ``buf`` in place and return it.

    Parameters
    ----------
    schedule : Schedule
        A data schedule (``data=True``).
    buf : ndarray (n_ranks, buf_count)
        Working buffer in the dtype's storage type (bfloat16: uint16 bit patterns).
    op : {'sum', 'prod', 'max', 'min', 'avg'}
        ``avg`` combines as ``sum``; the caller divides at the end (``dtypes.finish_avg``).
    dtype : str, optional
        Element type; inferred from ``buf.dtype`` when omitted (needed for bfloat16).
    """
    from .kernels.execute import _kernel

    dt = get_dtype(dtype if dtype is not None else buf.dtype)
    check_op(dt, op)
    if not schedule.data:
        raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a timing-only schedule "
                         "(data=False) cannot be executed")
    want = (schedule.n_ranks, schedule.buf_count)
    if buf.shape != want or buf.dtype != dt.storage or not buf.flags.c_contiguous:
        raise UbemuError(f"buffer must be a C-contiguous {dt.storage.name} array of shape "
                         f"{want}, got {buf.dtype.name} {buf.shape}")
    work = buf if dt.fmt == FMT_NATIVE else buf.view(np.uint16)
    scratch = np.empty(0, work.dtype)
    for block in _blocks(schedule):
        ptr = np.zeros(len(block) + 1, np.int64)
        ptr[1:] = np.cumsum([st.n_transfers for st in block])
        stage = np.array([needs_staging(st, schedule.buf_count) for st in block], np.bool_)
        staged = [int(st.n.sum()) for st, s in zip(block, stage) if s]
        if staged and max(staged) > scratch.size:
            scratch = np.empty(max(staged), work.dtype)
        cat = [np.concatenate([getattr(st, name) for st in block])
               for name in ("src", "dst", "n", "src_off", "dst_off")]
        red = np.concatenate([st.reduce for st in block])
        _check_bounds(schedule, *cat)
        _kernel(work, *cat, red, ptr, stage, OP_CODES[op], dt.fmt, scratch)
    return buf
