"""The data plane: apply a data schedule's steps to real buffers, in one process or over many.

One driver (:func:`apply_steps`) for both. A process holds the rows of its block of ranks
(:class:`ubemu.parallel.block.Block`; all of them in a job of one process). Per step:

1. pack the source ranges of transfers leaving the process (pre-step values);
2. apply the transfers with both ends local (the Numba execute kernel, on local rows);
3. exchange what left: one ``alltoallv`` of (dst, dst_off, n, reduce) headers, one of the data;
4. apply what arrived (copy or combine), after the local transfers.

With every rank local (one process) steps are gathered into blocks of about
:data:`BLOCK_TRANSFERS` transfers per kernel call, and steps 1, 3 and 4 have nothing to do.
The wrapper validates, flattens steps into CSR arrays, decides per step whether the sources
need staging (some transfer reads a range that another transfer of the step writes), and
allocates the scratch; the kernel only loops. When every transfer of a block keeps its
offset (``src_off == dst_off``, as in ring, halving-doubling and most reduce-scatter /
all-gather / all-reduce schedules), each buffer column evolves independently, so the block
runs one cache-sized tile of columns at a time through all its steps (:func:`tile_transfers`):
the same operations in the same order per element, hence the same bits, with far less memory
traffic.
"""

import numpy as np

from ..errors import UbemuError
from ..parallel.block import Block, group_by_owner
from ..parallel.exchange import LocalExchange
from ..schedule import Step
from .dtypes import FMT_NATIVE, OP_CODES, check_op, get_dtype

#: Transfers gathered into one kernel call (bounds the flattened arrays' memory).
BLOCK_TRANSFERS = 1 << 20
#: Bytes of one column tile over all local ranks (sized to stay in a core's L2 cache).
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
    if ((step.src_off + step.n).max() <= step.dst_off.min()
            or (step.dst_off + step.n).max() <= step.src_off.min()):
        return False  # every read below every write or above it: no sort needed
    w_lo = step.dst * buf_count + step.dst_off
    order = np.argsort(w_lo, kind="stable")
    w_lo = w_lo[order]
    w_hi = np.maximum.accumulate(w_lo + step.n[order])
    r_lo = step.src * buf_count + step.src_off
    r_hi = r_lo + step.n
    j = np.searchsorted(w_lo, r_hi, side="left") - 1
    ok = j >= 0
    return bool(np.any(w_hi[j[ok]] > r_lo[ok]))


def check_bounds(schedule, step):
    """Refuse transfers outside the ranks or the buffer (the kernel does not check)."""
    where = f"{schedule.algorithm} {schedule.collective}"
    if step.repeat != 1:
        raise UbemuError(f"{where}: a data schedule step has repeat={step.repeat}")
    if step.n_transfers == 0:
        return
    if min(step.src.min(), step.dst.min()) < 0 or max(step.src.max(),
                                                      step.dst.max()) >= schedule.n_ranks:
        raise UbemuError(f"{where}: a transfer's rank is outside 0..{schedule.n_ranks - 1}")
    if (min(step.src_off.min(), step.dst_off.min()) < 0
            or max((step.src_off + step.n).max(), (step.dst_off + step.n).max())
            > schedule.buf_count):
        raise UbemuError(f"{where}: a transfer's range is outside the buffer of "
                         f"{schedule.buf_count} elements")


def column_tile(n_rows, buf_count, itemsize):
    """Columns per tile so that a tile of every local row fits :data:`TILE_BYTES`.

    0 means no tiling (a single tile would hold the whole buffer, or tiles would be too
    narrow to pay off).
    """
    tile = TILE_BYTES // max(n_rows * itemsize, 1)
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


