"""The closed forms' step arithmetic: a step's shape, its figures, its time.

:mod:`ubemu.timing.costmodel` explains the shapes (``model.step([(axis, partner, bytes)])``)
and the per-axis constants. Here a step's shape (:class:`Spec`) becomes its figures
(:class:`Figures`: each link class's busy time, the paths' latencies with their messages'
sizes, the busiest NPU's message time, the bytes it reduces) and those its time, by the rule
of :mod:`ubemu.timing.timer` under the model's protocol (:mod:`ubemu.timing.protocols`).

While the model *records* (:meth:`StepArithmetic.recorded`), every :class:`Cost` carries its
steps' shapes, so that

- :meth:`~StepArithmetic.union` joins k channels step by step (step i of every channel is one
  step: their messages share links as the timer's loads do), and
- :meth:`~StepArithmetic.pipelined` times a pipelined run by :mod:`ubemu.timing.pipeline`'s
  rule from the steps' figures.
"""

from contextlib import contextmanager

from ..errors import UbemuError
from ..kernels.codes import INNET_REDUCE
from ..schedule import AllPairs


class NoClosedForm(UbemuError):
    """The cost model has no closed form for this case (the step-level model answers)."""


class ProtocolNotRun(NoClosedForm):
    """The algorithm does not run under the model's protocol (in-switch reduction: simple)."""


class Cost(float):
    """A time in seconds that also counts the work of the steps it sums: ``transfers`` (each
    step's transfers, summed), ``peak`` (the largest step's) and ``held`` (the most a
    timing-only schedule holds at once: a compact all-pairs step holds one part,
    :class:`ubemu.schedule.AllPairs`). While the model records (:meth:`StepArithmetic.recorded`)
    it also carries ``parts``: each step's shape and how many times it occurs, so that
    channels can be joined step by step and a pipeline timed. Sums and integer multiples
    carry them along; the value is plain float arithmetic."""

    def __new__(cls, value, transfers=0, peak=0, held=0, parts=()):
        obj = super().__new__(cls, value)
        obj.transfers, obj.peak, obj.held, obj.parts = transfers, peak, held, parts
        return obj

    def __add__(self, other):
        return Cost(float(self) + float(other), self.transfers + getattr(other, "transfers", 0),
                    max(self.peak, getattr(other, "peak", 0)),
                    max(self.held, getattr(other, "held", 0)),
                    self.parts + getattr(other, "parts", ()))

    __radd__ = __add__

    def __mul__(self, k):
        if isinstance(k, float) and not k.is_integer():
            return float(self) * k
        k = int(k)
        return Cost(float(self) * k, self.transfers * k, self.peak if k else 0,
                    self.held if k else 0, tuple((spec, m * k) for spec, m in self.parts if k))

    __rmul__ = __mul__


class Xor(int):
    """An XOR partner: rank ``r``'s message goes to rank ``r ^ m``."""


class PermPartner:
    """An explicit partner per rank (``dst[r]``; ``dst[r] == r`` sends nothing), keyed by
    ``key`` for caching."""

    __slots__ = ("key", "dst")

    def __init__(self, key, dst):
        self.key, self.dst = key, dst

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, PermPartner) and other.key == self.key


class Spec:
    """A step's shape. ``kind``: ``"msgs"`` (``items``: ``(axis, partner, bytes)`` each rank
    sends), ``"link"`` (``(axis, link bytes, message bytes)``, ``n_msgs`` messages a rank),
    ``"innet"`` (``(axis, mode, block bytes)``: one in-switch reduce-scatter or all-gather per
    entry, :func:`ubemu.kernels.timing.accumulate_innet`) or ``"none"`` (nothing moves);
    ``engines``: channels sharing the NPUs' message costs."""

    __slots__ = ("kind", "items", "reduce", "engines", "n_msgs")

    def __init__(self, kind, items, reduce=False, engines=1, n_msgs=0):
        self.kind, self.items, self.reduce = kind, list(items), bool(reduce)
        self.engines, self.n_msgs = int(engines), int(n_msgs)


