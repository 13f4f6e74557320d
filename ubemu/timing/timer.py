"""The step-level timing model: link loads -> step times -> a collective's time and usage.

A step lasts::

    max( max over links (bytes on link / (capacity x efficiency))      bandwidth term
         + max over messages (path latency + fill)                     (levels, access, hops)
         + send_overhead_ns                                            the first message's post
         + max over NPUs (receive tail),                               receives after the data
         max over NPUs (k send_overhead_ns + m recv_overhead_ns) )     an NPU's k sends, m receives
    + params.overhead_ns                                               software alpha per step
    + max over NPUs (bytes reduced) / params.reduce_GBps               reduction compute (if > 0)

A message is a run of consecutive transfers of one (src, dst) pair in a step (src != dst): a
rank sending several blocks to one peer in one step sends one message. Its *fill* is
``min(m, fill_bytes) / fill_GBps`` for a message of m bytes: the first chunk of a pipelined
transfer goes through one channel's staging buffer before the rest streams at link speed
(NCCL's 512 KiB chunk at a channel's bandwidth; 0 by default). This is LogGP's o at
both ends: an NPU's processor posts its sends and completes its receives one after another
while the network carries them, and it completes a message only once the message has
arrived. An NPU's *receive tail* (:func:`ubemu.kernels.timing.receive_tail_s`) is how long
its receive costs outlast the data: ``recv_overhead_ns`` for one message; m messages that
share its links fairly (an incast) complete together and queue up, ``m recv_overhead_ns``
when they were posted together, less when their senders' send costs staggered them. It
reproduces SimGrid SMPI's timing of its ring and its linear and pairwise all-to-all with
per-message overheads from 8 to 256 ranks (``peer/``).

A link's capacity is its class's bandwidth times its level's point-to-point efficiency
(``Topology.class_efficiency``). A protocol (:mod:`ubemu.timing.protocols`) multiplies the
software terms (``overhead_ns``, the per-message overheads) by its ``sw`` factor and the link
bandwidth by its ``bw`` factor; a timer times several protocols in one walk. A step whose
transfers belong to ``channels`` channels shares each NPU's message costs among that many
engines (the busiest NPU's message time and the longest receive tail are divided by it;
a protocol's ``sw`` then scales ``send_overhead_ns + max(recv_overhead_ns, tail)``). An
in-network step (``Step.innet``) loads the switch ports as
:func:`ubemu.kernels.timing.accumulate_innet` says, at the level's in-network efficiency.
Every collective costs ``launch_ns`` once, at its end. A schedule's ``pipelines`` are timed
by :mod:`ubemu.timing.pipeline`.

A step's data may move in slices (``params.slices``): :mod:`ubemu.timing.slices`.

Links are full duplex (each direction, and a switch's up and down links, are separate ids).
A step with ``repeat = k`` is timed once and counted ``k`` times. The steps of a schedule's
``windows`` (half-open ranges of step indices, e.g. the ``p-1`` link-disjoint steps of a
one-shot reduce-scatter) are timed as one step: their link loads add up, and latency, overhead
and reduction are charged once.

Where the loads are summed is a strategy given to the timer (:class:`LocalLoads`: all in this
process; :class:`ubemu.parallel.loads.PartitionedLoads`: spread over MPI processes). A timer
routes the transfers the strategy's ``senders`` picks, asks it to ``settle`` the accumulated
loads (after which this process holds the summed loads of the keys it owns), drains those, and
has the strategy ``gather`` the step's figures, so every process ends with the same numbers.
"""

from fractions import Fraction

import numpy as np

from ..errors import UbemuError
from ..kernels import select
from ..machine.faults import kernel_arrays, link_weights
from ..schedule import AllPairs, PartnerStep
from . import partners, symmetry
from .loads import LocalLoads
from .patterns import PatternProfiles
from .pipeline import PipelineRuns
from .protocols import SIMPLE, class_factors
from .replicas import ReplicaSymmetry
from .slices import SlicedSteps
from .totals import RunTotals
from .usage import LinkUsage


