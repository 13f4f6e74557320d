"""How much memory a run needs, estimated before anything large is allocated.

Per process (``n_procs`` processes, this one owning ``n_local`` of the ``n`` ranks), the peak
of the parts that live at the same time:

- the interpreter with NumPy, Numba and the compiled kernels (:data:`BASE_BYTES`);
- timing arrays: one float64 load, one int64 touched entry and a used flag per link, and per
  NPU the reduced bytes, its touched entry and the rank -> NPU map (``LINK_BYTES``, ``NPU_BYTES``);
- one step's transfers while it is built and used (``STEP_BYTES`` each): the largest step's
  (:func:`ubemu.algorithms.work.predict`, default one per rank), and for all-to-all with data at
  least the block moves of its largest step (``Algorithm.moves_per_sender``, default one per block)
  from each rank the process builds;
- a checked run (``data``): the data runs follow each other, so the largest counts: the
  native run, the shadow run when the native inputs cannot show every lost transfer
  (``verify.exact_run_complete``, in ``int32``), the random run of the 16-bit float
  reductions. A run holds this process's working-buffer rows (the algorithm's registered
  buffer; the inputs themselves when the buffer is just the inputs, else both), the
  reference (``REF_BYTES`` per element of one row) or, for the copy collectives, the
  inputs its outputs are checked against (one row's worth; every rank's for all-to-all, the
  senders' rows for sendrecv), and the temporaries of drawing one tile of
  inputs (``CHECK_BYTES`` per element of ``verify.TILE_ELEMENTS``). A random run whose
  reference depends on the summation order holds every rank's inputs and outputs on process 0.
  With more than one run, a flag per output element of this process marks those found wrong
  (an element is counted once), on process 0 every rank's for such a random run.

The budget is MemAvailable of ``/proc/meminfo`` shared by the job's processes on this host.
"""

from .. import collectives
from ..algorithms.work import STEP_BYTES
from ..errors import UbemuError
from ..schedule import split_even

#: Resident bytes of a process before a run: Python, NumPy, Numba and the loaded kernels.
BASE_BYTES = 180 * 2**20
#: Bytes per directed link of the timing model (float64 load, int64 touched id, used flag).
LINK_BYTES = 17
#: Bytes per NPU of the timing model (reduced bytes, touched id, rank -> NPU id).
NPU_BYTES = 24
#: Bytes per element of one row for a reduction's reference (float64 value, magnitude,
#: integrality as float64, then value, tolerance and flag of the combined reference).
REF_BYTES = 41
#: Bytes per element while drawing inputs (random bytes or float32 values, then storage).
CHECK_BYTES = 8
GiB = 2.0 ** 30


