"""Link loads of one step: route every transfer, add its bytes to each link it crosses.

Paths are never materialised: each transfer is routed into a small scratch row by
:func:`kernels.routing.route_one` and its bytes are added to the flat ``load`` array (indexed by
link id) at once. Only the links a step touched are remembered (``touched``) and reset to zero
afterwards, so a step costs time in proportion to its transfers and hops, not to the link count.

:func:`accumulate` adds a step's bytes (several steps' for a window timed as one step);
:func:`drain` turns the accumulated loads into the step's figures and resets them.
"""

import numpy as np

from ._jit import kernel
from .codes import C_NPUS, C_OFFSET, C_POOL_NPUS, C_POOLS, INNET_MULTICAST, INNET_REDUCE, RECV_UNIT
from .faultroute import route_in
from .routing import route_one
from .searchtrees import new_store


@kernel(inline="always")
def _class_of(link, class_first):
    """Index of the link class holding ``link`` (``class_first`` ascending, a few entries)."""
    c = class_first.shape[0] - 1
    while c > 0 and class_first[c] > link:
        c -= 1
    return c


@kernel(inline="always")
def _add(acc, touched, n, key, x):
    """Add ``x`` to ``acc[key]``, listing ``key`` in ``touched`` when it was at 0 (the
    accumulators of links and NPUs); returns the new count ``n`` of listed keys."""
    if acc[key] == 0.0:
        touched[n] = key
        n += 1
    acc[key] += x
    return n


@kernel
def accumulate(src, dst, n, reduce, npus, itemsize, scale, lv, lat_ns, hop_lat_ns, down, state,
               fp, flat, load, touched, nt, red_bytes, red_touched, nr, path, messages,
               fill_bytes, fill_ns_per_byte, err):
    """Add one step's bytes (times ``scale``) to the link and NPU accumulators.

    Parameters
    ----------
    src, dst : int64 arrays (t,)
        Sending and receiving rank of each transfer (communicator ranks).
    n : int64 array (t,)
        Elements per transfer; transfers of 0 elements are ignored.
    reduce : bool array (t,)
        Whether the receiver reduces the incoming data.
    npus : int64 array
        Topology NPU id of each rank.
    itemsize : int
        Bytes per element.
    scale : float
        Multiplier of every byte count (1.0 for one step).
    lv, lat_ns, hop_lat_ns
        The topology's level table, per-level latency and per-link latency (see routing).
    down, state, fp, flat
        The topology's faults (``kernels/faultroute.py``; empty ``down``: none).
    load : float64 array (n_links,)
        Bytes per link so far; links with 0 bytes are listed in ``touched`` when first hit.
    touched : int64 array
        Ids of links with bytes; ``touched[:nt]`` valid. Room for every new link needed.
    red_bytes, red_touched, nr
        The same per NPU (``2 n_npus`` entries): ``[d]`` bytes reduced at NPU d (receiver
        side), ``[n_npus + d]`` its messages (sent + :data:`RECV_UNIT` x received).
    path : int64 array
        Scratch row for one route (the topology's diameter in hops, at least 1).
    messages : bool
        Count messages: consecutive transfers of one (src, dst) pair (src != dst) are one.
    fill_bytes, fill_ns_per_byte : float
        A message's first ``min(m, fill_bytes)`` bytes add ``fill_ns_per_byte`` each to its
        path's latency (a pipeline's first chunk through one channel).
    err : int64 array (4,)
        Set to ``(code, src NPU, dst NPU, link)`` when a route cannot be made under the
        faults; the step then stops there.

    Returns
    -------
    (nt, nr, max over messages of path latency + fill, in ns)
    """
    max_lat = 0.0
    run_lat = 0.0  # the current message: its path latency and bytes
    run_bytes = 0.0
    n_npus = red_bytes.shape[0] // 2
    intact = down.shape[0] == 0
    store = new_store(lv, fp, 1)  # the searches around failures share their trees
    for k in range(src.shape[0]):
        if n[k] <= 0:
            continue
        b = float(n[k] * itemsize) * scale
        s = npus[src[k]]
        d = npus[dst[k]]
        if s != d and (k == 0 or src[k] != src[k - 1] or dst[k] != dst[k - 1]):
            max_lat = max(max_lat, run_lat + min(run_bytes, fill_bytes) * fill_ns_per_byte)
            run_lat = run_bytes = 0.0
            if messages:
                nr = _add(red_bytes, red_touched, nr, n_npus + s, scale)
                nr = _add(red_bytes, red_touched, nr, n_npus + d, RECV_UNIT * scale)
        if intact:  # without faults route_one itself: 167 ns a transfer, not 233 ns through
            # route_ft (243 ns with route_ft inlined: its body, not the call, costs)
            h, lat = route_one(s, d, lv, lat_ns, hop_lat_ns, path)
        else:
            h, lat, code, bad = route_in(store, s, d, lv, lat_ns, hop_lat_ns, down, state, fp,
                                         flat, path)
            if code:
                err[0], err[1], err[2], err[3] = code, s, d, bad
                return nt, nr, max_lat
        if s != d:
            run_lat = max(run_lat, lat)
            run_bytes += float(n[k] * itemsize)
        for j in range(h):
            nt = _add(load, touched, nt, path[j], b)
        if reduce[k]:
            nr = _add(red_bytes, red_touched, nr, d, b)
    max_lat = max(max_lat, run_lat + min(run_bytes, fill_bytes) * fill_ns_per_byte)
    return nt, nr, max_lat


