"""Check a collective's outputs against a float64 (int64) reference: #wrong and relative error.

Method
------
The reference is computed from the inputs alone: float64 for float dtypes, int64 for integers
(wrapped to the dtype, so integer overflow wraps exactly as the emulator's arithmetic does).
An output element is *wrong* when it differs from the reference by more than a tolerance:

- integers, max, min and the copy collectives (all_gather, alltoall, broadcast, sendrecv,
  gather, scatter, hypercube): 0;
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
- integer avg: the values are also multiplied by n (while 3 n^2 fits), so that the truncating
  division cannot hide a dropped or duplicated contribution;
- prod: factors +-1 and at most min(p, 14) factors +-2 per element;
- max / min: small integers, rank ``e % n`` holding the unique extreme of element ``e`` (a
  missing value that is not the extreme leaves a correct output, which no check can flag);
- copies: random values of the dtype.

Where these inputs cannot show every dropped or doubled transfer (sums beyond ``6 n <= 2**p``,
where a rank's values are sparse and a piece shorter than m elements carries none of them;
integer avg beyond ``3 n^2``; prod, max and min, where a contribution of 1 or of a value that
is not the extreme changes nothing), a *shadow* run follows (:func:`exact_run_complete`): the
same schedule once more on ``int32`` values 1..3 from every rank in every element, combined
with ``sum`` and compared exactly, so any lost or doubled piece of any length at any rank
count changes its elements. The schedule's data movement does not depend on the dtype or the
op, so the shadow checks the very transfers of the run; the native run keeps checking the
dtype's arithmetic. ``#wrong`` counts output elements: one that several runs (native, shadow,
random) find wrong counts once (``check_rows``' ``seen``).

``make_inputs(..., kind="random")`` gives random data (uniform [0, 1) for sums) whose rounding
error differs between algorithms; :func:`verify` reports it as the max and mean relative error
``|out - ref| / |ref|`` over the elements with ``ref != 0``.
"""

import numpy as np

from .. import collectives
from ..errors import UbemuError
from .dtypes import (
    FMT_BF16,
    FMT_NATIVE,
    OP_CODES,
    check_op,
    finish_avg,
    float32_to_bf16,
    from_float32,
    from_float64,
    get_dtype,
    to_float64,
)

#: ``seen`` of :func:`check_rows` when no element is tracked across runs.
_NO_MARKS = np.zeros((0, 0), np.bool_)
#: Element type of the shadow run (:func:`exact_run_complete`).
SHADOW_DTYPE = "int32"


def gamma(k, u):
    """Higham's ``gamma_k = k u / (1 - k u)``; infinite when ``k u >= 1``."""
    ku = np.asarray(k, np.float64) * u
    with np.errstate(divide="ignore"):
        return np.where(ku < 1, ku / np.maximum(1 - ku, 0), np.inf)


#: Elements per block when streaming over rows in NumPy (bounds the temporaries).
BLOCK_ELEMENTS = 1 << 22


