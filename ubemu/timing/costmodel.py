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
link, whichever is longer (a lower bound), and reports both.
"""

import numpy as np

from ..kernels.codes import C_POOL_NPUS, C_RUN_FIRST
from ..machine.comm import Comm
from ..schedule import AllPairs
from . import symmetry
from .shapes import Cost, NoClosedForm, PermPartner, Sizes, Xor, line_figures

#: Most transfers the patterns of one cost may need routed (cached or not, so that whether a
#: closed form exists does not depend on what was asked before).
PROFILE_BUDGET = 1 << 25
#: Most sizes (entries x positions, summed over a cost's steps) evaluated rank by rank where
#: ranks send different sizes; beyond, such steps are bounded.
RAGGED_BUDGET = 1 << 22


def _bmax(b):
    return b.max() if isinstance(b, Sizes) else b


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
                 "full_ring", "beta_rank", "beta_line", "par")

    def __init__(self, p, level, fabric, trunk, beta_link, beta_port, lat_s, full_ring,
                 beta_rank=None, beta_line=0.0, par=1):
        self.p, self.level, self.fabric, self.trunk = p, level, fabric, trunk
        self.beta_link, self.beta_port, self.lat_s = beta_link, beta_port, lat_s
        self.full_ring = full_ring
        self.beta_rank = beta_port if beta_rank is None else beta_rank
        self.beta_line, self.par = beta_line, par

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
    beta_line, par = 0.0, m_trunk
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
            own = strides[i] < pool  # the pool holds the whole line, else parallel lines
            par = m_core // comm.dims[d] if own else m_core
            beta_line = par / caps["core_up"] if own else 0.0
    beta_rank = beta_port if not beta_line else 1.0 / caps["up"]
    lat_s = lv.lat_ns * 1e-9
    if lv.trunk:  # through the NPU's access port up and down (its run's, one per NPU)
        first = int(topology.level_table[i, C_RUN_FIRST])
        access = topology.access_GBps(i) * 1e9 * eff
        beta_port = max(beta_port, 1.0 / access)
        beta_rank = max(beta_rank, 1.0 / access)
        lat_s += 2 * topology.lat_ns[first, 1] * 1e-9
        links += 2
    return AxisModel(int(comm.dims[d]), i, lv.fabric, lv.trunk, beta_link, beta_port,
                     lat_s + hop_s * links, full_ring, beta_rank, beta_line, int(par))


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
        self.send_s, self.recv_s = p.send_overhead_ns * 1e-9, p.recv_overhead_ns * 1e-9
        self.msg_s = self.send_s + self.recv_s  # one message's ends
        self._tails = {}  # messages per rank -> receive tail
        self.worst_tail = False  # bounds: the tail of messages all arriving at once
        self.fill_bytes = p.fill_bytes
        self.fill_s_per_byte = 1e-9 / p.fill_GBps if p.fill_GBps > 0 else 0.0
        self.fill_ns_per_byte = 1.0 / p.fill_GBps if p.fill_GBps > 0 else 0.0
        self.rho = 1.0 / (p.reduce_GBps * 1e9) if p.reduce_GBps > 0 else 0.0
        self.axes = None
        if comm.n > 1 and comm.levels:
            self.axes = [_axis_model(topology, comm, d) for d in range(len(self.dims))]
        self._grid = self._fastest = None
        self._memo = {}
        self.collective, self.mode, self.uneven = "", "hi", False
        self.counting = False  # True: only the work is wanted (no pattern is routed)
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

    def can_vector(self, ax, elems):
        """Whether a step on ``ax`` whose sizes differ by rank, ``elems`` of them (entries x
        positions), is evaluated rank by rank (one axis, within :data:`RAGGED_BUDGET`)."""
        return (not self.counting and isinstance(ax, AxisModel)
                and self.vectored + elems <= RAGGED_BUDGET)

    def segment(self, c, parts):
        """Elements of the segment each line of the next level starts from after ``c`` is cut
        into ``parts``: where it does not divide the lines differ (``lines_vary``) and the
        largest line (``mode="hi"``) or the smallest (``"lo"``) is costed, exact where a
        line's own links and NPUs decide, bounds where parallel lines share a link."""
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

    # -- step arithmetic ----------------------------------------------------------------------
    def tail_s(self, n_msgs):
        """How long the receive costs of ``n_msgs`` messages per rank outlast the data (the
        timing model's receive tail, :func:`ubemu.kernels.timing.receive_tail_s`; one
        message: ``o_r``)."""
        if not self.msg_s:
            return 0.0
        if n_msgs <= 1:
            return self.recv_s
        if self.worst_tail:  # the most the tail can be: every message arriving at once
            return n_msgs * self.recv_s
        if n_msgs not in self._tails:
            from ..kernels.numpy_timing import receive_tail_s

            n = float(n_msgs)
            self._tails[n_msgs] = max(self.recv_s, receive_tail_s(n, n, self.send_s,
                                                                  self.recv_s))
        return self._tails[n_msgs]

    def fill_s(self, nbytes):
        """A message's pipeline fill (:mod:`ubemu.timing.timer`)."""
        return min(nbytes, self.fill_bytes) * self.fill_s_per_byte

    def _finish(self, bw_s, lat_s, reduced_bytes, reduce, n_msgs, held=None, cpu_s=None,
                tail_s=None):
        """A step's time: every rank sends and receives ``n_msgs`` messages (``cpu_s`` and
        ``tail_s``: the busiest NPU's message time and the longest receive tail, when ranks'
        message counts differ); ``lat_s`` is the largest path latency plus fill (the timing
        model's rule, :mod:`ubemu.timing.timer`). As a :class:`Cost`: the step's transfers,
        one per message, of which ``held`` at once (default all)."""
        cpu = n_msgs * self.msg_s if cpu_s is None else cpu_s
        tail = self.tail_s(n_msgs) if tail_s is None else tail_s
        t = max(cpu, bw_s + lat_s + (self.send_s + tail)) + self.overhead_s
        t = t + reduced_bytes * self.rho if reduce and self.rho else t
        work = self.n * n_msgs
        return Cost(t, work, work, work if held is None else min(work, held))

    def uneven_step(self, bw_s, lat_s, sent, received, transfers, held=None):
        """Time of a step whose ranks send ``sent[r]`` and receive ``received[r]`` messages
        (arrays; an uneven all-to-all), ``bw_s`` on its busiest link, ``lat_s`` its longest
        path plus fill: the timing model's rule (:mod:`ubemu.timing.timer`) with each rank's
        own message costs. ``transfers``: its messages, ``held`` of them at once."""
        if not transfers:
            return Cost(self.overhead_s)
        cpu_s, tail_s = self.message_figures(received, sent)
        t = max(cpu_s, bw_s + lat_s + (self.send_s + tail_s)) + self.overhead_s
        return Cost(t, transfers, transfers, transfers if held is None else min(transfers, held))

    def message_figures(self, received, sent):
        """``(busiest NPU's message time, longest receive tail)`` of ranks that receive and
        send ``received[r]`` and ``sent[r]`` messages: the timing model's per-NPU rule
        (:func:`ubemu.kernels.timing.npu_message_figures`; at least one receive cost)."""
        if not self.msg_s:
            return 0.0, 0.0
        from ..kernels.numpy_timing import npu_message_figures

        cpu_s, tail_s = npu_message_figures(np.asarray(received, np.float64),
                                            np.asarray(sent, np.float64), self.send_s,
                                            self.recv_s)
        return cpu_s, max(self.recv_s, tail_s)

    def step(self, msgs, reduce=False):
        """Time of one step; ``msgs`` is a list of (axis, partner, bytes) sent by each rank
        (bytes: a number, or :class:`Sizes` where ranks send different sizes)."""
        msgs = [m for m in msgs if _bmax(m[2]) > 0]
        if not msgs:
            return self.overhead_s
        ax = msgs[0][0]
        ragged = [b for _, _, b in msgs if isinstance(b, Sizes)]
        if ragged:
            if all(m[0] is ax for m in msgs) and all(b.exact for b in ragged) \
                    and self.can_vector(ax, len(msgs) * ax.p):
                return self._ragged_step(ax, msgs, reduce)
            return self._bounded_step(msgs, reduce, ragged)
        if isinstance(ax, GridFlat):
            return self._grid_step(ax, msgs, reduce)
        if not all(a.one_hop(q) for a, q, _ in msgs):  # a ring level: route the pattern
            if any(a is not ax for a, _, _ in msgs):
                raise NoClosedForm("no closed form: messages on a ring level and another")
            lines = self.lines(ax)
            return self._grid_step(lines, [(lines, q, b) for _, q, b in msgs], reduce)
        if self.lines_vary and any(m[0].par > 1 for m in msgs):
            self.uneven = True  # parallel lines of different sizes share a link: bounds
        if len(msgs) == 1:  # the common case, kept fast
            ax, shift, b = msgs[0]
            beta = ax.beta_link if ax.beta_link > ax.beta_port else ax.beta_port
            return self._finish(b * beta, ax.lat_s + self.fill_s(b), b, reduce, 1)
        per_axis, links = {}, {}  # messages to one partner share its link, not their costs
        lat = red = 0.0
        for ax, shift, b in msgs:
            key = (id(ax), shift % ax.p)
            links[key] = links.get(key, 0) + b
            mx, sm = per_axis.get(id(ax), (ax, 0.0, 0.0))[1:]
            per_axis[id(ax)] = (ax, max(mx, links[key]), sm + b)
            lat = max(lat, ax.lat_s + self.fill_s(b))
            red += b
        bw = max(max(ax.beta_link * mx, ax.beta_port * sm) for ax, mx, sm in per_axis.values())
        every = len(per_axis) == 1 and len(links) == self.n - 1  # a compact AllPairs step
        return self._finish(bw, lat, red, reduce, len(msgs),
                            AllPairs.PART_TRANSFERS if every else None)

    def _bounded_step(self, msgs, reduce, ragged):
        """Bounds of a step whose sizes differ by rank and are not followed rank by rank
        (:meth:`_bounded`)."""
        def time_at(hi):
            pick = Sizes.max if hi else Sizes.min
            return self.step([(a, q, pick(b) if isinstance(b, Sizes) else b)
                              for a, q, b in msgs], reduce)

        return self._bounded(time_at, lambda: any(b.min() == 0 for b in ragged),
                             max(b.max() for b in ragged), reduce)

    def every_peer_between(self, ax, lo_b, hi_b, reduce=False):
        """Bounds of :meth:`every_peer` where each message has between ``lo_b`` and ``hi_b``
        bytes (:meth:`_bounded`)."""
        return self._bounded(lambda hi: self.every_peer(ax, hi_b if hi else lo_b, reduce),
                             lambda: lo_b == 0, hi_b, reduce)

    def _bounded(self, time_at, some_empty, big, reduce):
        """A step's bound where ranks send different sizes: ``time_at(True)`` with every
        message as large as the largest (``mode="hi"``; where ``some_empty()``, some ranks
        send nothing, and a rank sending fewer than it receives waits longer: the receive
        tail of messages arriving at once); ``time_at(False)`` with every message as small as
        the smallest, or the largest (``big`` bytes, which some rank sends) alone on the
        fastest link and the shortest path, whichever is longer (``"lo"``)."""
        lo = self.mode == "lo" and not self.counting
        self.uneven = self.uneven or not self.counting
        self.worst_tail = not lo and some_empty()
        try:
            t = time_at(not lo)
        finally:
            self.worst_tail = False
        if lo:
            if self._fastest is None:
                topo = self.topology
                cap = max(c.bw_GBps for c in topo.link_classes) * 1e9 * topo.params.efficiency
                lat_ns = min(lv.lat_ns for lv in topo.levels if lv.size > 1)
                self._fastest = (1.0 / cap, (lat_ns + topo.params.hop_lat_ns) * 1e-9)
            s_per_B, lat_s = self._fastest
            t = max(t, self._finish(big * s_per_B, lat_s + self.fill_s(big), big, reduce, 1))
        return t

    def _ragged_step(self, ax, msgs, reduce):
        """A step on one axis whose ranks send different sizes, rank by rank: the largest
        message on a link of its own, each rank's sums on its ports and at its end (messages,
        reduction), the line's sum on a pool holding it. Exact for lines alike, and for the
        largest line where they differ unless parallel lines share a link."""
        p = ax.p
        if self.lines_vary and ax.par > 1:
            self.uneven = True
        if not all(ax.one_hop(q) for _, q, _ in msgs):
            raise NoClosedForm("no closed form: on a ring level only neighbour messages of a "
                               "whole ring are followed rank by rank")
        self.vectored += len(msgs) * p
        if len(msgs) == 1:  # one message each: its largest and the sum decide
            big, total = msgs[0][2].max(), int(msgs[0][2].vec.sum())
            bw = max(ax.beta_link * big, ax.beta_rank * big, ax.beta_line * total)
            return self._finish(bw, ax.lat_s + self.fill_s(big), big, reduce, 1)
        pos = np.arange(p)
        came = [pos ^ int(q) if isinstance(q, Xor) else (pos - int(q)) % p for _, q, _ in msgs]
        links = [int(q) if isinstance(q, Xor) else int(q) % p - p for _, q, _ in msgs]
        link, big, up, down, sends, recvs = line_figures(p, [b for _, _, b in msgs], came,
                                                         links)
        bw = max(ax.beta_link * link, ax.beta_rank * max(int(up.max()), int(down.max())),
                 ax.beta_line * int(up.sum()))
        cpu, tail = self.message_figures(recvs, sends)
        every = len(set(links)) == self.n - 1
        return self._finish(bw, ax.lat_s + self.fill_s(big), int(down.max()), reduce,
                            len(msgs), AllPairs.PART_TRANSFERS if every else None, cpu, tail)

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
        ``(link_s, lat_s, cpu_s, receive tail, bytes reduced at one NPU, messages)``
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
        link_s, lat_s, cpu_s, tail_s, red, moved = profile.terms(
            sizes, self.send_s, self.recv_s, float(self.fill_bytes), self.fill_ns_per_byte)
        if not moved:
            return self.overhead_s
        t = max(cpu_s, link_s + lat_s + self.send_s + max(self.recv_s, tail_s)) \
            + self.overhead_s
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
