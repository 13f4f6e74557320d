"""Check a collective's outputs against a float64 (int64) reference: #wrong and relative error.

Method
------
The reference is computed from the inputs alone: float64 for float dtypes, int64 for integers
(wrapped to the dtype, so integer overflow wraps exactly as the emulator's arithmetic does).
An output element is *wrong* when it differs from the reference by more than a tolerance:

- integers, max, min and the copy collectives (all_gather, alltoall, broadcast): 0;
- sum: the rigorous bound ``gamma_{n-1} * sum_i |x_i|`` (Higham, *Accuracy and Stability of
  Numerical Algorithms*, 2nd ed., section 4.2: it holds for every summation order, each
  combine being one rounding with unit roundoff ``u``), ``gamma_k = k u / (1 - k u)``;
- avg: ``gamma_n * sum_i |x_i| / n`` (the division is one more rounding);
- prod: ``gamma_{n-1} * |prod_i x_i|`` (no intermediate overflow or underflow assumed);
- plus the float64 reference's own error and half a subnormal spacing for avg / prod.

That bound alone cannot catch every broken schedule: for bfloat16 at 1024 ranks ``(n-1) u > 1``
and the bound is infinite. So where the inputs make the exact result computable in the dtype,
the tolerance is 0: when every input of an element is an integer and ``sum_i |x_i| <= 2**p``
(p the significand bits; for prod ``prod_i max(|x_i|, 1) <= 2**p``), every partial sum of every
order is an integer no larger, hence representable, so any correct algorithm gives the exact
value (avg: the exact sum divided and rounded once, which the reference rounds the same way).
:func:`make_inputs` builds such inputs, so that a dropped or duplicated contribution changes
the result and is counted:

- sum / avg: exact sums stay <= 2**p / 2, so that even a sum with a contribution counted
  twice is still computed exactly: every rank contributes 1..3 to every element while
  ``6 n <= 2**p``; beyond, rank r contributes 1 to every m-th element (``m = ceil(2 n / 2**p)``,
  phase from a random permutation), so each rank's contribution shows in any m consecutive
  elements;
- prod: factors +-1 and at most min(p, 14) factors +-2 per element;
- max / min: small integers, rank ``e % n`` holding the unique extreme of element ``e`` (a
  missing value that is not the extreme leaves a correct output, which no check can flag);
- copies: random values of the dtype.

``make_inputs(..., kind="random")`` gives random data (uniform [0, 1) for sums) whose rounding
error differs between algorithms; :func:`verify` reports it as the max and mean relative error
``|out - ref| / |ref|`` over the elements with ``ref != 0``.
"""

import numpy as np

from .dtypes import check_op, finish_avg, from_float64, get_dtype, to_float64
from .errors import UbemuError
from .layout import input_shape
from .schedule import COLLECTIVES

REDUCING = ("all_reduce", "reduce_scatter", "reduce")


def gamma(k, u):
    """Higham's ``gamma_k = k u / (1 - k u)``; infinite when ``k u >= 1``."""
    ku = np.asarray(k, np.float64) * u
    with np.errstate(divide="ignore"):
        return np.where(ku < 1, ku / np.maximum(1 - ku, 0), np.inf)


def _arrange(collective, per_element, inputs_shape, root):
    """Lay a per-element reduction out like the collective's outputs."""
    n = inputs_shape[0]
    if collective == "all_reduce":
        return np.broadcast_to(per_element, inputs_shape)
    if collective == "reduce_scatter":
        return per_element.reshape(n, -1)
    return per_element  # reduce: the root's row


def _copy_reference(collective, inputs, root):
    n = inputs.shape[0]
    if collective == "all_gather":
        return np.broadcast_to(inputs.reshape(-1), (n, inputs.size))
    if collective == "alltoall":
        b = inputs.shape[1] // n
        return inputs.reshape(n, n, b).transpose(1, 0, 2).reshape(n, n * b)
    return np.broadcast_to(inputs[root], inputs.shape)  # broadcast


def _int_reference(collective, inputs, op, dt, root):
    acc = inputs.astype(np.int64)
    with np.errstate(over="ignore"):
        red = {"sum": np.sum, "avg": np.sum, "prod": np.prod, "max": np.max,
               "min": np.min}[op](acc, axis=0).astype(dt.storage)
    if op == "avg":
        red = finish_avg(red, inputs.shape[0], dt)
    return _arrange(collective, red, inputs.shape, root)


def _float_reference(x, op, dt):
    """Reference, tolerance and 'exact' mask per element, from float64 inputs (n, count)."""
    n, u = x.shape[0], dt.unit_roundoff
    limit = float(dt.exact_int_limit)
    integral = np.all(x == np.rint(x), axis=0)
    half_sub = 2.0 ** (dt.min_exp - dt.precision_bits)
    if op in ("max", "min"):
        ref = x.max(axis=0) if op == "max" else x.min(axis=0)
        return ref, np.zeros_like(ref), np.ones(ref.shape, bool)
    if op == "prod":
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            ref = np.prod(x, axis=0)
            exact = integral & (np.prod(np.maximum(np.abs(x), 1), axis=0) <= limit)
            tol = (gamma(n - 1, u) + gamma(n, 2.0 ** -53)) * np.abs(ref) + n * half_sub
        return ref, tol, exact
    abs_sum = np.abs(x).sum(axis=0)
    ref = x.sum(axis=0)
    exact = integral & (abs_sum <= limit)
    ref_err = gamma(n, 2.0 ** -53) * abs_sum
    if op == "avg":
        ref = ref / n
        tol = gamma(n, u) * abs_sum / n + ref_err / n + half_sub
        ref = np.where(exact, to_float64(from_float64(ref, dt), dt), ref)
        return ref, tol, exact
    return ref, gamma(n - 1, u) * abs_sum + ref_err, exact


