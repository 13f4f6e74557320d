"""The command line's memory pages: NumPy's advice to back large arrays with huge pages, off.

NumPy asks the kernel (``madvise(MADV_HUGEPAGE)``) to back every array of 4 MiB or more with
2 MiB pages. On the virtual machines ubemu is measured on (2 cores, transparent huge pages in
``madvise`` mode) a fault of such a page costs far more than the 512 small pages it replaces:
the atlas960 training-step plan, which fills gigabytes of fresh arrays, spent 19.7 s of its
42.9 s in the kernel with the advice and 2.9 s of 27.3 s without it (one run each, one after
the other, the machine shared with other jobs), for the same output.
The command line turns the advice off at its start unless ``NUMPY_MADVISE_HUGEPAGE`` is set
(NumPy's own switch: ``1`` keeps it); the Python API leaves NumPy as the caller set it.
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
