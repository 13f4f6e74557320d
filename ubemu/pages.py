"""ubemu's memory pages: NumPy's advice to back large arrays with huge pages, off.

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
"""

import os


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
