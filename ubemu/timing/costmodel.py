"""The closed-form cost model: the step-level timing model of :mod:`ubemu.timing.timer` in formulas.

An algorithm's registered cost (:mod:`ubemu.algorithms.base`) describes its steps by their
*shapes*, ``model.step([(axis, partner, bytes), ...])``: every rank sends ``bytes`` to its
``partner`` on ``axis``, all at once. Per (topology, group) the derived constants of every grid
axis are computed once (:class:`AxisModel`); a step is then float arithmetic:

- ``beta_link`` (s/B): links that carry one message each (a full-mesh pair link, a ring hop);
  times ``m`` ranks sharing one trunk link (the group's ranks on the levels below the trunk);
- ``beta_port`` (s/B): per-NPU (or per-trunk-group) switch ports carrying the sum of a rank's
  messages, and an oversubscribed switch's core links carrying the sum over the unit's ranks;
- ``lat_s``: the level's latency plus ``hop_lat_ns`` per link of the route.

A step takes ``max(k (o_s + o_r), max(beta_link max_j b_j, beta_port sum_j b_j) + lat_s +
o_s + o_r) + overhead`` (+ the reduction term) when every rank sends and receives k messages:
what the link-load model gives on a fault-free symmetric topology.

A flat algorithm on a group spanning several levels (or not a grid at all) runs on one
:class:`GridFlat` axis, whose partner patterns (a shift, an XOR partner, a ring order, a
permutation) are routed once with one byte per message by the real routing kernels and cached:
a step of ``b`` bytes per message then costs ``b x (most messages per capacity on a link) +
longest path``; "every peer at once" has a formula on grids of full-mesh and switch levels.

Uneven counts: :meth:`CostModel.block` gives the largest block (an upper bound) and records
that the count did not divide; the estimator then runs the cost a second time with the
smallest blocks (``mode="lo"``), a lower bound, and reports both.
"""

import numpy as np

from ..errors import UbemuError
from ..kernels.codes import C_POOL_NPUS, C_RUN_FIRST
from ..machine.comm import Comm
from ..schedule import AllPairs
from . import symmetry

#: Most transfers the patterns of one cost may need routed (cached or not, so that whether a
#: closed form exists does not depend on what was asked before).
PROFILE_BUDGET = 1 << 25


class NoClosedForm(UbemuError):
    """The cost model has no closed form for this case (the step-level model answers)."""


class Cost(float):
    """A time in seconds that also counts the work of the steps it sums: ``transfers`` (each
    step's transfers, summed), ``peak`` (the largest step's) and ``held`` (the most a
    timing-only schedule holds at once: a compact all-pairs step holds one part,
    :class:`ubemu.schedule.AllPairs`). Sums and integer multiples carry them along; the value
    is plain float arithmetic."""

    def __new__(cls, value, transfers=0, peak=0, held=0):
        obj = super().__new__(cls, value)
        obj.transfers, obj.peak, obj.held = transfers, peak, held
        return obj

    def __add__(self, other):
        return Cost(float(self) + float(other), self.transfers + getattr(other, "transfers", 0),
                    max(self.peak, getattr(other, "peak", 0)),
                    max(self.held, getattr(other, "held", 0)))

    __radd__ = __add__

    def __mul__(self, k):
        if isinstance(k, float) and not k.is_integer():
            return float(self) * k
        return Cost(float(self) * k, self.transfers * int(k), self.peak if k else 0,
                    self.held if k else 0)

    __rmul__ = __mul__


class Xor(int):
    """An XOR partner: rank ``r``'s message goes to rank ``r ^ m``."""


class PermPartner:
    """An explicit partner per rank (``dst[r]``; ``dst[r] == r`` sends nothing), keyed by
    ``key`` for caching."""

    __slots__ = ("key", "dst")

    def __init__(self, key, dst):
        self.key, self.dst = key, dst

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, PermPartner) and other.key == self.key


