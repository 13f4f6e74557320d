"""Compact partner steps (:class:`ubemu.schedule.PartnerStep`) timed from one route.

A halving-doubling step sends from every rank r to ``r ^ m``; a Bruck step to ``r + k``. Where
the machine makes every such message take the same links of its own, the step's figures
follow from one route and the multiset of message sizes, without making a transfer:

- XOR ``m`` on ranks laid on NPUs ``0..p-1`` in order, every level up to the one holding bit
  ``m`` of a power-of-two size: ``r`` and ``r ^ m`` differ on that level only, so every
  message crosses that level alone;
- a shift on a machine of one level (the group its every NPU, in order);

and the level is a full mesh (a link per ordered pair), a plain switch (a port per NPU each
way: no oversubscribed core pool, no trunk) or a ring of two. Every link then carries at most
one message, so a class's busiest link carries the largest message and its bytes are the
sizes' sum times the route's links in it; the longest path is the route's plus the largest
message's fill; an NPU sends and receives at most one message (both where ``both`` says some
rank does), and reduces at most the largest. These are the figures the link-load kernels
give after routing every transfer, bit for bit (``tests/timing/test_partners.py``).
"""

import numpy as np

from ..kernels.codes import C_KIND, C_POOL_NPUS, C_RUN_FIRST, C_SIZE, C_STRIDE, FULL_MESH, RING
from ..schedule import PartnerStep

#: Most messages of a partner step routed only to mark the links they load.
ROUTE_MARKS_MAX = 1 << 16


def _plain(lv, j):
    """Level ``j`` gives every message links of its own (module docstring)."""
    kind = lv[j, C_KIND]
    if lv[j, C_RUN_FIRST] >= 0:
        return False
    if kind == FULL_MESH:
        return True
    if kind == RING:
        return lv[j, C_SIZE] == 2
    return lv[j, C_POOL_NPUS] == 0


def _level_of(step, topology):
    """The one level every message of ``step`` crosses, or None."""
    lv, p = topology.level_table, step.n_ranks
    if step.xor:
        m = int(step.xor)
        for j in range(lv.shape[0]):
            size, stride = int(lv[j, C_SIZE]), int(lv[j, C_STRIDE])
            if size & (size - 1):
                return None
            if stride <= m < stride * size:
                return j
        return None
    if step.shift is not None and p == topology.n_npus and step.shift % p:
        wide = [j for j in range(lv.shape[0]) if lv[j, C_SIZE] > 1]
        return wide[0] if len(wide) == 1 else None
    return None


def route_shape(timer, step):
    """``(links per class, latency in ns)`` of every message of ``step``, or None when the
    module docstring's conditions do not hold on the timer's machine and ranks."""
    tp = timer.topology
    if (not isinstance(step, PartnerStep) or step.sizes is None or tp.faults is not None
            or timer.capture is not None or timer.spread.collective
            or not timer.identity(step.n_ranks)):
        return None
    j = _level_of(step, tp)
    if j is None or not _plain(tp.level_table, j):
        return None
    key = ("xor", int(step.xor)) if step.xor else ("shift", int(step.shift) % step.n_ranks)
    cache = timer.partner_routes
    if key not in cache:
        dst = key[1]
        paths, _, lat_ns = tp.route(np.zeros(1, np.int64), np.array([dst], np.int64))
        links = paths[0][paths[0] >= 0]
        hops = np.bincount(tp.link_class_of(links), minlength=len(tp.link_classes))
        cache[key] = (hops.astype(np.int64), float(lat_ns[0]))
    return cache[key]


