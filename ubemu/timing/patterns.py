"""Steps that repeat one pattern of (src, dst) pairs, timed from one routing of it.

A ring phase sends between the same ranks at every step, only the block sizes change. The
step-level timer (:class:`ubemu.timing.timer.StepTimer`, which mixes this class in) routes such a
pattern once more when it sees it again, keeps each transfer's hop count per link class and
its path latency, and times every further repeat from them: a link that carries one transfer
of the pattern carries that transfer's bytes; the few links that carry several (a detour
around a failure) or lost some of their switch planes are listed with their transfers and
add them up. The figures equal
routing every transfer of every step, bit for bit (loads are whole numbers of bytes).
"""

import numpy as np

from ..schedule import same_array

#: Steps with fewer transfers are routed every time (profiling them would not pay).
PATTERN_MIN_TRANSFERS = 4096


class PatternProfiles:
    """The repeated-pattern part of :class:`ubemu.timing.timer.StepTimer` (its state and
    kernels)."""

    def _profile(self, step):
        """Routes of a step whose (src, dst) pairs repeat, when each link carries one transfer.

        A ring phase sends between the same ranks at every step, only the block sizes change:
        when a step repeats the previous step's pairs, they are routed once more
        (:meth:`_build_profile`) and every further repeat is timed from the per-transfer hop
        counts. Returns ``(hops, used classes, each transfer's path latency in ns, busiest
        NPU's message time, longest receive tail, shared links or None)`` or None (time the
        step normally). Transfers of 0 elements never reach here (``Step.make`` drops them).
        """
        key = self._pattern_key
        same = key is not None and same_array(key[0], step.src) and same_array(key[1], step.dst)
        red_same = same and (self.reduce_Bps == 0 or np.array_equal(key[2], step.reduce))
        same, red_same, n_transfers = self.spread.agree(same, red_same, step.n_transfers)
        if not same:
            big = n_transfers >= PATTERN_MIN_TRANSFERS
            self._pattern_key = (step.src, step.dst, step.reduce) if big else None
            self._pattern, self._profiled = None, False
            src, dst, _, red = self._own(step)
            copies = self._copies(step, src, dst, red) if big else 1
            if copies == 1:
                return None
            # k copies of a pattern: profiling routes one copy, less than timing the step
            self._pattern, self._profiled = self._build_profile(step, True, copies), True
            return self._pattern
        if not self._profiled:  # second sight of these pairs: worth profiling
            self._pattern_key = (step.src, step.dst, step.reduce)
            self._pattern, self._profiled = self._build_profile(step, every_link=True), True
        elif not red_same:
            return None  # the one-reduce-per-NPU check was made for other reduce flags
        return self._pattern

    def profile_once(self, step):
        """The profile of ``step`` (:meth:`_build_profile`, without its copies), outside the
        repeat detection: the remembered pattern is forgotten, so the next step is seen
        afresh."""
        self._pattern_key = self._pattern = None
        self._profiled = False
        profile = self._build_profile(step)
        return None if profile is None else profile[:6]

    def _copies(self, step, src, dst, red):
        """k when ``step``'s transfers are k copies of one pattern, one per channel (the
        channels of a ring on a switch: the same pairs, each with its share), else 1."""
        k = step.channels
        if k < 2 or src.size % k or self.spread.collective:
            return 1
        t = src.size // k
        return k if all(np.array_equal(a[:t], a[c * t:(c + 1) * t])
                        for a in (src, dst, red) for c in range(1, k)) else 1

    def _build_profile(self, step, every_link=False, copies=None):
        """Route this process's transfers of ``step`` once; the profile if every NPU reduces
        at most once and every link (over all processes) carries at most one transfer, or, in
        one process, the links that carry several are few (:meth:`_shared`, a detour's) or,
        with ``every_link``, any number (channels sharing ports: every step then sums them).
        A step of k copies of one pattern (:meth:`_copies`, with ``every_link``) is profiled
        as that pattern, each transfer then carrying its copies' elements: the 7th field, k.
        """
        src, dst, _, red = self._own(step)
        if copies is None:
            copies = self._copies(step, src, dst, red) if every_link else 1
        one = src.size // copies
        tp = self.topology
        hops = np.zeros((len(self.class_names), one), np.int32)
        lat = np.empty(one)
        timing = self.kernels(src.size)  # the Numba kernels or their NumPy twins
        timing.pattern_profile(src[:one], dst[:one], self.npus, tp.level_table, tp.lat_ns,
                               float(tp.params.hop_lat_ns), *self.faults, self.class_first,
                               self.path, hops, lat)
        # one copy routed stands for all (each NPU's reductions and messages k times its
        # own), unless the seam between copies joins two transfers into one message
        seam = copies > 1 and src[0] == src[one - 1] and dst[0] == dst[one - 1]
        routed, total = (src.size if seam else one), src.size
        src, dst, red = src[:routed], dst[:routed], red[:routed]
        ones = np.ones(src.size, np.int64)
        acc = [0, 0, 0.0]
        if src.size:
            self.ensure_room(src.size * self.path.size, 3 * src.size)
            acc = list(timing.accumulate(src, dst, ones, red, self.npus, 1, 1.0, tp.level_table,
                                         tp.lat_ns, 0.0, *self.faults, self.load, self.touched,
                                         0, self.red_bytes, self.red_touched, 0, self.path,
                                         self.messages, 0.0, 0.0, self.err))
            self._check_routes()
        nt, nr = self.spread.settle(self, acc[0], acc[1])
        links, keys = self.touched[:nt], self.red_touched[:nr]
        if total > routed:  # the copies' counts: whole numbers, exact
            self.red_bytes[keys] *= total // routed
        many = routed // one  # each link of a copy's: this many transfers routed
        self.mark_used(links)  # every transfer of the pattern moves bytes in every repeat
        reduced = keys[keys < self.topology.n_npus]
        most_red = self.red_bytes[reduced].max(initial=0.0)
        heavy = self.load[links] > many  # links that carry several transfers (of a copy),
        if self.weight.size:  # or weighted ones
            heavy |= self.weight[links] != 1
        busy_links = links[heavy]
        self.load[links] = 0.0
        _, _, cpu_s, tail_s = timing.drain(self.class_first, self.class_cap_Bps, self.load,
                                           self.touched, 0, self.red_bytes, self.red_touched,
                                           nr, self._busy, self._bytes, self.send_s,
                                           self.recv_s, self.weight)
        most = self.spread.gather_max([most_red, cpu_s, tail_s, float(heavy.any())])
        if most[0] > copies and self.reduce_Bps > 0:
            return None
        shared = None
        if most[3]:
            shared = None if self.spread.collective else self._shared(
                src[:one], dst[:one], busy_links, int(hops.sum()) if every_link else one)
            if shared is None:
                return None
        return hops, np.flatnonzero(hops.any(axis=1)), lat, most[1], most[2], shared, copies

    def _shared(self, src, dst, busy_links, room):
        """The links of a profiled pattern that carry several of its transfers (or lost some
        of their planes), as ``(class of each link, transfers sorted by link, start of each
        link's run, each link's time weight or None)``; None when they are too many to pay
        (more link crossings than ``room``)."""
        mark = np.zeros(self.topology.n_links, bool)
        mark[busy_links] = True
        tp = self.topology
        links, trans = np.empty(room, np.int64), np.empty(room, np.int64)
        timing = self.kernels(src.size)
        m = timing.shared_pairs(src, dst, self.npus, tp.level_table, tp.lat_ns,
                                float(tp.params.hop_lat_ns), *self.faults, mark, self.path,
                                links, trans)
        if m < 0:
            return None
        order = np.argsort(links[:m], kind="stable")
        by_link, trans = links[:m][order], trans[:m][order]
        starts = np.flatnonzero(np.r_[True, by_link[1:] != by_link[:-1]])
        weight = self.weight[by_link[starts]] if self.weight.size else None
        return self.topology.link_class_of(by_link[starts]), trans, starts, weight

    def shared_link_s(self, shared, elements, itemsize):
        """Seconds each shared link (``shared`` of :meth:`_shared`) is busy with ``elements``
        (per link, or per link and step), as the drain kernel computes them."""
        cls, _, _, weight = shared
        x = (elements * itemsize).astype(np.float64)
        cap = self.class_cap_Bps[cls].reshape((-1,) + (1,) * (x.ndim - 1))
        if weight is None:
            return x / cap
        return x * weight.reshape(cap.shape) / cap

    def _pattern_figures(self, step, itemsize, hops, used, lat_ns, cpu_s, tail_s, shared,
                         copies=1):
        """The step's figures from a profile (:meth:`_profile`) of this process's transfers;
        links that carry several transfers (``shared``) add up their transfers' bytes. Of k
        ``copies`` of a pattern, a transfer of the pattern carries its copies' elements (a
        link's, and a reducing NPU's, load: their sum; its fill: the largest)."""
        parts = getattr(step, "n_parts", None)  # joined channels' elements, unjoined
        if copies > 1 and parts is not None and len(parts) == copies \
                and all(x.size * copies == step.src.size for x in parts) \
                and self.spread.senders(step) is None:
            each, red = parts, step.reduce
        else:
            _, _, n, red = self._own(step)
            each = n.reshape(copies, -1)
        fill_n = each[0]
        if copies > 1:  # the copies share the pattern's reduce flags (:meth:`_copies`)
            n, red = each[0] + each[1], red[:each[0].size]
            for row in each[2:]:
                n += row
            if self.fill[1]:
                fill_n = each[0].copy()
                for row in each[1:]:
                    np.maximum(fill_n, row, out=fill_n)
        timing = self.kernels(n.size)
        link_s, red_b = timing.pattern_step(n, itemsize, red, hops, used, self.class_cap_Bps,
                                            self._busy, self._bytes)
        if shared is not None:
            cls, trans, starts, weight = shared
            timing.shared_busy(n, int(itemsize), trans, starts, cls,
                               np.empty(0) if weight is None else weight, self.class_cap_Bps,
                               self._busy)
            link_s = float(self._busy.max(initial=0.0))
        fill_bytes, ns_per_byte = self.fill
        path = lat_ns + np.minimum(fill_n * itemsize, fill_bytes) * ns_per_byte \
            if ns_per_byte else lat_ns
        return self.spread.gather((link_s, float(path.max(initial=0.0)), red_b, cpu_s, tail_s,
                                   True), self._busy, self._bytes)