class AxisModel:
    """Derived constants of one grid axis (see the module docstring)."""

    __slots__ = ("p", "level", "fabric", "trunk", "beta_link", "beta_port", "lat_s",
                 "full_ring")

    def __init__(self, p, level, fabric, trunk, beta_link, beta_port, lat_s, full_ring):
        self.p, self.level, self.fabric, self.trunk = p, level, fabric, trunk
        self.beta_link, self.beta_port, self.lat_s = beta_link, beta_port, lat_s
        self.full_ring = full_ring

    def one_hop(self, shift):
        """A message to ``shift`` takes one link of its own (on a ring level: a neighbour
        of a whole ring; others are routed, :meth:`CostModel.lines`)."""
        if self.fabric != "ring":
            return True
        t = shift % self.p
        return self.full_ring and min(t, self.p - t) == 1


def _axis_model(topology, comm, d):
    """AxisModel of grid axis ``d`` of ``comm`` (see the module docstring)."""
    i = comm.levels[d]
    lv = topology.levels[i]
    eff = topology.params.efficiency
    hop_s = topology.params.hop_lat_ns * 1e-9
    strides = topology.strides
    trunk_g = topology.trunk_group_npus[i]
    pool = int(topology.level_table[i, C_POOL_NPUS])
    m_trunk = m_core = 1  # the group's ranks sharing one trunk port, one core pool
    for e, j in enumerate(comm.levels):
        if lv.trunk and strides[j] < trunk_g:
            m_trunk *= comm.dims[e]
        if strides[j] < pool:
            m_core *= comm.dims[e]
    caps = {c.name.rsplit(".", 1)[-1] if "." in c.name else "": c.bw_GBps * 1e9 * eff
            for c in topology.link_classes if c.level == i and "access" not in c.name}
    full_ring = True
    if lv.fabric in ("full_mesh", "ring"):
        beta_link, beta_port, links = m_trunk / min(caps.values()), 0.0, 1
        if lv.fabric == "ring":
            full_ring = comm.dims[d] == lv.size and _ordered(topology, comm, d)
    elif lv.trunk:
        beta_link, beta_port, links = 0.0, m_trunk / caps["up"], 2
    else:
        beta_link, beta_port, links = 0.0, 1.0 / caps["up"], 2
        if "core_up" in caps:
            beta_port = max(beta_port, m_core / caps["core_up"])
            links = 4
    lat_s = lv.lat_ns * 1e-9
    if lv.trunk:  # through the NPU's access port up and down (its run's, one per NPU)
        first = int(topology.level_table[i, C_RUN_FIRST])
        access = topology.access_GBps(i) * 1e9 * eff
        beta_port = max(beta_port, 1.0 / access)
        lat_s += 2 * topology.lat_ns[first, 1] * 1e-9
        links += 2
    return AxisModel(int(comm.dims[d]), i, lv.fabric, lv.trunk, beta_link, beta_port,
                     lat_s + hop_s * links, full_ring)


