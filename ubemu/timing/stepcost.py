"""The closed forms' step arithmetic: a step's shape, its figures, its time.

:mod:`ubemu.timing.costmodel` explains the shapes (``model.step([(axis, partner, bytes)])``)
and the per-axis constants. Here a step's shape (:class:`Spec`) becomes its figures
(:class:`Figures`: each link class's busy time, the paths' latencies with their messages'
sizes, the busiest NPU's message time and longest receive tail, the bytes it reduces) and
those its time, by the rule of :mod:`ubemu.timing.timer` under the model's protocol
(:mod:`ubemu.timing.protocols`): ``max(sw cpu, link / bw + lat + sw (o_s + max(o_r,
tail))) + sw overhead`` (+ the reduction), a step of ``engines`` channels sharing each
NPU's message time and receive tail among that many engines.

Sizes that differ by rank (:class:`~ubemu.timing.shapes.Sizes`) are followed rank by rank
where the step is on one axis (exact), else bounded (module docstring of
:mod:`ubemu.timing.costmodel`).

While the model *records* (:meth:`StepArithmetic.recorded`), every :class:`Cost` carries its
steps' shapes, so that

- :meth:`~ubemu.timing.joins.StepJoins.union` joins k channels step by step (step i of
  every channel is one step: their messages share links as the timer's loads do),
- :meth:`~ubemu.timing.joins.StepJoins.on_lines_of` joins a hierarchical cut's lines of two
  sizes step by step, and
- :meth:`~StepArithmetic.pipelined` times a pipelined run by :mod:`ubemu.timing.pipeline`'s
  rule from the steps' figures.
"""

from contextlib import contextmanager

import numpy as np

from ..kernels.codes import INNET_REDUCE
from ..schedule import AllPairs
from .joins import StepJoins
from .pipeline import pipelined_cost
from .shapes import Cost, NoClosedForm, PermPartner, Sizes, Xor, line_figures
from .slices import SlicedCosts
from .stepbounds import UnevenBounds
from .stepshape import JOINED, NO_FIGURES, Figures, ProtocolNotRun, Spec, raise_busy, size_max

#: Most transfers the patterns of one cost may need routed (cached or not, so that whether a
#: closed form exists does not depend on what was asked before).
PROFILE_BUDGET = 1 << 25


