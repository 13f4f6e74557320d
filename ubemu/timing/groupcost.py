"""A step whose messages fall in a few groups, each of one size, timed from one routing.

The double binary tree sends the first half of the data up (or down) tree A and the second
half along tree B in the same steps; the fold of a halving-doubling on ``p`` ranks that are
not a power of two sends whole segments between pairs, then chunks among the virtual ranks.
Which NPUs talk does not depend on the size, only the bytes of each group do. So the
pattern is routed once (one byte per message, the real routing) and kept as the few
distinct rows of (messages of each group, capacity) over the links it loads, and of
(messages each group sends, receives) over the NPUs; a size then costs a few dot products.
The terms are those of the step-level model (:mod:`ubemu.timing.timer`): the busiest link's
bytes over its capacity, the longest path of a group that moves plus its fill, the busiest
NPU's message costs, the largest reduction at one NPU.
"""

import numpy as np

from ..kernels.numpy_timing import receive_tail_s
from .shapes import NoClosedForm


def _per_key(keys, column, width, n_keys):
    """(the distinct ``keys`` (ids below ``n_keys``), a (len, width) table counting each
    key's items per ``column``), over the keys present only: counted per id when they are
    many, else sorted."""
    if keys.size * 8 > n_keys:
        table = np.vstack([np.bincount(keys[column == c], minlength=n_keys)
                           for c in range(width)]).T
        uniq = np.flatnonzero(table.any(axis=1))
        return uniq, table[uniq]
    uniq, inv = np.unique(keys, return_inverse=True)
    table = np.zeros((uniq.size, width), np.int64)
    np.add.at(table, (inv.reshape(-1), column), 1)
    return uniq, table


