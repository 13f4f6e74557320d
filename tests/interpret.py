"""The plain-Python schedule interpreter: the reference the Numba kernels are held to, bit for bit.

Deliberately simple and slow (a Python loop per transfer); never used in a hot path.
"""

import numpy as np

OPS = ("sum", "prod", "max", "min", "avg")
_COMBINE = {"sum": np.add, "avg": np.add, "prod": np.multiply, "max": np.maximum,
            "min": np.minimum}


def interpret(schedule, buf, op="sum", combine=None, dtype=None):
    """Apply every step of ``schedule`` to ``buf`` (n_ranks, buf_count) in place.

    Parameters
    ----------
    combine : callable(dst_values, src_values) -> values, optional
        Overrides the op's NumPy ufunc (used for low-precision formats stored as integers).
    dtype : str, optional
        Element type (:mod:`ubemu.data.dtypes`): its combine, as the kernels compute it (float16 and
        bfloat16: float32 arithmetic rounded to the format after every combine).
    """
    if combine is None and dtype is not None:
        from ubemu.data.dtypes import numpy_combine

        combine = numpy_combine(dtype, op)
    combine = combine or _COMBINE[op]
    for step in schedule.steps():
        staged = [buf[s, o:o + k].copy() for s, o, k in zip(step.src, step.src_off, step.n)]
        for d, o, k, r, vals in zip(step.dst, step.dst_off, step.n, step.reduce, staged):
            if r:
                buf[d, o:o + k] = combine(buf[d, o:o + k], vals)
            else:
                buf[d, o:o + k] = vals
    return buf
