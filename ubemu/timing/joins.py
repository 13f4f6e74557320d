"""Steps that run side by side, joined into one step of the closed forms: the ``k`` channels of
an algorithm, and the lines of two sizes that a hierarchical cut leaves.

- **Channels** (:meth:`StepJoins.union`): step i of every channel is one step; their
  messages share links as the timer's loads do.
- **Lines** (:meth:`StepJoins.on_lines_of`): where a count ``c`` does not divide, the lines
  of the next level start from segments of ``floor(c / P)`` and ``ceil(c / P)`` elements
  (``P`` the ranks of the levels cut so far). The larger line carries at least as much on
  each of its links and handles at least as many messages at each NPU, so its figures
  decide a step but one: the receive tail (:func:`ubemu.kernels.timing.receive_tail_s`). A
  smaller line's rank that sends fewer messages (an empty block, or half of one) while
  receiving as many sees its receives less staggered and waits longer. With per-message
  costs both lines are costed, and each step lasts what the timer makes of the whole step:
  each figure the larger of the two lines' (the busiest link, the longest path, the busiest
  NPU, the longest tail).

A mixin of :class:`ubemu.timing.stepcost.StepArithmetic` (it reads ``msg_s``, ``counting``,
``_recording`` and uses ``recorded``, ``figures`` and ``_cost_of``).
"""

from .shapes import Cost, NoClosedForm
from .stepshape import Figures, Spec


def aligned(runs, what):
    """The recorded steps of several runs (each a :class:`Cost`'s ``parts``) side by side:
    ``(specs, m)``, one spec per run, for ``m`` consecutive steps; NoClosedForm naming
    ``what`` where the runs' step counts differ."""
    its = [iter(r) for r in runs]
    cur = [next(it, (None, 0)) for it in its]
    while all(m for _, m in cur):
        m = min(k for _, k in cur)
        yield tuple(s for s, _ in cur), m
        cur = [(s, k - m) if k > m else next(it, (None, 0)) for (s, k), it in zip(cur, its)]
    if any(k for _, k in cur):
        raise NoClosedForm(f"no closed form: {what} with different steps")


def larger_figures(a, b):
    """The figures of two lines' steps run at once on their own links and NPUs: each the
    larger (``a`` the larger line's, whose work is counted)."""
    if not b.moved:
        return a
    busy = dict(a.busy)
    for c, t in b.busy.items():
        if t > busy.get(c, 0.0):
            busy[c] = t
    return Figures(busy, max(a.link_s, b.link_s), a.lats + b.lats, max(a.cpu_s, b.cpu_s),
                   max(a.tail_s, b.tail_s), max(a.red, b.red), a.reduce or b.reduce, True,
                   a.work, a.held)


class StepJoins:
    """The channel and line joins of :class:`~ubemu.timing.stepcost.StepArithmetic`."""

    def union(self, costs):
        """The channels ``costs`` (recorded :class:`Cost` s, one per channel, the same
        steps) run together: step i of each is one step. A channel whose lines differ in
        size (a ``"lines"`` step) joins the others on each of its lines; a lower bound's step
        on the smaller line (``"under_lines"``) joins them as a bounded step."""
        total = Cost(0.0)
        for specs, mult in aligned([c.parts for c in costs], "channels"):
            lined = [s for s in specs if s.kind == "lines"]
            if len(lined) > 1:
                raise NoClosedForm("no closed form: channels whose lines differ in size "
                                   "in different ways")
            if lined:
                spec = Spec("lines", [self._channels_spec([s.items[i] if s.kind == "lines"
                                                           else s for s in specs])
                                      for i in (0, 1)])
            elif any(s.kind == "under_lines" for s in specs):  # their joined stream unknown
                spec = Spec("under_lines", [self._channels_spec(
                    [s.items[0] if s.kind == "under_lines" else s for s in specs]), float("inf")])
            else:
                spec = self._channels_spec(specs)
            total = total + self._cost_of(spec) * mult
        return total

    @staticmethod
    def _channels_spec(specs):
        """One step's shapes of every channel as one shape."""
        first = specs[0]
        if any(s.kind != first.kind or s.reduce != first.reduce for s in specs):
            raise NoClosedForm("no closed form: channels with different steps")
        spec = Spec(first.kind, [x for s in specs for x in s.items], first.reduce,
                    sum(s.engines for s in specs), sum(s.n_msgs for s in specs), first.group)
        if spec.kind != "none" and not spec.items:
            spec.kind = "none"
        return spec

    def on_lines_of(self, cost_of, lo, hi):
        """``cost_of(hi)`` (a cost on lines of ``hi`` elements) where the lines of ``lo``
        elements run beside them, step by step (module docstring): both lines costed and
        joined where the receive tails may differ (per-message costs, ``lo != hi``). A lower
        bound (``mode="lo"``) costs the smaller line (:meth:`_under_lines`)."""
        if lo == hi or not self.msg_s or self.counting:
            return cost_of(lo if self.mode == "lo" else hi)
        if self.mode == "lo":
            return self._under_lines(cost_of, lo, hi)
        with self.recorded():
            big, small = cost_of(hi), cost_of(lo)
        total = Cost(0.0)
        for (a, b), mult in aligned([big.parts, small.parts], "lines of two sizes"):
            total = total + self._cost_of(Spec("lines", [a, b])) * mult
        return total

    def _under_lines(self, cost_of, lo, hi):
        """A lower bound of :meth:`on_lines_of`: the smaller line's figures (each at most the
        step's). Where data move in slices, a step's time is not monotone in its stream
        (:meth:`~ubemu.timing.slices.SlicedCosts.sliced_low`): each step also carries the
        most its stream takes, the upper bound's (both lines joined, ``mode="hi"``)."""
        if self.slices <= 1:
            return cost_of(lo)
        with self.recorded():
            small = cost_of(lo)
            was = self.uneven
            self.mode = "hi"
            try:
                big = self.on_lines_of(cost_of, lo, hi)
                streams = [(self._stream_s(self.figures(s)), m) for s, m in big.parts]
            finally:
                self.mode, self.uneven = "lo", was
        total = Cost(0.0)
        for (a, stream_s), mult in aligned([small.parts, streams], "lines of two sizes"):
            total = total + self._cost_of(Spec("under_lines", [a, stream_s])) * mult
        return total

    def _lines_figures(self, spec):
        """The figures of a ``"lines"`` step: the larger of its two lines' each."""
        a, b = spec.items
        return larger_figures(self.figures(a), self.figures(b))