def _run_bytes(coll, n, n_local, count, buf_count, itemsize, reducing_ref, traffic=None):
    """Live bytes of one data run of this process."""
    from .check import TILE_ELEMENTS

    in_cols = coll.input_shape(n, count, traffic)[1]
    rows = n_local * buf_count * itemsize
    in_place = not coll.in_block and coll.name != "alltoallv" and buf_count == count
    inputs = 0 if in_place else n_local * in_cols * itemsize
    if coll.reducing:
        ref = REF_BYTES * (count // n if coll.out_place == "block" else count) \
            if reducing_ref else 0
    elif coll.name in ("alltoall", "alltoallv", "sendrecv"):  # every input, or the senders'
        ref = (n_local if coll.name == "sendrecv" else n) * in_cols * itemsize
    else:
        ref = count * itemsize
    return rows + inputs + ref + CHECK_BYTES * min(TILE_ELEMENTS, n_local * in_cols)


def estimate(collective, comm, count, dt, op, topology, buf_count, data=False, n_procs=1,
             proc=0, peak_transfers=None, moves=None, traffic=None):
    """Estimated peak bytes of process ``proc``, by part (a dict; ``"total"`` is the peak).

    Parameters
    ----------
    collective : str
    comm : Comm
        The communicator (``comm.n`` ranks).
    count : int
        The collective's element count.
    dt : DType
    op : str
    topology : Topology
    buf_count : int
        The algorithm's working buffer per rank (``Algorithm.buffer_count``).
    data : bool
        The data plane runs and is checked.
    peak_transfers : int, optional
        Transfers of the largest step (:func:`ubemu.algorithms.work.predict`); default one per rank.
    moves : (int, bool), optional
        All-to-all with data: block moves per sending rank in the largest step, and whether
        a process builds only its own ranks' (default ``(n, False)``: every rank's blocks).
    traffic : Traffic, optional
        alltoallv's per-pair sizes (its inputs' length).
    """
    from . import check as vf
    from .dtypes import get_dtype

    coll = collectives.get(collective)
    n = comm.n
    n_local = int(split_even(n, int(n_procs))[1][proc])
    transfers = n if peak_transfers is None else peak_transfers
    if data and coll.name in ("alltoall", "alltoallv"):
        per_sender, local = moves if moves is not None else (n, False)
        transfers = max(transfers, per_sender * (n_local if local else n))
    parts = {"base": BASE_BYTES,
             "timing": LINK_BYTES * topology.n_links + NPU_BYTES * topology.n_npus,
             "steps": STEP_BYTES * transfers, "data": 0}
    if data:
        runs = [_run_bytes(coll, n, n_local, count, buf_count, dt.itemsize, True, traffic)]
        if not vf.exact_run_complete(collective, n, dt, op):
            shadow = get_dtype(vf.SHADOW_DTYPE)
            runs.append(_run_bytes(coll, n, n_local, count, buf_count, shadow.itemsize, True))
        if vf.needs_random_run(collective, dt, op):
            spread = vf.random_sums_exact(n, dt, op)
            runs.append(_run_bytes(coll, n, n_local, count, buf_count, dt.itemsize, spread))
            if not spread and proc == 0:
                runs[-1] += n * count * (CHECK_BYTES + 2 * dt.itemsize)
        out_elems = n_local * coll.output_shape(n, count)[-1]  # the wrong-element flags
        if len(runs) > 1:
            runs = [r + out_elems for r in runs]
            if vf.needs_random_run(collective, dt, op) and not spread and proc == 0:
                runs[-1] += n * coll.output_shape(n, count)[-1]
        parts["data"] = max(runs)
    parts["total"] = sum(parts.values())
    return parts


class OutOfMemory(UbemuError):
    """A run refused for its memory: ``need_bytes`` on this host, ``available_bytes`` there."""

    def __init__(self, message, need_bytes, available_bytes):
        super().__init__(message)
        self.need_bytes, self.available_bytes = need_bytes, available_bytes


def available_bytes(meminfo="/proc/meminfo"):
    """MemAvailable in bytes (None when the file does not say)."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(collective, algorithm, comm, count, dt, op, topology, data=False, n_procs=1,
               local_procs=None, available=None, options=None, peak_transfers=None):
    """Raise :class:`OutOfMemory` when the processes on this host would not fit in memory.

    The job's processes on this host (``local_procs``, default all ``n_procs``) are taken to
    be ranks ``0..local_procs-1`` (process 0 does the check); their estimates are summed and
    compared with ``available`` (default MemAvailable). ``algorithm`` ``auto`` counts the
    largest working buffer of the collective's algorithms. Returns the estimate of process 0
    (bytes) when it fits.
    """
    from ..algorithms import REGISTRY, get_algorithm

    options = options or {}
    if algorithm == "auto":
        algs = [a for (c, _), a in REGISTRY.items() if c == collective]
    else:
        algs = [get_algorithm(collective, algorithm)]
    buf_count = max(_buffer(a, comm, count, options) for a in algs)
    local_procs = n_procs if local_procs is None else min(local_procs, n_procs)
    available = available_bytes() if available is None else available
    moves = max(((_moves(a, comm, count, options), a.local_ok) for a in algs),
                key=lambda m: m[0] * (1 if m[1] else n_procs))
    traffic = None
    if collective == "alltoallv":
        from ..traffic import resolve

        traffic = resolve(options.get("traffic"), comm.n, count)
    est = [estimate(collective, comm, count, dt, op, topology, buf_count, data, n_procs,
                    p, peak_transfers, moves, traffic)["total"] for p in range(local_procs)]
    need = sum(est)
    if available is not None and need > available:
        raise OutOfMemory(
            f"memory: {collective} of {count} elements on {comm.n:,} ranks needs about "
            f"{need / GiB:.1f} GiB on this host ({est[0] / GiB:.1f} GiB in process 0 of "
            f"{n_procs}), but only {available / GiB:.1f} GiB is available; use fewer "
            f"ranks, a smaller size, -c 0, or more hosts", need, available)
    return est[0]


def _own_options(alg, options):
    """``options`` without those the algorithm does not take."""
    return {k: v for k, v in options.items() if k in alg.options}


def _buffer(alg, comm, count, options):
    """The algorithm's working buffer."""
    return alg.buffer_count(comm, count, **_own_options(alg, options))


def _moves(alg, comm, count, options):
    """The algorithm's block moves per sender in its largest all-to-all data step."""
    return alg.moves_per_sender(comm, count, **_own_options(alg, options))