def verify(collective, outputs, inputs, op="sum", dtype=None, root=0):
    """Compare ``outputs`` with the reference computed from ``inputs``.

    Parameters
    ----------
    collective : str
    outputs, inputs : arrays in the dtype's storage type, laid out as in :mod:`ubemu.layout`.
    op : str
        Ignored for the copy collectives.
    dtype : str, optional
        Default: the inputs' NumPy type (bfloat16 must be named).
    root : int
        Root of reduce / broadcast.

    Returns
    -------
    wrong : int
        Output elements outside the tolerance (see the module docstring).
    max_rel_err, mean_rel_err : float
        ``|out - ref| / |ref|`` against the float64 reference, over elements with ``ref != 0``.
    """
    if collective not in COLLECTIVES:
        from .errors import choices_error

        raise choices_error("collective", collective, COLLECTIVES)
    inputs, outputs = np.asarray(inputs), np.asarray(outputs)
    dt = get_dtype(dtype if dtype is not None else inputs.dtype)
    reducing = collective in REDUCING
    if reducing:
        check_op(dt, op)
    if inputs.ndim != 2:
        raise UbemuError(f"inputs must be a 2-D (n_npus, count) array, got {inputs.shape}")
    if not dt.is_float:
        ref = (_int_reference(collective, inputs, op, dt, root) if reducing
               else _copy_reference(collective, inputs, root))
        if ref.shape != outputs.shape:
            raise UbemuError(f"outputs of shape {outputs.shape} do not match {ref.shape}")
        got64, ref64 = outputs.astype(np.float64), ref.astype(np.float64)
        return (int(np.count_nonzero(outputs != ref)),) + _rel_err(got64, ref64)
    x = to_float64(inputs, dt)
    if reducing:
        ref, tol, exact = _float_reference(x, op, dt)
        ref, tol, exact = (_arrange(collective, a, x.shape, root) for a in (ref, tol, exact))
    else:
        ref = _copy_reference(collective, x, root)
        tol, exact = np.zeros(ref.shape), np.ones(ref.shape, bool)
    if ref.shape != outputs.shape:
        raise UbemuError(f"outputs of shape {outputs.shape} do not match {ref.shape}")
    got = to_float64(outputs, dt)
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - ref)
        same = (got == ref) | (np.isnan(got) & np.isnan(ref))
        ok = same | (~exact & (diff <= tol))
    return (int(ok.size - np.count_nonzero(ok)),) + _rel_err(got, ref)


def _rel_err(got, ref):
    nz = ref != 0
    if not np.any(nz):
        return 0.0, 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        rel = np.abs(got[nz] - ref[nz]) / np.abs(ref[nz])
    rel = np.where(np.isnan(rel), np.inf, rel)
    return float(rel.max()), float(rel.mean())


def make_inputs(collective, n, count, dtype, op="sum", seed=0, kind="exact"):
    """Inputs of shape ``layout.input_shape`` in the dtype's storage type.

    ``kind='exact'``: values that make every correct algorithm exact and every dropped or
    duplicated contribution visible (see the module docstring). ``kind='random'``: random
    data for error statistics (sum / avg uniform [0, 1), prod near 1, else normal).
    """
    dt = get_dtype(dtype)
    if kind not in ("exact", "random"):
        from .errors import choices_error

        raise choices_error("input kind", kind, ("exact", "random"))
    rng = np.random.default_rng(seed)
    shape = input_shape(collective, n, count)
    if kind == "exact" and collective in REDUCING and op in ("max", "min"):
        top = int(min(dt.exact_int_limit // 4, 1000))
        vals = rng.integers(-top, top, size=shape).astype(np.float64)
        cols = np.arange(shape[1])
        vals[cols % n, cols] = top + 1 if op == "max" else -top - 1
        return from_float64(vals, dt)
    if kind == "random" or collective not in REDUCING:
        if not dt.is_float:
            return rng.integers(-1000, 1000, size=shape).astype(dt.storage)
        if collective in REDUCING and op in ("sum", "avg"):
            return from_float64(rng.random(shape), dt)
        if collective in REDUCING and op == "prod":
            return from_float64(1 + (rng.random(shape) - 0.5) / 4, dt)
        return from_float64(rng.normal(0, 8, shape), dt)
    cap = min(float(dt.exact_int_limit), 2.0 ** 20)
    if op == "prod":
        twos = int(min(dt.precision_bits or 20, 14))
        two = rng.random(shape) < min(0.5, twos / (2 * n))
        two &= np.cumsum(two, axis=0) <= twos
        sign = np.where(rng.random(shape) < 0.25, -1.0, 1.0)
        return from_float64(sign * np.where(two, 2.0, 1.0), dt)
    if 6 * n <= cap:  # every rank contributes 1..3 everywhere, sums <= cap / 2
        vals = rng.integers(1, 4, size=shape).astype(np.float64)
    else:  # rank r contributes 1 to the elements e with (perm[r] + e) % m == 0
        m = -(-2 * n // int(cap))
        perm = rng.permutation(n)[:, None]
        vals = ((perm + np.arange(shape[1])) % m == 0).astype(np.float64)
    return from_float64(vals, dt)
