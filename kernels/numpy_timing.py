"""The NumPy twins of :mod:`.timing`'s kernels, for small runs that should not pay for Numba.

Each function takes the arguments of its kernel and leaves the same figures in the same
arrays (:mod:`.select` picks one module or the other for a run; both are held equal by
``tests/kernels/test_numpy_twins.py`` over every registered algorithm). Where a kernel loops
over transfers, its twin routes them all at once (:func:`.numpy_routing.route_arrays`) and
sums with ``np.add.at``, in the kernel's order; loads are whole numbers of bytes, so every sum
is exact either way. ``touched`` lists links in the order the kernel reaches them;
``red_touched`` holds the same NPU keys, in another order. No faults (the kernels route those).

A change to a rule of :mod:`.timing` is mirrored here, function for function.
"""

import math

import numpy as np

from .codes import C_NPUS, C_OFFSET, C_POOL_NPUS, C_POOLS, INNET_REDUCE, RECV_UNIT
from .numpy_routing import route_arrays


def _class_of(links, class_first):
    return np.searchsorted(class_first, links, side="right") - 1


def _append_new(acc, touched, nt, keys, values):
    """Add ``values`` to ``acc[keys]`` (in order), listing keys that were 0 in ``touched``
    from ``nt`` on in the order first reached; returns the new ``nt``."""
    fresh = keys[acc[keys] == 0.0]
    if fresh.size:
        uniq, first = np.unique(fresh, return_index=True)
        new = uniq[np.argsort(first, kind="stable")]
        touched[nt:nt + new.size] = new
        nt += new.size
    np.add.at(acc, keys, values)
    return nt


def _no_faults(down):
    if down.shape[0]:
        raise ValueError("the NumPy twins do not route around faults (the kernels do)")


