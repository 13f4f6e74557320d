"""How much memory a run needs, estimated before anything large is allocated.

Per process (``n_procs`` processes, this one owning ``n_local`` of the ``n_ranks`` ranks):

- working buffer: ``n_local x buf_count x itemsize`` (data runs only);
- schedule arrays: one step's transfers are built for every rank, ``STEP_BYTES`` per transfer
  (src, dst, n, offsets, flag, and the temporaries of building and filtering them); one per
  rank, or up to one per (rank, block) for all-to-all with data;
- timing arrays: one float64 load and one int64 touched entry per link, and per NPU the
  reduced bytes, its touched entry and the rank -> NPU map (``LINK_BYTES``, ``NPU_BYTES``);
- the check (data runs): this process's rows of the inputs (often the buffer itself; counted
  apart) and the temporaries of drawing one tile of them (``CHECK_BYTES`` per element of
  ``verify.TILE_ELEMENTS``); all-to-all also every rank's inputs on every process (each output
  row holds a piece of all of them); the random run of the 16-bit float reductions
  (``random_run``) draws, gathers and checks every rank's inputs and outputs on process 0.

The budget is MemAvailable of ``/proc/meminfo`` shared by the job's processes on this host.
"""

from .errors import UbemuError

#: Bytes per transfer of one step while it is built and used (5 int64 arrays + flag, x3).
STEP_BYTES = 3 * (5 * 8 + 1)
#: Bytes per directed link of the timing model (float64 load + int64 touched id).
LINK_BYTES = 16
#: Bytes per NPU of the timing model (reduced bytes, touched id, rank -> NPU id).
NPU_BYTES = 24
#: Bytes per element while checking, beyond inputs and outputs: drawing the inputs (random
#: bytes or float32 values, then the storage type) and one row block of comparison masks.
CHECK_BYTES = 8
GiB = 2.0 ** 30


def estimate(n_ranks, count, itemsize, n_links, n_npus, collective="all_reduce",
             data=False, n_procs=1, proc=0, random_run=False):
    """Estimated peak bytes of one process, by part (a dict; ``"total"`` is their sum).

    Parameters
    ----------
    n_ranks, count : int
        Ranks of the communicator and the collective's element count.
    itemsize : int
        Bytes per element.
    n_links, n_npus : int
        Directed links and NPUs of the topology.
    data : bool
        The data plane runs (buffer and check counted).
    n_procs, proc : int
        Processes sharing the ranks (contiguous blocks) and which one this is.
    random_run : bool
        The check makes a second, random run on process 0 (``verify.needs_random_run``).
    """
    from .schedule import split_even

    a2a = collective == "alltoall"
    buf_count = 2 * count if a2a else count  # all-to-all holds its input and output
    _, sizes = split_even(int(n_ranks), int(n_procs))
    n_local = int(sizes[proc])
    t = n_ranks ** 2 if data and a2a else n_ranks  # data all-to-all: every block on its own
    parts = {"steps": STEP_BYTES * t,
             "timing": LINK_BYTES * n_links + NPU_BYTES * n_npus,
             "buffer": 0, "check": 0}
    if data:
        parts["buffer"] = n_local * buf_count * itemsize
        from .verify import TILE_ELEMENTS

        check = n_local * count * itemsize + CHECK_BYTES * TILE_ELEMENTS
        if a2a:
            check += n_ranks * count * itemsize
        if random_run and proc == 0:
            check += n_ranks * count * (CHECK_BYTES + 2 * itemsize)
        parts["check"] = check
    parts["total"] = sum(parts.values())
    return parts


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


def check_fits(n_ranks, count, itemsize, topology, collective="all_reduce", data=False,
               n_procs=1, local_procs=None, available=None, **kw):
    """Raise :class:`UbemuError` when the processes on this host would not fit in memory.

    The job's processes on this host (``local_procs``, default all ``n_procs``) are taken to
    be ranks ``0..local_procs-1`` (process 0 does the check); their estimates are summed
    and compared with ``available`` (default MemAvailable). Returns the per-process estimate
    of process 0 (bytes) when it fits.
    """
    local_procs = n_procs if local_procs is None else min(local_procs, n_procs)
    available = available_bytes() if available is None else available
    est = [estimate(n_ranks, count, itemsize, topology.n_links, topology.n_npus, collective,
                    data, n_procs, p, **kw)["total"] for p in range(local_procs)]
    need = sum(est)
    if available is not None and need > available:
        raise UbemuError(
            f"memory: {collective} of {count} elements on {n_ranks:,} ranks needs about "
            f"{need / GiB:.1f} GiB on this host ({est[0] / GiB:.1f} GiB in process 0 of "
            f"{n_procs}), but only {available / GiB:.1f} GiB is available; use fewer "
            f"ranks, a smaller size, -c 0, or more hosts")
    return est[0]
