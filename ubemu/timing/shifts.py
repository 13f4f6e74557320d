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

from ..kernels.codes import RECV_UNIT
from ..schedule import same_array


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
    if step.steady is not None:
        return time_steady_shift_steps(timer, step, itemsize)
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
        timer.add_figures(busy[:, first], float(lat[first]), red_b, cpu_s, tail_s, count,
                          step.channels)
    timer.bytes += nbytes
    timer.n_steps += step.repeat
    return True


#: Most (link, step) pairs worth computing for links that carry several sliding transfers.
MULTI_BUDGET = 1 << 24


class _Transfers:
    """The few fields of a Step the timer routes."""

    innet, channels = 0, 1

    def __init__(self, src, dst, n, reduce):
        self.src, self.dst, self.n, self.reduce = src, dst, n, reduce


def _group_table(keys, const, weight, members, pos, parts, itemsize, floor):
    """The entries (links or NPUs) that can raise their key's most above ``floor[key]`` (the
    key's most without a block in the window) when their sliding transfer ``members[i]`` is
    in the window, grouped by the value ``(const + itemsize) x weight`` they then reach
    (usually one group per key; ``weight`` None: 1): ``(each group's key, its value,
    (groups, parts) bool table of the positions of its transfers)``, for
    :func:`_group_steps`."""
    keys, floor = np.asarray(keys, np.int64), np.asarray(floor)
    value = const + itemsize if weight is None else (const + itemsize) * weight
    live = value > floor[keys]  # can be the busiest
    keys, value, members = keys[live], value[live], members[live]
    if not keys.size:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros((0, parts), bool)
    top = np.zeros(int(keys.max()) + 1)  # each key's most (values are > 0)
    np.maximum.at(top, keys, value)
    if np.array_equal(value, top[keys]):  # one value per key: one group each, at once
        groups, levels, per_key = keys, top, 1
    else:  # several values of a key (lost switch planes): one group per (key, value)
        levels, groups = np.unique(value, return_inverse=True)
        per_key = levels.size
        groups = groups.reshape(-1) + per_key * keys
        levels = np.tile(levels, int(keys.max()) + 1)
    per_pos = np.bincount(groups * parts + pos[members],
                          minlength=(int(groups.max()) + 1) * parts).reshape(-1, parts) > 0
    rows = np.flatnonzero(per_pos.any(axis=1))
    return rows // per_key, levels[rows], per_pos[rows]


def _group_steps(table, starts, extra, floor):
    """``{key: per step, the most of its entries}`` from :func:`_group_table`'s ``table``: a
    group's value where a transfer of it is in the window, else ``floor[key]``."""
    out = {}
    for key, level, row in zip(*table):
        key = int(key)
        big = _window_sums(row, starts, extra) > 0
        step = np.where(big, level, floor[key])
        out[key] = np.maximum(out[key], step) if key in out else step
    return out


