"""ubemu's memory pages: NumPy's advice to back large arrays with huge pages, off; freed
arrays kept by the command line's allocator for the next ones.

NumPy asks the kernel (``madvise(MADV_HUGEPAGE)``) to back every array of 4 MiB or more with
2 MiB pages. On the virtual machines ubemu is measured on (2 cores, transparent huge pages in
``madvise`` mode) a fault of such a page costs far more than the 512 small pages it replaces:
the atlas960 training-step plan, which fills gigabytes of fresh arrays, spent 19.7 s of its
42.9 s in the kernel with the advice and 2.9 s of 27.3 s without it (one run each, one after
the other, the machine shared with other jobs), for the same output.
The Python API measured the same: a ring all-reduce of 1 GiB on atlas960-supercluster took
3.3-8.4 s (system time 1.8-5.8 s) with the advice and 3.0 s three times out of three (system
time 0.55 s) without; routing a million pairs, 0.45-3.7 s for the same 0.42 s of user time.
``import ubemu`` (and so the command line) turns the advice off unless
``NUMPY_MADVISE_HUGEPAGE`` is set (NumPy's own switch: ``1`` keeps it). Results do not depend
on it; only the kernel's page-fault time does.

glibc hands blocks from 128 KiB (a threshold it raises as it goes, up to 32 MiB) back to the
kernel when they are freed, so the next array of the size faults its pages in again: the
atlas960 plan took 2.1 million page faults and 3.3 s of system time. The command line asks
glibc (``mallopt``) to serve blocks up to 32 MiB from its heap and keep what is freed there:
1.1 million faults, 1.9 s of system time, 1.0-1.4 s less wall time and the same peak memory
(two runs each). ``MALLOC_MMAP_THRESHOLD_`` in the environment (glibc's own switch) leaves the
allocator as set; the Python API leaves it alone.
"""

import ctypes
import os
import sys

#: ``mallopt`` parameters (glibc's ``malloc.h``) and the values the command line sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_B = 32 << 20  # glibc's largest
TRIM_THRESHOLD_B = 1 << 30


def small_pages():
    """Turn NumPy's huge-page advice off for this process, unless the environment sets
    ``NUMPY_MADVISE_HUGEPAGE``; returns whether it is now off."""
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is not None:
        return os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    import numpy as np

    core = getattr(np, "_core", None) or getattr(np, "core", None)
    switch = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if switch is None:  # a NumPy without the advice
        return True
    switch(False)
    return True


def keep_freed_memory():
    """Serve blocks up to 32 MiB from glibc's heap and keep freed memory there (the module
    docstring), unless ``MALLOC_MMAP_THRESHOLD_`` is set; returns whether it is now so."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's (musl has none)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_B)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_B))