class _Kernel:
    """Runs lists of local steps (ranks as local rows) through the execute kernel."""

    def __init__(self, work, buf_count, opc, fmt, tile):
        self.work, self.buf_count, self.opc, self.fmt, self.tile = work, buf_count, opc, fmt, tile
        self.scratch = np.empty(0, work.dtype)

    def run(self, steps):
        from ..kernels.execute import apply_steps as kernel

        steps = [st for st in steps if st.n_transfers]
        if not steps:
            return
        ptr = np.zeros(len(steps) + 1, np.int64)
        ptr[1:] = np.cumsum([st.n_transfers for st in steps])
        stage = np.array([needs_staging(st, self.buf_count) for st in steps], np.bool_)
        staged = [int(st.n.sum()) for st, s in zip(steps, stage) if s]
        if staged and max(staged) > self.scratch.size:
            self.scratch = np.empty(max(staged), self.work.dtype)
        src, dst, n, src_off, dst_off, red = (_joined([getattr(st, name) for st in steps])
                                              for name in ("src", "dst", "n", "src_off",
                                                           "dst_off", "reduce"))
        args = (src, dst, n, src_off, dst_off, red, ptr, stage)
        if self.tile and np.array_equal(src_off, dst_off):
            args = tile_transfers(src, dst, n, src_off, red, ptr, stage, self.tile)
        kernel(self.work, *args, self.opc, self.fmt, self.scratch)


def _joined(arrays):
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _batches(schedule, whole):
    """Lists of steps applied together: about :data:`BLOCK_TRANSFERS` transfers with every
    rank local, else one step each (each step exchanges before the next)."""
    batch, size = [], 0
    for step in schedule.steps():
        check_bounds(schedule, step)
        batch.append(step)
        size += step.n_transfers
        if not whole or size >= BLOCK_TRANSFERS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _local_part(step, idx, lo):
    """The transfers ``idx`` of ``step`` with ranks re-indexed to local rows."""
    return Step(step.src[idx] - lo, step.dst[idx] - lo, step.n[idx], step.src_off[idx],
                step.dst_off[idx], step.reduce[idx])


def apply_steps(schedule, rows, block=None, ex=None, op="sum", dtype=None, tiled=True):
    """Generator: apply every step of ``schedule`` to this process's ``rows``, yielding each
    step once applied (a timer may walk them so, see :mod:`ubemu.engine`).

    Collective over ``ex`` (default a job of one process): every process calls it with a
    schedule of the same steps, holding every rank's transfers or only its block's senders'.
    ``rows`` is the ``(block.n_local, buf_count)`` buffer of its ranks in the dtype's storage
    type, updated in place; ``op`` ``avg`` combines as ``sum`` (the caller divides).
    """
    from ..kernels.partition import pack, unpack

    ex = ex if ex is not None else LocalExchange()
    block = block if block is not None else Block(schedule.n_ranks)
    dt, work = working_view(schedule, rows, block.n_local, op, dtype)
    tile = column_tile(block.n_local, schedule.buf_count, dt.itemsize) if tiled else 0
    kernel = _Kernel(work, schedule.buf_count, OP_CODES[op], dt.fmt, tile)
    for batch in _batches(schedule, block.whole):
        if block.whole:
            kernel.run(batch)
            yield from batch
            continue
        step = batch[0]
        mine, d_in = block.local(step.src), block.local(step.dst)
        out = np.flatnonzero(mine & ~d_in)
        owners = block.owner(step.dst[out])
        order, send_counts = group_by_owner(owners, step.n[out], block.n_procs)
        per_proc = np.bincount(owners, minlength=block.n_procs)  # transfers per process
        out = out[order]
        send = np.empty(int(send_counts.sum()), work.dtype)
        pack(work, step.src[out] - block.lo, step.src_off[out], step.n[out], send)
        kernel.run([_local_part(step, np.flatnonzero(mine & d_in), block.lo)])
        heads = np.stack((step.dst[out], step.dst_off[out], step.n[out],
                          step.reduce[out].astype(np.int64)), axis=1).reshape(-1)
        heads, head_counts = ex.alltoallv(heads, 4 * per_proc)
        dst, dst_off, n, red = heads.reshape(-1, 4).T
        sender = np.repeat(np.arange(block.n_procs), head_counts // 4)
        recv_counts = np.bincount(sender, weights=n, minlength=block.n_procs).astype(np.int64)
        recv, _ = ex.alltoallv(send, send_counts, recv_counts)  # sizes known from headers
        unpack(work, dst - block.lo, dst_off, n, red.astype(np.bool_), recv, OP_CODES[op],
               dt.fmt)
        yield step


def execute(schedule, buf, op="sum", dtype=None, tiled=True):
    """Apply every step of ``schedule`` to the whole ``(n_ranks, buf_count)`` buffer ``buf``
    in place (one process) and return it; see :func:`apply_steps`."""
    for _ in apply_steps(schedule, buf, op=op, dtype=dtype, tiled=tiled):
        pass
    return buf
