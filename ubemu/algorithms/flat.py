"""Run axis phases as a flat collective: the helper behind most ``@register`` builders.

A flat algorithm treats any communicator, even a multi-axis grid, as one line of ``n`` ranks
(as :mod:`ubemu.algorithms.ring` does) and chains phases over its whole buffer.
"""

import numpy as np

from ..schedule import Schedule, Step, same_array
from .base import Comm


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
    comm = Comm((n,), local=comm.local)
    axis = comm.axis(0)
    zero = np.zeros(axis.ranks.size, np.int64)
    full = np.full(axis.ranks.size, count, np.int64)

    def steps():
        gen = (st for ph in phases for st in ph(axis, zero, full, data))
        return gen if data or comm.local is not None else merge_repeats(gen)

    return Schedule(collective, name, n, count, count if buf_count is None else buf_count,
                    steps, n_steps=int(n_steps), data=data, notes=dict(notes or {}))


def merge_repeats(steps):
    """Timing-only: fold consecutive steps with identical src, dst, n and reduce into one."""
    prev = None
    for st in steps:
        if (prev is not None and prev.src_off is None and st.src_off is None
                and same_array(prev.n, st.n) and same_array(prev.src, st.src)
                and same_array(prev.dst, st.dst) and same_array(prev.reduce, st.reduce)):
            prev.repeat += st.repeat
            continue
        if prev is not None:
            yield prev
        prev = st
    if prev is not None:
        yield prev


def make_step(src, dst, n, src_off, dst_off, reduce, data):
    """:meth:`Step.make` keeping the offsets only in data schedules (``data=True``)."""
    if data:
        return Step.make(src, dst, n, src_off, dst_off, reduce=reduce)
    return Step.make(src, dst, n, reduce=reduce)
