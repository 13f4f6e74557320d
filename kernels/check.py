"""Verification kernels: per-element reductions over ranks and the output comparison.

Both stream over a (rows, count) array once, decoding 16-bit formats on the fly (``fmt`` as in
``ubemu.data.dtypes``), so checking a large run costs one pass over the data instead of several
NumPy passes with float64 temporaries.
"""

import numpy as np

from ._jit import kernel
from .codes import FMT_NATIVE, OP_MAX, OP_PROD, OP_SUM
from .execute import decode


@kernel(inline="always")
def _value(x, fmt):
    if fmt == FMT_NATIVE:
        return np.float64(x)
    return np.float64(decode(x, fmt))


@kernel
def column_stats(x, fmt, op, ref, mag, integral):
    """Accumulate over the rows of ``x`` into per-column float64 ``ref`` and ``mag``.

    ``op`` OP_SUM: ``ref += v``, ``mag += |v|``; OP_PROD: ``ref *= v``, ``mag *= max(|v|, 1)``;
    OP_MAX / OP_MIN: running extreme (NaN propagates). ``integral[j]`` is cleared when a value of
    column j is not an integer. The caller initialises the accumulators.
    """
    rows, m = x.shape
    for i in range(rows):
        for j in range(m):
            v = _value(x[i, j], fmt)
            if v != np.rint(v):
                integral[j] = False
            if op == OP_SUM:
                ref[j] += v
                mag[j] += abs(v)
            elif op == OP_PROD:
                ref[j] *= v
                mag[j] *= max(abs(v), 1.0)
            elif op == OP_MAX:
                if v > ref[j] or v != v:
                    ref[j] = v
            elif v < ref[j] or v != v:
                ref[j] = v


@kernel
def compare_rows(got, fmt, ref, tol, exact, row_rel, seen):
    """Count elements of ``got`` outside the tolerance of ``ref``; relative error stats.

    ``ref``, ``tol``, ``exact`` have one row (shared by every row of ``got``) or as many rows
    as ``got``. An element is right when equal to the reference (NaN matching NaN), or when
    not ``exact`` and within ``tol``. ``row_rel[i]`` gets the sum of row i's relative errors
    (summed along the row), so a total folded row by row is the same however the rows were
    split between callers. ``seen`` (bool, ``got``'s shape, or empty: none): elements found
    wrong by an earlier run, not counted again; the wrong ones found here are marked.

    Returns
    -------
    (wrong, max_rel_err, n_rel)
        Relative errors over elements with a nonzero reference (NaN counts as infinite).
    """
    rows, m = got.shape
    shared = ref.shape[0] == 1
    marks = seen.shape[0] > 0
    wrong = 0
    max_rel = 0.0
    n_rel = 0
    for i in range(rows):
        r = 0 if shared else i
        row_sum = 0.0
        for j in range(m):
            g = _value(got[i, j], fmt)
            f = ref[r, j]
            if not (g == f or (g != g and f != f)):
                if exact[r, j] or not abs(g - f) <= tol[r, j]:
                    if not marks:
                        wrong += 1
                    elif not seen[i, j]:
                        seen[i, j] = True
                        wrong += 1
            if f != 0:
                e = abs(g - f) / abs(f)
                if e != e:
                    e = np.inf
                if e > max_rel:
                    max_rel = e
                row_sum += e
                n_rel += 1
        row_rel[i] = row_sum
    return wrong, max_rel, n_rel