def _ordered(topology, comm, d):
    """True when axis ``d``'s ranks sit at positions 0..size-1 of their level, in order."""
    i = comm.levels[d]
    stride = int(np.prod(comm.dims[:d], dtype=np.int64))
    c = topology.coords(comm.npus[: topology.levels[i].size * stride])[:, i]
    pos = (np.arange(c.size) // stride) % comm.dims[d]
    return bool(np.array_equal(c, pos))


class GridFlat:
    """The whole communicator as one line of ``n`` ranks over several levels (module
    docstring), or with ``d`` every line of grid axis ``d`` (a ring level's messages that are
    not neighbours): partner patterns are routed once and cached."""

    def __init__(self, model, d=None):
        self.model, self.d = model, d
        self.p = model.n if d is None else model.dims[d]
        self._lines = None if d is None else Comm(model.dims).axis(d)
        self._profiles = {}

    def _dst(self, partner, ranks):
        n = self.p
        if self._lines is not None:  # along the axis, on every line
            pos = self._lines.pos
            if isinstance(partner, PermPartner) or (isinstance(partner, Xor) and n & (n - 1)):
                raise NoClosedForm("no closed form: this partner pattern on a ring level")
            return self._lines.rank_at(pos ^ int(partner) if isinstance(partner, Xor)
                                       else pos + int(partner))
        if isinstance(partner, PermPartner):
            return np.asarray(partner.dst, np.int64)
        if isinstance(partner, Xor):
            if n & (n - 1):
                raise NoClosedForm(f"no closed form: XOR partners on {n} ranks (not a power "
                                   f"of two)")
            return ranks ^ int(partner)
        return (ranks + int(partner)) % n

    def _key(self, partner):
        if isinstance(partner, PermPartner):
            return ("perm", partner.key)
        if isinstance(partner, Xor):
            return ("xor", self.d, int(partner))
        return ("shift", self.d, int(partner) % self.p)

    def profile(self, partners):
        """(most messages per capacity on one link in s/B, longest path in s) of the step in
        which every rank sends one message to each of ``partners``."""
        key = tuple(self._key(q) for q in partners)
        m = self.model
        n = m.n
        if key not in m.asked:
            m.asked.add(key)
            m.routed += n * len(key)
        if m.routed > PROFILE_BUDGET:
            raise NoClosedForm(f"no closed form: the patterns of this algorithm on {n} ranks "
                               f"take too long to profile")
        if key not in self._profiles:
            ranks = np.arange(n, dtype=np.int64)
            src = np.concatenate([ranks] * len(key))
            dst = np.concatenate([self._dst(q, ranks) for q in partners])
            moving = src != dst
            self._profiles[key] = pattern_cost(m.topology, m.comm.npus[src[moving]],
                                               m.comm.npus[dst[moving]])
        return self._profiles[key]

    def every_peer(self):
        """(s/B, s) of the step in which every rank sends to every other rank: on a grid of
        full-mesh and switch levels without trunks a full-mesh link of axis i carries
        ``n / d_i`` messages and a port ``n (d_i - 1) / d_i``, and the longest path crosses
        every axis; other groups route the pattern once."""
        m = self.model
        axes = m.axes
        if self.d is not None:
            return self.profile(range(1, self.p))
        if axes is None or any(ax.fabric == "ring" or ax.trunk for ax in axes if ax.p > 1):
            topo = m.topology
            if self.p == topo.n_npus and symmetry.interchangeable(topo) \
                    and symmetry.link_messages(topo) is not None:
                return symmetry.every_peer_cost(topo)  # NPU 0's routes stand for all
            return self.profile(range(1, self.p))  # (a trunk run skips the levels below)
        n = self.p
        beta = max(max(ax.beta_link * (n // ax.p), ax.beta_port * (n // ax.p) * (ax.p - 1))
                   for ax in axes if ax.p > 1)
        return beta, sum(ax.lat_s for ax in axes if ax.p > 1)


class CostModel:
    """Per (topology, group) constants and the step arithmetic of the closed forms.

    Attributes
    ----------
    comm : Comm
        The group (NPU ids, grid).
    axes : list of AxisModel or None
        One per grid axis; None when the group is not a grid on the topology's levels.
    collective : str
        The collective being costed (set by the estimator).
    mode : {'hi', 'lo'}
        Largest or smallest blocks where a count does not divide (module docstring).
    uneven : bool
        A block of an uneven cut was asked for since the last reset.
    routed : int
        Transfers the distinct patterns asked for since :meth:`reset_call` need routed.
    """

    def __init__(self, topology, comm):
        p = topology.params
        self.topology, self.comm = topology, comm
        self.name, self.n, self.dims = topology.name, comm.n, tuple(int(d) for d in comm.dims)
        self.overhead_s = p.overhead_ns * 1e-9
        self.msg_s = (p.send_overhead_ns + p.recv_overhead_ns) * 1e-9  # one message's ends
        self.send_s, self.recv_s = p.send_overhead_ns * 1e-9, p.recv_overhead_ns * 1e-9
        self.fill_bytes = p.fill_bytes
        self.fill_s_per_byte = 1e-9 / p.fill_GBps if p.fill_GBps > 0 else 0.0
        self.fill_ns_per_byte = 1.0 / p.fill_GBps if p.fill_GBps > 0 else 0.0
        self.rho = 1.0 / (p.reduce_GBps * 1e9) if p.reduce_GBps > 0 else 0.0
        self.axes = None
        if comm.n > 1 and comm.levels:
            self.axes = [_axis_model(topology, comm, d) for d in range(len(self.dims))]
        self._grid = None
        self._memo = {}
        self.collective, self.mode, self.uneven = "", "hi", False
        self.counting = False  # True: only the work is wanted (no pattern is routed)
        self.reset_call()

    def reset_call(self):
        """Start costing one algorithm: no pattern asked for yet."""
        self.routed, self.asked = 0, set()

    # -- what the costs ask for -------------------------------------------------------------
    @staticmethod
    def is_axis(ax):
        return isinstance(ax, AxisModel)

    @staticmethod
    def require(condition, why):
        if not condition:
            raise NoClosedForm(f"no closed form: {why}")

    def require_axes(self):
        self.require(self.axes is not None, "the group is not a grid on the topology's levels "
                                            "(its members do not differ level by level in "
                                            "grid order)")
        return self.axes

    def flat_axis(self):
        """The axis a flat algorithm runs on: the group's one axis, or a :class:`GridFlat`."""
        if self.axes is not None and len(self.axes) == 1:
            return self.axes[0]
        if self._grid is None:
            self._grid = GridFlat(self)
        return self._grid

    def block_max(self, c, parts):
        """Elements of the largest of ``parts`` blocks of ``c`` (exact where the slowest
        link always carries a largest block)."""
        return -(-c // parts) if c > 0 else 0

    def block(self, c, parts):
        """Largest block (``mode="hi"``) or smallest (``"lo"``); records an uneven cut."""
        if c % parts:
            self.uneven = True
            if self.mode == "lo":
                return c // parts
        return self.block_max(c, parts)

    def chunk(self, c, parts, m, isz, exact=False):
        """Bytes of ``m`` consecutive blocks of ``c`` cut into ``parts``: the heaviest run
        (``exact``: known to be what the slowest link carries), else as :meth:`block`."""
        base, extra = divmod(c, parts)
        if extra and not exact:
            self.uneven = True
            if self.mode == "lo":
                return m * base * isz
        return (m * base + min(m, extra)) * isz

    def pow2(self, p, name):
        """``log2 p``, refusing a ``p`` that is not a power of two."""
        if p & (p - 1):
            raise NoClosedForm(f"no closed form for {name} on {p} ranks (not a power of two: "
                               f"the fold steps are modelled by the step-level model only)")
        return p.bit_length() - 1

    def ring_partner(self, order):
        """The partner of every rank on a ring visiting ranks in ``order``."""
        order = np.asarray(order, np.int64)
        dst = np.empty_like(order)
        dst[order] = np.roll(order, -1)
        return PermPartner(("ring", order.tobytes()), dst)

    @staticmethod
    def perm_partner(key, dst):
        """An explicit partner per rank (``dst[r]``), cached under ``key``."""
        return PermPartner(key, dst)

    # -- step arithmetic ----------------------------------------------------------------------
    def fill_s(self, nbytes):
        """A message's pipeline fill (:mod:`ubemu.timing.timer`)."""
        return min(nbytes, self.fill_bytes) * self.fill_s_per_byte

    def _finish(self, bw_s, lat_s, reduced_bytes, reduce, n_msgs, held=None):
        """A step's time: every rank sends and receives ``n_msgs`` messages; ``lat_s`` is
        the largest path latency plus fill (the timing model's rule, :mod:`ubemu.timing.timer`).
        As a :class:`Cost`: the step's transfers, one per message, of which ``held`` at
        once (default all)."""
        t = max(n_msgs * self.msg_s, bw_s + lat_s + self.msg_s) + self.overhead_s
        t = t + reduced_bytes * self.rho if reduce and self.rho else t
        work = self.n * n_msgs
        return Cost(t, work, work, work if held is None else min(work, held))

    def step(self, msgs, reduce=False):
        """Time of one step; ``msgs`` is a list of (axis, partner, bytes) sent by each rank."""
        msgs = [m for m in msgs if m[2] > 0]
        if not msgs:
            return self.overhead_s
        if isinstance(msgs[0][0], GridFlat):
            return self._grid_step(msgs[0][0], msgs, reduce)
        if not all(ax.one_hop(q) for ax, q, _ in msgs):  # a ring level: route the pattern
            lines = self.lines(msgs[0][0])
            if any(ax is not msgs[0][0] for ax, _, _ in msgs):
                raise NoClosedForm("no closed form: messages on a ring level and another")
            return self._grid_step(lines, [(lines, q, b) for _, q, b in msgs], reduce)
        if len(msgs) == 1:  # the common case, kept fast
            ax, shift, b = msgs[0]
            beta = ax.beta_link if ax.beta_link > ax.beta_port else ax.beta_port
            return self._finish(b * beta, ax.lat_s + self.fill_s(b), b, reduce, 1)
        per_axis, merged = {}, {}
        for ax, shift, b in msgs:
            key = (id(ax), shift % ax.p)
            merged[key] = (ax, shift, merged[key][2] + b if key in merged else b)
        lat = red = 0.0
        for ax, _, b in merged.values():
            mx, sm = per_axis.get(id(ax), (ax, 0.0, 0.0))[1:]
            per_axis[id(ax)] = (ax, max(mx, b), sm + b)
            lat = max(lat, ax.lat_s + self.fill_s(b))
            red += b
        bw = max(max(ax.beta_link * mx, ax.beta_port * sm) for ax, mx, sm in per_axis.values())
        every = len(per_axis) == 1 and len(merged) == self.n - 1  # a compact AllPairs step
        return self._finish(bw, lat, red, reduce, len(merged),
                            AllPairs.PART_TRANSFERS if every else None)

    def every_peer(self, ax, b, reduce=False):
        """Time of the step in which every rank sends ``b`` bytes to every other rank of
        ``ax`` (what :meth:`step` gives for the ``p-1`` shifts, without listing them)."""
        p = ax.p
        if b <= 0 or p < 2:
            return self.overhead_s
        if isinstance(ax, GridFlat):
            beta, lat = (0.0, 0.0) if self.counting else ax.every_peer()
            return self._finish(b * beta, lat + self.fill_s(b), (p - 1) * b, reduce, p - 1,
                                AllPairs.PART_TRANSFERS)
        if not (ax.one_hop(1) and ax.one_hop(2)):  # a ring level: route the pattern
            return self.step([(ax, k, b) for k in range(1, p)], reduce)
        bw = max(ax.beta_link * b, ax.beta_port * float((p - 1) * b))
        every = p == self.n
        return self._finish(bw, ax.lat_s + self.fill_s(b), float((p - 1) * b), reduce, p - 1,
                            AllPairs.PART_TRANSFERS if every else None)

    def profiled_step(self, key, n_messages, make_profile, sizes, reduce=False):
        """Time of a step whose messages fall in groups of one size each (``sizes[g]``
        bytes): ``make_profile()`` routes its pattern once per model and ``key`` into an
        object whose ``terms(sizes, send_s, recv_s, fill_bytes, fill_ns_per_byte)`` gives
        ``(link_s, lat_s, cpu_s, bytes reduced at one NPU, messages)``
        (:class:`ubemu.timing.groupcost.GroupProfile`); ``n_messages`` counts against
        :data:`PROFILE_BUDGET` and the work."""
        if not any(b > 0 for b in sizes):
            return self.overhead_s
        if key not in self.asked:
            self.asked.add(key)
            self.routed += n_messages
        if self.counting:
            return Cost(0.0, n_messages, n_messages, n_messages)
        if self.routed > PROFILE_BUDGET:
            raise NoClosedForm(f"no closed form: the patterns of this algorithm on {self.n} "
                               f"ranks take too long to profile")
        profile = self.memo(("profiled",) + tuple(key), make_profile)
        link_s, lat_s, cpu_s, red, moved = profile.terms(
            sizes, self.send_s, self.recv_s, float(self.fill_bytes), self.fill_ns_per_byte)
        if not moved:
            return self.overhead_s
        t = max(cpu_s, link_s + lat_s + self.msg_s) + self.overhead_s
        t = t + red * self.rho if reduce and self.rho else t
        return Cost(t, moved, moved, moved)

    def lines(self, ax):
        """Every line of grid axis ``ax`` as a :class:`GridFlat` (its patterns routed)."""
        return self.memo(("lines", id(ax)), lambda: GridFlat(self, self.axes.index(ax)))

    def memo(self, key, make):
        """``make()``, computed once per model and ``key`` (a cost's partners, rings...)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def _grid_step(self, gf, msgs, reduce):
        sizes = [b for _, _, b in msgs]
        b_hi, b_lo = max(sizes), min(sizes)
        if b_hi != b_lo:
            self.uneven = True
        b = b_hi if self.mode == "hi" else b_lo
        partners = [q for _, q, _ in msgs]
        every = (len(partners) == gf.p - 1 and not any(isinstance(q, (Xor, PermPartner))
                                                        for q in partners)
                 and sorted(int(q) % gf.p for q in partners) == list(range(1, gf.p)))
        if self.counting:
            beta = lat = 0.0
        else:
            beta, lat = gf.every_peer() if every else gf.profile(partners)
        return self._finish(b * beta, lat + self.fill_s(b), sum(sizes), reduce, len(partners),
                            AllPairs.PART_TRANSFERS if every else None)

    def link_step(self, loads, n_msgs):
        """Time of a step given, per full-mesh axis, the bytes on its busiest link and its
        largest message (``loads``: list of (axis, link bytes, message bytes)) and the
        messages each rank sends and receives."""
        loads = [x for x in loads if x[1] > 0]
        if not loads:
            return self.overhead_s
        return self._finish(max(ax.beta_link * b for ax, b, _ in loads),
                            max(ax.lat_s + self.fill_s(m) for ax, _, m in loads), 0.0,
                            False, n_msgs)


def pattern_cost(topology, src_npus, dst_npus):
    """Route one message from each ``src_npus[k]`` to ``dst_npus[k]`` (NPU ids) once:
    ``(seconds per byte on the busiest link, longest path in seconds)``, the two terms of a
    step in which every message has the same size."""
    from .timer import StepTimer

    timer = StepTimer(topology)
    timer.fill = (0.0, 0.0)  # the path alone: a message's fill depends on its size
    src = np.ascontiguousarray(src_npus, np.int64)
    dst = np.ascontiguousarray(dst_npus, np.int64)
    step = _Transfers(src, dst, np.ones(src.size, np.int64), np.zeros(src.size, bool))
    link_s, lat_ns = timer.figures(step, 1)[:2]
    return link_s, lat_ns * 1e-9


class _Transfers:
    """The few fields of a Step the timer routes."""

    def __init__(self, src, dst, n, reduce):
        self.src, self.dst, self.n, self.reduce = src, dst, n, reduce
