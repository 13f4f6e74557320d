"""The one place that decides how ubemu's kernels are compiled.

Policy: compiled lazily on first call (``import ubemu`` compiles nothing), cached on disk,
GIL released, and never ``fastmath``: reduction kernels must keep the summation order and
rounding that the emulation exists to reproduce.
"""

import numba

CACHE = True


def kernel(fn=None, **options):
    """``numba.njit`` with ubemu's policy; use as ``@kernel`` or ``@kernel(inline="always")``."""
    options.setdefault("cache", CACHE)
    options.setdefault("nogil", True)
    options["fastmath"] = False
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)
