"""Steps whose data move in slices: a step's fixed costs hide behind the previous step's data.

Where each step's data moves in ``s = slices`` slices (NCCL: 2 per chunk, ``*_SLICESTEPS`` of
``*_CHUNKSTEPS`` in its ``collectives.h``), a step's first slice can start as soon as the
previous step's first slice has arrived, so the step's fixed costs (latency, message costs,
overhead) overlap the previous step's other slices on the link. A step of time D by the step
rule (:mod:`ubemu.timing.timer`), whose data stream takes ``Y`` (link term + reduction), then
lasts::

    D_s = max(Y, D - (1 - 1/s) Y)       (= D when s = 1)

and the run pays once, on top, the most any of its steps hid (``D - D_s``): the first step
has no earlier one to hide behind. A lone step thus costs D; ``S`` equal steps
``S D_s + (D - D_s)``. Steps inside a pipeline are not sliced (the pipeline's own rule
overlaps them). The timer (:class:`SlicedSteps`) and the closed forms (:class:`SlicedCosts`)
share :func:`sliced`.
"""

from fractions import Fraction

from .shapes import Cost


def sliced(d_s, stream_s, slices):
    """The time of a step of time ``d_s`` whose data stream takes ``stream_s``, moved in
    ``slices`` slices (module docstring)."""
    return max(stream_s, d_s - (1.0 - 1.0 / slices) * stream_s)


class SlicedSteps:
    """The slices part of :class:`ubemu.timing.timer.StepTimer`: ``_hidden`` per protocol,
    the most a step hid."""

    @property
    def hidden_s(self):
        """What the run pays once for its slices: the most a step hid (module docstring)."""
        return float(self._hidden[0])

    def _sliced(self, i, dt, fig, proto):
        """The time of a step of time ``dt`` and figures ``fig`` under protocol ``i``; what it
        hides is kept."""
        stream_s = fig[0] / proto[1] + (fig[2] / self.reduce_Bps if self.reduce_Bps > 0 else 0.0)
        t = sliced(dt, stream_s, self.slices)
        self._hidden[i] = max(self._hidden[i], Fraction(dt - t))
        return t


class SlicedCosts:
    """The slices part of :class:`ubemu.timing.stepcost.StepArithmetic` (it reads ``slices``,
    ``mode``, ``rho``, ``time_of`` and ``link_s``)."""

    def _step_cost(self, fig, exact, parts=(), stream_hi_s=None):
        """The :class:`Cost` of one step of figures ``fig``, carrying what it hides where its
        data moves in slices and ``exact``. A bounded step (its figures bound the ranks'
        sizes) is unsliced as an upper bound and a lower one by :meth:`sliced_low`.
        ``stream_hi_s`` (mode ``"lo"``): ``fig`` are exact for a smaller line only, each
        figure a lower bound of the step's, whose data stream takes at most ``stream_hi_s``."""
        t = self.time_of(fig)
        hidden = 0.0
        if self.slices > 1 and fig.moved:
            if exact and stream_hi_s is None:
                hidden = self.hidden_of(fig)
            elif self.mode == "lo":
                t, hidden = self.sliced_low(t, self._stream_s(fig),
                                            stream_hi_s if exact else float("inf"))
        return Cost(t, fig.work, fig.work, fig.held, parts=parts, hidden=hidden)

    def sliced_low(self, d_s, stream_s, stream_hi_s):
        """``(time, hidden)`` below those of a sliced step (:func:`sliced`) whose time is at
        least ``d_s`` and whose stream takes between ``stream_s`` and ``stream_hi_s`` (inf:
        unknown): a step hides more the larger its stream, so where message costs rather than
        data decide ``d_s``, a larger stream shortens it. It lasts at least its stream and
        ``d_s / slices``; it hides at least ``min(d_s - stream_hi_s, (1 - 1/s) stream_s)``,
        included in the time (:class:`Cost`)."""
        keep = 1.0 - 1.0 / self.slices
        hidden = max(0.0, min(d_s - stream_hi_s, keep * stream_s))
        return max(stream_s, d_s / self.slices, d_s - keep * stream_hi_s) + hidden, hidden

    def hidden_of(self, fig):
        """What a step of figures ``fig`` hides where its data moves in slices: its time by
        :meth:`time_of` less its sliced time (:mod:`ubemu.timing.slices`); 0 unsliced."""
        if self.slices <= 1 or not fig.moved:
            return 0.0
        t = self.time_of(fig)
        return t - sliced(t, self._stream_s(fig), self.slices)

    def _stream_s(self, fig):
        """A step's data stream: its link term and its reduction."""
        return self.link_s(fig.busy, fig.link_s) \
            + (fig.red * self.rho if fig.reduce and self.rho else 0.0)