def _distinct(rows):
    """The distinct rows of a table of small counts (one integer key per row where the
    columns' ranges allow, else NumPy's row compare)."""
    if rows.size == 0:
        return rows
    radix = rows.max(axis=0) + 1
    if float(np.prod(radix.astype(np.float64))) >= 2.0**62:
        return np.unique(rows, axis=0)
    weights = np.r_[np.cumprod(radix[::-1])[::-1][1:], 1]  # the first column leads
    keys = np.unique(rows @ weights)
    return (keys[:, None] // weights) % radix


def _top(rows, kind):
    """The rows no other row of the same ``kind`` covers element by element (they alone can
    hold a maximum of a weighted sum with weights >= 0)."""
    keep = [r for i, r in enumerate(rows)
            if not any(kind[j] == kind[i] and j != i and (rows[j] >= r).all()
                       and (rows[j] > r).any() for j in range(len(rows)))]
    return keep


class GroupProfile:
    """One routing of a step's messages ``src[k] -> dst[k]`` (NPU ids, in the step's order),
    message k in group ``group[k]`` of ``n_groups``.

    Parameters
    ----------
    topology : Topology
        Fault-free (the closed forms' machine).
    """

    def __init__(self, topology, src, dst, group, n_groups):
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        group = np.asarray(group, np.int64)
        if src.size > 1 and ((src[1:] == src[:-1]) & (dst[1:] == dst[:-1])).any():
            raise NoClosedForm("no closed form: consecutive transfers of one pair (one "
                               "message of several parts)")
        if (src == dst).any():
            raise NoClosedForm("no closed form: a message to itself")
        self.n_groups = n_groups
        self.group_messages = [int(m) for m in np.bincount(group, minlength=n_groups)]
        #: Whether the first and the last message join the same pair (channels joined
        #: end to end would merge them into one message).
        self.seam = bool(src.size > 1 and src[0] == src[-1] and dst[0] == dst[-1])
        paths, hops, lat_ns = topology.route(src, dst)
        classes = topology.link_classes
        eff = topology.class_efficiency()
        links = paths[paths >= 0]
        used, counts = _per_key(links, np.repeat(group, hops), n_groups, topology.n_links)
        #: Every loaded link: its id, messages of each group on it, its class.
        self.link_ids, self.link_counts = used, counts
        self.link_class = topology.link_class_of(used)
        self.class_caps = [(c.bw_GBps * 1e9 * e, c.name) for c, e in zip(classes, eff)]
        rows = _distinct(np.hstack([counts, topology.link_class_of(used)[:, None]]))
        # a few distinct rows, none below another of its class: plain tuples, so a size
        # costs a few multiplications
        self.links = [(tuple(map(int, r[:n_groups])),
                       classes[r[-1]].bw_GBps * 1e9 * eff[r[-1]], classes[r[-1]].name)
                      for r in _top(rows, rows[:, -1])]
        self.lat_ns = [float(lat_ns[group == g].max(initial=-np.inf)) for g in range(n_groups)]
        # per NPU: messages of each group sent (first columns) and received
        _, ends = _per_key(np.concatenate([src, dst]),
                           np.concatenate([group, group + n_groups]), 2 * n_groups,
                           topology.n_npus)
        ends = _distinct(ends)
        self.npus = [(tuple(map(int, r[:n_groups])), tuple(map(int, r[n_groups:])))
                     for r in _top(ends, np.zeros(len(ends), np.int64))]

    def terms(self, sizes, send_s, recv_s, fill_bytes, fill_ns_per_byte):
        """``(link_s, lat_s, cpu_s, longest receive tail in s, most bytes reduced at one NPU,
        messages)`` of the step
        with ``sizes[g]`` bytes per message of group g (a group of 0 bytes sends nothing)."""
        sizes = [int(b) for b in sizes]
        live = [b > 0 and m > 0 for b, m in zip(sizes, self.group_messages)]
        if not any(live):
            return 0.0, 0.0, 0.0, 0.0, 0, 0

        def dot(counts, weights):
            return sum(c * w for c, w in zip(counts, weights))

        link_s = max(float(dot(c, sizes)) / cap for c, cap, _ in self.links)
        lat_ns = max(lat + min(float(b), fill_bytes) * fill_ns_per_byte
                     for lat, b, on in zip(self.lat_ns, sizes, live) if on)
        cpu_s = max(float(dot(s, live)) * send_s + float(dot(r, live)) * recv_s
                    for s, r in self.npus)
        tail_s = max(receive_tail_s(float(dot(r, live)), float(dot(s, live)), send_s, recv_s)
                     for s, r in self.npus) if send_s or recv_s else 0.0
        reduced = max(dot(r, [b if on else 0 for b, on in zip(sizes, live)])
                      for _, r in self.npus)
        return (link_s, lat_ns * 1e-9, cpu_s, tail_s, reduced,
                int(sum(m for m, on in zip(self.group_messages, live) if on)))

    def class_busy(self, sizes):
        """``{link class name: its busiest link's seconds}`` of the step with ``sizes[g]``
        bytes per message of group g (what a protocol whose bandwidth differs by level
        reads)."""
        sizes = [int(b) if m > 0 else 0 for b, m in zip(sizes, self.group_messages)]
        out = {}
        for counts, cap, name in self.links:
            t = float(sum(c * b for c, b in zip(counts, sizes))) / cap
            out[name] = max(out.get(name, 0.0), t)
        return out

    def channel_figures(self, sized, send_s, recv_s):
        """The step joined over channels, channel c sending ``sized[c][g]`` bytes per message
        of group g (each its own message; the channels' bytes share the links): ``(busy
        {class name: s}, link_s, [(path latency s, largest message bytes)] of the groups that
        move, the busiest NPU's message time, its longest receive tail, most bytes reduced at
        one NPU, messages)``, before the engines share the message costs."""
        if len(sized) > 1 and self.seam:
            raise NoClosedForm("no closed form: channels whose joined messages merge")
        n_groups = self.n_groups
        mult = [sum(1 for s in sized if s[g] > 0) if self.group_messages[g] else 0
                for g in range(n_groups)]
        total = [sum(int(s[g]) for s in sized) if mult[g] else 0 for g in range(n_groups)]
        busy = {}
        for counts, cap, name in self.links:
            t = float(sum(c * b for c, b in zip(counts, total))) / cap
            busy[name] = max(busy.get(name, 0.0), t)
        lats = [(self.lat_ns[g] * 1e-9, max(int(s[g]) for s in sized))
                for g in range(n_groups) if mult[g]]

        def dot(counts, weights):
            return sum(c * w for c, w in zip(counts, weights))

        cpu_s = max(float(dot(s, mult)) * send_s + float(dot(r, mult)) * recv_s
                    for s, r in self.npus)
        tail_s = max(receive_tail_s(float(dot(r, mult)), float(dot(s, mult)), send_s, recv_s)
                     for s, r in self.npus) if send_s or recv_s else 0.0
        reduced = max(dot(r, total) for _, r in self.npus)
        return (busy, max(busy.values(), default=0.0), lats, cpu_s, tail_s, reduced,
                int(dot(self.group_messages, mult)))


def summed_link_busy(loads):
    """``{link class name: s}``: the most seconds one link of the class is busy with
    ``loads`` (``[(profile, bytes per message of each group, weight)]``, routed patterns'
    steps) summed link by link, each step's bytes times its weight."""
    ids = np.concatenate([p.link_ids for p, _, _ in loads])
    nbytes = np.concatenate([p.link_counts @ np.asarray(sizes, np.float64) * w
                             for p, sizes, w in loads])
    cls = np.concatenate([p.link_class for p, _, _ in loads])
    uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    per_link = np.bincount(inv.reshape(-1), weights=nbytes, minlength=uniq.size)
    caps = loads[0][0].class_caps
    cls = cls[first]
    most = np.zeros(len(caps))
    np.maximum.at(most, cls, per_link / np.array([cap for cap, _ in caps])[cls])
    return {caps[c][1]: float(most[c]) for c in np.unique(cls).tolist()}
