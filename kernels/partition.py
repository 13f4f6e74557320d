"""Pack and unpack kernels of the partitioned data plane (:mod:`ubemu.partition`).

A process sends the source ranges of its cross-process transfers as one flat array
(:func:`pack`) and applies the flat array it receives to its local rows (:func:`unpack`), with
the same copy / combine arithmetic as the execute kernel.
"""

from ._jit import kernel
from .execute import apply_range


@kernel
def pack(buf, src, src_off, n, out):
    """Copy ``buf[src[t], src_off[t]:src_off[t] + n[t]]`` for every t, back to back, to ``out``."""
    pos = 0
    for t in range(src.shape[0]):
        m = n[t]
        out[pos:pos + m] = buf[src[t], src_off[t]:src_off[t] + m]
        pos += m


@kernel
def unpack(buf, dst, dst_off, n, reduce, data, op, fmt):
    """Apply consecutive ranges of ``data`` to ``buf[dst[t], dst_off[t]:...]`` (copy or combine)."""
    pos = 0
    for t in range(dst.shape[0]):
        apply_range(buf[dst[t]], dst_off[t], data, pos, n[t], reduce[t], op, fmt)
        pos += n[t]


@kernel(inline="always")
def _owner(key, bounds, owners):
    """``owners[i]`` of the last ``bounds[i] <= key`` (``bounds`` ascending from <= key)."""
    lo, hi = 0, bounds.shape[0]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if bounds[mid] <= key:
            lo = mid
        else:
            hi = mid
    return owners[lo]


@kernel
def split_loads(touched, nt, load, red_touched, nr, red_bytes, n_links, bounds, owners, me,
                counts, own, pairs):
    """Keep the accumulated keys process ``me`` owns; lay out the others' for sending.

    Keys are link ids (``load``) and ``n_links + NPU id`` (``red_bytes``); the owner of a key
    comes from ``bounds`` / ``owners`` (:func:`_owner`). Kept keys are compacted at the front
    of ``touched`` / ``red_touched``; every other key leaves as a ``(key, bytes)`` pair in
    ``pairs`` (float64, whole numbers below 2**53), grouped by owner in touched order, and its
    accumulator is reset to 0. ``counts[p]`` gets the pairs for process p; ``own`` is scratch
    of at least ``nt + nr`` entries.

    Returns
    -------
    (kept links, kept NPUs)
    """
    counts[:] = 0
    for j in range(nt + nr):
        key = touched[j] if j < nt else n_links + red_touched[j - nt]
        o = _owner(key, bounds, owners)
        own[j] = o
        if o != me:
            counts[o] += 1
    offs = counts.copy()
    pos = 0
    for p in range(counts.shape[0]):
        offs[p] = pos
        pos += counts[p]
    kept_t = 0
    kept_r = 0
    for j in range(nt + nr):
        if j < nt:
            key = touched[j]
            if own[j] == me:
                touched[kept_t] = key
                kept_t += 1
                continue
            v = load[key]
            load[key] = 0.0
        else:
            d = red_touched[j - nt]
            if own[j] == me:
                red_touched[kept_r] = d
                kept_r += 1
                continue
            key = n_links + d
            v = red_bytes[d]
            red_bytes[d] = 0.0
        o = own[j]
        pairs[2 * offs[o]] = key
        pairs[2 * offs[o] + 1] = v
        offs[o] += 1
    return kept_t, kept_r


@kernel
def merge_loads(pairs, load, touched, nt, red_bytes, red_touched, nr, n_links):
    """Add received ``(key, bytes)`` pairs (see :func:`split_loads`) to the accumulators,
    listing keys that were at 0. Returns (nt, nr)."""
    for j in range(pairs.shape[0] // 2):
        key = int(pairs[2 * j])
        v = pairs[2 * j + 1]
        if key < n_links:
            if load[key] == 0.0:
                touched[nt] = key
                nt += 1
            load[key] += v
        else:
            d = key - n_links
            if red_bytes[d] == 0.0:
                red_touched[nr] = d
                nr += 1
            red_bytes[d] += v
    return nt, nr