def accumulate(src, dst, n, reduce, npus, itemsize, scale, lv, lat_ns, hop_lat_ns, down, state,
               fp, flat, load, touched, nt, red_bytes, red_touched, nr, path, messages,
               fill_bytes, fill_ns_per_byte, err):
    """:func:`.timing.accumulate`: one step's bytes (times ``scale``) onto the link and NPU
    accumulators; returns ``(nt, nr, max over messages of path latency + fill)``."""
    _no_faults(down)
    n_npus = red_bytes.shape[0] // 2
    k = np.flatnonzero(n > 0)
    if k.size == 0:
        return nt, nr, 0.0
    s, d = npus[src[k]], npus[dst[k]]
    nbytes = (n[k] * itemsize).astype(np.float64)
    b = nbytes * scale
    paths, hops, lat = route_arrays(s, d, lv, lat_ns, hop_lat_ns, path.shape[0])
    nt = _append_new(load, touched, nt, paths[paths >= 0], np.repeat(b, hops))
    # a message: consecutive transfers of one (src, dst) pair, src != dst
    first = np.ones(src.size, bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    moved = s != d
    starts = moved & first[k]
    keys, values = [], []
    if messages:
        keys += [n_npus + s[starts], n_npus + d[starts]]
        values += [np.full(int(starts.sum()), scale), np.full(int(starts.sum()),
                                                              RECV_UNIT * scale)]
    red = reduce[k]
    keys.append(d[red])
    values.append(b[red])
    nr = _append_new(red_bytes, red_touched, nr, np.concatenate(keys), np.concatenate(values))
    m = np.flatnonzero(moved)
    if m.size == 0:
        return nt, nr, 0.0
    run = np.cumsum(starts[m])
    run -= run[0]
    n_runs = int(run[-1]) + 1
    run_lat = np.zeros(n_runs)
    np.maximum.at(run_lat, run, lat[m])
    run_bytes = np.zeros(n_runs)
    np.add.at(run_bytes, run, nbytes[m])
    longest = run_lat + np.minimum(run_bytes, fill_bytes) * fill_ns_per_byte
    return nt, nr, max(0.0, float(longest.max()))


def drain(class_first, class_cap_Bps, load, touched, nt, red_bytes, red_touched, nr,
          class_busy_s, class_bytes, send_s, recv_s, weight):
    """:func:`.timing.drain`: per-class figures from the accumulated loads, which are reset;
    returns ``(max_link_s, max_reduced_bytes, busiest NPU's message time in s, longest
    receive tail in s)``."""
    class_busy_s[:] = 0.0
    class_bytes[:] = 0.0
    links = touched[:nt]
    x = load[links]
    c = _class_of(links, class_first)
    t = x / class_cap_Bps[c] if weight.shape[0] == 0 else x * weight[links] / class_cap_Bps[c]
    np.add.at(class_bytes, c, x)
    np.maximum.at(class_busy_s, c, t)
    load[links] = 0.0
    keys = red_touched[:nr]
    v = red_bytes[keys]
    n_npus = red_bytes.shape[0] // 2
    msg = v[keys >= n_npus]
    received = np.floor(msg / RECV_UNIT)
    sent = msg - received * RECV_UNIT
    cpu = sent * send_s + received * recv_s
    red_bytes[keys] = 0.0
    return (float(t.max(initial=0.0)), float(v[keys < n_npus].max(initial=0.0)),
            float(cpu.max(initial=0.0)), _longest_tail(received, sent, send_s, recv_s))


def _longest_tail(received, sent, send_s, recv_s):
    """The longest :func:`receive_tail_s` of NPUs that received and sent these numbers of
    messages (each distinct pair computed once)."""
    if not received.size:
        return 0.0
    pairs = np.unique(np.stack([received, sent]), axis=1)
    return max(receive_tail_s(float(m), float(k), send_s, recv_s) for m, k in pairs.T)


def harmonic(n):
    """:func:`.timing.harmonic`, in plain Python (the same operations in the same order)."""
    if n < 1:
        return 0.0
    if n <= 64:
        h = 0.0
        for j in range(1, int(n) + 1):
            h += 1.0 / j
        return h
    x = float(n)
    x2 = x * x
    return math.log(x) + 0.5772156649015329 + 0.5 / x - 1.0 / (12.0 * x2) + 1.0 / (120.0 * x2 * x2)


def receive_tail_s(received, sent, send_s, recv_s):
    """:func:`.timing.receive_tail_s`, in plain Python: how long an NPU's receive costs
    outlast the step's data."""
    m = received
    if m < 1.0:
        return 0.0
    if m < 2.0:
        return recv_s
    g = 0.0
    if sent > 1.0:
        g = send_s * min(1.0, (sent - 1.0) / (m - 1.0))
    if g <= 0.0:
        return m * recv_s
    i = max(1.0, float(math.ceil(g * m / (recv_s + g))))
    ahead = g * (m * (harmonic(m - 1.0) - harmonic(i - 1.0)) - (m - i))
    return max(recv_s, (m - i + 1.0) * recv_s - ahead)


def npu_message_figures(received, sent, send_s, recv_s):
    """:func:`.timing.npu_message_figures`: ``(busiest NPU's message time, longest receive
    tail)`` of NPUs that received and sent the given numbers of messages."""
    active = (received != 0.0) | (sent != 0.0)
    received, sent = received[active], sent[active]
    cpu = sent * send_s + received * recv_s
    return float(cpu.max(initial=0.0)), _longest_tail(received, sent, send_s, recv_s)


def _routes(src, dst, npus, lv, lat_ns, hop_lat_ns, down, path):
    _no_faults(down)
    return route_arrays(npus[src], npus[dst], lv, lat_ns, hop_lat_ns, path.shape[0])


def pattern_profile(src, dst, npus, lv, lat_ns, hop_lat_ns, down, state, fp, flat, class_first,
                    path, hops, lat):
    """:func:`.timing.pattern_profile`: ``hops[c, t]`` links of class c on transfer t's path
    (added to the caller's zeros) and ``lat[t]`` its latency."""
    paths, n_hops, lat[:] = _routes(src, dst, npus, lv, lat_ns, hop_lat_ns, down, path)
    cls = _class_of(paths[paths >= 0], class_first)
    np.add.at(hops, (cls, np.repeat(np.arange(src.size), n_hops)), 1)


def shared_pairs(src, dst, npus, lv, lat_ns, hop_lat_ns, down, state, fp, flat, shared, path,
                 links, transfers):
    """:func:`.timing.shared_pairs`: every (link, transfer) on a link marked ``shared``, in
    transfer order; the count, or -1 when ``links`` has no room for them."""
    paths, n_hops, _ = _routes(src, dst, npus, lv, lat_ns, hop_lat_ns, down, path)
    on = paths[paths >= 0]
    mine = shared[on]
    m = int(mine.sum())
    if m > links.shape[0]:
        return -1
    links[:m] = on[mine]
    transfers[:m] = np.repeat(np.arange(src.size), n_hops)[mine]
    return m


def pattern_step(n, itemsize, reduce, hops, used, class_cap_Bps, class_busy_s, class_bytes):
    """:func:`.timing.pattern_step`: one step of a profiled pattern whose links carry one
    transfer each; returns ``(max_link_s, max_reduced_bytes)``."""
    class_busy_s[:] = 0.0
    class_bytes[:] = 0.0
    max_t = 0.0
    for c in used:
        row = hops[c]
        biggest = int(n[row != 0].max(initial=0))
        class_bytes[c] = float(int((n * row).sum()) * itemsize)
        class_busy_s[c] = float(biggest * itemsize) / class_cap_Bps[c]
        max_t = max(max_t, class_busy_s[c])
    return max_t, float(int(n[reduce].max(initial=0)) * itemsize)


def accumulate_innet(src, dst, n, npus, itemsize, scale, load_scale, mode, via, lv, op_lat_ns,
                     hop_lat_ns, load, touched, nt, red_bytes, red_touched, nr, messages,
                     fill_bytes, fill_ns_per_byte):
    """:func:`.timing.accumulate_innet`: one in-network step's bytes onto the switch ports of
    level ``via`` (reduced towards each destination, or multicast from each sender) and its
    operations onto their owners; returns ``(nt, nr, max latency in ns)``."""
    n_npus = red_bytes.shape[0] // 2
    off, total = int(lv[via, C_OFFSET]), int(lv[via, C_NPUS])
    pool, pools = int(lv[via, C_POOL_NPUS]), int(lv[via, C_POOLS])
    lat = op_lat_ns + hop_lat_ns * (4 if pool else 2)
    reduce = mode == INNET_REDUCE
    key = dst if reduce else src
    first = np.ones(src.size, bool)
    first[1:] = key[1:] != key[:-1]
    k = np.flatnonzero(n > 0)
    if k.size == 0:
        return nt, nr, 0.0
    first = first[k]
    s, d = npus[src[k]], npus[dst[k]]
    b = (n[k] * itemsize).astype(np.float64) * scale * load_scale
    up = np.ones(k.size, bool) if reduce else first
    down = first if reduce else np.ones(k.size, bool)
    # the kernel's order per transfer: up port, up pool, down pool, down port
    slots = np.stack([off + s, off + 2 * total + s // max(pool, 1),
                      off + 2 * total + pools + d // max(pool, 1), off + total + d], axis=1)
    on = np.stack([up, up & bool(pool), down & bool(pool), down], axis=1)
    nt = _append_new(load, touched, nt, slots[on], np.repeat(b, on.sum(axis=1)))
    if not first.any():
        return nt, nr, 0.0
    if messages:
        owner = n_npus + (d if reduce else s)[first]
        keys = np.repeat(owner, 2)
        values = np.tile([scale, RECV_UNIT * scale], owner.size)
        nr = _append_new(red_bytes, red_touched, nr, keys, values)
    longest = lat + np.minimum((n[k][first] * itemsize).astype(np.float64), fill_bytes) \
        * fill_ns_per_byte
    return nt, nr, float(longest.max())


def slide_links(src, dst, npus, lv, lat_ns, hop_lat_ns, down, state, fp, flat, path, count, last,
                lat, err):
    """:func:`.timing.slide_links`: per link the transfers that cross it (``count``) and the
    last of them (``last``), each transfer's latency in ``lat``; returns 0."""
    paths, n_hops, lat[:] = _routes(src, dst, npus, lv, lat_ns, hop_lat_ns, down, path)
    on = paths[paths >= 0]
    np.add.at(count, on, 1)
    np.maximum.at(last, on, np.repeat(np.arange(src.size, dtype=last.dtype), n_hops))
    return 0


def shared_busy(n, itemsize, trans, starts, cls, weight, class_cap_Bps, class_busy_s):
    """:func:`.timing.shared_busy`: raises ``class_busy_s`` to the busy time of each link
    carrying several transfers of a profiled pattern (the sum of their elements)."""
    if not starts.size:
        return
    x = (np.add.reduceat(n[trans], starts) * itemsize).astype(np.float64)
    t = x / class_cap_Bps[cls] if weight.shape[0] == 0 else x * weight / class_cap_Bps[cls]
    np.maximum.at(class_busy_s, cls, t)