@kernel
def harmonic(n):
    """The harmonic number ``H_n = 1 + 1/2 + ... + 1/n`` (0 for n < 1): summed up to 64,
    beyond from its asymptotic series (error below 1e-13)."""
    if n < 1:
        return 0.0
    if n <= 64:
        h = 0.0
        for j in range(1, int(n) + 1):
            h += 1.0 / j
        return h
    x = float(n)
    x2 = x * x
    return np.log(x) + 0.5772156649015329 + 0.5 / x - 1.0 / (12.0 * x2) + 1.0 / (120.0 * x2 * x2)


@kernel
def receive_tail_s(received, sent, send_s, recv_s):
    """Seconds an NPU's receive costs last after the step's data: LogGP's receiving processor.

    The NPU handles its ``received`` messages one after another, ``recv_s`` each, as they
    complete. Messages sharing the NPU's links fairly (an incast) complete together when they
    start together, so their costs queue up after the data. Their senders post one message
    every ``send_s``; an NPU's messages are taken to be posted over as many places as it sends
    itself (``sent``: an exchange spreads them one ``send_s`` apart, a gather's all come
    first), ``g = send_s (sent - 1) / (received - 1)`` apart at most ``send_s``. Under fair
    sharing the i-th of m staggered messages completes ``g (m (H_{m-1} - H_{i-1}) - (m - i))``
    before the last (exact once all have arrived before the first completes); the processor
    finishes ``max_i [(m - i + 1) recv_s - that]`` after the data, the maximum at
    ``i = ceil(g m / (recv_s + g))``. One message: ``recv_s``; simultaneous ones (``g = 0``):
    ``m recv_s``.
    """
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
    i = max(1.0, np.ceil(g * m / (recv_s + g)))
    ahead = g * (m * (harmonic(m - 1.0) - harmonic(i - 1.0)) - (m - i))
    return max(recv_s, (m - i + 1.0) * recv_s - ahead)


@kernel
def npu_message_figures(received, sent, send_s, recv_s):
    """``(busiest NPU's message time, longest receive tail)`` of NPUs that received and sent
    the given numbers of messages (float arrays), as :func:`drain` computes them."""
    max_cpu = 0.0
    max_tail = 0.0
    for r in range(received.shape[0]):
        if received[r] == 0.0 and sent[r] == 0.0:
            continue
        max_cpu = max(max_cpu, sent[r] * send_s + received[r] * recv_s)
        max_tail = max(max_tail, receive_tail_s(received[r], sent[r], send_s, recv_s))
    return max_cpu, max_tail


@kernel(inline="always")
def _clear(class_busy_s, class_bytes):
    for c in range(class_busy_s.shape[0]):
        class_busy_s[c] = 0.0
        class_bytes[c] = 0.0


