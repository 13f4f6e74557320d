"""Run axis phases as a flat collective: the helper behind most ``@register`` builders.

A flat algorithm treats any communicator, even a multi-axis grid, as one line of ``n`` ranks
(as :mod:`ubemu.algorithms.ring` does) and chains phases over its whole buffer.
"""

import numpy as np

from ..schedule import Schedule, Step
from .base import Comm
from .ring import merge_repeats


def flat_schedule(comm, count, collective, name, phases, n_steps, data=True, buf_count=None,
                  notes=None):
    """Schedule running ``phases`` (axis phase functions) one after the other on ``comm``.

    Parameters
    ----------
    phases : sequence of callables ``phase(axis, seg_off, seg_len, data)``
    n_steps : int
        Steps the phases yield in total (checked by ``Schedule.validate``).
    buf_count : int, optional
        Working-buffer length; ``count`` when omitted.
    """
    n = comm.n
    axis = Comm.flat(n).axis(0)
    zero = np.zeros(n, np.int64)
    full = np.full(n, count, np.int64)

    def steps():
        gen = (st for ph in phases for st in ph(axis, zero, full, data))
        return gen if data else merge_repeats(gen)

    return Schedule(collective, name, n, count, count if buf_count is None else buf_count,
                    steps, n_steps=int(n_steps), data=data, notes=dict(notes or {}))


def make_step(src, dst, n, src_off, dst_off, reduce, data):
    """:meth:`Step.make` keeping the offsets only in data schedules (``data=True``)."""
    if data:
        return Step.make(src, dst, n, src_off, dst_off, reduce=reduce)
    return Step.make(src, dst, n, reduce=reduce)
