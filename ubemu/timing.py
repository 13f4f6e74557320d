"""The step-level timing model: link loads -> step times -> a collective's time and usage.

A step lasts::

    max over links (bytes on link / (capacity x efficiency))      bandwidth term
    + longest path latency of its transfers                        (levels crossed, hop latency)
    + params.overhead_ns                                           software alpha
    + max over NPUs (bytes reduced) / params.reduce_GBps           reduction compute (if > 0)

Links are full duplex (each direction, and a switch's up and down links, are separate ids).
A step with ``repeat = k`` is timed once and counted ``k`` times. Steps that a schedule marks
concurrent (``notes["concurrent_steps"]``: half-open ranges of step indices, e.g. the ``p-1``
link-disjoint steps of a one-shot reduce-scatter) are timed as one step: their link loads add
up, and latency, overhead and reduction are charged once.
"""

from fractions import Fraction

import numpy as np

from .errors import UbemuError
from .result import ClassUsage
from .schedule import same_array

#: Steps with fewer transfers are routed every time (profiling them would not pay).
PATTERN_MIN_TRANSFERS = 4096


class StepTimer:
    """Times steps on one topology, reusing its per-link scratch arrays between steps.

    ``collective`` timers (:class:`ubemu.partition.PartitionedTimer`) run every step through
    the same calls on every process, even one with no transfers of its own.

    Parameters
    ----------
    topology : Topology
    npus : int64 array, optional
        Topology NPU id of each communicator rank (default: rank = NPU id).
    """

    def __init__(self, topology, npus=None):
        self.topology = topology
        n_npus = topology.n_npus
        if npus is None:
            npus = np.arange(n_npus, dtype=np.int64)
        self.npus = np.ascontiguousarray(npus, np.int64)
        if self.npus.size and (self.npus.min() < 0 or self.npus.max() >= n_npus):
            raise UbemuError(f"timing: NPU ids must lie in 0..{n_npus - 1}")
        p = topology.params
        classes = topology.link_classes
        self.class_names = [c.name for c in classes]
        self.class_first = np.array([c.first_id for c in classes], np.int64)
        self.class_count = np.array([c.count for c in classes], np.float64)
        self.class_cap_Bps = np.array([c.bw_GBps * 1e9 * p.efficiency for c in classes])
        self.level_of_class = [c.level for c in classes]
        self.load = np.zeros(topology.n_links, np.float64)
        self.red_bytes = np.zeros(n_npus, np.float64)
        self.path = np.empty(max(topology.diameter_hops, 1), np.int64)
        self.touched = np.empty(0, np.int64)
        self.red_touched = np.empty(0, np.int64)
        self._busy = np.zeros(len(classes))
        self._bytes = np.zeros(len(classes))
        self._pattern_key = self._pattern = None
        self._profiled = False
        self.collective = False
        self.overhead_s = p.overhead_ns * 1e-9
        self.reduce_Bps = p.reduce_GBps * 1e9
        self.reset()

    def reset(self):
        """Zero the accumulated time and usage."""
        self._time = Fraction(0)
        self._busy_total = [Fraction(0)] * len(self.class_names)
        self.n_steps = 0
        self._window = None
        self.bytes = np.zeros(len(self.class_names))

    @property
    def time_s(self):
        """Total time so far: the exact sum of the step times, rounded once."""
        return float(self._time)

    @property
    def busy_s(self):
        """Per-class busy time so far (exact sums, rounded once)."""
        return np.array([float(b) for b in self._busy_total])

    def _grow(self, nt, nr, t):
        """Make room in the touched lists for ``t`` more transfers, keeping ``[:nt]``."""
        need = min(self.topology.n_links, nt + t * self.path.size)
        if self.touched.size < need:
            grown = np.empty(max(need, 2 * self.touched.size), np.int64)
            grown[:nt] = self.touched[:nt]
            self.touched = grown
        need = min(self.topology.n_npus, nr + t)
        if self.red_touched.size < need:
            grown = np.empty(max(need, 2 * self.red_touched.size), np.int64)
            grown[:nr] = self.red_touched[:nr]
            self.red_touched = grown

    def _add(self, dt, k):
        """Count ``k`` occurrences of a step of ``dt`` seconds. Sums are exact (Fractions of the
        float terms), so a step counted k times or k steps of the same time give the same
        total: timing-only schedules merge repeats, per-process ones (MPI) do not. Bytes are
        whole numbers, exact in float64."""
        self._time += Fraction(dt) * k
        for c, b in enumerate(self._busy.tolist()):
            if b:
                self._busy_total[c] += Fraction(b) * k
        self.bytes += self._bytes * k

    def step_time(self, step, itemsize, repeat=None):
        """Time of one occurrence of ``step`` in seconds; adds ``repeat`` occurrences
        (default ``step.repeat``) to the totals."""
        k = step.repeat if repeat is None else int(repeat)
        self.n_steps += k
        if step.n_transfers == 0 and not self.collective:
            self._busy[:] = 0.0
            self._bytes[:] = 0.0
            self._add(self.overhead_s, k)
            return self.overhead_s
        profile = self._profile(step)
        if profile is None:
            link_s, lat_ns, red_b = self._routed_loads(step, int(itemsize))
        else:
            link_s, lat_ns, red_b = self._pattern_loads(step, int(itemsize), *profile)
        dt = self._combine(link_s, lat_ns, red_b)
        self._add(dt, k)
        return dt

    def _routed_loads(self, step, itemsize):
        """Route every transfer of ``step``: (max_link_s, max_path_lat_ns, max_red_bytes)."""
        from .kernels import timing

        self._grow(0, 0, step.n_transfers)
        tp = self.topology
        return timing.step_loads(
            step.src, step.dst, step.n, step.reduce, self.npus, itemsize, tp.level_table,
            tp.lat_ns, float(tp.params.hop_lat_ns), self.class_first, self.class_cap_Bps,
            self.load, self.touched, self.red_bytes, self.red_touched, self.path, self._busy,
            self._bytes)

    def _pattern_loads(self, step, itemsize, idx, hops, used, lat_ns):
        """The same figures from a profile (:meth:`_profile`) of transfers ``idx``."""
        from .kernels import timing

        n, red = (step.n, step.reduce) if idx is None else (step.n[idx], step.reduce[idx])
        link_s, red_b = timing.pattern_step(n, itemsize, red, hops, used, self.class_cap_Bps,
                                            self._busy, self._bytes)
        return link_s, lat_ns, red_b

    def _profile(self, step):
        """Routes of a step whose (src, dst) pairs repeat, when each link carries one transfer.

        A ring phase sends between the same ranks at every step, only the block sizes change:
        when a step repeats the previous step's pairs, they are routed once more
        (:meth:`_build_profile`) and every further repeat is timed from the per-transfer hop
        counts. Returns ``(transfers profiled (None: all), hops, used classes, max path
        latency in ns)`` or None (time the step normally). Transfers of 0 elements never
        reach here (``Step.make`` drops them), so every transfer counts for latency.
        """
        key = self._pattern_key
        same = key is not None and same_array(key[0], step.src) and same_array(key[1], step.dst)
        red_same = same and (self.reduce_Bps == 0 or np.array_equal(key[2], step.reduce))
        same, red_same, n_transfers = self._agree(same, red_same, step.n_transfers)
        if not same:
            big = n_transfers >= PATTERN_MIN_TRANSFERS
            self._pattern_key = (step.src, step.dst, step.reduce) if big else None
            self._pattern, self._profiled = None, False
            return None
        if not self._profiled:  # second sight of these pairs: worth profiling
            self._pattern_key = (step.src, step.dst, step.reduce)
            self._pattern, self._profiled = self._build_profile(step), True
        elif not red_same:
            return None  # the one-reduce-per-NPU check was made for other reduce flags
        return self._pattern

    def _agree(self, same, red_same, n_transfers):
        """The facts :meth:`_profile` decides on (one process: as they are)."""
        return same, red_same, n_transfers

    def _build_profile(self, step):
        """Route ``step`` once; its profile if every link carries at most one transfer."""
        from .kernels import timing

        self._grow(0, 0, step.n_transfers)
        tp = self.topology
        hops = np.zeros((len(self.class_names), step.n_transfers), np.int32)
        lat = np.empty(step.n_transfers)
        max_uses, max_red = timing.pattern_profile(
            step.src, step.dst, step.reduce, self.npus, tp.level_table, tp.lat_ns,
            float(tp.params.hop_lat_ns), self.class_first, self.load, self.touched,
            self.red_bytes, self.path, hops, lat)
        if max_uses <= 1 and (max_red <= 1 or self.reduce_Bps == 0):
            return None, hops, np.flatnonzero(hops.any(axis=1)), float(lat.max())
        return None

    def _combine(self, link_s, lat_ns, red_bytes):
        dt = link_s + lat_ns * 1e-9 + self.overhead_s
        if self.reduce_Bps > 0:
            dt += red_bytes / self.reduce_Bps
        return dt

    # -- windows: several steps timed as one (``notes["concurrent_steps"]``) ----------------
    @property
    def in_window(self):
        return self._window is not None

    def begin_window(self):
        """Start adding steps' loads together; :meth:`end_window` times them as one step."""
        self._window = [0, 0, 0.0]  # touched links, touched NPUs, max path latency

    def add_to_window(self, step, itemsize, repeat=None):
        """Add ``repeat`` (default ``step.repeat``) occurrences of ``step`` to the window."""
        k = step.repeat if repeat is None else int(repeat)
        self.n_steps += k
        self._window = self._accumulate(self._window, step, itemsize, float(k))

    def _senders(self, step):
        """Transfers of ``step`` this timer routes (None: all of them)."""
        return None

    def _accumulate(self, acc, step, itemsize, scale):
        """``acc`` = [touched links, touched NPUs, max path latency] after adding ``step``'s
        bytes (times ``scale``) of the transfers :meth:`_senders` picks."""
        from .kernels import timing

        idx = self._senders(step)
        src, dst, n, red = ((step.src, step.dst, step.n, step.reduce) if idx is None else
                            (step.src[idx], step.dst[idx], step.n[idx], step.reduce[idx]))
        nt, nr, lat = acc
        if src.size:
            self._grow(nt, nr, src.size)
            tp = self.topology
            nt, nr, step_lat = timing.accumulate(
                src, dst, n, red, self.npus, int(itemsize), float(scale), tp.level_table,
                tp.lat_ns, float(tp.params.hop_lat_ns), self.load, self.touched, nt,
                self.red_bytes, self.red_touched, nr, self.path)
            lat = max(lat, step_lat)
        return [nt, nr, lat]

    def end_window(self):
        """Time the window's summed loads as one step (one latency, one overhead)."""
        from .kernels import timing

        nt, nr, lat = self._window
        self._window = None
        link_s, red_b = timing.drain(self.class_first, self.class_cap_Bps, self.load,
                                     self.touched, nt, self.red_bytes, self.red_touched, nr,
                                     self._busy, self._bytes)
        dt = self._combine(link_s, lat, red_b) if nt or nr else self.overhead_s
        self._add(dt, 1)
        return dt

    def usage(self):
        """Per-class usage so far (:class:`ubemu.result.ClassUsage` list) and the bottleneck.

        Utilisation is bytes / (effective capacity x links x total time): 1.0 means every link
        of the class sent at full (efficiency-derated) speed for the whole collective.
        """
        denom = self.class_cap_Bps * self.class_count * self.time_s
        util = np.divide(self.bytes, denom, out=np.zeros_like(self.bytes), where=denom > 0)
        out = [ClassUsage(name, lvl, float(b), float(s), float(u)) for name, lvl, b, s, u in
               zip(self.class_names, self.level_of_class, self.bytes, self.busy_s, util)]
        bottleneck = ""
        if self.busy_s.size and self.busy_s.max() > 0:
            bottleneck = self.class_names[int(np.argmax(self.busy_s))]
        return out, bottleneck