class Figures:
    """A step's figures at full size: ``busy`` (link class -> its busiest link's s),
    ``link_s`` (the busiest link's s),
    ``lats`` (``(path latency s, message bytes)`` of its messages), ``cpu_s`` (the busiest
    NPU's message time, shared by the engines), ``red`` (bytes an NPU reduces), and the
    work (transfers, of which ``held`` at once)."""

    __slots__ = ("busy", "link_s", "lats", "cpu_s", "red", "reduce", "moved", "work", "held")

    def __init__(self, busy, link_s, lats, cpu_s, red, reduce, moved, work=0, held=None):
        self.busy, self.link_s, self.lats, self.cpu_s = busy, link_s, lats, cpu_s
        self.red, self.reduce, self.moved = red, reduce, moved
        self.work, self.held = work, work if held is None else min(work, held)


def _busy(busy, classes, value):
    for c in classes:
        if value > busy.get(c, 0.0):
            busy[c] = value


class StepArithmetic:
    """The step arithmetic of :class:`ubemu.timing.costmodel.CostModel` (the attributes it
    reads: ``proto``, ``msg_s``, ``overhead_s``, ``rho``, ``fill_bytes``,
    ``fill_s_per_byte``, ``n``, ``mode``, ``uneven``, ``counting``, ``_recording``)."""

    # -- what the costs call ------------------------------------------------------------------
    def fill_s(self, nbytes):
        """A message's pipeline fill (:mod:`ubemu.timing.timer`)."""
        return min(nbytes, self.fill_bytes) * self.fill_s_per_byte

    def step(self, msgs, reduce=False, engines=1):
        """Time of one step; ``msgs`` is a list of (axis, partner, bytes) sent by each rank;
        ``engines``: the channels sharing each NPU's message costs."""
        msgs = [m for m in msgs if m[2] > 0]
        return self._cost_of(Spec("msgs" if msgs else "none", msgs, reduce, engines))

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

    @contextmanager
    def recorded(self):
        """Within the block every :class:`Cost` carries its steps' shapes (``parts``)."""
        self._recording += 1
        try:
            yield
        finally:
            self._recording -= 1

    # -- shapes to figures to times -----------------------------------------------------------
    def _cost_of(self, spec):
        fig = self.figures(spec)
        return Cost(self.time_of(fig, spec.engines), fig.work, fig.work, fig.held,
                    ((spec, 1),) if self._recording else ())

    def figures(self, spec):
        """The :class:`Figures` of a step's shape."""
        if spec.kind == "none":
            return Figures({}, 0.0, [], 0.0, 0.0, False, False)
        if spec.kind == "link":
            busy = {}
            for ax, b, _ in spec.items:
                for classes, beta, one in ax.res:
                    if one:
                        _busy(busy, classes, beta * b)
            return self._figs(busy, max(ax.beta_link * b for ax, b, _ in spec.items),
                              [(ax.lat_s, m) for ax, _, m in spec.items], 0.0, False,
                              spec.n_msgs, spec.engines)
        if spec.kind == "innet":
            return self._innet_figures(spec)
        msgs = spec.items
        if not hasattr(msgs[0][0], "res"):  # a GridFlat
            return self._grid_figures(msgs[0][0], spec)
        busy = {}
        if len(msgs) == 1:  # the common case, kept fast
            ax, shift, b = msgs[0]
            ax.check_hops(shift)
            for classes, beta, _ in ax.res:
                _busy(busy, classes, beta * b)
            beta = ax.beta_link if ax.beta_link > ax.beta_port else ax.beta_port
            return self._figs(busy, b * beta, [(ax.lat_s, b)], b, spec.reduce, 1,
                              spec.engines)
        per_axis, merged = {}, {}
        for ax, shift, b in msgs:
            key = (id(ax), shift % ax.p)
            merged[key] = (ax, shift, merged[key][2] + b if key in merged else b)
        lats, red = [], 0.0
        for ax, shift, b in merged.values():
            ax.check_hops(shift)
            mx, sm = per_axis.get(id(ax), (ax, 0.0, 0.0))[1:]
            per_axis[id(ax)] = (ax, max(mx, b), sm + b)
            lats.append((ax.lat_s, b))
            red += b
        n_msgs = len(merged)
        if spec.engines > 1:  # the channels' messages to one peer stay apart (own fill)
            lats, n_msgs = [(ax.lat_s, b) for ax, _, b in msgs], len(msgs)
        for ax, mx, sm in per_axis.values():
            for classes, beta, one in ax.res:
                _busy(busy, classes, beta * (mx if one else sm))
        bw = max(max(ax.beta_link * mx, ax.beta_port * sm) for ax, mx, sm in per_axis.values())
        every = len(per_axis) == 1 and len(merged) == self.n - 1  # a compact AllPairs step
        return self._figs(busy, bw, lats, red, spec.reduce, n_msgs, spec.engines,
                          AllPairs.PART_TRANSFERS if every else None)

    def _figs(self, busy, link_s, lats, red, reduce, n_msgs, engines, held=None):
        """Figures of a step in which every rank sends and receives ``n_msgs`` messages."""
        work = self.n * n_msgs
        return Figures(busy, link_s, lats, n_msgs * self.msg_s / engines, red, reduce, True,
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
        if self.counting:
            beta, lat, classes = 0.0, 0.0, {}
        else:
            beta, lat, classes = gf.every_peer() if every else gf.profile(partners)
        busy = {c: b * v for c, v in classes.items()}
        return self._figs(busy, b * beta, [(lat, b)], sum(sizes), spec.reduce, len(partners),
                          spec.engines, AllPairs.PART_TRANSFERS if every else None)

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
            _busy(busy, ports[:1], up * beta)
            _busy(busy, ports[1:], down * beta)
            if core is not None:
                _busy(busy, core[0], up * core[2])
                _busy(busy, core[1], down * core[2])
        lats = [(ax.innet[3], b) for ax, _, b in spec.items]
        return self._figs(busy, max(busy.values()), lats, 0.0, False, len(spec.items),
                          spec.engines)

    def _link_s(self, busy, link_s):
        """The link term under the model's protocol: ``link_s`` over its bandwidth factor, or
        where the factor differs by level (``class_bw``) the most of each class's busy time
        over its own."""
        if self.class_bw is None:
            return link_s / self.proto[1]
        return max((t / self.class_bw[c] for c, t in busy.items()), default=0.0)

    def time_of(self, fig, engines=1, share=1.0):
        """A step's time from its figures under the model's protocol; ``share``: the part of
        its bytes one pipeline chunk moves."""
        sw = self.proto[0]
        if not fig.moved:
            return self.overhead_s * sw
        lat = max((lat + self.fill_s(b * share) for lat, b in fig.lats), default=0.0)
        link_s = self._link_s(fig.busy, fig.link_s)
        t = max(fig.cpu_s * sw, link_s * share + lat + self.msg_s * sw) + self.overhead_s * sw
        return t + fig.red * share * self.rho if fig.reduce and self.rho else t

    # -- channels and pipelines ------------------------------------------------------------------
    def union(self, costs):
        """The channels ``costs`` (recorded :class:`Cost` s, one per channel, the same
        steps) run together: step i of each is one step."""
        parts = [c.parts for c in costs]
        if len({len(p) for p in parts}) != 1:
            raise NoClosedForm("no closed form: channels with different steps")
        total = Cost(0.0)
        for specs in zip(*parts):
            first, mult = specs[0]
            if any(s.kind != first.kind or s.reduce != first.reduce or m != mult
                   for s, m in specs):
                raise NoClosedForm("no closed form: channels with different steps")
            spec = Spec(first.kind, [x for s, _ in specs for x in s.items], first.reduce,
                        sum(s.engines for s, _ in specs), sum(s.n_msgs for s, _ in specs))
            if spec.kind != "none" and not spec.items:
                spec.kind = "none"
            total = total + self._cost_of(spec) * mult
        return total

    def pipelined(self, cost, chunks):
        """The recorded steps of ``cost`` as a pipelined run of ``chunks`` chunks
        (:mod:`ubemu.timing.pipeline`)."""
        chunks = int(chunks)
        if chunks <= 1:
            return cost
        sw = self.proto[0]
        fill, busy, cpu, red = 0.0, {}, 0.0, 0.0
        for spec, mult in cost.parts:
            fig = self.figures(spec)
            fill += self.time_of(fig, spec.engines, 1.0 / chunks) * mult
            if not fig.moved:
                continue
            for c, t in fig.busy.items():
                busy[c] = busy.get(c, 0.0) + t * mult
            cpu += fig.cpu_s * mult
            red += (fig.red if fig.reduce else 0.0) * mult
        pace = max(self._link_s(busy, max(busy.values(), default=0.0)) / chunks, cpu * sw,
                   red * self.rho / chunks)
        return Cost(fill + (chunks - 1) * pace, cost.transfers, cost.peak, cost.held)