@kernel
def drain(class_first, class_cap_Bps, load, touched, nt, red_bytes, red_touched, nr,
          class_busy_s, class_bytes, send_s, recv_s, weight):
    """Reduce the accumulated loads to per-class figures and reset the touched entries to 0.

    ``class_first`` (ascending) is each link class's first link id, ``class_cap_Bps`` one
    link's effective capacity in bytes per second. Fills ``class_busy_s`` (the busiest link's
    time) and ``class_bytes`` (sum over the class's links). An NPU that sent k messages and
    received m is busy ``k send_s + m recv_s``, and its receive costs outlast the data by
    :func:`receive_tail_s`. ``weight`` (per link id, or empty: all 1) multiplies a link's
    time: a port that lost some of its switch planes.

    Returns
    -------
    (max_link_s, max_reduced_bytes, busiest NPU's message time in s, longest receive tail
    in s)
    """
    _clear(class_busy_s, class_bytes)
    max_t = 0.0
    for j in range(nt):
        link = touched[j]
        c = _class_of(link, class_first)
        x = load[link]
        t = x / class_cap_Bps[c] if weight.shape[0] == 0 else x * weight[link] / class_cap_Bps[c]
        class_bytes[c] += x
        if t > class_busy_s[c]:
            class_busy_s[c] = t
        if t > max_t:
            max_t = t
        load[link] = 0.0
    max_red = 0.0
    max_cpu = 0.0
    max_tail = 0.0
    n_npus = red_bytes.shape[0] // 2
    for j in range(nr):
        d = red_touched[j]
        x = red_bytes[d]
        if d < n_npus:
            max_red = max(max_red, x)
        else:
            received = np.floor(x / RECV_UNIT)
            sent = x - received * RECV_UNIT
            max_cpu = max(max_cpu, sent * send_s + received * recv_s)
            max_tail = max(max_tail, receive_tail_s(received, sent, send_s, recv_s))
        red_bytes[d] = 0.0
    return max_t, max_red, max_cpu, max_tail


@kernel
def pattern_profile(src, dst, npus, lv, lat_ns, hop_lat_ns, down, state, fp, flat, class_first,
                    path, hops, lat):
    """Route a step's transfers once, for steps that repeat the same (src, dst) pairs.

    Fills ``hops[c, t]`` (links of class c on transfer t's path; zeroed by the caller) and
    ``lat[t]`` (its path latency). Routes that cannot be made are left to
    :func:`accumulate` (which runs next and reports them).
    """
    store = new_store(lv, fp, 1)
    for k in range(src.shape[0]):
        h, lt, _, _ = route_in(store, npus[src[k]], npus[dst[k]], lv, lat_ns, hop_lat_ns, down,
                               state, fp, flat, path)
        lat[k] = lt
        for j in range(h):
            hops[_class_of(path[j], class_first), k] += 1


@kernel
def shared_pairs(src, dst, npus, lv, lat_ns, hop_lat_ns, down, state, fp, flat, shared, path,
                 links, transfers):
    """Every (link, transfer) of a pattern whose link is marked in ``shared`` (a link that
    carries several of its transfers); fills ``links`` and ``transfers`` and returns the
    count, or -1 when they have no room for all."""
    m = 0
    store = new_store(lv, fp, 1)
    for k in range(src.shape[0]):
        h, _, _, _ = route_in(store, npus[src[k]], npus[dst[k]], lv, lat_ns, hop_lat_ns, down,
                              state, fp, flat, path)
        for j in range(h):
            if shared[path[j]]:
                if m == links.shape[0]:
                    return -1
                links[m] = path[j]
                transfers[m] = k
                m += 1
    return m


@kernel
def pattern_step(n, itemsize, reduce, hops, used, class_cap_Bps, class_busy_s, class_bytes):
    """One step of a profiled pattern whose links each carry at most one transfer.

    ``hops[c, t]`` are transfer t's links in class c (:func:`pattern_profile`), ``used`` the
    classes with any. With one transfer per link a link's load is that transfer's bytes, so
    the figures equal :func:`drain`'s after :func:`accumulate` bit for bit (loads are whole
    numbers of bytes). Returns ``(max_link_s, max_reduced_bytes)``.
    """
    _clear(class_busy_s, class_bytes)
    max_t = 0.0
    for c in used:
        row = hops[c]
        biggest = 0
        total = 0
        for k in range(n.shape[0]):
            h = row[k]
            if h:
                biggest = max(biggest, n[k])
                total += n[k] * h
        class_bytes[c] = float(total * itemsize)
        class_busy_s[c] = float(biggest * itemsize) / class_cap_Bps[c]
        max_t = max(max_t, class_busy_s[c])
    max_red = 0
    for k in range(n.shape[0]):
        if reduce[k]:
            max_red = max(max_red, n[k])
    return max_t, float(max_red * itemsize)