class StepArithmetic(UnevenBounds, SlicedCosts, StepJoins):
    """The step arithmetic of :class:`ubemu.timing.costmodel.CostModel` (the attributes it
    reads: ``proto``, ``class_bw``, ``send_s``, ``recv_s``, ``msg_s``, ``overhead_s``,
    ``rho``, ``fill_bytes``, ``fill_s_per_byte``, ``fill_ns_per_byte``, ``n``, ``mode``,
    ``uneven``, ``counting``, ``worst_tail``, ``lines_vary``, ``_tails``, ``_recording``)."""

    # -- what the costs call ------------------------------------------------------------------
    def fill_s(self, nbytes):
        """A message's pipeline fill (:mod:`ubemu.timing.timer`)."""
        return min(nbytes, self.fill_bytes) * self.fill_s_per_byte

    def on_lines(self, ax):
        """Note a step on the lines of ``ax``: where the lines' sizes differ
        (``lines_vary``) and parallel lines share a link, the largest line's figures only
        bound the step (``uneven``). Returns whether the upper bound (``mode="hi"``) must
        then take the receive tail of messages arriving at once: a smaller line's rank,
        sending fewer messages than the largest line's, waits longer, and the step model
        keeps the longest tail of any."""
        shared = bool(self.lines_vary and ax.par > 1)
        if shared:
            self.uneven = True
        return shared and self.mode == "hi"

    def tail_s(self, n_msgs):
        """How long the receive costs of ``n_msgs`` messages per rank outlast the data (the
        timing model's receive tail, :func:`ubemu.kernels.timing.receive_tail_s`; one
        message: ``o_r``)."""
        if not self.msg_s:
            return 0.0
        if n_msgs <= 1:
            return self.recv_s
        if self.worst_tail:  # the most the tail can be: every message arriving at once
            return n_msgs * self.recv_s
        if n_msgs not in self._tails:
            from ..kernels.numpy_timing import receive_tail_s

            n = float(n_msgs)
            self._tails[n_msgs] = max(self.recv_s, receive_tail_s(n, n, self.send_s,
                                                                  self.recv_s))
        return self._tails[n_msgs]

    def message_figures(self, received, sent):
        """``(busiest NPU's message time, longest receive tail)`` of ranks that receive and
        send ``received[r]`` and ``sent[r]`` messages: the timing model's per-NPU rule
        (:func:`ubemu.kernels.timing.npu_message_figures`; at least one receive cost)."""
        if not self.msg_s:
            return 0.0, 0.0
        from ..kernels.numpy_timing import npu_message_figures

        cpu_s, tail_s = npu_message_figures(np.asarray(received, np.float64),
                                            np.asarray(sent, np.float64), self.send_s,
                                            self.recv_s)
        return cpu_s, max(self.recv_s, tail_s)

    def step(self, msgs, reduce=False, engines=1):
        """Time of one step; ``msgs`` is a list of (axis, partner, bytes) sent by each rank
        (bytes: a number, or :class:`Sizes` where ranks send different sizes); ``engines``:
        the channels sharing each NPU's message costs."""
        if len(msgs) == 1 and not self._recording and not self.counting:
            ax, q, b = msgs[0]
            if not hasattr(ax, "res") and ax.p > 2:  # one message on a GridFlat: kept fast
                exact = not isinstance(b, Sizes)
                top = b if exact else b.max()
                if top > 0 and (exact or self.mode == "hi"):  # sizes that differ: the
                    self.uneven = self.uneven or not exact  # largest bounds them (hi mode)
                    return self._step_cost(
                        self._grid_pattern(ax, (q,), top, top, reduce, engines), exact)
        msgs = [m for m in msgs if size_max(m[2]) > 0]
        return self._cost_of(Spec("msgs" if msgs else "none", msgs, reduce, engines))

    def every_peer(self, ax, b, reduce=False):
        """Time of the step in which every rank sends ``b`` bytes to every other rank of
        ``ax`` (what :meth:`step` gives for the ``p-1`` shifts, without listing them)."""
        live = b > 0 and ax.p > 1
        return self._cost_of(Spec("every" if live else "none", [(ax, b)] if live else [],
                                  reduce))

    def every_peer_between(self, ax, lo_b, hi_b, reduce=False):
        """Bounds of :meth:`every_peer` where each message has between ``lo_b`` and ``hi_b``
        bytes (ranks' blocks differ, not followed rank by rank)."""
        live = hi_b > 0 and ax.p > 1
        return self._cost_of(Spec("every_between" if live else "none",
                                  [(ax, lo_b, hi_b)] if live else [], reduce))

    def link_step(self, loads, n_msgs):
        """Time of a step given, per full-mesh axis, the bytes on its busiest link and its
        largest message (``loads``: list of (axis, link bytes, message bytes)) and the
        messages each rank sends and receives."""
        loads = [x for x in loads if x[1] > 0]
        return self._cost_of(Spec("link" if loads else "none", loads, n_msgs=n_msgs))

    def innet_step(self, ax, mode, block_bytes):
        """Time of an in-switch reduce-scatter (``mode`` INNET_REDUCE: every rank sends its
        ``p`` blocks up, receives its reduced block) or multicast all-gather (sends its block
        up once, receives all ``p``) along the reducing switch axis ``ax``."""
        if ax.innet is None:
            raise NoClosedForm("no closed form: the level does not reduce in the network")
        if self.proto != (1.0, 1.0):
            raise ProtocolNotRun("in-switch reduction runs the simple protocol only")
        items = [(ax, int(mode), block_bytes)] if block_bytes > 0 else []
        return self._cost_of(Spec("innet" if items else "none", items))

    def uneven_step(self, bw_s, lat_s, sent, received, transfers, held=None, classes=()):
        """Time of a step whose ranks send ``sent[r]`` and receive ``received[r]`` messages
        (arrays; an uneven all-to-all), ``bw_s`` on its busiest link, ``lat_s`` its longest
        path plus fill: the timing model's rule (:mod:`ubemu.timing.timer`) with each rank's
        own message costs. ``transfers``: its messages, ``held`` of them at once;
        ``classes``: the link classes of its one level (its busiest link is of one)."""
        if not transfers:
            return self._cost_of(Spec("none", []))
        cpu_s, tail_s = self.message_figures(received, sent)
        return self._direct(Figures({c: bw_s for c in classes}, bw_s, [(lat_s, 0)], cpu_s,
                                    tail_s, 0.0, False, True, transfers, held))

    def profiled_step(self, key, n_messages, make_profile, sizes, reduce=False, group=None):
        """Time of a step whose messages fall in groups of one size each (``sizes[g]``
        bytes): ``make_profile()`` routes its pattern once per model and ``key`` (a
        :class:`ubemu.timing.groupcost.GroupProfile`); ``n_messages`` counts against
        :data:`PROFILE_BUDGET` and the work; ``group``: a pipeline paces the steps of one
        group link by link (a tree's, :class:`Spec`)."""
        if isinstance(profile := self._profile(key, n_messages, make_profile, sizes), Cost):
            return profile
        if self._recording:  # its shape, for channels and pipelines
            return self._cost_of(Spec("profiled", [(profile, tuple(int(b) for b in sizes))],
                                      reduce, group=group))
        link_s, lat_s, cpu_s, tail_s, red, moved = profile.terms(
            sizes, self.send_s, self.recv_s, float(self.fill_bytes), self.fill_ns_per_byte)
        if not moved:
            return self._cost_of(Spec("none", []))
        busy = profile.class_busy(sizes) if self.class_bw is not None else {}
        return self._direct(Figures(busy, link_s, [(lat_s, 0)], cpu_s, tail_s, red, reduce,
                                    True, moved))

    def run_step(self, key, n_messages, make_profile, kind, big_run, sizes, reduce=False):
        """Time of a step whose messages carry runs of chunks (as :meth:`profiled_step`, a
        :class:`ubemu.timing.runcost.RunProfile`); bounded (``uneven``) where it says so."""
        if isinstance(profile := self._profile(key, n_messages, make_profile, sizes), Cost):
            return profile
        link_s, busy, lat_s, cpu_s, tail_s, red, moved, exact = profile.terms(
            kind, big_run, sizes, self.send_s, self.recv_s, float(self.fill_bytes),
            self.fill_ns_per_byte, upper=self.mode != "lo", per_message=self.class_bw is None)
        self.uneven = self.uneven or not exact
        if not moved:
            return self._cost_of(Spec("none", []))
        return self._direct(Figures(busy or {}, link_s, [(lat_s, 0)], cpu_s, tail_s, red,
                                    reduce, True, moved), exact)

    def _profile(self, key, n_messages, make_profile, sizes):
        """A step's routed profile, or its Cost where none is needed (nothing moves, or
        ``counting``)."""
        if not any([b > 0 for b in sizes]):
            return self._cost_of(Spec("none", []))
        if key not in self.asked:
            self.asked.add(key)
            self.routed += n_messages
        if self.counting:
            return Cost(0.0, n_messages, n_messages, n_messages)
        if self.routed > PROFILE_BUDGET:
            raise NoClosedForm(f"no closed form: the patterns of this algorithm on {self.n} "
                               f"ranks take too long to profile")
        return self.memo(("profiled",) + tuple(key), make_profile)

    @property
    def recording(self):
        """Whether the costs carry their steps' shapes (:meth:`recorded`)."""
        return self._recording > 0

    @contextmanager
    def recorded(self):
        """Within the block every :class:`Cost` carries its steps' shapes (``parts``)."""
        self._recording += 1
        try:
            yield
        finally:
            self._recording -= 1

    @contextmanager
    def worst_tails(self, on):
        """Within the block (where ``on``) a receive tail is the most it can be: every
        message arriving at once (:meth:`tail_s`); the setting outside is kept."""
        before = self.worst_tail
        self.worst_tail = before or on
        try:
            yield
        finally:
            self.worst_tail = before

    # -- shapes to figures to times -----------------------------------------------------------
    def _cost_of(self, spec):
        was, self.uneven = self.uneven, False
        try:
            fig = self.figures(spec)
            exact = not self.uneven
        finally:
            self.uneven = was or self.uneven
        return self._step_cost(fig, exact, ((spec, 1),) if self._recording else (),
                               spec.items[1] if spec.kind == "under_lines" else None)

    def _direct(self, fig, exact=True):
        """The Cost of figures computed whole (a routed pattern's, an uneven all-to-all's):
        recorded as they are (a ``"fixed"`` step, joined to another line's but not into
        channels or a pipeline: they take the steps' shapes)."""
        if self.class_bw is not None and not fig.busy:
            raise NoClosedForm("no closed form: a step known by its busiest link only, under a "
                               "protocol whose bandwidth differs by level")
        if self._recording:
            return self._cost_of(Spec("fixed", [(fig, exact)]))
        return self._step_cost(fig, exact)

    def figures(self, spec):
        """The :class:`Figures` of a step's shape."""
        if spec.kind == "msgs":  # the common case first
            return self._msgs_figures(spec)
        if spec.kind == "none":
            return NO_FIGURES
        if spec.kind == "link":
            busy = {}
            for ax, b, _ in spec.items:
                for classes, beta, one in ax.res:
                    if one:
                        raise_busy(busy, classes, beta * b)
            return self._figs(busy, max(ax.beta_link * b for ax, b, _ in spec.items),
                              [(ax.lat_s, m) for ax, _, m in spec.items], 0.0, False,
                              spec.n_msgs, spec.engines)
        if spec.kind == "innet":
            return self._innet_figures(spec)
        if spec.kind == "every":
            return self._every_figures(spec)
        if spec.kind == "every_between":
            return self._every_between_figures(spec)
        if spec.kind == "profiled":
            return self._profiled_figures(spec)
        if spec.kind == "lines":
            return self._lines_figures(spec)
        if spec.kind == "under_lines":
            return self.figures(spec.items[0])
        if spec.kind == "fixed":
            if len(spec.items) > 1:  # channels joined
                raise NoClosedForm(JOINED)
            fig, exact = spec.items[0]
            self.uneven = self.uneven or not exact
            return fig
        return self._msgs_figures(spec)

    def _profiled_figures(self, spec):
        """A routed pattern's step, joined over its channels (one profile, each channel's
        sizes)."""
        profile = spec.items[0][0]
        if any(p is not profile for p, _ in spec.items):
            raise NoClosedForm("no closed form: channels on different patterns")
        busy, link_s, lats, cpu_s, tail_s, red, msgs = profile.channel_figures(
            [sizes for _, sizes in spec.items], self.send_s, self.recv_s)
        return Figures(busy, link_s, lats, cpu_s / spec.engines, tail_s / spec.engines, red,
                       spec.reduce, True, msgs)

    def _msgs_figures(self, spec):
        msgs = spec.items
        ax = msgs[0][0]
        ragged = [b for _, _, b in msgs if isinstance(b, Sizes)]
        if ragged:
            if all(m[0] is ax for m in msgs) and all(b.exact for b in ragged) \
                    and self.can_vector(ax, len(msgs) * ax.p):
                return self._ragged_figures(ax, spec)
            return self._bounded_figures(spec, ragged)
        if not hasattr(ax, "res"):  # a GridFlat
            return self._grid_figures(ax, spec)
        if not all(a.one_hop(q) for a, q, _ in msgs):  # a ring level: route the pattern
            if any(a is not ax for a, _, _ in msgs):
                raise NoClosedForm("no closed form: messages on a ring level and another")
            lines = self.lines(ax)
            return self._grid_figures(lines, Spec("msgs", [(lines, q, b) for _, q, b in msgs],
                                                  spec.reduce, spec.engines))
        if any([self.on_lines(m[0]) for m in msgs]) and not self.worst_tail:
            with self.worst_tails(True):
                return self._msgs_figures(spec)
        busy = {}
        if len(msgs) == 1:  # the common case, kept fast
            ax, shift, b = msgs[0]
            for classes, beta, _ in ax.res:
                raise_busy(busy, classes, beta * b)
            beta = ax.beta_link if ax.beta_link > ax.beta_port else ax.beta_port
            return self._figs(busy, b * beta, [(ax.lat_s, b)], b, spec.reduce, 1,
                              spec.engines)
        per_axis, links = {}, {}  # messages to one partner share its link, not their costs
        lats, red = [], 0.0
        for ax, shift, b in msgs:
            key = (id(ax), shift % ax.p)
            links[key] = links.get(key, 0) + b
            mx, sm = per_axis.get(id(ax), (ax, 0.0, 0.0))[1:]
            per_axis[id(ax)] = (ax, max(mx, links[key]), sm + b)
            lats.append((ax.lat_s, b))
            red += b
        for ax, mx, sm in per_axis.values():
            for classes, beta, one in ax.res:
                raise_busy(busy, classes, beta * (mx if one else sm))
        bw = max(max(ax.beta_link * mx, ax.beta_port * sm) for ax, mx, sm in per_axis.values())
        every = len(per_axis) == 1 and len(links) == self.n - 1  # a compact AllPairs step
        return self._figs(busy, bw, lats, red, spec.reduce, len(msgs), spec.engines,
                          AllPairs.PART_TRANSFERS if every else None)

    def _figs(self, busy, link_s, lats, red, reduce, n_msgs, engines, held=None, cpu_s=None,
              tail_s=None):
        """Figures of a step in which every rank sends and receives ``n_msgs`` messages
        (``cpu_s`` and ``tail_s``: the busiest NPU's message time and the longest receive
        tail, when the ranks' message counts differ)."""
        work = self.n * n_msgs
        cpu = n_msgs * self.msg_s if cpu_s is None else cpu_s
        tail = self.tail_s(n_msgs) if tail_s is None else tail_s
        return Figures(busy, link_s, lats, cpu / engines, tail / engines, red, reduce, True,
                       work, held)

    def _grid_figures(self, gf, spec):
        sizes = [b for _, _, b in spec.items]
        b_hi, b_lo = max(sizes), min(sizes)
        if b_hi != b_lo:
            self.uneven = True
        b = b_hi if self.mode == "hi" else b_lo
        partners = [q for _, q, _ in spec.items]
        every = (len(partners) == gf.p - 1 and not any(isinstance(q, (Xor, PermPartner))
                                                        for q in partners)
                 and sorted(int(q) % gf.p for q in partners) == list(range(1, gf.p)))
        return self._grid_pattern(gf, partners, b, sum(sizes), spec.reduce, spec.engines,
                                  every)

    def _grid_pattern(self, gf, partners, b, red, reduce, engines, every=False):
        """Figures of every rank of ``gf`` sending ``b`` bytes to each of ``partners``
        (``every``: all the others), ``red`` reduced (:meth:`step`'s one message too)."""
        if self.counting:
            beta, lat, classes = 0.0, 0.0, {}
        else:
            beta, lat, classes = gf.every_peer() if every else gf.profile(partners)
        busy = {c: b * v for c, v in classes.items()}
        return self._figs(busy, b * beta, [(lat, b)], red, reduce, len(partners), engines,
                          AllPairs.PART_TRANSFERS if every else None)

    def _every_figures(self, spec):
        """Every rank to every other rank of one axis, ``b`` bytes each (one entry per
        channel joined: their bytes share the links, their messages stay apart)."""
        ax = spec.items[0][0]
        if any(a is not ax for a, _ in spec.items):
            raise NoClosedForm("no closed form: every-peer steps on different axes at once")
        p, k = ax.p, len(spec.items)
        total = sum(b for _, b in spec.items)
        lats_of = [b for _, b in spec.items]
        if not hasattr(ax, "res"):  # a GridFlat
            beta, lat, classes = (0.0, 0.0, {}) if self.counting else ax.every_peer()
            busy = {c: total * v for c, v in classes.items()}
            return self._figs(busy, total * beta, [(lat, b) for b in lats_of],
                              (p - 1) * total, spec.reduce, (p - 1) * k, spec.engines,
                              AllPairs.PART_TRANSFERS)
        if not (ax.one_hop(1) and ax.one_hop(2)):  # a ring level: route the pattern
            return self._msgs_figures(Spec("msgs", [(ax, j, b) for _, b in spec.items
                                                    for j in range(1, p)],
                                           spec.reduce, spec.engines))
        busy = {}
        for classes, beta, one in ax.res:
            raise_busy(busy, classes, beta * (total if one else float((p - 1) * total)))
        bw = max(ax.beta_link * total, ax.beta_port * float((p - 1) * total))
        return self._figs(busy, bw, [(ax.lat_s, b) for b in lats_of], float((p - 1) * total),
                          spec.reduce, (p - 1) * k, spec.engines,
                          AllPairs.PART_TRANSFERS if p == self.n else None)

    def _ragged_busy(self, ax, link, up, down, line):
        """Each class's busy time of a step on ``ax`` whose busiest pair link carries
        ``link`` bytes, busiest rank sends ``up`` and receives ``down``, the line ``line``."""
        busy = {}
        for classes, beta, one in ax.res:
            if one:
                raise_busy(busy, classes, beta * link)
            elif classes[0] in ax.line:  # the core pool holding the whole line
                raise_busy(busy, classes, ax.beta_line * line)
            else:
                raise_busy(busy, classes[:1], beta * up)
                raise_busy(busy, classes[1:], beta * down)
        return busy

    def _ragged_figures(self, ax, spec):
        """A step on one axis whose ranks send different sizes, rank by rank: the largest
        message on a link of its own, each rank's sums on its ports and at its end (messages,
        reduction), the line's sum on a pool holding it. Exact for lines alike, and for the
        largest line where they differ unless parallel lines share a link."""
        p, msgs = ax.p, spec.items
        worst_tail = self.on_lines(ax)
        if not all(ax.one_hop(q) for _, q, _ in msgs):
            raise NoClosedForm("no closed form: on a ring level only neighbour messages of a "
                               "whole ring are followed rank by rank")
        self.vectored += len(msgs) * p
        if len(msgs) == 1:  # one message each: its largest and the sum decide
            big, total = msgs[0][2].max(), int(msgs[0][2].vec.sum())
            bw = max(ax.beta_link * big, ax.beta_rank * big, ax.beta_line * total)
            return self._figs(self._ragged_busy(ax, big, big, big, total), bw,
                              [(ax.lat_s, big)], big, spec.reduce, 1, spec.engines)
        pos = np.arange(p)
        came = [pos ^ int(q) if isinstance(q, Xor) else (pos - int(q)) % p for _, q, _ in msgs]
        links = [int(q) if isinstance(q, Xor) else int(q) % p - p for _, q, _ in msgs]
        link, big, up, down, sends, recvs = line_figures(p, [b for _, _, b in msgs], came,
                                                         links)
        top_up, top_down, line = int(up.max()), int(down.max()), int(up.sum())
        bw = max(ax.beta_link * link, ax.beta_rank * max(top_up, top_down), ax.beta_line * line)
        cpu, tail = self.message_figures(recvs, sends)
        if worst_tail and self.msg_s:
            tail = max(tail, int(recvs.max()) * self.recv_s)
        every = len(set(links)) == self.n - 1
        return self._figs(self._ragged_busy(ax, link, top_up, top_down, line), bw,
                          [(ax.lat_s, big)], top_down, spec.reduce, len(msgs), spec.engines,
                          AllPairs.PART_TRANSFERS if every else None, cpu, tail)

    def _innet_figures(self, spec):
        """Per rank: a reduce-scatter sends ``p`` blocks up and receives one, a multicast
        sends one and receives ``p``; each entry is one operation (message) of the rank."""
        sums = {}  # axis -> [axis, bytes up, bytes down]
        for ax, mode, b in spec.items:
            entry = sums.setdefault(id(ax), [ax, 0.0, 0.0])
            entry[1] += ax.p * b if mode == INNET_REDUCE else b
            entry[2] += b if mode == INNET_REDUCE else ax.p * b
        busy = {}
        for ax, up, down in sums.values():
            ports, beta, core, _ = ax.innet
            raise_busy(busy, ports[:1], up * beta)
            raise_busy(busy, ports[1:], down * beta)
            if core is not None:
                raise_busy(busy, core[0], up * core[2])
                raise_busy(busy, core[1], down * core[2])
        lats = [(ax.innet[3], b) for ax, _, b in spec.items]
        return self._figs(busy, max(busy.values()), lats, 0.0, False, len(spec.items),
                          spec.engines)

    def link_s(self, busy, link_s):
        """The link term under the model's protocol: ``link_s`` over its bandwidth factor, or
        where the factor differs by level (``class_bw``) the most of each class's busy time
        over its own."""
        if self.class_bw is None:
            return link_s / self.proto[1]
        return max((t / self.class_bw[c] for c, t in busy.items()), default=0.0)

    def time_of(self, fig, share=1.0):
        """A step's time from its figures under the model's protocol; ``share``: the part of
        its bytes one pipeline chunk moves."""
        sw = self.proto[0]
        if not fig.moved:
            return self.overhead_s * sw
        lats = fig.lats  # one path latency: the common case, kept fast
        lat = lats[0][0] + self.fill_s(lats[0][1] * share) if len(lats) == 1 else \
            max([lt + self.fill_s(b * share) for lt, b in lats], default=0.0)
        link_s = self.link_s(fig.busy, fig.link_s)
        message_s = (self.send_s + max(self.recv_s, fig.tail_s)) * sw
        t = max(fig.cpu_s * sw, link_s * share + lat + message_s) + self.overhead_s * sw
        return t + fig.red * share * self.rho if fig.reduce and self.rho else t

    # -- pipelines -------------------------------------------------------------------------------
    def pipelined(self, cost, chunks, chunk_bytes=0):
        """The recorded steps of ``cost`` as a pipelined run of ``chunks`` chunks, each step's
        messages cut in chunks of at most ``chunk_bytes`` (0: every step in ``chunks``):
        :func:`ubemu.timing.pipeline.pipelined_cost`."""
        return pipelined_cost(self, cost, int(chunks), chunk_bytes)