class _SteadyRoutes:
    """What :func:`time_steady_shift_steps` takes from routing a ShiftSteps with steady
    transfers, kept by the timer for the next run of the same transfers (an all-reduce's
    reduce-scatter and all-gather send between the same pairs the same blocks), so a channelled
    ring is routed once per collective: its links' constant loads and their most per class
    (``floor``), the groups of links one sliding transfer can raise (:func:`_group_table`),
    the links several sliding transfers cross (``multi``: their loads and their transfers'
    positions), each class's crossings per position, the longest sliding path per position,
    the steady transfers' latency and the NPUs' message figures."""

    def __init__(self, timer, step, isz):
        tp, s, st = timer.topology, step.parts, step.steady
        n_cls = len(timer.class_names)
        self.key = (step.src, step.dst, step.pos, st.src, st.dst, st.n,
                    (s, step.base, step.extra, isz, timer.fill))
        # the steady transfers' loads and messages (the NPUs' reductions are added per run:
        # the phases differ in them)
        timer.ensure_room(st.src.size * timer.path.size, 3 * st.src.size)
        acc = timer.accumulate([0, 0, 0.0], _Transfers(st.src, st.dst, st.n,
                                                       np.zeros(st.src.size, bool)), isz, 1.0)
        self.lat_steady = acc[2]
        keys = timer.red_touched[:acc[1]]
        messages = np.zeros(tp.n_npus)  # sent + RECV_UNIT x received, as the kernel counts
        messages[keys - tp.n_npus] = timer.red_bytes[keys]
        timer.red_bytes[keys] = 0.0
        # the sliding transfers' routes: per link, how many cross it and the last of them;
        # on top of the steady loads they carry their smaller block
        count, last = np.zeros(tp.n_links, np.int32), np.zeros(tp.n_links, np.int32)
        lat = np.empty(step.src.size)
        timing = timer.kernels(step.src.size)
        bad = timing.slide_links(step.src, step.dst, timer.npus, tp.level_table, tp.lat_ns,
                                 float(tp.params.hop_lat_ns), *timer.faults, timer.path,
                                 count, last, lat, timer.err)
        steady = timer.touched[:acc[0]]
        if bad:
            timer.load[steady] = 0.0
            timer.check_routes()
        crossed = np.flatnonzero(count)
        links = np.concatenate((steady, crossed[timer.load[crossed] == 0.0]))
        loads = timer.load[links] + count[links] * float(step.base * isz)
        timer.load[steady] = 0.0
        count, last = count[links], last[links]
        if timer.messages:
            messages += _messages(timer, step)
        cls = tp.link_class_of(links)
        weight = timer.weight[links] if timer.weight.size else None  # (None: all 1)
        timer.mark_used(links)
        weighed = loads if weight is None else loads * weight
        self.floor = np.zeros(n_cls)  # most bytes x weight on a class's links, none in the window
        for c in range(n_cls):
            self.floor[c] = weighed[cls == c].max(initial=0.0)
        self.classes = np.bincount(cls, weights=loads, minlength=n_cls)  # bytes, every step
        self.table = self.multi = self.crossings = None
        if step.extra:  # (else every block is of one size: the constant loads say all)
            self._sliding(timer, step, isz, links, loads, weight, cls, count, last)
        self.longest = np.full(s, -np.inf)
        np.maximum.at(self.longest, step.pos, lat)
        messages = messages[messages != 0.0]
        received = np.floor(messages / RECV_UNIT)
        sent = messages - received * RECV_UNIT
        self.cpu_s = self.tail_s = 0.0
        if timer.messages:
            self.cpu_s, self.tail_s = timer.kernels(received.size).npu_message_figures(
                received, sent, timer.send_s, timer.recv_s)

    def _sliding(self, timer, step, isz, links, loads, weight, cls, count, last):
        """The groups of links one sliding transfer crosses, the links several cross and
        every class's crossings per position."""
        tp, s, n_cls = timer.topology, step.parts, len(timer.class_names)
        one = np.flatnonzero(count == 1)
        self.table = _group_table(cls[one], loads[one], None if weight is None else weight[one],
                                  last[one], step.pos, s, isz, self.floor)
        at, trans = one, last[one]  # (link index, sliding transfer) of every crossing
        multi = np.flatnonzero(count > 1)
        if multi.size:  # the links several sliding transfers cross: their crossings
            mark = np.zeros(tp.n_links, bool)
            mark[links[multi]] = True
            room = int(count[multi].sum())
            ml, mt = np.empty(room, np.int64), np.empty(room, np.int64)
            m = timer.kernels(step.src.size).shared_pairs(
                step.src, step.dst, timer.npus, tp.level_table, tp.lat_ns,
                float(tp.params.hop_lat_ns), *timer.faults, mark, timer.path, ml, mt)
            by_id = np.argsort(links[multi])  # each crossing's place in ``multi``
            m_at = by_id[np.searchsorted(links[multi], ml[:m], sorter=by_id)]
            at, trans = np.concatenate((at, multi[m_at])), np.concatenate((trans, mt[:m]))
            each = np.ones(multi.size) if weight is None else weight[multi]
            self.multi = (multi, loads[multi], each, cls[multi], m_at, step.pos[mt[:m]])
        per_pos = np.bincount(cls[at] * s + step.pos[trans], minlength=n_cls * s)
        per_pos = per_pos.reshape(n_cls, s)
        rows = np.flatnonzero(per_pos.any(axis=1))
        self.crossings = rows, per_pos[rows]  # crossings of each class's links per position

    def matches(self, timer, step, isz):
        """These routes are ``step``'s (the same transfers, blocks and fill)."""
        st = step.steady
        now = (step.src, step.dst, step.pos, st.src, st.dst, st.n)
        return self.key[6] == (step.parts, step.base, step.extra, isz, timer.fill) \
            and all(same_array(a, b) for a, b in zip(self.key[:6], now))


