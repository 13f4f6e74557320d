"""A step whose messages carry runs of chunks: one routing, any count, exact where it can be.

The XOR steps of a halving-doubling over a fold (:mod:`ubemu.algorithms.halving_doubling`) send
each virtual rank's run ``j`` of ``m`` chunks, the chunks of an uneven count being one element
longer below ``extra``: runs ``j < J`` are full, run ``J`` partial, the rest short (empty when
the count is below the chunk count), so the runs that move are a prefix. Which NPUs talk does
not depend on the count, so the pattern is routed once and kept as a few arrays over the runs
(prefix and suffix maxima of each run's longest path and dearest link, per-NPU send and
receive runs); a count is then a handful of lookups:

- the busiest link: exact where no link carries two of the step's messages (each message's
  dearest link, the largest of its run's bytes over its capacity), else all messages taken as
  large as the largest (an upper bound, ``exact`` False) or the smallest;
- the longest path of a moving message plus its fill, the busiest NPU's message costs, its
  receive tail and the bytes it reduces: exact, from the NPUs' (send run, receive run).

The terms are the step-level model's (:mod:`ubemu.timing.timer`), as those of
:class:`ubemu.timing.groupcost.GroupProfile`.
"""

import numpy as np

from ..kernels.numpy_timing import receive_tail_s
from .shapes import NoClosedForm


def _prefix_max(values, n):
    """``out[k]`` = max of ``values[:k]`` (-inf for k = 0), k = 0..n."""
    return np.concatenate([[-np.inf], np.maximum.accumulate(values)]) if n else np.array(
        [-np.inf])


def _seg_max(pre, suf, lo, hi, n):
    """Max over runs ``lo..hi-1`` from prefix maxima ``pre`` and suffix maxima ``suf`` of
    ``n`` runs."""
    return pre[hi] if lo == 0 else suf[lo] if hi == n else max(pre[hi], suf[lo])


def _suffix_max(values):
    """``out[k]`` = max of ``values[k:]`` (-inf past the end)."""
    return np.concatenate([np.maximum.accumulate(values[::-1])[::-1], [-np.inf]])