def time_schedule(schedule, topology, comm=None, itemsize=4, make_timer=StepTimer):
    """Modelled time of ``schedule`` on ``topology``.

    Parameters
    ----------
    schedule : Schedule
        Preferably timing-only (``data=False``: repeated steps merged); data schedules work too.
    topology : Topology
    comm : Comm, optional
        Supplies ``npus`` (rank -> NPU id); default: rank = NPU id.
    itemsize : int
        Bytes per element.
    make_timer : callable(topology, npus) -> StepTimer
        The timer to drive (``ubemu.partition`` passes one spread over MPI processes).

    Returns
    -------
    time_s : float
    usage : list of ClassUsage
    bottleneck : str
        Name of the link class whose busiest link was busy longest ("" if nothing moved).
    """
    npus = getattr(comm, "npus", None) if comm is not None else None
    if npus is None and schedule.n_ranks > topology.n_npus:
        raise UbemuError(f"timing: {schedule.n_ranks} ranks do not fit on topology "
                         f"{topology.name!r} of {topology.n_npus} NPUs")
    if npus is not None and len(npus) != schedule.n_ranks:
        raise UbemuError(f"timing: the communicator maps {len(npus)} ranks, the schedule has "
                         f"{schedule.n_ranks}")
    if npus is None:
        npus = np.arange(schedule.n_ranks, dtype=np.int64)
    timer = make_timer(topology, npus)
    windows = _windows(schedule)
    k = 0
    for step in schedule.steps():
        if not windows:
            timer.step_time(step, itemsize)
            continue
        pos, end = k, k + step.repeat
        while pos < end:  # cut the step's occurrences at window boundaries
            inside = [w for w in windows if w[0] <= pos < w[1]]
            if inside:
                stop = min(end, inside[0][1])
                if not timer.in_window:
                    timer.begin_window()
                timer.add_to_window(step, itemsize, stop - pos)
                if stop == inside[0][1]:
                    timer.end_window()
            else:
                stop = min([end] + [a for a, _ in windows if a > pos])
                timer.step_time(step, itemsize, stop - pos)
            pos = stop
        k = end
    if timer.in_window:
        timer.end_window()
    usage, bottleneck = timer.usage()
    return timer.time_s, usage, bottleneck


def _windows(schedule):
    """Half-open step ranges timed as one step (``notes["concurrent_steps"]``), validated."""
    raw = schedule.notes.get("concurrent_steps", ()) if schedule.notes else ()
    out = sorted((int(a), int(b)) for a, b in raw if int(b) - int(a) > 1)
    for (a0, b0), (a1, _) in zip(out, out[1:]):
        if a1 < b0:
            raise UbemuError(f"{schedule.algorithm} {schedule.collective}: overlapping "
                             f"concurrent_steps windows ({a0}, {b0}) and ({a1}, ...)")
    return out