class StepTimer(PatternProfiles, ReplicaSymmetry, PipelineRuns, SlicedSteps, LinkUsage,
                RunTotals):
    """Times steps on one topology, reusing its per-link scratch arrays between steps.

    Parameters
    ----------
    topology : Topology
    npus : int64 array, optional
        Topology NPU id of each communicator rank (default: rank = NPU id).
    loads : LocalLoads or PartitionedLoads, optional
        Where loads are summed (default: :class:`LocalLoads`).
    protocols : sequence of (name, sw factor, bw factor), optional
        The protocols to time (:func:`ubemu.timing.protocols.resolve`; default ``simple``);
        :attr:`time_s` and :meth:`usage` are the first one's, :meth:`protocol_times` all.
    """

    def __init__(self, topology, npus=None, loads=None, protocols=(SIMPLE,)):
        self.topology = topology
        n_npus = topology.n_npus
        if npus is None:
            npus = np.arange(n_npus, dtype=np.int64)
        self.npus = np.ascontiguousarray(npus, np.int64)
        if self.npus.size and (self.npus.min() < 0 or self.npus.max() >= n_npus):
            raise UbemuError(f"timing: NPU ids must lie in 0..{n_npus - 1}")
        self.spread = loads if loads is not None else LocalLoads()
        p = topology.params
        classes = topology.link_classes
        self.class_names = [c.name for c in classes]
        self.class_first = np.array([c.first_id for c in classes], np.int64)
        self.class_count = np.array([c.count for c in classes], np.float64)
        self.class_cap_Bps = np.array([c.bw_GBps * 1e9 for c in classes]) \
            * topology.class_efficiency()
        self.level_of_class = [c.level for c in classes]
        self.load = np.zeros(topology.n_links, np.float64)
        self.red_bytes = np.zeros(2 * n_npus, np.float64)  # reduced bytes, then messages
        self.path = np.empty(topology.route_hops, np.int64)
        self.faults = kernel_arrays(topology)
        self.weight = link_weights(topology)
        self.err = np.zeros(4, np.int64)
        #: Routes of compact partner patterns (:mod:`ubemu.timing.partners`), by pattern.
        self.partner_routes = {}
        self._identity = {}
        self.touched = np.empty(0, np.int64)
        self.red_touched = np.empty(0, np.int64)
        self._busy = np.zeros(len(classes))
        self._bytes = np.zeros(len(classes))
        self._pattern_key = self._pattern = None
        self._shapes, self._rep, self._replica_marks = (None, None), None, None  # replicas'
        self._profiled = False
        self.overhead_s = p.overhead_ns * 1e-9
        self.send_s, self.recv_s = p.send_overhead_ns * 1e-9, p.recv_overhead_ns * 1e-9
        self.messages = bool(self.send_s or self.recv_s)
        self.fill = (float(p.fill_bytes), 1.0 / p.fill_GBps if p.fill_GBps > 0 else 0.0)
        self.reduce_Bps = p.reduce_GBps * 1e9
        self.launch_s = p.launch_ns * 1e-9
        self.slices = float(p.slices)
        self.protocols = tuple(protocols)
        self._factors = [(float(sw), float(bw)) for _, sw, bw in self.protocols]
        # per protocol: each link class's bandwidth factor where the levels differ, else None
        self._class_bw = [None if f is None else np.array(f) for f in
                          (class_factors(topology, name, bw) for name, _, bw in self.protocols)]
        self._pipe = None  # PipelineRuns' state while a pipeline is being timed
        #: A list to record every timed unit in (a step, or a window timed as one):
        #: ``(link ids, bytes on each, link_s, dt, k, bytes per class)``; None: no record.
        #: Recording takes no repeated-pattern or every-peer shortcut (replicas: one routed
        #: per shape, :mod:`ubemu.timing.replicas`); the figures are the same.
        self.capture = None
        self._loads = None
        self.reset()

    def reset(self):
        """Zero the accumulated time and usage."""
        n_proto = len(self.protocols)
        self._times = [Fraction(0)] * n_proto
        self._hidden = [Fraction(0)] * n_proto  # per protocol: the most a step hid (slices)
        self._used = None  # per link: carried bytes in some step (allocated when first needed)
        self._class_used = np.zeros(len(self.class_names), bool)  # every link of the class
        self._busy_total = [Fraction(0)] * len(self.class_names)
        # per protocol: steps' busiest-NPU message time, where it rules
        self._message_totals = [Fraction(0)] * n_proto
        self.n_steps = 0
        #: The routes of the last ring with steady channels (:mod:`ubemu.timing.shifts`).
        self.steady_routes = None
        self._window = None
        self._window_engines = 1
        self.bytes = np.zeros(len(self.class_names))

    @property
    def time_s(self):
        """Total time so far: the exact sum of the step times, rounded once."""
        return float(self.exact_time)

    @property
    def exact_time(self):
        """Total time so far as the exact :class:`~fractions.Fraction` sum of the steps (and
        the most a sliced step hid, paid once)."""
        return self._times[0] + self._hidden[0]

    def protocol_times(self):
        """``{protocol name: total time so far in s}`` of every protocol timed."""
        return {name: float(t + h) for (name, _, _), t, h in
                zip(self.protocols, self._times, self._hidden)}

    def add_launch(self):
        """Count the collective's launch cost (``launch_ns``) once."""
        if self.launch_s:
            for i in range(len(self._times)):
                self._times[i] += Fraction(self.launch_s)
            if self.capture is not None:
                self.capture.append((np.zeros(0, np.int64), np.zeros(0), 0.0, self.launch_s,
                                     1, np.zeros(len(self.class_names))))

    @property
    def busy_s(self):
        """Per-class busy time so far (exact sums, rounded once)."""
        return np.array([float(b) for b in self._busy_total])

    def kernels(self, n_items=None):
        """The link-load kernels (Numba) or their NumPy twins for a call over ``n_items``
        transfers or links (:mod:`ubemu.kernels.select`; imported on first use: a step timed
        in closed form needs neither)."""
        tp = self.topology
        return select.timing(tp.n_npus, tp.faults is not None, n_items)

    def identity(self, n):
        """True when ranks ``0..n-1`` are NPUs ``0..n-1`` in order (checked once per n)."""
        if n not in self._identity:
            self._identity[n] = bool(self.npus.size == n and np.array_equal(
                self.npus, np.arange(n, dtype=np.int64)))
        return self._identity[n]

    def ensure_room(self, n_touched, n_red, capped=True):
        """Room for ``n_touched`` / ``n_red`` entries in the touched lists (kept in front);
        ``capped``: no more than one entry per link and per NPU key (a kernel that writes
        without bounds checks asks for all it may write)."""
        for name, need, cap in (("touched", n_touched, self.topology.n_links),
                                ("red_touched", n_red, 2 * self.topology.n_npus)):
            arr, need = getattr(self, name), min(need, cap) if capped else need
            if arr.size < need:
                grown = np.empty(max(need, 2 * arr.size), np.int64)
                grown[:arr.size] = arr
                setattr(self, name, grown)

    def _count(self, figures, k, engines=1):
        """Count ``k`` occurrences of a timed unit (a step, or a window timed as one) with
        ``figures`` ``(link_s, lat_ns, red_bytes, cpu_s, tail_s, moved)`` (None: it moved
        nothing) and :attr:`_busy` / :attr:`_bytes` its per-class figures, under every
        protocol; ``engines``: the NPUs' message costs (their busy time and their receive
        tails) are shared by that many channels. Returns the first protocol's time of one
        occurrence."""
        if figures is not None and engines > 1:
            figures = (*figures[:3], figures[3] / engines, figures[4] / engines, figures[5])
        if self._pipe is not None:
            return self._pipe_count(figures, k)
        dts = []
        for i in range(len(self._factors)):
            if figures is None:
                dt, message_s = self.overhead_s * self._factors[i][0], 0.0
            else:
                fig, proto = self._under(i, figures)
                dt, message_s = self._combine(*fig, proto), self._message_bound(*fig, proto)
                if self.slices > 1 and fig[5]:
                    dt = self._sliced(i, dt, fig, proto)
            self._times[i] += Fraction(dt) * k
            if message_s:
                self._message_totals[i] += Fraction(message_s) * k
            dts.append(dt)
        self._add(dts[0], k, figures[0] if figures is not None else 0.0)
        return dts[0]

    def _under(self, i, figures):
        """``(figures, (sw, bw))`` of protocol ``i``: where its bandwidth factor differs by
        level, the link term is the most over the classes of :attr:`_busy` over the class's
        factor (the figures then carry it, and bw is 1)."""
        vec = self._class_bw[i]
        if vec is None:
            return figures, self._factors[i]
        link_s = float((self._busy / vec).max(initial=0.0))
        return (link_s, *figures[1:]), (self._factors[i][0], 1.0)

    def _add(self, dt, k, link_s=0.0):
        """Count ``k`` occurrences of a unit of ``dt`` seconds in the usage (the times are
        :meth:`_count`'s). Sums are exact (Fractions of the float terms), so a step counted k
        times or k steps of the same time give the same total: timing-only schedules merge
        repeats, per-process ones (MPI) do not. Bytes are whole numbers, exact in float64."""
        for c, b in enumerate(self._busy.tolist()):
            if b:
                self._busy_total[c] += Fraction(b) * k
        self.bytes += self._bytes * k
        if self.capture is not None:
            ids, nbytes = self._loads or (np.zeros(0, np.int64), np.zeros(0))
            self.capture.append((ids, nbytes, link_s, dt, k, self._bytes.copy()))
            self._loads = None

    def _message_s(self, tail_s, moved):
        """The message costs a step adds to its data: the first post and the receive tail
        (at least one receive)."""
        return self.send_s + max(self.recv_s, tail_s) if moved else 0.0

    def _combine(self, link_s, lat_ns, red_bytes, cpu_s, tail_s, moved, proto=(1.0, 1.0),
                 share=1.0):
        """A step's time from its figures (the module docstring's rule) under a protocol's
        ``(sw, bw)`` factors; ``share``: the part of its bytes moved (a pipeline's chunk)."""
        sw, bw = proto
        dt = max(cpu_s * sw, link_s * share / bw + lat_ns * 1e-9
                 + self._message_s(tail_s, moved) * sw) + self.overhead_s * sw
        if self.reduce_Bps > 0:
            dt += red_bytes * share / self.reduce_Bps
        return dt

    def _message_bound(self, link_s, lat_ns, red_bytes, cpu_s, tail_s, moved,
                       proto=(1.0, 1.0)):
        """The busiest NPU's message time where it outlasts the network (its whole busy time,
        or a queue of receives after the data that lasts longer than the data), else 0."""
        sw, bw = proto
        message_s = self._message_s(tail_s, moved) * sw
        if cpu_s * sw > link_s / bw + lat_ns * 1e-9 + message_s:
            return cpu_s * sw
        return message_s if tail_s > self.recv_s and message_s > link_s / bw else 0.0

    # -- one step ---------------------------------------------------------------------------
    def step_time(self, step, itemsize, repeat=None):
        """Time of one occurrence of ``step`` in seconds; adds ``repeat`` occurrences
        (default ``step.repeat``) to the totals."""
        k = step.repeat if repeat is None else int(repeat)
        self.n_steps += k
        if self._pipe is not None:
            self.stage(step, itemsize)
        if step.n_transfers == 0 and not self.spread.collective:
            self._busy[:] = 0.0
            self._bytes[:] = 0.0
            return self._count(None, k)
        each = self.capture is not None or self.summing_links  # every link's load wanted
        closed = None if step.innet or each else partners.figures(self, step, int(itemsize))
        if closed is None and isinstance(step, PartnerStep):
            step = step.explicit()  # no closed form here: timed as any explicit step
        compact = hasattr(step, "parts") or each or step.innet
        profile = None if compact or closed else self._profile(step)
        if isinstance(step, AllPairs) and not each and self._symmetric(step):
            figures = self._all_pairs_figures(step, int(itemsize))
        elif closed is not None:
            self._busy[:], self._bytes[:], figures = closed
        elif profile is None:
            figures = self.figures(step, itemsize)
        else:
            figures = self._pattern_figures(step, int(itemsize), *profile)
        return self._count(figures, k, step.channels)

    def figures(self, step, itemsize):
        """Route ``step`` alone and return its figures ``(link_s, lat_ns, red_bytes, cpu_s,
        tail_s, moved)`` without adding it to the totals."""
        return self._drain(self._accumulate([0, 0, 0.0], step, itemsize, 1.0))

    def class_busy(self):
        """``{link class name: seconds its busiest link is busy}`` of the figures last
        computed (:meth:`figures`), the classes with any."""
        return {name: float(b) for name, b in zip(self.class_names, self._busy) if b}

    def accumulate(self, acc, step, itemsize, scale=1.0):
        """Add ``step``'s bytes (times ``scale``) to the accumulated loads (``acc`` =
        [touched links, touched NPUs, max path latency]); the updated ``acc``. A route the
        faults do not allow raises its one-line error."""
        return self._accumulate(acc, step, itemsize, scale)

    def check_routes(self):
        """Raise the one-line error of the last route the faults did not allow, if any."""
        self._check_routes()

    def add_figures(self, busy_s, lat_ns, red_bytes, cpu_s, tail_s, k, engines=1):
        """Count ``k`` steps whose busiest link per class is busy ``busy_s`` (an array, one
        per class) with the other figures given: a shortcut's steps, timed by the rule."""
        self._busy[:] = busy_s
        self._bytes[:] = 0.0
        fig = (float(self._busy.max(initial=0.0)), lat_ns, red_bytes, cpu_s, tail_s, True)
        return self._count(fig, k, engines)

    def _own(self, step):
        """(src, dst, n, reduce) of the transfers of ``step`` this process routes."""
        idx = self.spread.senders(step)
        if idx is None:
            return step.src, step.dst, step.n, step.reduce
        return step.src[idx], step.dst[idx], step.n[idx], step.reduce[idx]

    def _accumulate(self, acc, step, itemsize, scale):
        """``acc`` = [touched links, touched NPUs, max path latency] after adding ``step``'s
        bytes (times ``scale``) of this process's transfers."""
        if step.innet:
            return self._accumulate_innet(acc, step, itemsize, scale)
        if hasattr(step, "parts"):  # a compact step (AllPairs, Replicas)
            shapes = self._replica_plan(step, scale)
            if shapes is not None:
                return self._accumulate_replicas(acc, step, itemsize, scale, shapes)
            for part in step.parts():
                acc = self._accumulate(acc, part, itemsize, scale)
            return acc
        src, dst, n, red = self._own(step)
        nt, nr, lat = acc
        if src.size:
            self.ensure_room(nt + src.size * self.path.size, nr + 3 * src.size)
            tp = self.topology
            nt, nr, step_lat = self.kernels(src.size).accumulate(
                src, dst, n, red, self.npus, int(itemsize), float(scale), tp.level_table,
                tp.lat_ns, float(tp.params.hop_lat_ns), *self.faults, self.load, self.touched,
                nt, self.red_bytes, self.red_touched, nr, self.path, self.messages, *self.fill,
                self.err)
            self._check_routes()
            lat = max(lat, step_lat)
        return [nt, nr, lat]

    def _accumulate_innet(self, acc, step, itemsize, scale):
        """:meth:`_accumulate` of an in-network step (:class:`~ubemu.schedule.Step` ``innet``),
        explicit or the parts of compact replicas."""
        if hasattr(step, "parts"):
            for part in step.parts():
                acc = self._accumulate_innet(acc, part, itemsize, scale)
            return acc
        tp = self.topology
        if tp.faults is not None:
            raise UbemuError("in-switch reduction under failed links or NPUs is not modelled; "
                             "use an algorithm without it")
        if self.spread.collective:
            raise UbemuError("in-switch reduction steps are timed in one process")
        lv = tp.levels[step.via]
        if not lv.reduces:
            raise UbemuError(f"level {lv.name or step.via}: its switches do not reduce in the "
                             f"network (no innet_efficiency)")
        nt, nr, lat = acc
        if step.src.size:
            self.ensure_room(nt + 4 * step.src.size, nr + 2 * step.src.size)
            ratio = tp.level_efficiency(step.via) / lv.innet_efficiency
            nt, nr, step_lat = self.kernels(step.src.size).accumulate_innet(
                step.src, step.dst, step.n, self.npus, int(itemsize), float(scale), ratio,
                int(step.innet), int(step.via), tp.level_table,
                float(lv.innet_lat_ns or lv.lat_ns), float(tp.params.hop_lat_ns), self.load,
                self.touched, nt, self.red_bytes, self.red_touched, nr, self.messages,
                *self.fill)
            lat = max(lat, step_lat)
        return [nt, nr, lat]

    def _check_routes(self):
        """Raise the one-line error of a route the faults did not allow."""
        if self.err[0]:
            from ..machine.faultreport import route_error

            code, s, d, link = (int(x) for x in self.err)
            raise route_error(self.topology, code, s, d, link)

    def _drain(self, acc):
        """Settle, drain and gather accumulated loads:
        (link_s, lat_ns, red_bytes, cpu_s, tail_s, moved)."""
        nt, nr, lat = acc
        moved = nt + nr > 0
        nt, nr = self.spread.settle(self, nt, nr)
        self.mark_used(self.touched[:nt])
        if self.capture is not None or self.summing_links:
            ids = self.touched[:nt].copy()
            self._loads = (ids, self.load[ids])
        timing = self.kernels(nt + nr)
        link_s, red_b, cpu_s, tail_s = timing.drain(
            self.class_first, self.class_cap_Bps, self.load, self.touched, nt, self.red_bytes,
            self.red_touched, nr, self._busy, self._bytes, self.send_s, self.recv_s, self.weight)
        return self.spread.gather((link_s, lat, red_b, cpu_s, tail_s, moved), self._busy,
                                  self._bytes)

    # -- every rank to every other (AllPairs) ------------------------------------------------
    def _symmetric(self, step):
        """The step's figures follow from NPU 0's routes (:mod:`ubemu.timing.symmetry`): one block
        size, every NPU of an interchangeable topology in the group."""
        tp = self.topology
        return (step.n_ranks == tp.n_npus > 1 and step.uniform and symmetry.interchangeable(tp)
                and symmetry.link_messages(tp) is not None)

    def _all_pairs_figures(self, step, itemsize):
        """What :meth:`_drain` gives after routing every transfer of ``step``, bit for bit:
        every link of a class carries the same whole number of equal messages."""
        p, b = step.n_ranks, float(step.uniform * itemsize)
        per_link = symmetry.link_messages(self.topology)
        crossings, lat_ns = symmetry.npu0_routes(self.topology)
        self._busy[:] = per_link * b / self.class_cap_Bps
        self._class_used |= per_link > 0  # by the symmetry, every link of such a class
        self._bytes[:] = (crossings * p).astype(np.float64) * b
        fill_bytes, ns_per_byte = self.fill
        lat = lat_ns + min(b, fill_bytes) * ns_per_byte
        from ..kernels.numpy_timing import receive_tail_s

        cpu_s = tail_s = 0.0
        if self.messages:  # every NPU sends and receives p - 1 messages
            cpu_s = (p - 1) * self.send_s + (p - 1) * self.recv_s
            tail_s = receive_tail_s(float(p - 1), float(p - 1), self.send_s, self.recv_s)
        return (float(self._busy.max()), lat, (p - 1) * b if step.red else 0.0, cpu_s, tail_s,
                True)

    # -- windows: several steps timed as one ----------------------------------------------------
    @property
    def in_window(self):
        return self._window is not None

    def begin_window(self):
        """Start adding steps' loads together; :meth:`end_window` times them as one step."""
        self._window = [0, 0, 0.0]
        self._window_engines = 0
        if self._pipe is not None:
            self._pipe["window"] = 1  # the window's chunks: the most of its steps

    def add_to_window(self, step, itemsize, repeat=None):
        """Add ``repeat`` (default ``step.repeat``) occurrences of ``step`` to the window."""
        k = step.repeat if repeat is None else int(repeat)
        self.n_steps += k
        if self._pipe is not None:
            self.stage(step, itemsize)
        self._window = self._accumulate(self._window, step, itemsize, float(k))
        if step.n_transfers:
            engines = self._window_engines
            self._window_engines = step.channels if not engines else min(engines, step.channels)

    def end_window(self):
        """Time the window's summed loads as one step (one latency, one overhead)."""
        acc, self._window = self._window, None
        figures = self._drain(acc)
        if not figures[-1]:
            self._busy[:] = 0.0
        return self._count(figures if figures[-1] else None, 1, max(self._window_engines, 1))