@kernel
def accumulate_innet(src, dst, n, npus, itemsize, scale, load_scale, mode, via, lv, op_lat_ns,
                     hop_lat_ns, load, touched, nt, red_bytes, red_touched, nr, messages,
                     fill_bytes, fill_ns_per_byte):
    """Add one in-network step's bytes to the link and NPU accumulators (``Step.innet``).

    Every transfer crosses the switch of level ``via`` (a switch level, not a trunk): up the
    sender's port (and its leaf's core pool), down the receiver's. ``mode`` ``INNET_REDUCE``:
    the transfers to one destination (consecutive) are reduced in the switch, so the down
    side carries one of them; ``INNET_MULTICAST``: a sender's transfers (consecutive) go up
    once and the switch copies them down to each destination. Loads count ``load_scale``
    times the bytes (the level's point-to-point efficiency over its in-network one), so a
    link's time is its load over its point-to-point capacity. Each destination (reduce) or
    sender (multicast) posts one operation: one message, sent and completed at that NPU; its
    latency is ``op_lat_ns`` (the level's in-network latency) plus ``hop_lat_ns`` per link,
    plus the fill of one block. The NPUs reduce nothing themselves. Parameters otherwise as
    :func:`accumulate`.

    Returns
    -------
    (nt, nr, max latency in ns)
    """
    n_npus = red_bytes.shape[0] // 2
    off = lv[via, C_OFFSET]
    total = lv[via, C_NPUS]
    pool = lv[via, C_POOL_NPUS]
    pools = lv[via, C_POOLS]
    lat = op_lat_ns + hop_lat_ns * (4 if pool else 2)
    max_lat = 0.0
    for k in range(src.shape[0]):
        if n[k] <= 0:
            continue
        b = float(n[k] * itemsize) * scale * load_scale
        s = npus[src[k]]
        d = npus[dst[k]]
        if mode == INNET_REDUCE:
            first = k == 0 or dst[k] != dst[k - 1]
            owner = d
        else:
            first = k == 0 or src[k] != src[k - 1]
            owner = s
        if mode == INNET_REDUCE or first:  # the up side
            nt = _add(load, touched, nt, off + s, b)
            if pool:
                nt = _add(load, touched, nt, off + 2 * total + s // pool, b)
        if mode == INNET_MULTICAST or first:  # the down side
            if pool:
                nt = _add(load, touched, nt, off + 2 * total + pools + d // pool, b)
            nt = _add(load, touched, nt, off + total + d, b)
        if first:
            max_lat = max(max_lat, lat + min(float(n[k] * itemsize), fill_bytes)
                          * fill_ns_per_byte)
            if messages:
                nr = _add(red_bytes, red_touched, nr, n_npus + owner, scale)
                nr = _add(red_bytes, red_touched, nr, n_npus + owner, RECV_UNIT * scale)
    return nt, nr, max_lat


@kernel
def slide_links(src, dst, npus, lv, lat_ns, hop_lat_ns, down, state, fp, flat, path, count, last,
                lat, err):
    """Route a pattern's transfers once, per link: ``count[l]`` of them cross link ``l`` and
    ``last[l]`` is the last of them (both given as zeros); each transfer's path latency in
    ``lat``. Returns 0, or -1 when a route cannot be made (``err`` as :func:`accumulate`)."""
    store = new_store(lv, fp, 1)
    for k in range(src.shape[0]):
        h, lt, code, bad = route_in(store, npus[src[k]], npus[dst[k]], lv, lat_ns, hop_lat_ns,
                                    down, state, fp, flat, path)
        if code:
            err[0], err[1], err[2], err[3] = code, npus[src[k]], npus[dst[k]], bad
            return -1
        lat[k] = lt
        for j in range(h):
            count[path[j]] += 1
            last[path[j]] = k
    return 0


@kernel
def shared_busy(n, itemsize, trans, starts, cls, weight, class_cap_Bps, class_busy_s):
    """The busy time of each link of a profiled pattern that carries several transfers: the
    sum of its transfers' elements (``trans[starts[j]:starts[j+1]]``) times ``itemsize``, times
    its ``weight`` (or empty: 1), over its class's capacity; raises ``class_busy_s`` to it.
    The same arithmetic as :func:`drain` on those links."""
    m = starts.shape[0]
    for j in range(m):
        end = starts[j + 1] if j + 1 < m else trans.shape[0]
        total = 0
        for i in range(starts[j], end):
            total += n[trans[i]]
        c = cls[j]
        x = float(total * itemsize)
        t = x / class_cap_Bps[c] if weight.shape[0] == 0 else x * weight[j] / class_cap_Bps[c]
        if t > class_busy_s[c]:
            class_busy_s[c] = t