class RunProfile:
    """One routing of a step's messages ``src[k] -> dst[k]`` (NPU ids), message ``k`` carrying
    run ``runs[kind][k]`` of ``n_runs`` under each run assignment ``kind`` (several steps
    with one pattern: a halving's and a doubling's).

    Parameters
    ----------
    topology : Topology
        Fault-free.
    """

    def __init__(self, topology, src, dst, runs, n_runs):
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        if (src == dst).any():
            raise NoClosedForm("no closed form: a message to itself")
        paths, hops, lat_ns = topology.route(src, dst)
        eff = topology.class_efficiency()
        caps = np.array([c.bw_GBps * 1e9 for c in topology.link_classes]) * eff
        links = paths[paths >= 0]  # each message's links in turn (a row's first ``hops``)
        cls = topology.link_class_of(links)
        inv = 1.0 / caps[cls]
        carried = np.bincount(links)
        on_link = carried[links]
        #: s/B of the busiest link of each class when every message has one byte; whether no
        #: link carries two messages (then each message's own dearest link decides)
        load = on_link * inv
        per_class = np.zeros(len(topology.link_classes))
        np.maximum.at(per_class, cls, load)
        self.class_s_per_B = {topology.link_classes[c].name: float(per_class[c])
                              for c in np.flatnonzero(np.bincount(cls))}
        self.uniform_s_per_B = float(load.max(initial=0.0))
        self.one_per_link = bool(carried.max(initial=0) <= 1)
        self.n_runs = int(n_runs)
        dear = np.maximum.reduceat(inv, np.r_[0, np.cumsum(hops)[:-1]]) if links.size \
            else np.zeros(src.size)
        shared = on_link > 1  # the entries (message, link) of links shared
        of_msg = np.searchsorted(np.cumsum(hops), np.flatnonzero(shared), side="right")
        self._kinds = {}
        self._ends = {}  # (kind, moving runs, o_s, o_r) -> (cpu_s, tail_s)
        for kind, r in runs.items():
            r = np.asarray(r, np.int64)
            self._kinds[kind] = self._aggregate(r, src, dst, lat_ns, dear, topology.n_npus)
            self._kinds[kind]["busiest"] = self._busiest(r, dear, links[shared], r[of_msg],
                                                         inv[shared])
            # read a few entries per step (:meth:`terms`): as Python numbers, the same values
            self._kinds[kind] = {k: v.tolist() if isinstance(v, np.ndarray) else v
                                 for k, v in self._kinds[kind].items()}

    @staticmethod
    def _message_ends(a, moving, send_s, recv_s):
        """``(busiest NPU's message time, longest receive tail)`` where the runs below
        ``moving`` move (assignment ``a``): from the kinds of NPU present."""
        ends = []  # (sent, received) messages of the kinds of NPU present
        if a["both"] < moving:
            ends.append((1.0, 1.0))
        if a["send_only"][moving] >= moving:
            ends.append((1.0, 0.0))
        if a["recv_only"][moving] >= moving:
            ends.append((0.0, 1.0))
        cpu_s = max(s * send_s + r * recv_s for s, r in ends)
        tail_s = max(receive_tail_s(r, s, send_s, recv_s) for s, r in ends) \
            if send_s or recv_s else 0.0
        return cpu_s, tail_s

    def _busiest(self, run, dear, link, link_run, link_inv):
        """``out[k]``: s/B of the busiest link when the messages of runs below ``k`` send one
        byte each (a link's messages counted in the order of their runs)."""
        n = self.n_runs
        best = np.zeros(n)
        np.maximum.at(best, run, dear)  # each message's dearest link, its own bytes alone
        if link.size:
            order = np.lexsort((link_run, link))
            link, link_run, link_inv = link[order], link_run[order], link_inv[order]
            starts = np.r_[0, np.flatnonzero(link[1:] != link[:-1]) + 1]
            first = np.repeat(starts, np.diff(np.r_[starts, link.size]))
            np.maximum.at(best, link_run, (np.arange(link.size) - first + 1) * link_inv)
        return np.r_[0.0, np.maximum.accumulate(best)]

    def _aggregate(self, run, src, dst, lat_ns, dear, n_npus):
        n = self.n_runs
        lat = np.full(n, -np.inf)
        np.maximum.at(lat, run, lat_ns)
        cost = np.full(n, -np.inf)
        np.maximum.at(cost, run, dear)
        count = np.bincount(run, minlength=n)
        none = n  # an NPU that sends (receives) nothing: past every run
        js = np.full(n_npus, none, np.int64)
        jr = np.full(n_npus, none, np.int64)
        js[src], jr[dst] = run, run  # one message each way per NPU (checked below)
        if np.bincount(src, minlength=1).max() > 1 or np.bincount(dst, minlength=1).max() > 1:
            raise NoClosedForm("no closed form: an NPU with two messages of one step")
        busy = (js < none) | (jr < none)
        js, jr = js[busy], jr[busy]
        pm_jr = np.full(n + 1, -1, np.int64)  # max receive run of the NPUs sending below k
        np.maximum.at(pm_jr, js[js < none] + 1, jr[js < none])
        pm_js = np.full(n + 1, -1, np.int64)
        np.maximum.at(pm_js, jr[jr < none] + 1, js[jr < none])
        return {"lat_pre": _prefix_max(lat, n), "lat_suf": _suffix_max(lat),
                "cost_pre": _prefix_max(cost, n), "cost_suf": _suffix_max(cost),
                "moved": np.concatenate([[0], np.cumsum(count)]),
                "both": int(np.maximum(js, jr).min(initial=none)),
                "send_only": np.maximum.accumulate(pm_jr), "recv_only": np.maximum.accumulate(
                    pm_js), "jr_min": int(jr.min(initial=none))}

    def terms(self, kind, big_run, sizes, send_s, recv_s, fill_bytes, fill_ns_per_byte,
              upper=True, per_message=True):
        """``(link_s, busy, lat_s, cpu_s, longest receive tail, most bytes reduced at one NPU,
        messages, exact)`` of the step under assignment ``kind`` in which runs below
        ``big_run`` carry ``sizes[0]`` bytes, run ``big_run`` ``sizes[1]`` and the others
        ``sizes[2]`` (non-increasing; 0: no message). ``busy``: each link class's busiest
        link's seconds, or None where not known. Exact where the moving messages have one
        size or no link carries two of them; else the link term is bounded: ``upper``, every
        message moving and as large as the largest, or below, each moving message's bytes on
        its dearest link.
        ``per_message=False`` (each class's busy time is wanted): the latter is not used (below:
        no link term at all)."""
        a = self._kinds[kind]
        n = self.n_runs
        big, part, rest = int(sizes[0]), int(sizes[1]), int(sizes[2])
        J = min(int(big_run), n)
        segs = [(b, lo, hi) for b, lo, hi in ((big, 0, J), (part, J, min(J + 1, n)),
                                              (rest, J + 1, n)) if b > 0 and hi > lo]
        if not segs:
            return 0.0, {}, 0.0, 0.0, 0.0, 0, 0, True
        moving = segs[-1][2]  # the runs that move are a prefix
        pre, suf = a["lat_pre"], a["lat_suf"]
        lat_ns = max([_seg_max(pre, suf, lo, hi, n) + min(float(b), fill_bytes)
                      * fill_ns_per_byte for b, lo, hi in segs])
        top, low = segs[0][0], segs[-1][0]
        if not per_message:  # each class's busiest link: that of the whole pattern
            exact = top == low and moving == n
            if exact or upper:
                link_s = top * self.uniform_s_per_B
                busy = {c: top * v for c, v in self.class_s_per_B.items()}
            else:
                link_s, busy = 0.0, dict.fromkeys(self.class_s_per_B, 0.0)
        else:
            busy = None
            exact = top == low or self.one_per_link
            pre, suf = a["cost_pre"], a["cost_suf"]
            own = max([b * _seg_max(pre, suf, lo, hi, n) for b, lo, hi in segs])
            if self.one_per_link:
                link_s = own
            else:  # the moving messages' busiest link, each as large as the largest/smallest
                link_s = (top if upper else low) * a["busiest"][moving]
                link_s = link_s if upper else max(link_s, own)
        ends_key = (kind, moving, send_s, recv_s)
        if (ends := self._ends.get(ends_key)) is None:
            ends = self._ends[ends_key] = self._message_ends(a, moving, send_s, recv_s)
        cpu_s, tail_s = ends
        j = a["jr_min"]
        red = 0 if j >= moving else big if j < J else part if j == J else rest
        return (link_s, busy, lat_ns * 1e-9, cpu_s, tail_s, red, int(a["moved"][moving]),
                exact)
