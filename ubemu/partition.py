"""One emulation spread over MPI processes: the only module of ubemu that imports mpi4py.

Virtual NPUs (communicator ranks) are block-partitioned: process ``p`` of ``P`` owns the
contiguous ranks ``starts[p]:starts[p+1]`` (``split_even``). Ranks are mixed-radix, innermost
level first, so a contiguous block holds whole boards / racks and most traffic stays inside a
process.

Data plane, per step (each process builds the transfers of its own senders, or every rank's
and keeps its own):

1. pack the source ranges of transfers leaving the process (pre-step values);
2. apply the transfers with both ends local (the execute kernel, on re-indexed rows);
3. one ``Alltoallv`` of (dst, dst_off, n, reduce) headers and one of the packed ranges;
4. apply what arrived (copy or combine), after the local transfers.

The check is spread out too: each process draws its own rows of the inputs and checks its
own outputs against a reference combined from per-column partial reductions
(:func:`emulate_verify`).

Timing plane, per step (or window of steps timed as one): each process routes the transfers of
its own senders (``kernels.timing.accumulate``). Every link and reducing NPU has an owner
process, chosen so that it is mostly the process holding the link's NPUs; the (key, bytes)
pairs of keys owned elsewhere go in one ``Alltoallv`` to their owners, which add them and drain
them; the per-step maxima and per-class byte sums are combined with one ``Allgather``. Byte
counts are whole numbers held in float64, exact below 2**53, so the order of the additions does
not matter and the modelled times equal the single-process ones bit for bit.

``import ubemu.partition`` does not import mpi4py: :func:`world_size` reads the launcher's
environment (MPICH hydra ``PMI_SIZE``, Open MPI ``OMPI_COMM_WORLD_SIZE``) and mpi4py is
imported only when that says more than one process.
"""

import os
import sys
import time

import numpy as np

from . import timing as _timing
from .schedule import Step, split_even
from .timing import StepTimer

_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")
_LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")
#: Seconds a failing process other than 0 waits before aborting, so that an error every
#: process meets is printed once (by process 0, whose abort ends the others first).
ABORT_GRACE_S = 2.0


def _env_int(names, default):
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return default


def world_size():
    """Processes in the MPI job according to the launcher's environment (1 outside MPI)."""
    return _env_int(_SIZE_VARS, 1)


def world_rank():
    """This process's rank according to the launcher's environment (0 outside MPI)."""
    return _env_int(_RANK_VARS, 0)


def local_size():
    """Processes of the job on this host (the world size when the launcher does not say)."""
    return max(_env_int(_LOCAL_SIZE_VARS, world_size()), 1)


def active():
    """True when the job has more than one process: runs go through this module."""
    return world_size() > 1


def is_root():
    """True on the process that prints and writes files (rank 0; always outside MPI)."""
    return world_rank() == 0


