"""A ring's repeated steps timed at once: one routing of the pattern, then prefix sums.

The ``p-1`` steps of a ring phase (:class:`ubemu.schedule.ShiftSteps`) send between the
same pairs; only which transfers carry the larger block changes: a window of ``extra``
consecutive positions that slides by one each step. Where every link carries one transfer of
the pattern (the step-level timer's repeated-pattern rule, :meth:`StepTimer._profile`), a
step's figures follow from the window alone:

- a class's busiest link carries ``base + 1`` elements when a transfer in the window crosses
  the class, else ``base``; its bytes are ``base`` times its crossings plus the window's;
- the longest path is the larger of the window's longest path plus the larger block's fill
  and the rest's plus the smaller block's (sliding-window maxima);
- message costs (the busiest NPU's, the longest receive tail) and the largest reduction are
  the same in every step;
- a link that carries several transfers of the pattern (a detour around a failure shares
  links), or a port short of switch planes, is listed with its transfers: ``base`` elements
  each plus one per transfer in the window, times its weight.

Window sums come from prefix sums over the positions, window maxima from van Herk's
block-wise prefix and suffix maxima, so ``p-1`` steps cost O(p) after one routing instead of
O(p) each. Each distinct step is combined and counted by the timer's own rule, so the
figures equal timing the steps one by one, bit for bit (tested).
"""

import numpy as np


def _window_sums(values, starts, length):
    """Sums of ``values`` over the circular windows ``[start, start + length)``."""
    prefix = np.concatenate(([0], np.cumsum(np.concatenate((values, values)))))
    return prefix[starts + length] - prefix[starts]


def _window_max(values, starts, length):
    """Maxima of ``values`` over the circular windows ``[start, start + length)``."""
    doubled = np.concatenate((values, values))
    pad = (-doubled.size) % length
    blocks = np.concatenate((doubled, np.full(pad, -np.inf))).reshape(-1, length)
    ahead = np.maximum.accumulate(blocks, axis=1).reshape(-1)
    behind = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    return np.maximum(behind[starts], ahead[starts + length - 1])


def _shared_busy_s(timer, step, shared, starts, itemsize):
    """(classes, steps): seconds the busiest of the pattern's shared links (a detour's, or a
    port short of planes) is busy: ``base`` elements per transfer, one more per transfer in
    the window."""
    cls, trans, first, _ = shared
    inside = ((step.pos[trans][:, None] - starts[None, :]) % step.parts) < step.extra
    per_link = np.add.reduceat(inside.astype(np.int64), first, axis=0)
    per_link += (np.diff(np.r_[first, trans.size]) * step.base)[:, None]
    out = np.zeros((len(timer.class_names), starts.size))
    np.maximum.at(out, cls, timer.shared_link_s(shared, per_link, itemsize))
    return out


def _codes(row):
    """(code of each value of ``row``, number of codes): O(n) where it takes at most two
    values (a class's busiest link carries a big block or not), else by sorting."""
    other = row != row[0]
    if not other.any():
        return np.zeros(row.size, np.int64), 1
    rest = row[other]
    if (rest == rest[0]).all():
        return other.astype(np.int64), 2
    values, inv = np.unique(row, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), values.size


def _distinct_columns(table):
    """(index of the first column of each distinct column of ``table``, how many there are
    of it)."""
    key, radix = np.zeros(table.shape[1], np.int64), 1
    for row in table:
        code, n = _codes(row)
        if radix * n >= 1 << 62:  # too many combinations for one key: compare columns
            _, first, counts = np.unique(table.T, axis=0, return_index=True,
                                         return_counts=True)
            return first, counts
        key += code * radix
        radix *= n
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return first, counts


def time_shift_steps(timer, step, itemsize):
    """Add the steps of ``step`` (a ShiftSteps) to ``timer``; False when the rule above does
    not hold (too many links carry several transfers, or several processes share the work)
    and the steps must be timed one by one."""
    profile = timer.profile_once(step)
    if profile is None:
        return False
    hops, used, lat_ns, cpu_s, tail_s, shared = profile
    s, base, extra = step.parts, step.base, step.extra
    k = np.arange(step.repeat, dtype=np.int64)
    starts = (step.shift(k)) % s  # the window of big blocks begins at this position
    n_cls = len(timer.class_names)
    big = np.zeros((n_cls, step.repeat), bool)  # a big block crosses the class at step k
    nbytes = np.zeros(n_cls)
    for c in used.tolist():
        per_pos = np.bincount(step.pos, weights=hops[c], minlength=s).astype(np.int64)
        inside = _window_sums(per_pos, starts, extra)
        big[c] = _window_sums((per_pos > 0).astype(np.int64), starts, extra) > 0
        nbytes[c] = float((int(per_pos.sum()) * base * step.repeat + int(inside.sum()))
                          * itemsize)
    fill_bytes, ns_per_byte = timer.fill
    if ns_per_byte:
        longest = np.full(s, -np.inf)
        np.maximum.at(longest, step.pos, lat_ns)
        fill = [min(b * itemsize, fill_bytes) * ns_per_byte for b in (base + 1, base)]
        lat = np.maximum(_window_max(longest, starts, extra) + fill[0],
                         _window_max(longest, (starts + extra) % s, s - extra) + fill[1]
                         if extra < s else -np.inf)
    else:
        lat = np.full(step.repeat, float(lat_ns.max(initial=0.0)))
    red_b = float((base + (extra > 0)) * itemsize) if step.reduce.any() else 0.0
    is_used = np.zeros(n_cls, bool)
    is_used[used] = True
    elements = np.where(big, base + 1, base) * is_used[:, None]  # busiest link, per class
    busy = (elements * itemsize).astype(np.float64) / timer.class_cap_Bps[:, None]  # as drain
    if shared is not None:
        busy = np.maximum(busy, _shared_busy_s(timer, step, shared, starts, itemsize))
    firsts, counts = _distinct_columns(np.vstack([busy, lat.reshape(1, -1)]))
    for first, count in zip(firsts.tolist(), counts.tolist()):
        timer.add_figures(busy[:, first], float(lat[first]), red_b, cpu_s, tail_s, count)
    timer.bytes += nbytes
    timer.n_steps += step.repeat
    return True
