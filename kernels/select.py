"""Which implementation routes and times a run: the Numba kernels or their NumPy twins.

Importing Numba and loading its cached kernels costs a process about half a second, more than
a small run takes; the NumPy twins (:mod:`.numpy_routing`, :mod:`.numpy_timing`) give the
same figures to the bit and cost a few array operations per level and call, within a few
times the kernels' per-transfer cost. So a machine of at most :data:`NUMPY_MAX_NPUS` NPUs,
and on any machine a call of at most :data:`NUMPY_MAX_TRANSFERS` transfers, is routed and
timed with NumPy (never under failures: the twins do not detour), and Numba is imported only
where a kernel runs (large steps, faults, the data plane, MPI's load exchange).
``UBEMU_KERNELS=numba`` (or ``numpy``) forces one side where both can serve (the tests of
the twins, the start-up benchmark); :func:`forced` does the same in a process.
"""

import contextlib
import os

#: Machines of at most this many NPUs are routed and timed with NumPy (``auto``).
NUMPY_MAX_NPUS = 512
#: A call of at most this many transfers (or links, for a drain) is served by NumPy on any
#: machine (``auto``).
NUMPY_MAX_TRANSFERS = 1 << 14
#: The environment variable naming the side: ``auto`` (default), ``numba`` or ``numpy``.
ENV = "UBEMU_KERNELS"
MODES = ("auto", "numba", "numpy")
_forced = []


def mode():
    """The side asked for: the innermost :func:`forced`, else :data:`ENV`, else ``auto``."""
    if _forced:
        return _forced[-1]
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{ENV}={value!r}: expected one of {', '.join(MODES)}")
    return value


@contextlib.contextmanager
def forced(side):
    """Use ``side`` (one of :data:`MODES`) inside the ``with`` block."""
    if side not in MODES:
        raise ValueError(f"kernels: unknown side {side!r}; valid: {', '.join(MODES)}")
    _forced.append(side)
    try:
        yield
    finally:
        _forced.pop()


def numpy_serves(n_npus, faulty=False, n_items=None):
    """True when a call on a machine of ``n_npus`` NPUs (``faulty``: with failures) over
    ``n_items`` transfers (None: unknown) is served by the NumPy twins."""
    side = mode()
    if faulty or side == "numba":
        return False
    return (side == "numpy" or n_npus <= NUMPY_MAX_NPUS
            or (n_items is not None and n_items <= NUMPY_MAX_TRANSFERS))


def timing(n_npus, faulty=False, n_items=None):
    """The link-load kernels (:mod:`.timing`) or their twins (:mod:`.numpy_timing`) for
    such a call."""
    if numpy_serves(n_npus, faulty, n_items):
        from . import numpy_timing as module
    else:
        from . import timing as module
    return module


def routing(n_npus, faulty=False, n_items=None):
    """The module whose ``route_many`` routes such a call (:mod:`.routing` or its twin)."""
    if numpy_serves(n_npus, faulty, n_items):
        from . import numpy_routing as module
    else:
        from . import routing as module
    return module
