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
o_s + tail_k) + overhead`` (+ the reduction term) when every rank sends and receives k
messages (``tail_k`` the receive tail of k messages: ``o_r`` for one): what the link-load
model gives on a fault-free symmetric topology.

A flat algorithm on a group spanning several levels (or not a grid at all) runs on one
:class:`GridFlat` axis, whose partner patterns (a shift, an XOR partner, a ring order, a
permutation) are routed once with one byte per message by the real routing kernels and cached:
a step of ``b`` bytes per message then costs ``b x (most messages per capacity on a link) +
longest path``; "every peer at once" has a formula on grids of full-mesh and switch levels.

Uneven counts (a count that does not divide, fewer elements than ranks): :meth:`CostModel.cut`
gives each position's block and a step on one axis is evaluated rank by rank
(:mod:`ubemu.timing.shapes`), which is exact. Where it cannot be (a :class:`GridFlat` pattern,
parallel lines of different sizes sharing a trunk or a core pool after a hierarchical cut,
sizes known only by their extremes), the step records ``uneven`` and takes every message as
large as the largest (an upper bound); the estimator then runs the cost again with
``mode="lo"``: every message as small as the smallest, or the largest alone on the fastest
link, whichever is longer (a lower bound), and reports both. Steps whose messages carry runs
of chunks (a halving-doubling's XOR steps over a fold or several levels) are routed once and
followed run by run at any count (:meth:`StepArithmetic.run_step`,
:mod:`ubemu.timing.runcost`).
"""

import numpy as np

from ..kernels.codes import C_POOL_NPUS, C_RUN_FIRST
from ..machine.comm import Comm
from . import symmetry
from .shapes import NoClosedForm, PermPartner, Sizes, Xor
from .stepcost import PROFILE_BUDGET, Cost, StepArithmetic  # noqa: F401

#: Most sizes (entries x positions, summed over a cost's steps) evaluated rank by rank where
#: ranks send different sizes; beyond, such steps are bounded.
RAGGED_BUDGET = 1 << 22


class AxisModel:
    """Derived constants of one grid axis (see the module docstring).

    ``beta_link`` and ``beta_port`` are the uniform case's; a step whose ranks send blocks of
    different sizes (:class:`Sizes`) reads the port term's parts: ``beta_rank`` (s/B) on one
    rank's sum (its port, its access port, a trunk group's or a pool's port shared by ``par``
    ranks on parallel lines, at the same position), ``beta_line`` (s/B) on the whole line's
    sum (an oversubscribed switch whose one core pool holds the axis). ``par``: ranks on
    parallel lines whose messages share one link (trunks, core pools), 1 if none.
    """

    __slots__ = ("p", "level", "fabric", "trunk", "beta_link", "beta_port", "lat_s",
                 "full_ring", "res", "innet", "beta_rank", "beta_line", "par", "line")

    def __init__(self, p, level, fabric, trunk, res, lat_s, full_ring, innet=None,
                 beta_line=0.0, par=1, line=()):
        self.p, self.level, self.fabric, self.trunk = p, level, fabric, trunk
        #: ``(link classes, s/B, per_message)``: a message crossing the axis loads these
        #: classes' links with its bytes (``per_message``: one link per message, loaded by
        #: the largest; else per rank, loaded by the sum of its messages), ``s/B`` each.
        self.res = tuple(res)
        self.beta_link = max([b for _, b, one in self.res if one], default=0.0)
        self.beta_port = max([b for _, b, one in self.res if not one], default=0.0)
        self.lat_s = lat_s
        self.full_ring = full_ring
        #: A reducing switch: ``(port classes (up, down), their s/B, core pool classes and
        #: s/B or None, an operation's latency in s)``.
        self.innet = innet
        #: Ranks sending different sizes: a rank's port term is ``beta_rank`` (s/B) on its
        #: sum, the core pool that holds the whole line (its classes ``line``) ``beta_line``
        #: on the line's sum.
        self.beta_line, self.par, self.line = beta_line, par, tuple(line)
        self.beta_rank = max([b for names, b, one in self.res
                              if not one and names[0] not in self.line], default=0.0)

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
    eff = topology.level_efficiency(i)
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
    label = lv.name or f"level{i}"
    role = {c.name: "" if c.name == label else c.name[len(label) + 1:]
            for c in topology.link_classes if c.level == i}
    mine = [c for c in topology.link_classes if c.level == i
            and role[c.name] in ("", "up", "down", "core_up", "core_down")]
    caps = {role[c.name]: c.bw_GBps * 1e9 * eff for c in mine}
    names = {role[c.name]: c.name for c in mine}
    full_ring, innet = True, None
    beta_line, par, line = 0.0, m_trunk, ()
    if lv.fabric in ("full_mesh", "ring"):
        res, links = [((names[""],), m_trunk / min(caps.values()), True)], 1
        if lv.fabric == "ring":
            full_ring = comm.dims[d] == lv.size and _ordered(topology, comm, d)
    else:
        ports = (names["up"], names["down"])
        res, links = [(ports, (m_trunk if lv.trunk else 1.0) / caps["up"], False)], 2
        core = None
        if "core_up" in caps and not lv.trunk:
            core = ((names["core_up"],), (names["core_down"],), m_core / caps["core_up"])
            res.append(((names["core_up"], names["core_down"]), core[2], False))
            links = 4
            own = strides[i] < pool  # the pool holds the whole line, else parallel lines
            par = m_core // comm.dims[d] if own else m_core
            if own:
                beta_line, line = par / caps["core_up"], res[-1][0]
        if lv.reduces:
            ratio = eff / lv.innet_efficiency
            innet = (ports, ratio / caps["up"],
                     None if core is None else (core[0], core[1], core[2] * ratio),
                     (lv.innet_lat_ns or lv.lat_ns) * 1e-9 + hop_s * links)
    lat_s = lv.lat_ns * 1e-9
    if lv.trunk:  # through the NPU's access port up and down (its run's, one per NPU)
        first = int(topology.level_table[i, C_RUN_FIRST])
        access = topology.access_GBps(i) * 1e9 * topology.level_efficiency(first)
        run = topology.levels[first].name or f"level{first}"
        res.append(((f"{run}.access_up", f"{run}.access_down"), 1.0 / access, False))
        lat_s += 2 * topology.lat_ns[first, 1] * 1e-9
        links += 2
    return AxisModel(int(comm.dims[d]), i, lv.fabric, lv.trunk, res, lat_s + hop_s * links,
                     full_ring, innet, beta_line, int(par), line)


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
        self._every = None  # every_peer's formula, () where its pattern is routed

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
        if isinstance(partner, Xor):
            return ("xor", self.d, int(partner))
        if isinstance(partner, PermPartner):
            return ("perm", partner.key)
        return ("shift", self.d, int(partner) % self.p)

    def ask(self, partners):
        """Count the pattern of :meth:`profile` against the model's routing budget (raise
        NoClosedForm beyond it) without routing it; its cache key."""
        key = tuple([self._key(q) for q in partners])
        m = self.model
        if key not in m.asked:
            m.asked.add(key)
            m.routed += m.n * len(key)
        if m.routed > PROFILE_BUDGET:
            raise NoClosedForm(f"no closed form: the patterns of this algorithm on {m.n} ranks "
                               f"take too long to profile")
        return key

    def profile(self, partners):
        """(most messages per capacity on one link in s/B, longest path in s, that of each
        link class) of the step in which every rank sends one message to each of
        ``partners``."""
        key = self.ask(partners)
        if (cost := self._profiles.get(key)) is None:
            m = self.model
            ranks = np.arange(m.n, dtype=np.int64)
            src = np.concatenate([ranks] * len(key))
            dst = np.concatenate([self._dst(q, ranks) for q in partners])
            moving = src != dst
            cost = self._profiles[key] = pattern_cost(m.topology, m.comm.npus[src[moving]],
                                                      m.comm.npus[dst[moving]])
        return cost

    def every_peer(self):
        """(s/B, s, s/B of each link class) of the step in which every rank sends to every
        other rank: on a grid of full-mesh and switch levels without trunks a full-mesh link
        of axis i carries ``n / d_i`` messages and a port ``n (d_i - 1) / d_i``, and the
        longest path crosses every axis; other groups route the pattern once."""
        if self._every is None:
            self._every = self._every_peer()
        # a routed pattern: through profile(), which counts it against the routing budget
        return self._every or self.profile(range(1, self.p))

    def _every_peer(self):
        """:meth:`every_peer` where it is a formula or NPU 0's routes, else ``()`` (route
        it); kept per GridFlat (the group and topology do not change)."""
        m = self.model
        axes = m.axes
        if self.d is not None:
            return ()
        if axes is None or any(ax.fabric == "ring" or ax.trunk for ax in axes if ax.p > 1):
            topo = m.topology
            if self.p == topo.n_npus and symmetry.interchangeable(topo) \
                    and symmetry.link_messages(topo) is not None:
                return symmetry.every_peer_cost(topo)  # NPU 0's routes stand for all
            return ()  # (a trunk run skips the levels below)
        n = self.p
        beta = max(max(ax.beta_link * (n // ax.p), ax.beta_port * (n // ax.p) * (ax.p - 1))
                   for ax in axes if ax.p > 1)
        classes = {}
        for ax in axes:
            if ax.p > 1:
                for names, b, one in ax.res:
                    for c in names:
                        classes[c] = max(classes.get(c, 0.0),
                                         b * (n // ax.p) * (1 if one else ax.p - 1))
        return beta, sum(ax.lat_s for ax in axes if ax.p > 1), classes


class CostModel(StepArithmetic):
    """Per (topology, group) constants and the step arithmetic of the closed forms
    (:class:`ubemu.timing.stepcost.StepArithmetic`).

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
        self.send_s, self.recv_s = p.send_overhead_ns * 1e-9, p.recv_overhead_ns * 1e-9
        self.msg_s = self.send_s + self.recv_s  # one message's ends
        self._tails = {}  # messages per rank -> receive tail
        self.worst_tail = False  # bounds: the tail of messages all arriving at once
        self.fill_bytes = p.fill_bytes
        self.fill_s_per_byte = 1e-9 / p.fill_GBps if p.fill_GBps > 0 else 0.0
        self.fill_ns_per_byte = 1.0 / p.fill_GBps if p.fill_GBps > 0 else 0.0
        self.rho = 1.0 / (p.reduce_GBps * 1e9) if p.reduce_GBps > 0 else 0.0
        self.slices = float(p.slices)
        self.axes = None
        if comm.n > 1 and comm.levels:
            self.axes = [_axis_model(topology, comm, d) for d in range(len(self.dims))]
        self._grid = self._fastest = None
        self._memo = {}
        self.collective, self.mode, self.uneven = "", "hi", False
        self.counting = False  # True: only the work is wanted (no pattern is routed)
        self.launch_s = p.launch_ns * 1e-9
        self.proto = (1.0, 1.0)  # the protocol's (sw, bw) factors (ubemu.timing.protocols)
        self.class_bw = None  # its factor per link class name where levels differ
        self._recording = 0
        self.reset_call()

    def reset_call(self):
        """Start costing one algorithm: no pattern asked for yet, no line of another size."""
        self.routed, self.asked = 0, set()
        self.lines_vary, self.vectored = False, 0

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

    def cut(self, c, parts):
        """Elements of each position's block when ``c`` is cut into ``parts`` (the first
        ``c % parts`` one longer, :func:`ubemu.algorithms.base.blocks`): a number when the
        blocks are equal, else an int64 array by position."""
        base, extra = divmod(int(c), parts)
        return base + (np.arange(parts) < extra) if extra else base

    @staticmethod
    def sized(blk, isz, rot=0):
        """Bytes of blocks by position (from :meth:`cut`), position ``q`` sending block
        ``q + rot``: a number where they are equal, else :class:`Sizes`."""
        if not isinstance(blk, np.ndarray):
            return blk * isz
        return Sizes(blk * isz, rot) if blk.min() != blk.max() else int(blk[0]) * isz

    def ask(self, ax, partners):
        """Say before its sizes are worked out that a step on ``ax`` will send to
        ``partners``: a pattern to be routed (:class:`GridFlat`) counts against the budget now,
        so that a cost beyond it stops before doing the work."""
        if isinstance(ax, GridFlat) and not self.counting:
            ax.ask(partners)

    def can_vector(self, ax, elems):
        """Whether a step on ``ax`` whose sizes differ by rank, ``elems`` of them (entries x
        positions), is evaluated rank by rank (one axis, within :data:`RAGGED_BUDGET`)."""
        return (not self.counting and isinstance(ax, AxisModel)
                and self.vectored + elems <= RAGGED_BUDGET)

    def cut_lines(self, lo, hi, parts):
        """The smallest and the largest segment of the next level's lines once lines of
        ``lo`` to ``hi`` elements are each cut into ``parts`` (noting, as :meth:`segment`
        does, where they start to differ)."""
        if hi % parts:
            self.lines_vary = True
        return lo // parts, -(-hi // parts)

    def segment(self, c, parts):
        """Elements of the segment each line of the next level starts from after ``c`` is cut
        into ``parts``: where it does not divide the lines differ (``lines_vary``) and the
        largest line (``mode="hi"``) or the smallest (``"lo"``) is costed, exact where a
        line's own links and NPUs decide (with per-message costs beside the smallest line,
        :meth:`~ubemu.timing.joins.StepJoins.on_lines_of`), bounds where parallel lines
        share a link."""
        base, extra = divmod(c, parts)
        if extra:
            self.lines_vary = True
            return base if self.mode == "lo" else base + 1
        return base

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

    def lines(self, ax):
        """Every line of grid axis ``ax`` as a :class:`GridFlat` (its patterns routed)."""
        return self.memo(("lines", id(ax)), lambda: GridFlat(self, self.axes.index(ax)))

    def memo(self, key, make):
        """``make()``, computed once per model and ``key`` (a cost's partners, rings...)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def fastest(self):
        """``(s/B of the fastest link, its class name, the shortest path in s)``: what the
        lower bound of a step with one large message takes (:mod:`.stepcost`)."""
        if self._fastest is None:
            topo = self.topology
            caps = [c.bw_GBps * 1e9 * e for c, e in
                    zip(topo.link_classes, topo.class_efficiency())]
            best = int(np.argmax(caps))
            lat_ns = min(lv.lat_ns for lv in topo.levels if lv.size > 1)
            self._fastest = (1.0 / caps[best], topo.link_classes[best].name,
                             (lat_ns + topo.params.hop_lat_ns) * 1e-9)
        return self._fastest


def pattern_cost(topology, src_npus, dst_npus):
    """Route one message from each ``src_npus[k]`` to ``dst_npus[k]`` (NPU ids) once:
    ``(seconds per byte on the busiest link, longest path in seconds, {link class: seconds
    per byte on its busiest link})``, the terms of a step in which every message has the same
    size."""
    from .timer import StepTimer

    timer = StepTimer(topology)
    timer.fill = (0.0, 0.0)  # the path alone: a message's fill depends on its size
    src = np.ascontiguousarray(src_npus, np.int64)
    dst = np.ascontiguousarray(dst_npus, np.int64)
    step = _Transfers(src, dst, np.ones(src.size, np.int64), np.zeros(src.size, bool))
    link_s, lat_ns = timer.figures(step, 1)[:2]
    return link_s, lat_ns * 1e-9, timer.class_busy()


class _Transfers:
    """The few fields of a Step the timer routes."""

    innet, channels = 0, 1

    def __init__(self, src, dst, n, reduce):
        self.src, self.dst, self.n, self.reduce = src, dst, n, reduce