# -- the communication layer --------------------------------------------------------------
class MPIExchange:
    """The few collectives the partition layer needs, over ``MPI.COMM_WORLD`` (or ``comm``)."""

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def alltoallv(self, send, send_counts, recv_counts=None):
        """Send ``send[...]`` in consecutive pieces of ``send_counts[q]`` elements to process q.

        Returns the received elements (in sender order) and the count from each sender;
        ``recv_counts`` may be given when the receiver already knows them.
        """
        send = np.ascontiguousarray(send)
        item = send.dtype.itemsize
        send_counts = np.asarray(send_counts, np.int64)
        if recv_counts is None:
            recv_counts = np.empty(self.size, np.int64)
            self.comm.Alltoall(send_counts, recv_counts)
        recv_counts = np.asarray(recv_counts, np.int64)
        recv = np.empty(int(recv_counts.sum()), send.dtype)
        sc, rc = send_counts * item, recv_counts * item
        sd = np.concatenate(([0], np.cumsum(sc)[:-1]))
        rd = np.concatenate(([0], np.cumsum(rc)[:-1]))
        byte = self.MPI.BYTE
        self.comm.Alltoallv([send.view(np.uint8), (sc.tolist(), sd.tolist()), byte],
                            [recv.view(np.uint8), (rc.tolist(), rd.tolist()), byte])
        return recv, recv_counts

    def allgather(self, vec):
        """Every process's float64 vector (same length everywhere), rows in process order."""
        vec = np.ascontiguousarray(vec, np.float64)
        out = np.empty((self.size, vec.size), np.float64)
        self.comm.Allgather(vec, out)
        return out

    def allreduce(self, vec, combine):
        """Element-wise ``combine`` (``sum prod max min``) of every process's ``vec``."""
        vec = np.ascontiguousarray(vec)
        out = np.empty_like(vec)
        op = {"sum": self.MPI.SUM, "prod": self.MPI.PROD, "max": self.MPI.MAX,
              "min": self.MPI.MIN}[combine]
        self.comm.Allreduce(vec, out, op=op)
        return out

    def scatterv(self, send, counts, recv):
        """Process 0's bytes ``send`` cut in consecutive pieces of ``counts[q]`` into each
        process's ``recv`` (uint8 arrays; ``send`` is None elsewhere)."""
        counts = np.asarray(counts, np.int64)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1]))
        spec = [send, (counts.tolist(), displs.tolist()), self.MPI.BYTE] \
            if self.rank == 0 else None
        self.comm.Scatterv(spec, [recv, self.MPI.BYTE], root=0)

    def gatherv(self, send, counts, recv):
        """Every process's bytes ``send`` (``counts[q]`` from process q) stacked into process
        0's ``recv`` (None elsewhere)."""
        counts = np.asarray(counts, np.int64)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1]))
        spec = [recv, (counts.tolist(), displs.tolist()), self.MPI.BYTE] \
            if self.rank == 0 else None
        self.comm.Gatherv([send, self.MPI.BYTE], spec, root=0)

    def gather(self, obj):
        """Process 0 gets the list of every process's ``obj``; the others None."""
        return self.comm.gather(obj, root=0)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)


class LocalExchange:
    """The collectives of :class:`MPIExchange` for a job of one process, without MPI."""

    rank, size = 0, 1

    def alltoallv(self, send, send_counts, recv_counts=None):
        return np.ascontiguousarray(send), np.asarray(send_counts, np.int64)

    def allgather(self, vec):
        return np.asarray(vec, np.float64)[None, :]

    def allreduce(self, vec, combine):
        return np.asarray(vec)

    def scatterv(self, send, counts, recv):
        recv[:] = send

    def gatherv(self, send, counts, recv):
        recv[:] = send

    def gather(self, obj):
        return [obj]

    def bcast(self, obj):
        return obj


_EXCHANGE = None


def exchange():
    """The job's exchange: :class:`MPIExchange` in a multi-process job (mpi4py imported on
    first use), else :class:`LocalExchange`."""
    global _EXCHANGE
    if _EXCHANGE is None:
        _EXCHANGE = MPIExchange() if active() else LocalExchange()
    return _EXCHANGE


# -- the partition --------------------------------------------------------------------------
class Block:
    """Contiguous block partition of ``n`` ranks over ``n_procs`` processes; this is ``proc``.

    Attributes
    ----------
    starts : int64 array (n_procs + 1,)
        First rank of each process (``starts[-1] == n``).
    lo, hi : int
        This process's ranks ``lo:hi``.
    """

    def __init__(self, n, n_procs, proc):
        off, ln = split_even(int(n), int(n_procs))
        self.n, self.n_procs, self.proc = int(n), int(n_procs), int(proc)
        self.starts = np.append(off, int(n)).astype(np.int64)
        self.lo, self.hi = int(self.starts[proc]), int(self.starts[proc + 1])

    @property
    def n_local(self):
        return self.hi - self.lo

    def owner(self, ranks):
        """Process owning each rank (int64 array)."""
        return np.searchsorted(self.starts, ranks, side="right").astype(np.int64) - 1

    def local(self, ranks):
        """Boolean mask: the rank is owned by this process."""
        return (ranks >= self.lo) & (ranks < self.hi)


