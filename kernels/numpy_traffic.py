"""The NumPy twin of :func:`.traffic.draw_experts`: the same experts, to the last token.

The kernel walks the tokens in order, draws each slot from its own uniform number, and
redraws a repeat from a shared stream of spare numbers taken in order, so where a token's
redraws start depends on every earlier token's. Here:

1. every slot's first expert at once (a guide table over the cumulative popularity, then a
   binary search for the few numbers the table leaves open: the kernel's rule, the first
   expert whose cumulative popularity exceeds the number);
2. the slots whose first expert repeats an earlier slot's (``b`` per token, a repeat being a
   repeat whatever the redraws: a lower bound on the token's redraws);
3. a token is *clean* when its ``b`` redraws, taken from the stream where the earlier tokens
   leave it, are distinct and none is among its first experts: it then takes exactly those
   ``b`` numbers, each accepted at once. Its start is ``B + X``: ``B`` the earlier tokens'
   ``b``, ``X`` the extra spares the earlier unclean tokens took. Cleanness is tested for a
   band of tokens and of shifts ``X`` at once; walking the band, only the unclean tokens are
   drawn one by one (as the kernel does; a few per cent of the tokens with a repeat);
4. the clean tokens' redraws written in place over arrays.

:func:`draw_experts` returns what the kernel returns (spares used, or -1 when they ran out)
and fills ``out`` alike (``tests/kernels/test_numpy_traffic.py`` holds them equal), or gives
up (None) where so many tokens are unclean that the kernel is faster.
"""

import numpy as np

#: Tokens and shifts per band of cleanness tests (step 3).
BAND_TOKENS, BAND_SHIFTS = 512, 16
#: Tokens and spares drawn one by one (step 3; some 10 us a token) past which the kernel is
#: faster, its start-up (importing Numba, loading the kernel) included: :func:`draw_experts`
#: gives up when the first bands project more (a strong skew, few experts).
BUDGET = 16384
OVER = "over budget"
#: Numbers per pass of the first draws (the temporaries stay in cache).
CHUNK = 1 << 15


def _guide(cdf):
    """A guide table over ``cdf``: ``m`` buckets (a power of two: ``u * m`` is exact), each
    bucket's first answer, complemented (``~a``, negative) where the bucket holds more."""
    m = 1 << max(int(cdf.size - 1).bit_length() + 5, 6)
    guide = np.searchsorted(cdf, np.arange(m + 1) / m, side="right").astype(np.int32)
    guide[m] = cdf.size - 1
    # bucket k holds [k / m, (k + 1) / m): one answer where guide[k] == guide[k + 1]
    return m, np.where(guide[1:] != guide[:-1], ~guide[:m], guide[:m])


def _lookup(cdf, table, u, out):
    """``out[i]``: the first index with ``cdf[...] > u[i]`` (1-d ``u`` and ``out``)."""
    m, guide = table
    guide.take((u * m).astype(np.uint16 if m <= 1 << 16 else np.int32), out=out)
    late = np.flatnonzero(out < 0)
    out[late] = ~out[late]
    for _ in range(2):  # a step or two past the bucket's first answer, then a search
        if late.size == 0:
            return
        out[late] += cdf[out[late]] <= u[late]
        late = late[cdf[out[late]] <= u[late]]
    out[late] = np.searchsorted(cdf, u[late], side="right")


def experts_of(cdf, u):
    """The first index ``i`` with ``cdf[i] > u``, for every number of ``u`` (``cdf``
    non-decreasing, its last entry 1; every ``u`` in [0, 1)), int32; in passes of
    :data:`CHUNK` numbers."""
    table, flat = _guide(cdf), u.reshape(-1)
    out = np.empty(flat.size, np.int32)
    for lo in range(0, flat.size, CHUNK):
        _lookup(cdf, table, flat[lo:lo + CHUNK], out[lo:lo + CHUNK])
    return out.reshape(u.shape)


def _repeats(first):
    """(tokens, k) bool: slot j's expert is among slots 0..j-1's."""
    cols = np.ascontiguousarray(first.T)
    rep = np.zeros(cols.shape, bool)
    for j in range(1, cols.shape[0]):
        for i in range(j):
            rep[j] |= cols[i] == cols[j]
    return rep.T


def _draw_one(row, spare_experts, at, stop):
    """The kernel's walk over one token (``row`` its first experts) from spare ``at``:
    (its experts, spares used); None when it reaches spare ``stop``."""
    out, used = [], 0
    for e in row:
        while e in out:
            if at + used >= stop:
                return None
            e = int(spare_experts[at + used])
            used += 1
        out.append(e)
    return out, used


