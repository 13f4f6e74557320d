"""Lockstep replicas timed from one replica of each shape, by the grid's symmetry.

Every group of a kind at once (``--every``, workloads) is a :class:`ubemu.lockstep.Replicas`
step: G copies of one step on G groups. On a fault-free topology a cyclic shift of the
coordinates maps links onto links of the same class and dimension-ordered routes onto routes
(:func:`ubemu.machine.linkmap.shift_links`). Replicas whose NPUs are one shift of each other (the
same *shape*: 256-NPU groups inside a SuperPoD, but not one that straddles two) load the
shifted links with the same bytes. So the timer routes one replica of each shape and moves
its link loads, messages and reduced bytes to every other replica of that shape. Loads that
replicas put on one link add up as before; the sums are of whole bytes, exact in float64, so
the figures are the ones routing every replica gives, bit for bit
(``tests/timing/test_replicas.py``).
"""

import numpy as np

from ..kernels import select
from ..lockstep import Replicas
from ..machine import linkmap

#: Fewer replicas than this are routed one by one.
MIN_REPLICAS = 4


def replica_shapes(topology, rows):
    """``[(representative, members, shifts)]`` grouping the replicas ``rows`` (G, n) of NPU
    ids by shape: ``rows[members]`` is ``rows[representative]`` moved by ``shifts``
    (len(members), levels). None when almost every replica has a shape of its own."""
    sizes = np.array(topology.sizes, np.int64)
    coords = topology.coords(rows)  # (G, n, levels)
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
    """Mixin of :class:`ubemu.timing.timer.StepTimer`: :class:`Replicas` steps from one replica
    of each shape (see the module docstring)."""

    _ACCUMULATORS = ("load", "touched", "red_bytes", "red_touched")

    def _replica_plan(self, step, scale):
        """``[(representative, members, shifts, NPU order of the representative)]`` for
        ``step``'s replicas, or None to route every replica."""
        if (not isinstance(step, Replicas) or step.n_groups < MIN_REPLICAS
                or self.topology.faults is not None or self.spread.collective
                or not float(scale).is_integer()
                or self.npus.size != step.n_groups * step.n_ranks):
            return None
        key = (step.n_groups, step.n_ranks)
        if self._shapes[0] != key:
            rows = self.npus.reshape(step.n_groups, step.n_ranks)
            shapes = replica_shapes(self.topology, rows)
            if shapes is not None:
                shapes = [(rep, members, shifts, np.argsort(rows[rep]))
                          for rep, members, shifts in shapes]
            self._shapes = (key, shapes)
        return self._shapes[1]

    def _route_replica(self, step, g, itemsize, scale):
        """Route replica ``g`` of ``step`` alone, into accumulators of its own (swapped in for
        the step's): (link ids, loads, NPU keys, NPU values, longest path latency)."""
        tp = self.topology
        if self._rep is None:
            self._rep = dict(load=np.zeros(tp.n_links), touched=np.empty(0, np.int64),
                             red_bytes=np.zeros(2 * tp.n_npus),
                             red_touched=np.empty(0, np.int64))
        mine = {name: getattr(self, name) for name in self._ACCUMULATORS}
        for name in self._ACCUMULATORS:
            setattr(self, name, self._rep[name])
        try:
            nt, nr, lat = 0, 0, 0.0
            for part in step.replica(g):
                nt, nr, lat = self._accumulate([nt, nr, lat], part, itemsize, scale)
            ids, keys = self.touched[:nt].copy(), self.red_touched[:nr].copy()
            loads, values = self.load[ids], self.red_bytes[keys]
            self.load[ids] = 0.0
            self.red_bytes[keys] = 0.0
        finally:
            for name in self._ACCUMULATORS:  # keep the grown scratch arrays for next time
                self._rep[name] = getattr(self, name)
                setattr(self, name, mine[name])
        return ids, loads, keys, values, lat

    def _accumulate_replicas(self, acc, step, itemsize, scale, shapes):
        """:meth:`_accumulate` of a :class:`Replicas` step, one replica routed per shape."""
        nt, nr, lat = acc
        n_npus = self.topology.n_npus
        rows = self.npus.reshape(step.n_groups, step.n_ranks)
        for rep, members, shifts, order in shapes:
            ids, loads, keys, values, rep_lat = self._route_replica(step, rep, itemsize, scale)
            lat = max(lat, rep_lat)
            # an NPU key is the NPU (reduced bytes) or n_npus + NPU (messages); a rank of the
            # representative is the same rank of each member
            npu = keys % n_npus
            rank = order[np.searchsorted(rows[rep], npu, sorter=order)]
            if select.numpy_serves(n_npus, n_items=members.size * (ids.size + keys.size)):
                nt, nr = self._scattered(nt, nr, ids, loads, shifts, rows[members][:, rank]
                                         + (keys - npu)[None, :], values)
                continue
            from ..kernels import shifts as moves

            self.ensure_room(nt + min(members.size * ids.size, self.topology.n_links),
                             nr + min(members.size * keys.size, 2 * n_npus), capped=False)
            marks = self._marks()
            nt = moves.scatter_links(self.load, self.touched, nt, marks[0], loads, shifts,
                                     np.array(self.topology.sizes, np.int64),
                                     *linkmap.shift_weights(self.topology, ids))
            nr = moves.scatter_keys(self.red_bytes, self.red_touched, nr, marks[1], values,
                                    rows, members, rank, keys - npu)
        return [nt, nr, lat]

    def _scattered(self, nt, nr, ids, loads, shifts, npu_keys, values):
        """The NumPy twin of ``kernels/shifts.py``: the links ``ids`` moved by ``shifts`` and
        the members' ``npu_keys`` (members, keys) loaded; returns the new (nt, nr)."""
        links = linkmap.shift_links(self.topology, ids, shifts).ravel()
        npu_keys = npu_keys.ravel()
        fresh = _fresh(self.load, links, self.topology.n_links)
        fresh_npu = _fresh(self.red_bytes, npu_keys, 2 * self.topology.n_npus)
        self.ensure_room(nt + fresh.size, nr + fresh_npu.size)
        np.add.at(self.load, links, np.tile(loads, shifts.shape[0]))
        np.add.at(self.red_bytes, npu_keys, np.tile(values, shifts.shape[0]))
        self.touched[nt:nt + fresh.size] = fresh
        self.red_touched[nr:nr + fresh_npu.size] = fresh_npu
        return nt + fresh.size, nr + fresh_npu.size

    def _marks(self):
        """One zeroed byte per link and per NPU key, for the kernels (kept, left zeroed)."""
        if self._replica_marks is None:
            tp = self.topology
            self._replica_marks = (np.zeros(tp.n_links, np.uint8),
                                   np.zeros(2 * tp.n_npus, np.uint8))
        return self._replica_marks


def _fresh(acc, ids, n_ids):
    """The distinct ids of ``ids`` whose entry of ``acc`` is still 0 (not yet touched)."""
    fresh = ids[acc[ids] == 0.0]
    if fresh.size <= n_ids // 64:
        return np.unique(fresh)
    seen = np.zeros(n_ids, bool)
    seen[fresh] = True
    return np.flatnonzero(seen)
