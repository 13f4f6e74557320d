"""MoE top-k routing drawn token by token (:mod:`ubemu.traffic`)."""

from ._jit import kernel


@kernel(inline="always")
def _expert(cdf, u):
    """The first expert whose cumulative popularity exceeds ``u``."""
    lo, hi = 0, cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel
def draw_experts(cdf, first, spare, out):
    """Fill ``out`` (tokens, k) with k distinct experts per token, drawn one by one from the
    popularity whose cumulative sums are ``cdf`` (last entry 1), a repeat drawn again:
    sampling without replacement (successive sampling). ``first`` (tokens, k) holds each
    position's uniform number, ``spare`` those of the redraws, taken in order. Returns how
    many spares were used, or -1 when they ran out."""
    used = 0
    for t in range(out.shape[0]):
        for j in range(out.shape[1]):
            e = _expert(cdf, first[t, j])
            while True:
                again = False
                for i in range(j):
                    if out[t, i] == e:
                        again = True
                        break
                if not again:
                    break
                if used == spare.shape[0]:
                    return -1
                e = _expert(cdf, spare[used])
                used += 1
            out[t, j] = e
    return used
