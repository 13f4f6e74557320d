"""Lockstep replicas timed from one replica of each shape, by the grid's symmetry.

Every group of a kind at once (``--every``, workloads) is a :class:`ubemu.schedule.Replicas`
step: G copies of one step on G groups. On a fault-free topology a cyclic shift of the
coordinates maps links onto links of the same class and dimension-ordered routes onto routes
(:func:`ubemu.linkmap.shift_links`). Replicas whose NPUs are one shift of each other (the
same *shape*: 256-NPU groups inside a SuperPoD, but not one that straddles two) load the
shifted links with the same bytes. So the timer routes one replica of each shape and moves
its link loads, messages and reduced bytes to every other replica of that shape. Loads that
replicas put on one link add up as before; the sums are of whole bytes, exact in float64, so
the figures are the ones routing every replica gives, bit for bit
(``tests/test_replica_timing.py``).
"""

import numpy as np

from . import linkmap
from .schedule import AllPairs, Replicas, replicated

#: Fewer replicas than this are routed one by one.
MIN_REPLICAS = 4


def replica_shapes(topology, rows):
    """``[(representative, members, shifts)]`` grouping the replicas ``rows`` (G, n) of NPU
    ids by shape: ``rows[members]`` is ``rows[representative]`` moved by ``shifts``
    (len(members), levels). None when almost every replica has a shape of its own."""
    sizes = np.array([lv.size for lv in topology.levels], np.int64)
    coords = linkmap.coordinates(topology, rows)  # (G, n, levels)
    rel = (coords - coords[:, :1, :]) % sizes
    flat = rel.reshape(rel.shape[0], -1).astype(np.uint64)
    weights = np.random.default_rng(0).integers(1, 2**62, flat.shape[1], dtype=np.uint64)
    _, first, shape = np.unique((flat * weights).sum(axis=1), return_index=True,
                                return_inverse=True)
    if first.size > max(rows.shape[0] // 2, 1):
        return None
    if not (rel == rel[first[shape]]).all():  # a hash collision: no shortcut
        return None
    out = []
    for k, rep in enumerate(first.tolist()):
        members = np.flatnonzero(shape == k)
        out.append((rep, members, (coords[members, 0, :] - coords[rep, 0, :]) % sizes))
    return out


class ReplicaSymmetry:
    """Mixin of :class:`ubemu.timing.StepTimer`: :class:`Replicas` steps from one replica
    of each shape (see the module docstring)."""

    def _replica_plan(self, step, scale):
        """The shapes of ``step``'s replicas, or None to route every replica."""
        if (not isinstance(step, Replicas) or step.n_groups < MIN_REPLICAS
                or self.topology.faults is not None or self.spread.collective
                or not float(scale).is_integer()
                or self.npus.size != step.n_groups * step.n_ranks):
            return None
        key = (step.n_groups, step.n_ranks)
        if self._shapes[0] != key:
            rows = self.npus.reshape(step.n_groups, step.n_ranks)
            self._shapes = (key, replica_shapes(self.topology, rows))
        return self._shapes[1]

    def _rep_scratch(self):
        """Zeroed accumulators for routing one replica apart from the step's loads."""
        if self._rep is None:
            tp = self.topology
            self._rep = dict(load=np.zeros(tp.n_links), red=np.zeros(2 * tp.n_npus),
                             touched=np.empty(0, np.int64), red_touched=np.empty(0, np.int64),
                             seen=np.zeros(tp.n_links, bool), red_seen=np.zeros(2 * tp.n_npus,
                                                                                bool))
        return self._rep

    def _route_replica(self, step, g, itemsize, scale):
        """Route replica ``g`` of ``step`` alone: (link ids, loads, NPU keys, NPU values,
        longest path latency), the scratch accumulators left zero."""
        from .kernels import timing

        sc, tp = self._rep_scratch(), self.topology
        nt = nr = 0
        lat = 0.0
        bases = step.base.parts() if isinstance(step.base, AllPairs) else (step.base,)
        for base in bases:
            part = replicated(base, range(g, g + 1), step.n_ranks)
            if not part.n_transfers:
                continue
            for name, need in (("touched", nt + part.n_transfers * self.path.size),
                               ("red_touched", nr + 3 * part.n_transfers)):
                if sc[name].size < need:
                    grown = np.empty(max(need, 2 * sc[name].size), np.int64)
                    grown[:sc[name].size] = sc[name]
                    sc[name] = grown
            nt, nr, step_lat = timing.accumulate(
                part.src, part.dst, part.n, part.reduce, self.npus, int(itemsize),
                float(scale), tp.level_table, tp.lat_ns, float(tp.params.hop_lat_ns),
                *self.faults, sc["load"], sc["touched"], nt, sc["red"], sc["red_touched"], nr,
                self.path, self.messages, *self.fill, self.err)
            self._check_routes()
            lat = max(lat, step_lat)
        ids, keys = sc["touched"][:nt].copy(), sc["red_touched"][:nr].copy()
        loads, values = sc["load"][ids], sc["red"][keys]
        sc["load"][ids] = 0.0
        sc["red"][keys] = 0.0
        return ids, loads, keys, values, lat

    def _accumulate_replicas(self, acc, step, itemsize, scale, shapes):
        """:meth:`_accumulate` of a :class:`Replicas` step, one replica routed per shape."""
        nt, nr, lat = acc
        n_npus = self.topology.n_npus
        rows = self.npus.reshape(step.n_groups, step.n_ranks)
        sc = self._rep_scratch()
        for rep, members, shifts in shapes:
            ids, loads, keys, values, rep_lat = self._route_replica(step, rep, itemsize, scale)
            lat = max(lat, rep_lat)
            moved = linkmap.shift_links(self.topology, ids, shifts).ravel()
            nt = _add_into(self, "load", "touched", nt, sc["seen"], moved,
                           np.tile(loads, members.size))
            # an NPU key is the NPU (reduced bytes) or n_npus + NPU (messages); a rank of the
            # representative is the same rank of each member
            npu = keys % n_npus
            order = np.argsort(rows[rep])
            rank = order[np.searchsorted(rows[rep], npu, sorter=order)]
            moved = (rows[members][:, rank] + (keys - npu)[None, :]).ravel()
            nr = _add_into(self, "red_bytes", "red_touched", nr, sc["red_seen"], moved,
                           np.tile(values, members.size))
        return [nt, nr, lat]


def _add_into(timer, acc, touched, n_touched, seen, ids, values):
    """``timer.<acc>[ids] += values`` (repeats add up), listing the ids that were 0 in
    ``timer.<touched>``; returns the new count of touched entries. ``seen``: a False flag
    per id (left False)."""
    acc = getattr(timer, acc)
    fresh = ids[acc[ids] == 0.0]
    seen[fresh] = True
    fresh = np.flatnonzero(seen) if fresh.size > seen.size // 64 else np.unique(fresh)
    seen[fresh] = False
    np.add.at(acc, ids, values)
    if touched == "touched":
        timer.ensure_room(n_touched + fresh.size, 0)
    else:
        timer.ensure_room(0, n_touched + fresh.size)
    getattr(timer, touched)[n_touched:n_touched + fresh.size] = fresh
    return n_touched + fresh.size