def figures(timer, step, itemsize):
    """``(busy_s per class, bytes per class, (link_s, lat_ns, red_bytes, cpu_s, tail_s,
    moved))`` of the step, or None (route it); the links it loads are marked used
    (:func:`_mark_used`)."""
    shape = route_shape(timer, step)
    if shape is None:
        return None
    hops, lat_ns = shape
    values, counts = (np.asarray(a, np.int64) for a in step.sizes)
    live = values[(counts > 0) & (values > 0)]
    if live.size == 0:
        return None
    biggest = int(live.max()) * itemsize
    total = int((values * counts).sum()) * itemsize
    used = np.flatnonzero(hops)
    if not _mark_used(timer, step, hops, used, int(counts[values > 0].sum())):
        return None
    busy, nbytes = np.zeros(hops.size), np.zeros(hops.size)
    nbytes[used] = (total * hops[used]).astype(np.float64)
    busy[used] = float(biggest) / timer.class_cap_Bps[used]
    fill_bytes, ns_per_byte = timer.fill
    lat = lat_ns + min(float(biggest), fill_bytes) * ns_per_byte
    cpu_s = tail_s = 0.0
    if timer.messages:  # one message received at most: its receive cost is the tail
        cpu_s = timer.send_s + timer.recv_s if step.both else max(timer.send_s, timer.recv_s)
        tail_s = timer.recv_s
    red = float(biggest) if step.red else 0.0
    return busy, nbytes, (float(busy.max()), lat, red, cpu_s, tail_s, True)


def _mark_used(timer, step, hops, used, n_live):
    """Mark the links ``step``'s non-empty messages load (the group utilisation's count):
    whole classes where they load every link of each class they cross; else, on levels whose
    links are ports of one NPU (a switch's up and down ports), each sender's and receiver's
    port, from the step's mask of live senders (``live``) or its explicit ranks; else, up to
    :data:`ROUTE_MARKS_MAX` messages, their routes. False otherwise (route the step)."""
    if (hops[used] * n_live == timer.class_count[used]).all():
        timer.mark_classes_used(used)
        return True
    roles = _port_roles(timer, step)
    if roles is not None and step.live is not None:  # the senders' mask, no transfers made
        send = step.live()
        if step.xor:  # receiver d gets from d ^ xor: swap the halves of every 2 xor block
            m = int(step.xor)
            recv = send.reshape(-1, 2, m)[:, ::-1, :].reshape(-1)
        else:
            recv = np.roll(send, int(step.shift) % step.n_ranks)
        for first, role in roles:
            timer.mark_ports(first, send if role == "src" else recv)
        return True
    if roles is None and n_live > ROUTE_MARKS_MAX:
        return False
    src, dst, n = step.make()
    live = np.asarray(n) > 0
    ends = {"src": np.asarray(src, np.int64)[live], "dst": np.asarray(dst, np.int64)[live]}
    if roles is None:  # few messages: route them for their links (NumPy)
        paths = timer.topology.route(ends["src"], ends["dst"])[0]
        timer.mark_used(paths[paths >= 0])
    else:
        timer.mark_used(np.concatenate([first + ends[role] for first, role in roles]))
    return True


def _port_roles(timer, step):
    """``[(first link id, "src" or "dst"), ...]``: each link of a message's route is its
    sender's or its receiver's port in a class laid out one link per NPU (checked on the
    routes of the first and the last rank's messages), or None."""
    p = step.n_ranks
    key = ("roles", "xor", int(step.xor)) if step.xor else ("roles", "shift", int(step.shift) % p)
    cache = timer.partner_routes
    if key not in cache:
        partner = (lambda r: r ^ int(step.xor)) if step.xor else \
            (lambda r: (r + int(step.shift)) % p)
        tp = timer.topology
        pairs = [(0, partner(0)), (p - 1, partner(p - 1))]
        paths, _, _ = tp.route(np.array([a for a, _ in pairs], np.int64),
                               np.array([b for _, b in pairs], np.int64))
        routes = [row[row >= 0] for row in paths]
        roles = []
        if len(routes[0]) == len(routes[1]):
            for a, b in zip(*routes):
                first = int(timer.class_first[tp.link_class_of(np.array([a]))[0]])
                got = (int(a) - first, int(b) - first)
                role = "src" if got == (pairs[0][0], pairs[1][0]) else \
                    "dst" if got == (pairs[0][1], pairs[1][1]) else None
                if role is None:
                    roles = None
                    break
                roles.append((first, role))
        cache[key] = roles
    return cache[key]