def _unclean(rows, b, start, spare_experts, n_shifts):
    """(n_shifts, tokens) bool: the tokens (first experts ``rows``, ``b`` redraws from
    spare ``start + x``) that are not clean at shift x (module docstring); a redraw past
    the stream counts as unclean."""
    at = start[None, :] + np.arange(n_shifts)[:, None]
    cols = rows.T[:, None, :]
    bad = np.zeros(at.shape, bool)
    taken = []
    for i in range(int(b.max(initial=0))):
        pos = at + i
        e = spare_experts[np.minimum(pos, spare_experts.size - 1)]
        hit = pos >= spare_experts.size
        for col in cols:
            hit |= col == e
        for prev in taken:
            hit |= prev == e
        bad |= hit & (i < b)[None, :]
        taken.append(e)
    return bad


def _walk(rows, b, spare_experts, budget):
    """Step 3 over the tokens with a repeat: where each one's redraws start, the unclean
    ones' experts drawn one by one ``{token: experts}``, and the spares used in all. None
    when the spares ran out; ``OVER`` when the tokens and spares drawn one by one pass
    ``budget``, or the first bands project them past it."""
    start = np.cumsum(b) - b
    extra = np.zeros(b.size, np.int64)
    drawn = {}
    q, x, work, size = 0, 0, 0, BAND_TOKENS
    budget = np.inf if budget is None else budget
    while q < b.size:
        q0, x0 = q, x
        end = min(q + size, b.size)
        bad = _unclean(rows[q:end], b[q:end], start[q:end] + x, spare_experts, BAND_SHIFTS)
        while q < end and 0 <= x - x0 < BAND_SHIFTS:
            hits = bad[x - x0, q - q0:]
            hit = int(hits.argmax())
            if not hits[hit]:
                extra[q:end] = x
                q = end
                break
            t = q + hit
            extra[q:t + 1] = x
            at = int(start[t]) + x
            stop = min(spare_experts.size, at + budget - work)
            one = _draw_one(rows[t].tolist(), spare_experts, at, stop)
            if one is None:
                return None if stop == spare_experts.size else OVER
            drawn[t] = one[0]
            x += one[1] - int(b[t])
            work += 1 + one[1]
            q = t + 1
        # a band cut short by the shifts: the next one smaller (dense unclean tokens)
        size = min(BAND_TOKENS, 2 * size if q == end else max(2 * (q - q0), 16))
        if work * b.size > budget * q:
            return OVER
    return start + extra, drawn, int(b.sum()) + x


def draw_experts(cdf, rng, n_spare, out, budget=None):
    """:func:`.traffic.draw_experts` (the kernel) given ``rng.random(out.shape)`` and then
    ``rng.random(n_spare)``, drawn here in passes as needed: ``out`` (tokens, k) filled
    with k distinct experts per token; returns the spares used, -1 when they ran out, or
    None (``out`` undefined) when more than ``budget`` tokens would be drawn one by one
    (None: no limit)."""
    table, tokens, k = _guide(cdf), [], out.shape[1]
    per = max(CHUNK // k, 1)
    u = np.empty(per * k)
    for lo in range(0, out.shape[0], per):  # the first draws, and the tokens with a repeat
        block = out[lo:lo + per]
        _lookup(cdf, table, rng.random(out=u[:block.size]), block.reshape(-1))
        if k > 1:
            ordered = np.sort(block, axis=1).T
            twice = ordered[1] == ordered[0]
            for j in range(2, k):
                twice |= ordered[j] == ordered[j - 1]
            tokens.append(lo + np.flatnonzero(twice))
    tokens = np.concatenate(tokens) if tokens else np.zeros(0, np.int64)
    if tokens.size == 0:
        return 0
    rows = out[tokens]
    rep = _repeats(rows)
    b = rep.sum(axis=1)
    spare_experts = np.zeros(0, np.int32)
    while True:  # the spares' experts, as many as the walk needs
        want = min(n_spare, max(2 * spare_experts.size, int(b.sum()) * 5 // 4 + 1024))
        more = rng.random(want - spare_experts.size)  # the stream goes on where it stopped
        spare_experts = np.concatenate((spare_experts, experts_of(cdf, more)))
        walked = _walk(rows, b, spare_experts, budget)
        if walked is not None or want == n_spare:
            break
    if walked is None or walked is OVER:
        return None if walked is OVER else -1
    at, drawn, used = walked
    k_of = np.cumsum(rep, axis=1) - 1  # which of its redraws a repeated slot takes
    tok, slot = np.nonzero(rep)
    rows[tok, slot] = spare_experts[at[tok] + k_of[tok, slot]]
    for t, experts in drawn.items():
        rows[t] = experts
    out[tokens] = rows
    return used