def _row_blocks(n_rows, row_len):
    """Slices of rows holding about :data:`BLOCK_ELEMENTS` elements each."""
    step = max(1, BLOCK_ELEMENTS // max(row_len, 1))
    return [slice(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


def _kernel_view(values, dt):
    """Contiguous values as the kernels read them (16-bit formats as uint16 patterns)."""
    values = np.ascontiguousarray(values)
    return values if dt.fmt == FMT_NATIVE else values.view(np.uint16)


_COMBINE = {"sum": "sum", "avg": "sum", "prod": "prod", "max": "max", "min": "min"}
_INT_IDENTITY = {"sum": 0, "prod": 1, "max": np.iinfo(np.int64).min,
                 "min": np.iinfo(np.int64).max}


def reference_parts(inputs, op, dtype):
    """Per-column partial reductions of some ranks' ``inputs`` (the reducing collectives).

    Returns a list of ``(array, combine)``, combine one of ``sum prod max min``: the parts of
    several blocks of ranks, combined element-wise, are the parts of all the ranks together
    (exactly so for integers, max / min and the exact inputs of :func:`make_inputs`; other
    float inputs may differ in the float64 sums' last bits). :func:`reference_from_parts`
    turns them into the reference.
    """
    dt = get_dtype(dtype)
    inputs = np.asarray(inputs)
    m = inputs.shape[1]
    comb = _COMBINE[op]
    if not dt.is_float:
        red = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}[comb]
        acc = np.full(m, _INT_IDENTITY[comb], np.int64)
        with np.errstate(over="ignore"):
            for rows in _row_blocks(*inputs.shape):
                acc = red(acc, red.reduce(inputs[rows].astype(np.int64), axis=0))
        return [(acc, comb)]
    from ..kernels.check import column_stats

    start = {"prod": 1.0, "max": -np.inf, "min": np.inf}.get(op, 0.0)
    ref, mag = np.full(m, start), np.full(m, 1.0 if op == "prod" else 0.0)
    integral = np.ones(m, bool)
    column_stats(_kernel_view(inputs, dt), dt.fmt, OP_CODES[op], ref, mag, integral)
    return [(ref, comb), (mag, "prod" if op == "prod" else "sum"),
            (integral.astype(np.float64), "min")]


def reference_from_parts(parts, n, op, dtype):
    """The reference of ``n`` ranks from their combined :func:`reference_parts`.

    Integers: the per-element result in the storage type, wrapped like the emulator's
    arithmetic. Floats: ``(ref, tol, exact)`` per element (see the module docstring).
    """
    dt = get_dtype(dtype)
    if not dt.is_float:
        acc = parts[0][0].astype(dt.storage)
        return finish_avg(acc, n, dt) if op == "avg" else acc
    (ref, _), (mag, _), (integral, _) = parts
    u = dt.unit_roundoff
    if op in ("max", "min"):
        return ref, np.zeros_like(ref), np.ones(ref.size, bool)
    exact = (integral > 0) & (mag <= float(dt.exact_int_limit))
    half_sub = 2.0 ** (dt.min_exp - dt.precision_bits)
    with np.errstate(over="ignore", invalid="ignore"):
        if op == "prod":
            tol = (gamma(n - 1, u) + gamma(n, 2.0 ** -53)) * np.abs(ref) + n * half_sub
            return ref, tol, exact
        ref_err = gamma(n, 2.0 ** -53) * mag
        if op == "avg":
            ref = ref / n
            tol = gamma(n, u) * mag / n + ref_err / n + half_sub
            ref = np.where(exact, to_float64(from_float64(ref, dt), dt), ref)
            return ref, tol, exact
        return ref, gamma(n - 1, u) * mag + ref_err, exact


def check_rows(collective, got_rows, row_lo, n, dtype, reference=None, inputs=None, root=0,
               traffic=None, seen=None):
    """Compare output rows ``row_lo : row_lo + len(got_rows)`` with the reference.

    ``reference``: :func:`reference_from_parts` (reducing collectives); ``inputs``: the
    inputs the copy collectives' outputs come from (every rank's; broadcast and scatter need
    only the root's row, at index ``root``; sendrecv the rows of ranks ``row_lo - 1 ..``,
    the senders of these rows; alltoallv also its ``traffic``, :class:`ubemu.traffic.Traffic`).
    Where only the root has outputs (reduce, gather) pass the root's output row (or none).
    ``seen``: a bool array of ``got_rows``' shape marking the elements earlier runs of the
    check found wrong; they are not counted again, and this run's wrong elements are marked
    (so an element is wrong once however many runs see it). Returns the raw
    ``(wrong, max_rel_err, rel_sums, n_rel)``: ``wrong`` and ``n_rel`` add up over blocks of
    rows, ``max_rel_err`` by max, and the relative errors' sum is :func:`fold` of the blocks'
    ``rel_sums`` concatenated in row order (per-row sums for floats, so the mean is the same
    bits however the rows are split).
    """
    dt = get_dtype(dtype)
    n_got = got_rows.shape[0]
    coll = collectives.get(collective)

    def mine(per_element):  # reference rows matching got_rows
        if coll.out_place == "block":
            return per_element.reshape(n, -1)[row_lo:row_lo + n_got]
        return per_element[None, :]

    if not coll.reducing:
        return _exact_check(collective, got_rows, row_lo, inputs, root, dt, None, seen, traffic)
    if not dt.is_float:
        ref = mine(reference)
        return _exact_check(collective, got_rows, row_lo, None, root, dt,
                            lambda rows: ref if ref.shape[0] == 1 else ref[rows], seen)
    from ..kernels.check import compare_rows

    ref, tol, exact = (np.ascontiguousarray(mine(a)) for a in reference)
    row_rel = np.empty(n_got)
    wrong, max_rel, n_rel = compare_rows(_kernel_view(got_rows, dt), dt.fmt, ref, tol, exact,
                                         row_rel, _NO_MARKS if seen is None else seen)
    return int(wrong), float(max_rel), row_rel, int(n_rel)


def fold(rel_sums):
    """Sum of the relative errors from :func:`check_rows`' ``rel_sums``, added one by one in
    order (so it does not depend on how the rows were split)."""
    return float(np.cumsum(rel_sums)[-1]) if len(rel_sums) else 0.0


def _copy_rows(collective, inputs, rows, root, local, width, traffic=None):
    """Expected output rows ``rows`` (absolute; ``local``: the same rows counted from the
    first checked row) of a copy collective, ``width`` elements each, in the inputs' storage
    type (``inputs`` as :func:`check_rows` takes them; alltoallv's per-pair sizes in
    ``traffic``)."""
    if collective == "alltoallv":
        return _alltoallv_rows(inputs, rows, traffic)
    if collective in ("all_gather", "gather", "hypercube"):
        return inputs.reshape(1, -1)
    if collective == "alltoall":
        n = inputs.shape[0]
        b = inputs.shape[1] // n
        return inputs.reshape(n, n, b)[:, rows, :].transpose(1, 0, 2).reshape(-1, n * b)
    if collective == "sendrecv":
        return inputs[local]
    if collective == "scatter":
        return inputs[root].reshape(-1, width)[rows]
    return inputs[root][None, :]  # broadcast


def _alltoallv_rows(inputs, rows, traffic):
    """Expected alltoallv outputs of ranks ``rows``: rank j holds the block of every rank i
    at ``traffic.recv_offsets[i, j]``, taken from ``i``'s input at its send offset; the row
    is 0 past what it receives."""
    ranks = np.arange(*rows.indices(traffic.n))
    out = np.zeros((ranks.size, traffic.out_count), inputs.dtype)
    lengths = traffic.counts[:, ranks].T.ravel()  # row k: the blocks of rank ranks[k], by i
    starts = (np.arange(traffic.n) * inputs.shape[1] + traffic.send_offsets[:, ranks].T
              - traffic.recv_offsets[:, ranks].T).ravel()
    per_row = traffic.receives[ranks]
    within = np.arange(int(per_row.sum())) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    out.reshape(-1)[np.repeat(np.arange(ranks.size) * traffic.out_count, per_row) + within] = \
        inputs.reshape(-1)[np.repeat(starts, lengths) + within]
    return out


def _exact_check(collective, got_rows, row_lo, inputs, root, dt, ref, seen, traffic=None):
    """Bit-exact comparison (integers and copies), streamed over row blocks; raw stats."""
    wrong, stats = 0, _RelErr()
    uint = np.dtype(f"u{dt.storage.itemsize}")
    for rows in _row_blocks(*got_rows.shape):
        got = got_rows[rows]
        want = _copy_rows(collective, inputs, slice(rows.start + row_lo, rows.stop + row_lo),
                          root, rows, got_rows.shape[1], traffic) if ref is None else ref(rows)
        bad = got.view(uint) != want.view(uint)
        if not bad.any():
            continue
        stats.add(to_float64(got, dt), to_float64(want, dt))  # only where something differs
        if seen is not None:
            bad &= ~seen[rows]
            seen[rows] |= bad
        wrong += int(np.count_nonzero(bad))
    return wrong, stats.max, np.array([stats.sum]), stats.count


def verify(collective, outputs, inputs, op="sum", dtype=None, root=0, traffic=None, seen=None):
    """Compare ``outputs`` with the reference computed from ``inputs`` (``seen``: as in
    :func:`check_rows`, for the outputs' rows).

    Parameters
    ----------
    collective : str
    outputs, inputs : arrays in the dtype's storage type, laid out as in :mod:`ubemu.data.layout`.
    op : str
        Ignored for the copy collectives.
    dtype : str, optional
        Default: the inputs' NumPy type (bfloat16 must be named).
    root : int
        Root of reduce / broadcast.
    traffic : Traffic, optional
        alltoallv's per-pair sizes (:mod:`ubemu.traffic`; default: the inputs cut into ``n``
        equal blocks).

    Returns
    -------
    wrong : int
        Output elements outside the tolerance (see the module docstring).
    max_rel_err, mean_rel_err : float
        ``|out - ref| / |ref|`` against the float64 reference, over elements with ``ref != 0``.
    """
    coll = collectives.get(collective)
    reducing = coll.reducing
    inputs, outputs = np.asarray(inputs), np.asarray(outputs)
    dt = get_dtype(dtype if dtype is not None else inputs.dtype)
    if reducing:
        check_op(dt, op)
    if inputs.ndim != 2:
        raise UbemuError(f"inputs must be a 2-D (n_npus, count) array, got {inputs.shape}")
    n, m = inputs.shape
    if collective == "alltoallv" and traffic is None:  # default: equal blocks, the all-to-all
        from ..traffic import resolve

        traffic = resolve(None, n, m)
    want = coll.output_shape(n, coll.count_from_inputs(inputs.shape), traffic)
    if outputs.shape != want or outputs.dtype != dt.storage:
        raise UbemuError(f"outputs of {outputs.dtype} {outputs.shape} do not match "
                         f"{dt.storage} {want}")
    got_rows = outputs.reshape(1, -1) if coll.out_place == "root" else outputs
    if collective == "sendrecv":  # row r is checked against its sender's, r - 1
        inputs = np.roll(inputs, 1, axis=0)
    reference = None
    if reducing:
        reference = reference_from_parts(reference_parts(inputs, op, dt), n, op, dt)
    wrong, max_rel, rel_sums, n_rel = check_rows(collective, got_rows, 0, n, dt, reference,
                                                 inputs, root, traffic, seen)
    return wrong, max_rel, (fold(rel_sums) / n_rel if n_rel else 0.0)


class _RelErr:
    """Running max and mean of ``|got - ref| / |ref|`` over elements with ``ref != 0``."""

    def __init__(self):
        self.max, self.sum, self.count = 0.0, 0.0, 0

    def add(self, got, ref):
        ref = np.broadcast_to(ref, got.shape)
        nz = ref != 0
        if not np.any(nz):
            return
        with np.errstate(invalid="ignore", over="ignore"):
            rel = np.abs(got[nz] - ref[nz]) / np.abs(ref[nz])
        rel = np.where(np.isnan(rel), np.inf, rel)
        self.max = max(self.max, float(rel.max()))
        self.sum += float(rel.sum())
        self.count += rel.size


def needs_random_run(collective, dtype, op):
    """True for the 16-bit float reductions, whose rounding error is reported from a second
    run on random data (the exact inputs have none to show)."""
    dt = get_dtype(dtype)
    return (collectives.get(collective).reducing and dt.fmt != FMT_NATIVE
            and op in ("sum", "avg", "prod"))


def exact_run_complete(collective, n, dtype, op):
    """True when :func:`make_inputs`' exact values make every dropped or doubled transfer
    change the result on ``n`` ranks; otherwise a shadow run follows (module docstring)."""
    dt = get_dtype(dtype)
    if not collectives.get(collective).reducing:
        return True
    if op in ("prod", "max", "min"):
        return False
    if op == "avg" and not dt.is_float:
        return 3 * n * n <= dt.exact_int_limit
    return 6 * n <= _sum_cap(dt)


def random_sums_exact(n, dtype, op):
    """True when the random run's float64 reference sums are exact at any summation order.

    The random sum / avg inputs are float32 multiples of 2**-24 in [0, 1) rounded to the
    16-bit format: multiples of 2**-24 (float16) or 2**-31 (bfloat16, 8 significant bits
    from 2**-24 up), at most 1. A sum of ``n`` of them is a multiple of that spacing below
    ``n``, hence exact in float64 while ``n * 2**g <= 2**53``; then processes may add their
    partial sums in any order and still get the single-process bits.
    """
    dt = get_dtype(dtype)
    if op not in ("sum", "avg") or dt.fmt == FMT_NATIVE:
        return False
    spacing_bits = 31 if dt.fmt == FMT_BF16 else 24
    return n * 2 ** spacing_bits <= 2 ** 53


def error_measured(collective, dtype, op):
    """True where -c reports a rounding error: the 16-bit float reductions (a random run
    measures it); elsewhere the error column says N/A (copies and integers are exact, and
    float32/64 reductions are not measured)."""
    return needs_random_run(collective, dtype, op)


#: Elements per input tile: rows ``[t R, (t+1) R)`` (``R = TILE_ELEMENTS // columns``) are
#: drawn from a generator of their own, so a block of rows can be drawn alone.
TILE_ELEMENTS = 1 << 22


def _tile_rng(seed, tile):
    """Tile 0 draws from ``default_rng(seed)`` (so a single-tile input is the seed's stream),
    tile t > 0 from ``default_rng([seed, t])``."""
    return np.random.default_rng(seed if tile == 0 else [seed, tile])


def make_inputs(collective, n, count, dtype, op="sum", seed=0, kind="exact", rows=None,
                traffic=None):
    """Inputs of shape ``layout.input_shape`` in the dtype's storage type (alltoallv: of its
    ``traffic``).

    ``kind='exact'``: values that make every correct algorithm exact and every dropped or
    duplicated contribution visible (see the module docstring). ``kind='random'``: random
    data for error statistics (sum / avg uniform [0, 1), prod near 1, else normal).
    ``rows=(lo, hi)``: only those rows, equal to the same rows of the whole array (rows are
    drawn in tiles of :data:`TILE_ELEMENTS`, each from its own generator), so that processes
    can draw their own blocks.
    """
    dt = get_dtype(dtype)
    if kind not in ("exact", "random"):
        from ..errors import choices_error

        raise choices_error("input kind", kind, ("exact", "random"))
    n_rows, cols = collectives.get(collective).input_shape(n, count, traffic)
    lo, hi = (0, n_rows) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= lo <= hi <= n_rows:
        raise UbemuError(f"input rows {lo}:{hi} are outside 0:{n_rows}")
    perm = None
    reducing = collectives.get(collective).reducing
    if kind == "exact" and reducing and (op == "prod" or 6 * n > _sum_cap(dt)):
        perm = np.random.default_rng(seed).permutation(n)
    tile = max(1, TILE_ELEMENTS // max(cols, 1))
    out = None
    for t in range(lo // tile, -(-hi // tile)):
        a, b = t * tile, min((t + 1) * tile, n_rows)
        vals = _draw_rows(collective, n, cols, dt, op, kind, _tile_rng(seed, t), a, b, perm)
        if a == lo and b == hi:
            return vals
        if out is None:
            out = np.empty((hi - lo, cols), vals.dtype)
        out[max(a, lo) - lo:min(b, hi) - lo] = vals[max(a, lo) - a:min(b, hi) - a]
    return out if out is not None else np.empty((0, cols), dt.storage)


def _sum_cap(dt):
    """Largest exact sum the sum / avg inputs aim at (the module docstring's ``2**p``)."""
    return float(dt.exact_int_limit)


def _draw_rows(collective, n, cols, dt, op, kind, rng, a, b, perm):
    """Rows ``a:b`` of :func:`make_inputs`, drawing from ``rng``."""
    shape = (b - a, cols)
    reducing = collectives.get(collective).reducing
    if kind == "exact" and reducing and op in ("max", "min"):
        top = int(min(dt.exact_int_limit // 4, 1000))
        vals = rng.integers(-top, top, size=shape, dtype=np.int16)
        col = np.arange(cols)
        mine = (col % n >= a) & (col % n < b)  # rank e % n holds element e's extreme
        vals[col[mine] % n - a, col[mine]] = top + 1 if op == "max" else -top - 1
        return _small_ints(vals, dt)
    if kind == "random" or not reducing:
        if not dt.is_float:
            return rng.integers(-1000, 1000, size=shape, dtype=dt.storage)
        if reducing and op in ("sum", "avg"):
            return from_float32(rng.random(shape, dtype=np.float32), dt)
        if reducing and op == "prod":
            return from_float32(1 + (rng.random(shape, dtype=np.float32) - 0.5) / 4, dt)
        return from_float32(rng.standard_normal(shape, dtype=np.float32) * 8, dt)
    if op == "prod":  # min(n, twos) ranks per element, a rotating window, contribute a 2
        twos = int(min(dt.precision_bits or 20, 14))
        two = (perm[a:b, None] + np.arange(cols)) % n < twos
        sign = np.where(rng.random(shape) < 0.25, -1, 1).astype(np.int8)
        return _small_ints(sign * np.where(two, 2, 1).astype(np.int8), dt)
    if 6 * n <= _sum_cap(dt):  # every rank contributes 1..3 everywhere, sums <= cap / 2
        vals = (np.frombuffer(rng.bytes(shape[0] * cols), np.uint8) % 3 + 1).astype(
            np.int8).reshape(shape)
        if op == "avg" and not dt.is_float and 3 * n * n <= dt.exact_int_limit:
            return vals.astype(dt.storage) * dt.storage.type(n)  # avg truncation hides nothing
        return _small_ints(vals, dt)
    # rank r contributes 1 to the elements e with (perm[r] + e) % m == 0
    m = -(-2 * n // int(_sum_cap(dt)))
    target = (-perm[a:b]) % m  # (perm[r] + e) % m == 0  <=>  e % m == target[r]
    return _small_ints((np.arange(cols) % m == target[:, None]).view(np.int8), dt)


def _small_ints(values, dt):
    """Small integers (exact in every dtype) -> the dtype's storage, without float64 copies."""
    if dt.fmt == FMT_BF16:
        return float32_to_bf16(values.astype(np.float32))
    return values.astype(dt.storage)
