"""The one place that decides how ubemu's kernels are compiled.

Policy: compiled lazily on first call (``import ubemu`` compiles nothing), cached on disk,
GIL released, and never ``fastmath``: reduction kernels must keep the summation order and
rounding that the emulation exists to reproduce.

Numba checks a cached kernel against its own source file only, not the kernels it calls in
other files (``timing.accumulate`` compiles ``faultroute.route_in`` into itself): a change
to one file would leave the others' cached code stale. So the cache lives in a directory
named by a digest of every kernel source (``__pycache__/numba-<digest>``, or under
``NUMBA_CACHE_DIR`` when that is set), and any change to any of them starts a fresh one.
"""

import hashlib
import os
from pathlib import Path

import numba

CACHE = True


def cache_dir():
    """Where the kernels' compiled code is cached (module docstring)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(here.glob("*.py"))))
    root = os.environ.get("NUMBA_CACHE_DIR") or str(here / "__pycache__")
    return os.path.join(root, f"numba-{digest.hexdigest()[:12]}")


numba.config.CACHE_DIR = cache_dir()


def kernel(fn=None, **options):
    """``numba.njit`` with ubemu's policy; use as ``@kernel`` or ``@kernel(inline="always")``."""
    options.setdefault("cache", CACHE)
    options.setdefault("nogil", True)
    options["fastmath"] = False
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)
