"""What every figure of the command line shares: matplotlib on first use, size labels.

matplotlib is the optional extra ``plot``; it is imported only when a figure is drawn, with
the non-interactive Agg backend.
"""

from ..errors import UbemuError
from .table import format_number

_IEC = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def size_label(nbytes):
    """A size in powers of 1024: ``1 KiB``, ``1.5 MiB``, ``4 GiB``, ``512 B``."""
    for unit, scale in _IEC:
        if nbytes >= scale:
            return f"{format_number(nbytes / scale)} {unit}"
    return f"{int(nbytes)} B"


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend, or one line saying how to
    install it."""
    try:
        import matplotlib
    except ImportError:
        raise UbemuError("plotting needs matplotlib: pip install 'ubemu[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def null_locator():
    """A tick locator that draws no ticks."""
    from matplotlib.ticker import NullLocator

    return NullLocator()
