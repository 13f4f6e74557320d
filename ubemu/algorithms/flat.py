"""Run axis phases as a flat collective: the helper behind the generated flat algorithms.

A flat algorithm treats any communicator, even a multi-axis grid, as one line of ``n`` ranks
and chains phases over its whole buffer.
"""

import numpy as np

from ..machine.comm import Comm
from ..schedule import Schedule, Step, same_array


def flat_schedule(comm, count, collective, name, phases, n_steps, data=True, buf_count=None,
                  notes=None, windows=()):
    """Schedule running ``phases`` (axis phase functions) one after the other on ``comm``.

    Parameters
    ----------
    phases : sequence of callables ``phase(axis, seg_off, seg_len, data)``
    n_steps : int
        Steps the phases yield in total (checked by ``Schedule.validate``).
    buf_count : int, optional
        Working-buffer length (default: the algorithm's registered one).
    windows : sequence of (start, stop)
        Step ranges timed as one step (``Schedule.windows``).
    """
    n = comm.n
    axis = Comm((n,), local=comm.local).axis(0)
    zero = np.broadcast_to(np.int64(0), (axis.n_ranks,))  # read-only views, O(1) memory
    full = np.broadcast_to(np.int64(count), (axis.n_ranks,))

    def steps():
        gen = (st for ph in phases for st in ph(axis, zero, full, data))
        return gen if data or comm.local is not None else merge_repeats(gen)

    return Schedule(collective, name, n, count, buf_count, steps, n_steps=int(n_steps),
                    data=data, notes=dict(notes or {}), windows=tuple(windows))


def merge_repeats(steps):
    """Timing-only: fold consecutive steps with identical src, dst, n and reduce into one."""
    prev = None
    for st in steps:
        if not isinstance(st, Step):  # a compact step (AllPairs): passed on as it is
            if prev is not None:
                yield prev
            prev = None
            yield st
            continue
        if (prev is not None and prev.src_off is None and st.src_off is None
                and (prev.innet, prev.via, prev.channels) == (st.innet, st.via, st.channels)
                and prev.span == st.span == 1  # a step standing for a window stays one
                and _same_n(prev, st) and same_array(prev.src, st.src)
                and same_array(prev.dst, st.dst) and same_array(prev.reduce, st.reduce)):
            prev.repeat += st.repeat
            continue
        if prev is not None:
            yield prev
        prev = st
    if prev is not None:
        yield prev


def _same_n(a, b):
    """Equal elements of steps ``a`` and ``b`` (joined channels: part by part, unjoined)."""
    pa, pb = getattr(a, "n_parts", None), getattr(b, "n_parts", None)
    if pa is None or pb is None:
        return same_array(a.n, b.n)
    return len(pa) == len(pb) and all(same_array(x, y) for x, y in zip(pa, pb))


def make_step(src, dst, n, src_off, dst_off, reduce, data, channels=1):
    """:meth:`Step.make` keeping the offsets only in data schedules (``data=True``)."""
    if data:
        return Step.make(src, dst, n, src_off, dst_off, reduce=reduce, channels=channels)
    return Step.make(src, dst, n, reduce=reduce, channels=channels)