def group_by_owner(owners, sizes, n_procs):
    """Stable order of items grouped by owner, and the summed ``sizes`` per owner."""
    order = np.argsort(owners, kind="stable")
    cs = np.concatenate(([0], np.cumsum(sizes[order])))
    edges = np.searchsorted(owners[order], np.arange(n_procs + 1), side="left")
    return order, cs[edges[1:]] - cs[edges[:-1]]


# -- data plane -------------------------------------------------------------------------------
def _headers(step, idx):
    """(dst, dst_off, n, reduce) of each transfer ``idx``, flat int64, 4 per transfer."""
    return np.stack((step.dst[idx], step.dst_off[idx], step.n[idx],
                     step.reduce[idx].astype(np.int64)), axis=1).reshape(-1)


def _sub_step(step, idx, lo):
    """The transfers ``idx`` of ``step`` with ranks re-indexed to local rows."""
    return Step(step.src[idx] - lo, step.dst[idx] - lo, step.n[idx], step.src_off[idx],
                step.dst_off[idx], step.reduce[idx])


def execute_local(schedule, buf, block, ex, op="sum", dtype=None, walk=None):
    """Apply every step of ``schedule`` to this process's rows ``buf`` (its block's ranks).

    Collective: every process of ``ex`` calls it with a schedule of the same steps. A step
    may hold every rank's transfers or only this block's senders' (a schedule built on a
    ``Comm`` with ``local``): only the transfers this process sends are used. Per step the
    source ranges leaving the process are packed (pre-step values), the local transfers
    applied, the packed ranges and their (dst, dst_off, n, reduce) headers exchanged, and
    what arrived applied. ``buf`` is the ``(block.n_local, buf_count)`` slice of
    :func:`ubemu.execute.execute`'s buffer, in the dtype's storage type; updated in place.
    ``walk``: called with the iterator of steps, each yielded once applied (the timing walks
    them so, :func:`time_and_verify`); it must exhaust the iterator.
    """
    steps = _apply_steps(schedule, buf, block, ex, op, dtype)
    if walk is None:
        for _ in steps:
            pass
    else:
        walk(steps)
    return buf


