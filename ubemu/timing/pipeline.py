"""Pipelined runs of steps: the data moves in chunks, each going on as soon as it arrived.

A schedule's ``pipelines`` (``(start, stop, chunk bytes, elements)``,
:class:`ubemu.schedule.Schedule`) name runs of steps whose data (``elements`` per channel) is cut
into ``C`` chunks of at most ``chunk`` bytes (:func:`chunk_count`): while chunk 2 crosses step 1,
chunk 1 crosses step 2, so consecutive steps, and the phases of a hierarchical algorithm on
different link classes, overlap. The run lasts::

    sum over its timed units u of  k_u t_u(1/C)                           the pipeline's fill
  + (C - 1) x max( max over link classes c of sum_u k_u busy_u(c) / C,    the slowest stage's
                   sum_u k_u cpu_u,                                        share of each
                   sum_u k_u reduced_u / C / reduce rate )                 further chunk

where a unit is a step (counted ``k_u`` times, its repeats) or a window timed as one, all
figures from the step-level model (:mod:`ubemu.timing.timer`): ``t_u(1/C)`` is the unit's time
by the step rule with a ``1/C`` share of its link time and reductions and its messages' fill
taken for a block of ``1/C`` of their size (latency, per-message costs and overhead as they
are: one chunk pays them at every stage); ``busy_u(c)`` the time its busiest link of class c is
busy, ``cpu_u`` its busiest NPU's message time (each chunk is a message at every stage) and
``reduced_u`` its most bytes reduced by one NPU. The first chunk crosses every stage; every
other chunk then follows at the pace of the resource the stages use most: a link class (the
sum over the stages of its busiest link's time; exact where the stages load a class's links
alike, as on the symmetric grids the hierarchical algorithms run on, else an upper bound),
an NPU's message engine or its reduction. With ``C = 1`` this is the plain sum of the units.
A ring's stages all load the same links, so pipelining it changes nothing but the fill.

The sums are exact (Fractions), so merged repeats and steps one by one give the same time.
"""

from fractions import Fraction

import numpy as np


def chunk_count(elements, itemsize, chunk_bytes):
    """Chunks a pipeline cuts ``elements`` elements (of ``itemsize`` bytes) into: as many
    as chunks of at most ``chunk_bytes`` need (at least 1; ``chunk_bytes`` 0: 1)."""
    if chunk_bytes <= 0 or elements <= 0:
        return 1
    return max(1, -(-int(elements) * int(itemsize) // int(chunk_bytes)))


class PipelineRuns:
    """The pipeline part of :class:`ubemu.timing.timer.StepTimer` (its state and rule)."""

    @property
    def in_pipeline(self):
        return self._pipe is not None

    def begin_pipeline(self, chunks):
        """Start a pipelined run of ``chunks`` chunks: its units are summed by
        :meth:`_pipe_count` until :meth:`end_pipeline`."""
        chunks = int(chunks)
        n_proto, n_cls = len(self.protocols), len(self.class_names)
        self._pipe = dict(chunks=chunks, fill=[Fraction(0)] * n_proto,
                          busy=[Fraction(0)] * n_cls, cpu=Fraction(0), red=Fraction(0),
                          bytes=np.zeros(n_cls), loads=[], saved_fill=self.fill)
        fill_bytes, ns_per_byte = self.fill  # a message's fill for a block of 1/C its size
        self.fill = (fill_bytes * chunks, ns_per_byte / chunks)

    def _pipe_count(self, figures, k):
        """Add ``k`` occurrences of a unit to the pipeline (see :meth:`StepTimer._count`)."""
        pipe = self._pipe
        share = 1.0 / pipe["chunks"]
        dts = []
        for i in range(len(self._factors)):
            if figures is None:
                dt = self.overhead_s * self._factors[i][0]
            else:
                dt = self._combine(*self._under(i, figures)[0], self._under(i, figures)[1],
                                   share)
            pipe["fill"][i] += Fraction(dt) * k
            dts.append(dt)
        if figures is not None:
            for c, b in enumerate(self._busy.tolist()):
                if b:
                    pipe["busy"][c] += Fraction(b) * k
            pipe["cpu"] += Fraction(figures[3]) * k
            pipe["red"] += Fraction(figures[2]) * k
            pipe["bytes"] += self._bytes * k
            if self.capture is not None and self._loads is not None:
                ids, nbytes = self._loads
                pipe["loads"].append((ids, nbytes * k))
        self._loads = None
        return dts[0]

    def end_pipeline(self):
        """Time the pipelined run by the module docstring's rule and count it once."""
        pipe, self._pipe = self._pipe, None
        self.fill = pipe["saved_fill"]
        chunks = pipe["chunks"]
        red = pipe["red"] / Fraction(self.reduce_Bps) if self.reduce_Bps > 0 else Fraction(0)
        busiest = max(pipe["busy"], default=Fraction(0))
        first = None
        for i, (sw, bw) in enumerate(self._factors):
            vec = self._class_bw[i]
            links = busiest / Fraction(bw) if vec is None else \
                max((b / Fraction(float(f)) for b, f in zip(pipe["busy"], vec)),
                    default=Fraction(0))
            pace = max(links / chunks, pipe["cpu"] * Fraction(sw), red / chunks)
            total = pipe["fill"][i] + (chunks - 1) * pace
            self._times[i] += total
            if pace == pipe["cpu"] * Fraction(sw) and pace > links / chunks:
                self._message_totals[i] += (chunks - 1) * pace
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
