"""Pipelined runs of steps: the data move in chunks, each going on as soon as it arrived.

A schedule's ``pipelines`` (``(start, stop, chunk bytes, elements)``,
:class:`ubemu.schedule.Schedule`) name runs of steps whose data (``elements`` per channel) is cut
into ``C`` chunks of at most ``chunk`` bytes (:func:`chunk_count`): while chunk 2 crosses step 1,
chunk 1 crosses step 2, so consecutive steps, and the phases of a hierarchical algorithm on
different link classes, overlap. A library cuts each step's transfer into chunks of at most
``chunk`` bytes, so a timed unit ``u`` (a step, counted ``k_u`` times, or a window timed as one)
whose largest message has ``m_u`` bytes moves in ``C_u = min(C, ceil(m_u / chunk))`` chunks
(:func:`stage_chunks`): a stage of 1 KiB blocks is one message, not ``C``. The run lasts::

    sum over u of  k_u t_u(1/C_u)                                    the first chunk of each
  + max( max over link classes c of  pace_c,                         the rest, on the resource
         sum_u k_u (C_u - 1) cpu_u,                                  the stages use most
         sum_u k_u (C_u - 1)/C_u reduced_u / reduce rate )

    pace_c = sum_u k_u (C_u - 1)/C_u busy_u(c)

where all figures come from the step-level model (:mod:`ubemu.timing.timer`): ``t_u(1/C_u)`` is
the unit's time by the step rule with a ``1/C_u`` share of its link time and reductions and its
messages' fill taken for a block of ``1/C_u`` of their size (latency, per-message costs and
overhead as they are: a chunk pays them at every stage); ``busy_u(c)`` the time its busiest link
of class c is busy, ``cpu_u`` its busiest NPU's message time (each chunk is a message) and
``reduced_u`` its most bytes reduced by one NPU. With every ``C_u = C`` this is the fill plus
``(C - 1)`` times the pace of one chunk; with ``C = 1`` the plain sum of the units.

A class's pace is the sum over the stages of its busiest link: exact where the stages load the
class's links alike (a ring's steps, an in-switch reduction, every rank to every other on the
symmetric grids the hierarchical algorithms run on), else an upper bound. A tree loads different
ports at different steps (a child's uplink while it reduces, its parent's while it broadcasts):
a schedule's ``link_sums`` (runs of steps inside a pipeline, a double binary tree's) are paced
link by link instead: ``pace_c`` takes, for such a run, the most over the links of class c of
``sum_u k_u (C_u - 1)/C_u (bytes of u on the link) / the link's capacity``. Their steps are
routed transfer by transfer (no repeated-pattern shortcut), their loads summed per link.

The sums are exact (Fractions; a link's bytes are whole numbers), so merged repeats and steps one
by one give the same time.
"""

from fractions import Fraction

import numpy as np

from ..lockstep import Replicas
from ..schedule import AllPairs, PartnerStep, ShiftSteps
from .groupcost import summed_link_busy
from .shapes import Cost