def _messages(timer, step):
    """Per NPU, the sliding transfers' messages as the accumulate kernel counts them (sent +
    RECV_UNIT x received): a run of transfers of one pair is one message, none to itself."""
    src, dst, n_npus = step.src, step.dst, timer.topology.n_npus
    s, d = timer.npus[src], timer.npus[dst]
    new = s != d
    new[1:] &= (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    return np.bincount(s[new], minlength=n_npus) + RECV_UNIT * np.bincount(d[new],
                                                                        minlength=n_npus)


def _reduced(timer, step, isz):
    """Bytes each NPU reduces in every step with no block in the window (its steady
    transfers' and its sliding ones' smaller blocks), as the accumulate kernel sums them."""
    st, red_of = step.steady, np.zeros(timer.topology.n_npus)
    for src_n, dst, red in ((st.n, st.dst, st.reduce),
                            (np.broadcast_to(step.base, step.src.shape), step.dst, step.reduce)):
        red = np.asarray(red, bool)
        if red.any():
            red_of += np.bincount(timer.npus[dst[red]], weights=(src_n[red] * isz)
                                  .astype(np.float64), minlength=red_of.size)
    return red_of


def time_steady_shift_steps(timer, step, itemsize):
    """:func:`time_shift_steps` of a ShiftSteps with steady transfers alongside (the channels
    whose blocks are all of one size): every link's load is its steady bytes plus, where a
    sliding transfer crosses it, that transfer's block (one element more when in the
    window). The routes (:class:`_SteadyRoutes`) are the timer's last ones when they are of
    the same transfers. False where it cannot (several processes, or too many links carrying
    several sliding transfers)."""
    isz, s = int(itemsize), step.parts
    if timer.spread.collective or step.base < 1:  # (routes are indexed by the loaded links)
        return False
    routes = timer.steady_routes
    if routes is None or not routes.matches(timer, step, isz):
        routes = timer.steady_routes = _SteadyRoutes(timer, step, isz)
    n_cls = len(timer.class_names)
    k = np.arange(step.repeat, dtype=np.int64)
    starts = step.shift(k) % s
    # busy per class and step: the constant loads, then the links a sliding transfer crosses
    busy = np.empty((n_cls, step.repeat))
    busy[:] = (routes.floor / timer.class_cap_Bps)[:, None]
    if routes.table is not None:
        for c, value in _group_steps(routes.table, starts, step.extra, routes.floor).items():
            busy[c] = np.maximum(busy[c], value / timer.class_cap_Bps[c])
    if routes.multi is not None:
        multi, loads, weight, cls, idx, pos = routes.multi
        if multi.size * step.repeat > MULTI_BUDGET:
            return False
        inside = ((pos[:, None] - starts[None, :]) % s) < step.extra
        counts = np.zeros((multi.size, step.repeat), np.int64)
        np.add.at(counts, idx, inside.astype(np.int64))
        for i in range(multi.size):
            t = (loads[i] + isz * counts[i]) * weight[i] / timer.class_cap_Bps[cls[i]]
            busy[cls[i]] = np.maximum(busy[cls[i]], t)
    # bytes per class: the constant loads every step, one element per crossing in the window
    nbytes = routes.classes * step.repeat
    if routes.crossings is not None:
        for c, row in zip(*routes.crossings):
            nbytes[c] += float(_window_sums(row, starts, step.extra).sum() * isz)
    # latency: the steady transfers' (with their fill), the sliding ones' window maxima
    fill_bytes, ns_per_byte = timer.fill
    fill = [min(b * isz, fill_bytes) * ns_per_byte for b in (step.base + 1, step.base)]
    slide_lat = np.maximum(_window_max(routes.longest, starts, step.extra) + fill[0]
                           if step.extra else -np.inf,
                           _window_max(routes.longest, (starts + step.extra) % s,
                                       s - step.extra) + fill[1] if step.extra < s else -np.inf)
    path_lat = np.maximum(slide_lat, routes.lat_steady)
    # the NPUs' bytes reduced (+1 element into a big block)
    red_of = _reduced(timer, step, isz)
    red = np.full(step.repeat, float(red_of.max(initial=0.0)))
    if step.extra and step.reduce.any():
        mine = np.flatnonzero(step.reduce)
        d = timer.npus[step.dst[mine]]
        table = _group_table(np.zeros(d.size, np.int64), red_of[d], None, mine,
                             step.pos, s, isz, red[:1])
        red = _group_steps(table, starts, step.extra, red[:1]).get(0, red)
    firsts, counts = _distinct_columns(np.vstack([busy, path_lat.reshape(1, -1),
                                                  red.reshape(1, -1)]))
    for first, count in zip(firsts.tolist(), counts.tolist()):
        timer.add_figures(busy[:, first], float(path_lat[first]), float(red[first]),
                          routes.cpu_s, routes.tail_s, count, step.channels)
    timer.bytes += nbytes
    timer.n_steps += step.repeat
    return True