def _apply_steps(schedule, buf, block, ex, op, dtype):
    """Generator of :func:`execute_local`: applies each step, then yields it."""
    from .dtypes import OP_CODES
    from .execute import _check_bounds, data_steps, needs_staging, working_view
    from .kernels.execute import _kernel
    from .kernels.partition import pack, unpack

    dt, work = working_view(schedule, buf, block.n_local, op, dtype)
    opc, empty = OP_CODES[op], np.empty(0, work.dtype)
    one_step = np.array([0, 0], np.int64)
    for step in data_steps(schedule):
        _check_bounds(schedule, step.src, step.dst, step.n, step.src_off, step.dst_off)
        mine = block.local(step.src)
        d_in = block.local(step.dst)
        out = np.flatnonzero(mine & ~d_in)
        owners = block.owner(step.dst[out])
        order, send_counts = group_by_owner(owners, step.n[out], block.n_procs)
        per_proc = np.bincount(owners, minlength=block.n_procs)  # transfers per process
        out = out[order]
        send = np.empty(int(send_counts.sum()), work.dtype)
        pack(work, step.src[out] - block.lo, step.src_off[out], step.n[out], send)
        loc = np.flatnonzero(mine & d_in)
        if loc.size:
            sub = _sub_step(step, loc, block.lo)
            stage = needs_staging(sub, schedule.buf_count)
            scratch = np.empty(int(sub.n.sum()), work.dtype) if stage else empty
            one_step[1] = loc.size
            _kernel(work, sub.src, sub.dst, sub.n, sub.src_off, sub.dst_off, sub.reduce,
                    one_step, np.array([stage]), opc, dt.fmt, scratch)
        heads, head_counts = ex.alltoallv(_headers(step, out), 4 * per_proc)
        dst, dst_off, n, red = heads.reshape(-1, 4).T
        sender = np.repeat(np.arange(block.n_procs), head_counts // 4)
        recv_counts = np.bincount(sender, weights=n, minlength=block.n_procs).astype(np.int64)
        recv, _ = ex.alltoallv(send, send_counts, recv_counts)  # sizes known from headers
        unpack(work, dst - block.lo, dst_off, n, red.astype(np.bool_), recv, opc, dt.fmt)
        yield step


def scatter_rows(full, block, ex, cols, dtype):
    """Process 0's ``full`` (n, cols) array cut into the blocks' rows (others pass None)."""
    dtype = np.dtype(dtype)
    mine = np.empty((block.n_local, cols), dtype)
    counts = np.diff(block.starts) * cols * dtype.itemsize
    send = np.ascontiguousarray(full, dtype).view(np.uint8).reshape(-1) if ex.rank == 0 \
        else None
    ex.scatterv(send, counts, mine.view(np.uint8).reshape(-1))
    return mine


def gather_rows(mine, block, ex):
    """The blocks' rows ``mine`` (n_local, cols) stacked on process 0 (None elsewhere)."""
    mine = np.ascontiguousarray(mine)
    cols, item = mine.shape[1], mine.dtype.itemsize
    full = np.empty((block.n, cols), mine.dtype) if ex.rank == 0 else None
    ex.gatherv(mine.view(np.uint8).reshape(-1), np.diff(block.starts) * cols * item,
               full.view(np.uint8).reshape(-1) if full is not None else None)
    return full


def pack_local(schedule, inputs, block):
    """This block's rows of :func:`ubemu.layout.pack_inputs`' working buffer: ``inputs``
    itself (run in place) when the buffer is just the inputs, else a new array."""
    from .layout import place_inputs

    if (schedule.collective != "all_gather" and schedule.buf_count == schedule.count
            and inputs.flags.c_contiguous):
        return inputs
    return place_inputs(schedule, inputs, block.lo)


def unpack_local(schedule, buf, block):
    """This block's rows of :func:`ubemu.layout.unpack_outputs` (reduce: every row); a view
    of ``buf`` where the layout allows."""
    from .layout import output_rows

    return output_rows(schedule, buf, block.lo)


def emulate_verify(collective, algorithm, comm, count, dtype="float32", op="sum", seed=0,
                   ex=None, **options):
    """Collective: run the data plane over the processes and check it; (wrong, max, mean).

    The runs and inputs of :func:`ubemu.dataplane.emulate_verify`, with the same figures.
    Each run is spread out whole: each process draws its own rows of the inputs
    (``make_inputs(rows=...)``), runs its block (:func:`execute_local`) and checks its own
    outputs; the reference of the reducing collectives comes from every process's per-column
    partial reductions combined by ``Allreduce``, exact because the sums are (whole numbers
    in the exact run; multiples of a fixed spacing in the random run of the 16-bit float sums,
    :func:`ubemu.verify.random_sums_exact`). Error sums are folded row by row on process 0.
    A random run whose reference depends on the summation order (``prod``, or more ranks than
    that bound) is drawn and checked on process 0 (scattered and gathered).
    """
    ex = ex if ex is not None else exchange()
    dt, block, sched = _data_setup(collective, algorithm, comm, count, dtype, ex, options)
    return _verify_runs(collective, comm, count, dt, op, seed, sched, block, ex)


def _data_setup(collective, algorithm, comm, count, dtype, ex, options):
    """(DType, this process's Block, the data schedule of its senders)."""
    from .algorithms import build_schedule
    from .dtypes import get_dtype

    sched = build_schedule(collective, algorithm, local_comm(comm, ex), count, data=True,
                           **options)
    return get_dtype(dtype), Block(comm.n, ex.size, ex.rank), sched


def time_and_verify(collective, algorithm, comm, count, topology, dtype="float32", op="sum",
                    seed=0, ex=None, **options):
    """Collective: :func:`time_schedule` and :func:`emulate_verify` of one algorithm in one
    walk over its steps: the exact run's steps are timed as they are applied, so each is built
    once (``simulate(verify=True)`` with a named algorithm, in one process or many).

    Returns
    -------
    (schedule, time_s, usage, bottleneck, (wrong, max_rel_err, mean_rel_err))
    """
    ex = ex if ex is not None else exchange()
    dt, block, sched = _data_setup(collective, algorithm, comm, count, dtype, ex, options)
    timed = []

    def walk(steps):
        timed.extend(time_schedule(_Walk(sched, steps), topology, comm, dt.itemsize, ex))

    checks = _verify_runs(collective, comm, count, dt, op, seed, sched, block, ex, walk)
    return (sched, *timed, checks)


class _Walk:
    """``schedule`` with its steps taken from the iterator ``steps`` (for the timing)."""

    def __init__(self, schedule, steps):
        self._schedule, self._steps = schedule, steps

    def __getattr__(self, name):
        return getattr(self._schedule, name)

    def steps(self):
        return self._steps


def _verify_runs(collective, comm, count, dt, op, seed, sched, block, ex, walk=None):
    """The exact run (its steps passed to ``walk``) and, for the 16-bit float reductions, the
    random run: (wrong, max_rel_err, mean_rel_err)."""
    from . import verify as vf

    args = (collective, comm, count, dt, op, seed, sched, block, ex)
    wrong, max_rel, mean_rel = _spread_run(*args, walk=walk)
    if vf.needs_random_run(collective, dt, op):
        if vf.random_sums_exact(comm.n, dt, op):
            bad, max_rel, mean_rel = _spread_run(*args, kind="random")
        else:  # prod, or too many ranks for exact float64 sums: process 0 checks it all
            bad, max_rel, mean_rel = _random_run(*args)
        wrong += bad
    if not vf.error_measured(collective, dt, op):
        return wrong, None, None
    return wrong, max_rel, mean_rel


def _run_block(sched, inputs, block, ex, op, dt, walk=None):
    """This block's outputs for its rows of ``inputs`` (avg finished; ``inputs`` may be
    used as the working buffer); ``walk`` as in :func:`execute_local`."""
    from .dtypes import finish_avg
    from .verify import REDUCING

    buf = pack_local(sched, inputs, block)  # may be ``inputs``, overwritten
    execute_local(sched, buf, block, ex, op, dt.name, walk)
    out = unpack_local(sched, buf, block)
    if op == "avg" and sched.collective in REDUCING:
        out = finish_avg(out, block.n, dt)
    return out


def _spread_run(collective, comm, count, dt, op, seed, sched, block, ex, kind="exact",
                walk=None):
    """A run (``kind`` of :func:`ubemu.verify.make_inputs`), every process drawing and
    checking its own rows."""
    from . import verify as vf

    n, root = comm.n, sched.root
    mine = vf.make_inputs(collective, n, count, dt.name, op, seed, kind=kind,
                          rows=(block.lo, block.hi))
    reference, inputs = None, None
    if collective in vf.REDUCING:  # before the run, which may overwrite ``mine``
        parts = [(ex.allreduce(a, comb), comb) for a, comb in vf.reference_parts(mine, op, dt)]
        reference = vf.reference_from_parts(parts, n, op, dt)
    out = _run_block(sched, mine, block, ex, op, dt, walk)
    if collective == "broadcast":  # the root's row, at index 0
        inputs, root = vf.make_inputs(collective, n, count, dt.name, seed=seed,
                                      rows=(root, root + 1)), 0
    elif collective not in vf.REDUCING:  # all_gather, alltoall: a piece of every input
        inputs = vf.make_inputs(collective, n, count, dt.name, seed=seed)
    del mine
    if collective == "reduce":  # one output row, the root's
        out = out[root - block.lo:root - block.lo + 1] if block.lo <= root < block.hi \
            else out[:0]
        first = 0
    else:
        first = block.lo
    wrong, max_rel, rel_sums, n_rel = vf.check_rows(collective, out, first, n, dt, reference,
                                                     inputs, root)
    every = ex.allgather(np.array([wrong, max_rel, n_rel], np.float64))
    sums = ex.gather(rel_sums)  # folded in row order on process 0: the single-process bits
    total = ex.bcast(vf.fold(np.concatenate(sums)) if sums is not None else None)
    n_rel = int(every[:, 2].sum())
    return int(every[:, 0].sum()), float(every[:, 1].max()), total / n_rel if n_rel else 0.0


def _random_run(collective, comm, count, dt, op, seed, sched, block, ex):
    """The random run where the reference's sums depend on their order: drawn on process 0,
    scattered, gathered and checked there."""
    from . import verify as vf
    from .layout import input_shape

    inputs = vf.make_inputs(collective, comm.n, count, dt.name, op, seed, kind="random") \
        if ex.rank == 0 else None
    cols = input_shape(collective, comm.n, count)[1]
    out = _run_block(sched, scatter_rows(inputs, block, ex, cols, dt.storage), block, ex, op,
                     dt)
    outputs = gather_rows(out, block, ex)
    del out
    res = None
    if ex.rank == 0:
        if collective == "reduce":
            outputs = outputs[sched.root]
        res = vf.verify(collective, outputs, inputs, op, dt.name, root=sched.root)
    return ex.bcast(res)


# -- timing plane -----------------------------------------------------------------------------
def _key_owners(topology, block):
    """Which process sums the loads of each link and of each NPU's reductions.

    Keys are link ids and ``n_links + NPU id``. Each link class's id range (and the NPU range)
    is cut in proportion to the block partition, so a link whose NPUs a process holds mostly
    belongs to that process and its load seldom travels. Returns ascending ``bounds`` and the
    ``owners`` of the ranges they start.
    """
    frac = block.starts[:-1]
    bounds, owners = [], []
    ranges = [(c.first_id, c.count) for c in topology.link_classes]
    ranges.append((topology.n_links, topology.n_npus))
    for first, count in ranges:
        bounds.append(first + count * frac // block.n)
        owners.append(np.arange(block.n_procs))
    return (np.concatenate(bounds).astype(np.int64),
            np.concatenate(owners).astype(np.int64))


class PartitionedTimer(StepTimer):
    """A :class:`~ubemu.timing.StepTimer` whose steps are routed by the processes of ``ex``.

    Each process routes the transfers whose sender is in its ``block``; link and NPU-reduction
    loads are summed by the process owning their key range; every process ends each step with
    the same time and usage as a single-process timer.
    """

    def __init__(self, topology, npus, block, ex):
        super().__init__(topology, npus)
        self.block, self.ex = block, ex
        self.key_bounds, self.key_owners = _key_owners(topology, block)
        self._counts = np.zeros(ex.size, np.int64)
        self._local = None
        self.collective = True

    def _senders(self, step):
        return np.flatnonzero(self.block.local(step.src))

    def _exchange_loads(self):
        """Send the accumulated (link or NPU, bytes) pairs to their key owners and sum them.

        Resets this process's accumulators and leaves in them, and in the touched lists, the
        summed loads of the keys it owns. Returns (links owned, NPUs owned, nt, nr, latency).
        """
        from .kernels.partition import merge_loads, split_loads

        nt, nr, lat = self._local
        self._local = None
        n_links = self.topology.n_links
        pairs = np.empty(2 * (nt + nr))
        kept_t, kept_r = split_loads(self.touched, nt, self.load, self.red_touched, nr,
                                     self.red_bytes, n_links, self.key_bounds,
                                     self.key_owners, self.ex.rank, self._counts,
                                     np.empty(nt + nr, np.int64), pairs)
        send = pairs[:2 * int(self._counts.sum())]
        recv, _ = self.ex.alltoallv(send, 2 * self._counts)
        self._grow_to(kept_t + recv.size // 2, kept_r + recv.size // 2)
        mine_t, mine_r = merge_loads(recv, self.load, self.touched, kept_t, self.red_bytes,
                                     self.red_touched, kept_r, n_links)
        return mine_t, mine_r, nt, nr, lat

    def _grow_to(self, n_touched, n_red):
        """Room for ``n_touched`` / ``n_red`` entries in the touched lists (kept in front)."""
        n_touched = min(n_touched, self.topology.n_links)
        n_red = min(n_red, self.topology.n_npus)
        if self.touched.size < n_touched:
            self.touched = np.concatenate((self.touched, np.empty(n_touched, np.int64)))
        if self.red_touched.size < n_red:
            self.red_touched = np.concatenate((self.red_touched, np.empty(n_red, np.int64)))

    def _combine_loads(self):
        """Exchange, sum and drain the accumulated loads: (link_s, lat_ns, red_bytes, any)."""
        from .kernels import timing

        n_links, n_npus, nt, nr, lat = self._exchange_loads()
        link_s, red_b = timing.drain(self.class_first, self.class_cap_Bps, self.load,
                                     self.touched, n_links, self.red_bytes, self.red_touched,
                                     n_npus, self._busy, self._bytes)
        return self._gather_figures(link_s, lat, red_b, nt + nr > 0)

    def _gather_figures(self, link_s, lat_ns, red_b, moved):
        """Combine every process's step figures: maxima, and byte sums in process order."""
        n_cls = self._busy.size
        mine = np.concatenate(([link_s, lat_ns, red_b, float(moved)], self._busy, self._bytes))
        every = self.ex.allgather(mine)
        self._busy[:] = every[:, 4:4 + n_cls].max(axis=0)
        total = np.zeros(n_cls)
        for row in every[:, 4 + n_cls:]:  # process order, fixed
            total += row
        self._bytes[:] = total
        return (float(every[:, 0].max()), float(every[:, 1].max()), float(every[:, 2].max()),
                bool(every[:, 3].sum() > 0))

    def _agree(self, same, red_same, n_transfers):
        """Every process decides on the whole step: all saw the same pairs, total transfers."""
        every = self.ex.allgather(np.array([same, red_same, n_transfers], np.float64))
        return bool(every[:, 0].all()), bool(every[:, 1].all()), int(every[:, 2].sum())

    def _build_profile(self, step):
        """:meth:`StepTimer._build_profile` over the processes: each profiles its own senders;
        the one-transfer-per-link check counts every process's transfers (exchanged like
        loads), so the decision is the same on every process."""
        from .kernels import timing

        idx = np.flatnonzero(self.block.local(step.src))
        src, dst, red = step.src[idx], step.dst[idx], step.reduce[idx]
        tp = self.topology
        self._grow(0, 0, idx.size)
        hops = np.zeros((len(self.class_names), idx.size), np.int32)
        lat = np.empty(idx.size)
        timing.pattern_profile(src, dst, red, self.npus, tp.level_table, tp.lat_ns,
                               float(tp.params.hop_lat_ns), self.class_first, self.load,
                               self.touched, self.red_bytes, self.path, hops, lat)
        ones = Step(step.src, step.dst, np.ones_like(step.n), None, None, step.reduce)
        self._local = self._accumulate([0, 0, 0.0], ones, 1, 1.0)  # transfers per link and
        # reduces per NPU, counted over every process
        n_links, n_npus, _, _, _ = self._exchange_loads()
        most = np.array([self.load[self.touched[:n_links]].max(initial=0.0),
                         self.red_bytes[self.red_touched[:n_npus]].max(initial=0.0)])
        self.load[self.touched[:n_links]] = 0.0
        self.red_bytes[self.red_touched[:n_npus]] = 0.0
        most = self.ex.allgather(most).max(axis=0)
        if most[0] <= 1 and (most[1] <= 1 or self.reduce_Bps == 0):
            used = np.flatnonzero(self.ex.allgather(hops.any(axis=1)).any(axis=0))
            return idx, hops, used, float(lat.max(initial=0.0))
        return None

    def _routed_loads(self, step, itemsize):
        self._local = self._accumulate([0, 0, 0.0], step, itemsize, 1.0)
        return self._combine_loads()[:3]

    def _pattern_loads(self, step, itemsize, idx, hops, used, lat_ns):
        link_s, lat_ns, red_b = super()._pattern_loads(step, itemsize, idx, hops, used, lat_ns)
        return self._gather_figures(link_s, lat_ns, red_b, True)[:3]

    def end_window(self):
        self._local, self._window = self._window, None  # this process's share of the window
        link_s, lat_ns, red_b, moved = self._combine_loads()
        dt = self._combine(link_s, lat_ns, red_b) if moved else self.overhead_s
        self._add(dt, 1)
        return dt


def local_comm(comm, ex=None):
    """``comm`` restricted to this process's block of senders (see ``Comm.local``)."""
    from .algorithms import Comm

    ex = ex if ex is not None else exchange()
    block = Block(comm.n, ex.size, ex.rank)
    return Comm(comm.dims, comm.fabrics, comm.npus, local=(block.lo, block.hi))


def time_schedule(schedule, topology, comm=None, itemsize=4, ex=None):
    """:func:`ubemu.timing.time_schedule` with the senders spread over the MPI processes.

    Collective over ``ex`` (default the MPI world); returns the same (time_s, usage,
    bottleneck) on every process, equal to the single-process figures. ``schedule`` may hold
    every rank's transfers or only this process's senders' (built on :func:`local_comm`).
    """
    ex = ex if ex is not None else exchange()
    block = Block(schedule.n_ranks, ex.size, ex.rank)
    return _timing.time_schedule(
        schedule, topology, comm, itemsize,
        make_timer=lambda topo, npus: PartitionedTimer(topo, npus, block, ex))


# -- fail-stop and reporting ------------------------------------------------------------------
def abort(message, code=2, stream=None):
    """Print ``message`` once for the whole job and end every process with ``code``.

    Process 0 prints and aborts at once; another process polls MPI for :data:`ABORT_GRACE_S`
    first (a process outside MPI calls is not ended by another's abort), so an error that
    every process meets is printed by process 0 only.
    """
    from mpi4py import MPI

    stream = stream if stream is not None else sys.stderr
    world = MPI.COMM_WORLD
    if world.Get_rank() != 0:  # poll MPI while waiting: an abort elsewhere ends us here
        t0 = time.monotonic()
        while time.monotonic() - t0 < ABORT_GRACE_S:
            world.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG)
            time.sleep(0.01)
    stream.flush()
    os.write(stream.fileno(), (message + "\n").encode())  # one write, nothing left buffered
    time.sleep(0.5)  # let the launcher forward the line before the abort tears it down
    world.Abort(code)
    os._exit(code)  # MPICH's Abort can return before the launcher ends us: print nothing more


def peak_memory_line():
    """Collective: rank 0 gets the ``#`` line of every process's peak resident memory."""
    import resource

    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    every = exchange().gather(rss_kib)
    if every is None:
        return None
    mib = [r / 1024 for r in every]
    return (f"# peak memory per process (MiB): {' '.join(f'{m:.0f}' for m in mib)}  "
            f"(max {max(mib):.0f}, total {sum(mib):.0f}, {len(mib)} processes)")