def chunk_count(elements, itemsize, chunk_bytes):
    """Chunks a pipeline cuts ``elements`` elements (of ``itemsize`` bytes) into: as many
    as chunks of at most ``chunk_bytes`` need (at least 1; ``chunk_bytes`` 0: 1)."""
    if chunk_bytes <= 0 or elements <= 0:
        return 1
    return max(1, -(-int(elements) * int(itemsize) // int(chunk_bytes)))


def stage_chunks(message_bytes, chunk_bytes, chunks):
    """Chunks of a stage whose largest message has ``message_bytes``: as many as chunks of at
    most ``chunk_bytes`` need, at most the pipeline's ``chunks`` (at least 1)."""
    return max(1, min(int(chunks), chunk_count(int(message_bytes), 1, chunk_bytes)))


def message_bytes(step, itemsize):
    """Bytes of the largest message of one channel in ``step``: its largest transfer (an
    in-switch step's: a rank's block)."""
    if isinstance(step, ShiftSteps):
        n = step.base + (step.extra > 0)
        if step.steady is not None and step.steady.n_transfers:
            n = max(n, int(step.steady.n.max()))
        return n * itemsize
    if isinstance(step, Replicas):  # every replica's step alike
        return message_bytes(step.base, itemsize)
    if isinstance(step, AllPairs):
        return int(step.sizes.max(initial=0)) * itemsize
    if isinstance(step, PartnerStep) and step.sizes is not None:  # sizes no rank sends: none
        values, counts = (np.asarray(x) for x in step.sizes)
        return int(np.max(values[counts > 0], initial=0)) * itemsize
    if step.n_transfers == 0:
        return 0
    parts = getattr(step, "n_parts", None) or [step.n]  # joined channels: unjoined
    return max(int(part.max(initial=0)) for part in parts) * itemsize


def pipelined_cost(model, cost, chunks, chunk_bytes):
    """The module docstring's rule over the recorded steps of ``cost`` (a closed form's
    :class:`~ubemu.timing.shapes.Cost`) on ``model`` (its step arithmetic,
    :class:`ubemu.timing.stepcost.StepArithmetic`): the twin of :class:`PipelineRuns`."""
    if chunks <= 1:
        return cost
    fill, pace, cpu, red, sums = 0.0, {}, 0.0, 0.0, {}
    for spec, mult in cost.parts:
        fig = model.figures(spec)
        c_u = stage_chunks(spec.message_bytes(), chunk_bytes, chunks) if chunk_bytes \
            else chunks
        fill += model.time_of(fig, 1.0 / c_u) * mult
        if not fig.moved:
            continue
        left = (c_u - 1) / c_u
        top = spec.top()  # (of lines of two sizes, the larger loads each link the most)
        if top.group is None:
            for c, t in fig.busy.items():
                pace[c] = pace.get(c, 0.0) + t * mult * left
        else:  # a tree's steps (routed patterns'): link by link
            sizes = [sum(s) for s in zip(*(z for _, z in top.items))]  # the channels'
            sums.setdefault(top.group, []).append((top.items[0][0], sizes, mult * left))
        cpu += fig.cpu_s * mult * (c_u - 1)
        red += (fig.red if fig.reduce else 0.0) * mult * left
    for loads in sums.values():
        for c, t in summed_link_busy(loads).items():
            pace[c] = pace.get(c, 0.0) + t
    links = model.link_s(pace, max(pace.values(), default=0.0))
    return Cost(fill + max(links, cpu * model.proto[0], red * model.rho), cost.transfers,
                cost.peak, cost.held, cost.moved)


class PipelineRuns:
    """The pipeline part of :class:`ubemu.timing.timer.StepTimer` (its state and rule)."""

    @property
    def in_pipeline(self):
        return self._pipe is not None

    @property
    def summing_links(self):
        """Whether the current unit's loads are summed link by link (a ``link_sums`` run)."""
        return self._pipe is not None and self._pipe["sums"] is not None

    def begin_pipeline(self, chunks, chunk_bytes=0):
        """Start a pipelined run of ``chunks`` chunks of at most ``chunk_bytes`` (0: every
        stage in ``chunks``): its units are summed by :meth:`_pipe_count` until
        :meth:`end_pipeline`."""
        n_proto, n_cls = len(self.protocols), len(self.class_names)
        self._pipe = dict(chunks=int(chunks), chunk_bytes=int(chunk_bytes), unit=int(chunks),
                          fill=[Fraction(0)] * n_proto, busy=[Fraction(0)] * n_cls,
                          pace=[Fraction(0)] * n_cls, cpu=Fraction(0), red=Fraction(0),
                          bytes=np.zeros(n_cls), loads=[], saved_fill=self.fill, sums=None,
                          window=1)
        self.stage_chunks(int(chunks))

    def stage(self, step, itemsize):
        """Set the chunks of the unit ``step`` belongs to (:func:`stage_chunks`; in a window,
        the most of its steps') and the fill its messages' chunks take."""
        pipe = self._pipe
        c_u = stage_chunks(message_bytes(step, int(itemsize)), pipe["chunk_bytes"],
                           pipe["chunks"]) if pipe["chunk_bytes"] else pipe["chunks"]
        self.stage_chunks(c_u)
        if self.in_window:
            pipe["unit"] = max(pipe["window"], c_u)
            pipe["window"] = pipe["unit"]

    def stage_chunks(self, c_u):
        """The next unit moves in ``c_u`` chunks: a message's fill for a block of ``1/c_u``
        its size."""
        fill_bytes, ns_per_byte = self._pipe["saved_fill"]
        self._pipe["unit"] = c_u
        self.fill = (fill_bytes * c_u, ns_per_byte / c_u)

    def begin_link_sums(self):
        """Inside a pipeline: the next units' loads are summed link by link until
        :meth:`end_link_sums` (module docstring)."""
        if self._pipe is not None:
            self._pipe["sums"] = {}

    def end_link_sums(self):
        """Add the link-by-link sums since :meth:`begin_link_sums` to the pipeline's pace."""
        pipe = self._pipe
        if pipe is None or pipe["sums"] is None:
            return
        sums, pipe["sums"] = pipe["sums"], None
        n_cls = len(self.class_names)
        pace, busy = np.zeros(n_cls), np.zeros(n_cls)
        ids, seconds, plain = self._link_seconds(sums)
        if ids.size:
            cls = np.searchsorted(self.class_first, ids, side="right") - 1
            np.maximum.at(pace, cls, seconds)
            np.maximum.at(busy, cls, plain)
        most = self.spread.gather_max(np.concatenate((pace, busy)))
        for c in range(n_cls):
            pipe["pace"][c] += Fraction(float(most[c]))
            pipe["busy"][c] += Fraction(float(most[n_cls + c]))

    def _link_seconds(self, sums):
        """``(link ids, seconds of the pace, plain busy seconds)`` of ``sums`` (chunks ->
        list of (ids, bytes)): each link's bytes summed exactly per stage chunk count, then
        weighted by ``(C_u - 1)/C_u`` and timed at its class's capacity."""
        merged = {c_u: _merged(loads) for c_u, loads in sorted(sums.items())}
        ids = np.unique(np.concatenate([i for i, _ in merged.values()] or
                                       [np.zeros(0, np.int64)]))
        total, plain = np.zeros(ids.size), np.zeros(ids.size)
        for c_u, (i, b) in merged.items():
            where = np.searchsorted(ids, i)
            total[where] += b * ((c_u - 1) / c_u)
            plain[where] += b
        cap = self.class_cap_Bps[np.searchsorted(self.class_first, ids, side="right") - 1]
        if self.weight.size:  # as the drain kernel times a link
            return ids, total * self.weight[ids] / cap, plain * self.weight[ids] / cap
        return ids, total / cap, plain / cap

    def _pipe_count(self, figures, k):
        """Add ``k`` occurrences of a unit to the pipeline (see :meth:`StepTimer._count`)."""
        pipe = self._pipe
        c_u = pipe["unit"]
        left = Fraction(c_u - 1, c_u)
        share = 1.0 / c_u
        dts = []
        for i in range(len(self._factors)):
            if figures is None:
                dt = self.overhead_s * self._factors[i][0]
            else:
                fig, proto = self._under(i, figures)
                dt = self._combine(*fig, proto, share)
            pipe["fill"][i] += Fraction(dt) * k
            dts.append(dt)
        if figures is not None:
            summed = pipe["sums"] is not None and self._loads is not None
            if summed:
                ids, nbytes = self._loads
                pipe["sums"].setdefault(c_u, []).append((ids, nbytes * k))
            else:
                for c, b in enumerate(self._busy.tolist()):
                    if b:
                        pipe["busy"][c] += Fraction(b) * k
                        pipe["pace"][c] += Fraction(b) * k * left
            pipe["cpu"] += Fraction(figures[3]) * k * (c_u - 1)
            pipe["red"] += Fraction(figures[2]) * k * left
            pipe["bytes"] += self._bytes * k
            if self.capture is not None and self._loads is not None:
                ids, nbytes = self._loads
                pipe["loads"].append((ids, nbytes * k))
        self._loads = None
        self.stage_chunks(pipe["chunks"])
        return dts[0]

    def end_pipeline(self):
        """Time the pipelined run by the module docstring's rule and count it once."""
        self.end_link_sums()
        pipe, self._pipe = self._pipe, None
        self.fill = pipe["saved_fill"]
        red = pipe["red"] / Fraction(self.reduce_Bps) if self.reduce_Bps > 0 else Fraction(0)
        busiest = max(pipe["busy"], default=Fraction(0))
        most_pace = max(pipe["pace"], default=Fraction(0))
        first = None
        for i, (sw, bw) in enumerate(self._factors):
            vec = self._class_bw[i]
            links = most_pace / Fraction(bw) if vec is None else \
                max((b / Fraction(float(f)) for b, f in zip(pipe["pace"], vec)),
                    default=Fraction(0))
            cpu = pipe["cpu"] * Fraction(sw)
            rest = max(links, cpu, red)
            total = pipe["fill"][i] + rest
            self._times[i] += total
            if rest == cpu and cpu > links:
                self._message_totals[i] += rest
            first = total if first is None else first
        for c, b in enumerate(pipe["busy"]):
            self._busy_total[c] += b
        self.bytes += pipe["bytes"]
        if self.capture is not None:
            ids, nbytes = _merged(pipe["loads"])
            self.capture.append((ids, nbytes, float(busiest), float(first), 1,
                                 pipe["bytes"].copy()))
        return float(first)


def _merged(loads):
    """The (link ids, bytes) pairs of several units summed per link."""
    if not loads:
        return np.zeros(0, np.int64), np.zeros(0)
    ids = np.concatenate([i for i, _ in loads])
    nbytes = np.concatenate([b for _, b in loads])
    uniq, inv = np.unique(ids, return_inverse=True)
    return uniq, np.bincount(inv, weights=nbytes, minlength=uniq.size)
