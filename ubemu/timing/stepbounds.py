"""Bounds of a closed form's steps whose ranks send different sizes, where they are not
followed rank by rank: every message as large as the largest (the upper bound) or as small
as the smallest, the largest alone, or one NPU's unavoidable messages (the lower bound).

A mixin of :class:`ubemu.timing.stepcost.StepArithmetic` (it reads the model's ``mode``,
``counting``, ``msg_s``, ``send_s``, ``recv_s``, sets ``uneven`` and uses
:meth:`~ubemu.timing.stepcost.StepArithmetic.worst_tails`).
"""

from .shapes import Sizes
from .stepshape import NO_FIGURES, Spec


class UnevenBounds:
    """The bounded figures of :class:`~ubemu.timing.stepcost.StepArithmetic`."""

    def _bounded_figures(self, spec, ragged):
        """Bounds of a step whose sizes differ by rank and are not followed rank by rank
        (:meth:`_bounded`)."""
        def figures_at(hi):
            pick = Sizes.max if hi else Sizes.min
            msgs = [(a, q, pick(b) if isinstance(b, Sizes) else b) for a, q, b in spec.items]
            msgs = [m for m in msgs if m[2] > 0]
            return self._msgs_figures(Spec("msgs", msgs, spec.reduce, spec.engines)) \
                if msgs else NO_FIGURES

        return self._bounded(figures_at, lambda: any(b.min() == 0 for b in ragged),
                             max(b.max() for b in ragged), spec)

    def _every_between_figures(self, spec):
        """Bounds of every-peer steps whose messages have between ``lo`` and ``hi`` bytes
        (items ``(axis, lo, hi)``; an uneven count not followed rank by rank)."""
        def figures_at(hi):
            items = [(ax, b_hi if hi else b_lo) for ax, b_lo, b_hi in spec.items]
            items = [x for x in items if x[1] > 0]
            return self._every_figures(Spec("every", items, spec.reduce, spec.engines)) \
                if items else NO_FIGURES

        big = max(b_hi for _, _, b_hi in spec.items)
        fig = self._bounded(figures_at, lambda: any(b_lo == 0 for _, b_lo, _ in spec.items),
                            big, spec)
        if self.mode != "lo" or self.counting or not self.msg_s:
            return fig
        # a non-empty block's owner gets it from every peer (a reduce-scatter) or sends it
        # to every peer (an all-gather): one NPU handles p - 1 messages at least
        owner = self._figs({}, 0.0, [(self.fastest()[2], big)], 0.0, spec.reduce, 1,
                           spec.engines, cpu_s=(max(a.p for a, _, _ in spec.items) - 1)
                           * min(self.send_s, self.recv_s), tail_s=self.recv_s)
        return owner if self.time_of(owner) > self.time_of(fig) else fig

    def _bounded(self, figures_at, some_empty, big, spec):
        """A step's bounds where ranks send different sizes: ``figures_at(True)`` with every
        message as large as the largest (``mode="hi"``; where ``some_empty()`` some ranks send
        nothing, and one sending fewer than it receives waits longer: the receive tail of
        messages arriving at once); ``figures_at(False)`` with every message as small as the
        smallest, or the largest (``big`` bytes, which some rank sends) alone on the fastest
        link and the shortest path, whichever is longer (``"lo"``)."""
        lo = self.mode == "lo" and not self.counting
        self.uneven = self.uneven or not self.counting
        with self.worst_tails(not lo and some_empty()):
            fig = figures_at(not lo)
        if not lo:
            return fig
        s_per_B, name, lat_s = self.fastest()
        alone = self._figs({name: big * s_per_B}, big * s_per_B, [(lat_s, big)], big,
                           spec.reduce, 1, spec.engines)
        return alone if self.time_of(alone) > self.time_of(fig) else fig
