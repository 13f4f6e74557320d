"""Run a data schedule on a working buffer with the Numba execute kernel.

The wrapper validates, flattens steps into blocks of CSR arrays, decides per step whether the
sources need staging (some transfer reads a range that another transfer of the step writes),
and allocates the scratch; ``ubemu.kernels.execute._kernel`` only loops.

When every transfer of a block keeps its offset (``src_off == dst_off``, as in ring,
halving-doubling and most reduce-scatter / all-gather / all-reduce schedules), each buffer
column evolves independently, so the block runs one cache-sized tile of columns at a time
through all its steps (:func:`tile_transfers`): the same operations in the same order per
element, hence the same bits, with far less memory traffic.
"""

import numpy as np

from .dtypes import FMT_NATIVE, OP_CODES, check_op, get_dtype
from .errors import UbemuError

#: Transfers gathered into one kernel call (bounds the flattened arrays' memory).
BLOCK_TRANSFERS = 1 << 20
#: Bytes of one column tile over all ranks (sized to stay in a core's L2 cache).
TILE_BYTES = 1 << 20
#: Narrower tiles than this are not worth their bookkeeping.
MIN_TILE_COLUMNS = 256


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


def data_steps(schedule):
    """The steps of a data schedule, refusing a merged repeat (data steps apply one by one)."""
    for step in schedule.steps():
        if step.repeat != 1:
            raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a data schedule "
                             f"step has repeat={step.repeat}")
        yield step


def _blocks(schedule):
    """Yield lists of steps holding about :data:`BLOCK_TRANSFERS` transfers together."""
    block, size = [], 0
    for step in data_steps(schedule):
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


def column_tile(n_ranks, buf_count, itemsize):
    """Columns per tile so that a tile of every rank's buffer fits :data:`TILE_BYTES`.

    0 means no tiling (a single tile would hold the whole buffer, or tiles would be too
    narrow to pay off).
    """
    tile = TILE_BYTES // max(n_ranks * itemsize, 1)
    return tile if MIN_TILE_COLUMNS <= tile < buf_count else 0


def tile_transfers(src, dst, n, off, reduce, step_ptr, stage, tile):
    """Cut the transfers of a block into column tiles, ordered tile by tile.

    Valid when every transfer has ``src_off == dst_off``: then column ``c`` of all the
    ranks' buffers evolves on its own, and the block can run one tile of columns at a time
    (all its steps on that tile, in step order) while the tile stays in cache. Returns the
    same CSR form as the untiled block: pieces grouped by (tile, step), a stage flag each.
    """
    step_of = np.repeat(np.arange(step_ptr.size - 1), np.diff(step_ptr))
    first, last = off // tile, (off + n - 1) // tile
    cnt = last - first + 1
    parent = np.repeat(np.arange(n.size), cnt)
    starts = np.cumsum(cnt) - cnt
    tile_id = first[parent] + np.arange(parent.size) - starts[parent]
    lo = np.maximum(off[parent], tile_id * tile)
    hi = np.minimum((off + n)[parent], (tile_id + 1) * tile)
    order = np.argsort(tile_id, kind="stable")  # keeps step order inside a tile
    parent, tile_id, lo, hi = parent[order], tile_id[order], lo[order], hi[order]
    steps = step_of[parent]
    new = np.ones(parent.size, bool)
    new[1:] = (tile_id[1:] != tile_id[:-1]) | (steps[1:] != steps[:-1])
    group_start = np.flatnonzero(new)
    ptr = np.append(group_start, parent.size).astype(np.int64)
    return (src[parent], dst[parent], hi - lo, lo, lo, reduce[parent], ptr,
            stage[steps[group_start]])


def working_view(schedule, buf, n_rows, op, dtype):
    """Validate a data schedule, op and buffer of ``n_rows`` rows; (DType, the array the
    kernels see: 16-bit formats as uint16 bit patterns)."""
    dt = get_dtype(dtype if dtype is not None else buf.dtype)
    check_op(dt, op)
    if not schedule.data:
        raise UbemuError(f"{schedule.algorithm} {schedule.collective}: a timing-only schedule "
                         "(data=False) cannot be executed")
    want = (n_rows, schedule.buf_count)
    if buf.shape != want or buf.dtype != dt.storage or not buf.flags.c_contiguous:
        raise UbemuError(f"buffer must be a C-contiguous {dt.storage.name} array of shape "
                         f"{want}, got {buf.dtype.name} {buf.shape}")
    return dt, (buf if dt.fmt == FMT_NATIVE else buf.view(np.uint16))


def execute(schedule, buf, op="sum", dtype=None, tiled=True):
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
    tiled : bool
        Allow column tiling (:func:`tile_transfers`) for blocks whose transfers keep their
        offsets; the result is the same bit for bit, only the memory traffic differs.
    """
    from .kernels.execute import _kernel

    dt, work = working_view(schedule, buf, schedule.n_ranks, op, dtype)
    tile = column_tile(schedule.n_ranks, schedule.buf_count, dt.itemsize) if tiled else 0
    scratch = np.empty(0, work.dtype)
    for block in _blocks(schedule):
        ptr = np.zeros(len(block) + 1, np.int64)
        ptr[1:] = np.cumsum([st.n_transfers for st in block])
        stage = np.array([needs_staging(st, schedule.buf_count) for st in block], np.bool_)
        staged = [int(st.n.sum()) for st, s in zip(block, stage) if s]
        if staged and max(staged) > scratch.size:
            scratch = np.empty(max(staged), work.dtype)
        src, dst, n, src_off, dst_off = (np.concatenate([getattr(st, name) for st in block])
                                         for name in ("src", "dst", "n", "src_off", "dst_off"))
        red = np.concatenate([st.reduce for st in block])
        _check_bounds(schedule, src, dst, n, src_off, dst_off)
        args = (src, dst, n, src_off, dst_off, red, ptr, stage)
        if tile and np.array_equal(src_off, dst_off):
            args = tile_transfers(src, dst, n, src_off, red, ptr, stage, tile)
        _kernel(work, *args, OP_CODES[op], dt.fmt, scratch)
    return buf
