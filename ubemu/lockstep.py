"""A timing-only step of one group run by many lockstep replicas of the group (every group of
an operation at once, :mod:`ubemu.workloads`): explicit while small, else compact
(:class:`Replicas`, its transfers made a block of replicas at a time)."""

import numpy as np

from .schedule import AllPairs, Step


class Replicas:
    """A compact timing-only step: ``step`` run by ``n_groups`` lockstep replicas of an
    ``n_ranks``-rank communicator, replica g's rank r being rank ``g * n_ranks + r`` of the
    timer (:func:`replicate`). :meth:`parts` gives the explicit transfers a block of replicas
    at a time, at most about :data:`AllPairs.PART_TRANSFERS` each."""

    def __init__(self, step, n_groups, n_ranks):
        self.base, self.n_groups, self.n_ranks = step, int(n_groups), int(n_ranks)
        self.repeat, self.span = step.repeat, getattr(step, "span", 1)
        self.src_off = self.dst_off = None
        self.innet, self.via, self.channels = step.innet, step.via, step.channels

    @property
    def n_transfers(self):
        return self.base.n_transfers * self.n_groups

    def _bases(self):
        return self.base.parts() if isinstance(self.base, AllPairs) else (self.base,)

    def parts(self):
        for part in self._bases():
            rows = max(1, AllPairs.PART_TRANSFERS // max(part.n_transfers, 1))
            for lo in range(0, self.n_groups, rows):
                yield replicated(part, range(lo, min(lo + rows, self.n_groups)),
                                 self.n_ranks)

    def replica(self, g):
        """The explicit transfers of replica ``g`` alone, in parts."""
        for part in self._bases():
            yield replicated(part, range(g, g + 1), self.n_ranks)


def replicated(step, groups, n_ranks):
    """The explicit transfers of ``step`` in each replica of ``groups`` (a range)."""
    shift = (np.arange(groups.start, groups.stop, dtype=np.int64) * n_ranks)[:, None]
    g = len(groups)
    return Step((step.src[None, :] + shift).reshape(-1), (step.dst[None, :] + shift).reshape(-1),
                np.tile(step.n, g), None, None, np.tile(step.reduce, g), step.repeat,
                step.innet, step.via, step.channels)


def replicate(step, n_groups, n_ranks, compact=False):
    """``step`` in ``n_groups`` lockstep replicas: an explicit :class:`Step` when small (so
    repeated patterns are still recognised) unless ``compact``, else a compact
    :class:`Replicas`."""
    if n_groups == 1:
        return step
    if compact or isinstance(step, AllPairs) \
            or step.n_transfers * n_groups > AllPairs.PART_TRANSFERS:
        return Replicas(step, n_groups, n_ranks)
    return replicated(step, range(n_groups), n_ranks)
