"""Closed-form estimates: the step-level model of :mod:`ubemu.timing` without routing a byte.

For planning loops (thousands of queries): ``estimate("all_reduce", 1 << 20, "ub-mesh-rack",
"hierarchical")`` costs microseconds. Per (topology, group) the derived constants of every grid
axis are computed once and cached; a call is then pure-Python float arithmetic over the steps'
*shapes* (a few per phase).

The model of one axis (level ``i``, ``p`` ranks) when every rank of the communicator sends
messages of ``b_j`` bytes to peers on its axis line at once:

- ``beta_link`` (s/B): links that carry one message each (a full-mesh pair link, a ring hop);
  times ``m`` ranks sharing one trunk link (the group's ranks on the levels below the trunk);
- ``beta_port`` (s/B): per-NPU (or per-trunk-group) switch ports carrying the sum of a rank's
  messages, and an oversubscribed switch's core links carrying the sum over the unit's ranks;
- ``lat_s``: the level's latency plus ``hop_lat_ns`` per link of the route.

A step takes ``max(beta_link max_j b_j, beta_port sum_j b_j) + lat_s + overhead`` (+ the
reduction term), exactly what the link-load model gives on a fault-free symmetric topology.
Counts that do not divide evenly use the largest block, as the link model's slowest link does
(exact for ring and halving-doubling; for the other algorithms exact when the count divides by
the rank count, and otherwise off by at most one element per block).

Supported: flat algorithms on a group spanning one level (ring, ring_bidir, halving_doubling,
recursive_doubling, nhr, direct, multi_ring, pairwise, bruck) and ``hierarchical`` all-reduce,
reduce-scatter / all-gather (``heavy_axis="outer"``, or one axis), all-to-all. Anything else
raises :class:`UbemuError` saying there is no closed form, rather than return a wrong number.
"""

from functools import lru_cache

import numpy as np

from .errors import UbemuError

_CACHE = {}
_CACHE_MAX = 512


class NoClosedForm(UbemuError):
    """The estimator has no closed form for this combination (use ``simulate``)."""


class AxisModel:
    """Derived constants of one grid axis (see the module docstring)."""

    __slots__ = ("p", "level", "fabric", "beta_link", "beta_port", "lat_s", "full_ring")

    def __init__(self, p, level, fabric, beta_link, beta_port, lat_s, full_ring):
        self.p, self.level, self.fabric = p, level, fabric
        self.beta_link, self.beta_port, self.lat_s = beta_link, beta_port, lat_s
        self.full_ring = full_ring

    def hops(self, shift):
        """Links crossed by a message ``shift`` positions along the axis (1 or fail)."""
        if self.fabric != "ring":
            return 1
        t = shift % self.p
        if not self.full_ring or min(t, self.p - t) != 1:
            raise NoClosedForm("no closed form: on a ring level only neighbour messages of a "
                               "whole ring are modelled in closed form; use simulate()")
        return 1


class Context:
    """Per (topology, group) constants: axis models, overhead and reduction rate."""

    def __init__(self, topology, group):
        p = topology.params
        self.name = topology.name
        self.n = group.n
        self.dims = tuple(int(d) for d in group.dims)
        self.overhead_s = p.overhead_ns * 1e-9
        self.rho = 1.0 / (p.reduce_GBps * 1e9) if p.reduce_GBps > 0 else 0.0
        self.axes = None
        self.why = ""
        if self.n > 1 and group.levels:
            self.axes = [_axis_model(topology, group, d) for d in range(len(self.dims))]
        elif self.n > 1:
            self.why = ("no closed form: the group is not a grid on the topology's levels "
                        "(its members do not differ on one level, or not in grid order)")

    def require_axes(self):
        if self.axes is None:
            raise NoClosedForm(self.why)
        return self.axes

    def flat_axis(self):
        """The one axis of a group spanning a single level."""
        axes = self.require_axes()
        if len(axes) != 1:
            raise NoClosedForm(f"no closed form: flat algorithms are modelled on a group that "
                               f"spans one level; this one spans {len(axes)} "
                               f"({'x'.join(map(str, self.dims))}); use hierarchical or "
                               f"simulate()")
        return axes[0]

    def step(self, msgs, reduce=False):
        """Time of one step; ``msgs`` is a list of (axis model, shift, bytes) sent by each rank."""
        if len(msgs) == 1:  # the common case, kept fast
            ax, shift, b = msgs[0]
            if b <= 0:
                return self.overhead_s
            if ax.fabric == "ring":
                ax.hops(shift)
            beta = ax.beta_link if ax.beta_link > ax.beta_port else ax.beta_port
            t = b * beta + ax.lat_s + self.overhead_s
            return t + b * self.rho if reduce else t
        merged = {}
        for ax, shift, b in msgs:
            if b > 0:
                key = (id(ax), shift % ax.p)
                if key in merged:
                    merged[key][2] += b
                else:
                    merged[key] = [ax, shift, b]
        if not merged:
            return self.overhead_s
        per_axis = {}
        lat = 0.0
        red = 0.0
        for ax, shift, b in merged.values():
            ax.hops(shift)
            mx, sm = per_axis.get(id(ax), (ax, 0.0, 0.0))[1:]
            per_axis[id(ax)] = (ax, max(mx, b), sm + b)
            lat = max(lat, ax.lat_s)
            red += b
        bw = 0.0
        for ax, mx, sm in per_axis.values():
            bw = max(bw, ax.beta_link * mx, ax.beta_port * sm)
        t = bw + lat + self.overhead_s
        if reduce and self.rho:
            t += red * self.rho
        return t


def _axis_model(topology, group, d):
    """AxisModel of grid axis ``d`` of ``group`` (see the module docstring)."""
    i = group.levels[d]
    lv = topology.levels[i]
    eff = topology.params.efficiency
    hop_s = topology.params.hop_lat_ns * 1e-9
    strides = topology.strides
    trunk_g = topology.trunk_group_npus[i]
    below = [group.dims[e] for e, j in enumerate(group.levels) if j < i]
    m_trunk = 1
    if lv.trunk:
        for e, j in enumerate(group.levels):
            if strides[j] < trunk_g:
                m_trunk *= group.dims[e]
    m_core = 1
    for x in below:
        m_core *= x
    caps = {c.name.rsplit(".", 1)[-1] if "." in c.name else "": c.bw_GBps * 1e9 * eff
            for c in topology.link_classes if c.level == i}
    lat_s = lv.lat_ns * 1e-9
    full_ring = True
    if lv.fabric == "full_mesh":
        beta_link, beta_port, links = m_trunk / min(caps.values()), 0.0, 1
    elif lv.fabric == "ring":
        beta_link, beta_port, links = m_trunk / min(caps.values()), 0.0, 1
        full_ring = group.dims[d] == lv.size and _ordered(topology, group, d)
    elif lv.trunk:
        beta_link, beta_port, links = 0.0, m_trunk / caps["up"], 2
    else:
        beta_link, beta_port, links = 0.0, 1.0 / caps["up"], 2
        if "core_up" in caps:
            beta_port = max(beta_port, m_core / caps["core_up"])
            links = 4
    return AxisModel(int(group.dims[d]), i, lv.fabric, beta_link, beta_port,
                     lat_s + hop_s * links, full_ring)


def _ordered(topology, group, d):
    """True when axis ``d``'s ranks sit at positions 0..size-1 of their level, in order."""
    i = group.levels[d]
    c = topology.coords(group.npus[: topology.levels[i].size * _stride(group, d)])[:, i]
    pos = (np.arange(c.size) // _stride(group, d)) % group.dims[d]
    return bool(np.array_equal(c, pos))


def _stride(group, d):
    s = 1
    for x in group.dims[:d]:
        s *= int(x)
    return s


# -- per-axis phases: time of one phase on a segment of c elements (the largest) -------------
def _blocks_max(c, parts):
    return -(-c // parts) if c > 0 else 0


def _chunk_bytes(c, parts, m, isz):
    """Bytes of ``m`` consecutive blocks (the heaviest run) of ``c`` cut into ``parts``."""
    base, extra = divmod(c, parts)
    return (m * base + min(m, extra)) * isz


def _pow2(p, name):
    if p & (p - 1):
        raise NoClosedForm(f"no closed form for {name} on {p} ranks (not a power of two: the "
                           f"fold steps are modelled by simulate() only)")
    return p.bit_length() - 1


def ph_ring(ctx, ax, kind, c, isz):
    p = ax.p
    b = _blocks_max(c, p) * isz
    if kind == "all_reduce":
        return ph_ring(ctx, ax, "reduce_scatter", c, isz) + ph_ring(ctx, ax, "all_gather", c, isz)
    return (p - 1) * ctx.step([(ax, 1, b)], kind == "reduce_scatter")


def ph_ring_bidir(ctx, ax, kind, c, isz):
    p = ax.p
    if kind == "all_reduce":
        return (ph_ring_bidir(ctx, ax, "reduce_scatter", c, isz)
                + ph_ring_bidir(ctx, ax, "all_gather", c, isz))
    L = _blocks_max(c, p)
    msgs = [(ax, 1, -(-L // 2) * isz), (ax, -1, (L // 2) * isz)]
    return (p - 1) * ctx.step(msgs, kind == "reduce_scatter")


def ph_halving_doubling(ctx, ax, kind, c, isz):
    p = ax.p
    k = _pow2(p, "halving_doubling")
    t = 0.0
    if kind in ("reduce_scatter", "all_reduce"):
        for i in range(k):
            m = p >> (i + 1)
            t += ctx.step([(ax, m, _chunk_bytes(c, p, m, isz))], True)
    if kind in ("all_gather", "all_reduce"):
        for i in range(k):
            m = 1 << i
            t += ctx.step([(ax, m, _chunk_bytes(c, p, m, isz))], False)
    return t


def ph_recursive_doubling(ctx, ax, kind, c, isz):
    p = ax.p
    if kind == "all_gather":
        return ph_halving_doubling(ctx, ax, kind, c, isz)
    if kind != "all_reduce":
        raise NoClosedForm(f"no closed form: recursive_doubling has no {kind}")
    k = _pow2(p, "recursive_doubling")
    return sum(ctx.step([(ax, 1 << i, c * isz)], True) for i in range(k))


def ph_nhr(ctx, ax, kind, c, isz):
    p = ax.p
    K = (p - 1).bit_length()
    if kind == "all_reduce":
        return ph_nhr(ctx, ax, "reduce_scatter", c, isz) + ph_nhr(ctx, ax, "all_gather", c, isz)
    t = 0.0
    for s in range(K):
        d = 1 << s
        nsl = (p - 1 + d) // (2 * d)
        t += ctx.step([(ax, d, _chunk_bytes(c, p, nsl, isz))], kind == "reduce_scatter")
    return t


def ph_direct(ctx, ax, kind, c, isz):
    """The reduce-scatter's p-1 steps form one concurrent window (``notes["concurrent_steps"]``,
    flat and inside ``hierarchical``): timed as one step, like the all-gather's one step."""
    p = ax.p
    if kind == "all_reduce":
        return (ph_direct(ctx, ax, "reduce_scatter", c, isz)
                + ph_direct(ctx, ax, "all_gather", c, isz))
    b = _blocks_max(c, p) * isz
    return ctx.step([(ax, k, b) for k in range(1, p)], kind == "reduce_scatter")


def ph_multi_ring(ctx, ax, kind, c, isz, n_rings=None):
    if kind != "all_reduce":
        raise NoClosedForm(f"no closed form: multi_ring has no {kind}")
    from .algorithms.multi_ring import stride_classes

    p = ax.p
    strides = stride_classes(p)
    shifts = [g for g in strides for g in ((g, -g) if p > 2 else (g,))]
    if n_rings is not None:
        shifts = shifts[:int(n_rings)]
    R = len(shifts)
    part = _blocks_max(c, R)
    b = _blocks_max(part, p) * isz
    msgs = [(ax, g, b) for g in shifts]
    return (p - 1) * (ctx.step(msgs, True) + ctx.step(msgs, False))


PHASES = {"ring": ph_ring, "ring_bidir": ph_ring_bidir, "halving_doubling": ph_halving_doubling,
          "recursive_doubling": ph_recursive_doubling, "nhr": ph_nhr, "direct": ph_direct,
          "multi_ring": ph_multi_ring}


def _phase(name):
    if name not in PHASES:
        raise NoClosedForm(f"no closed form for per-level algorithm {name!r}; closed forms: "
                           f"{', '.join(PHASES)}")
    return PHASES[name]


# -- whole collectives -----------------------------------------------------------------------
def _flat(name):
    def est(ctx, collective, c, isz, **options):
        return _phase(name)(ctx, ctx.flat_axis(), collective, c, isz, **options)

    return est


def _pairwise_alltoall(ctx, collective, c, isz):
    ax = ctx.flat_axis()
    b = (c // ax.p) * isz
    return sum(ctx.step([(ax, k, b)]) for k in range(1, ax.p))  # the own block: local copy


def _bruck(ctx, collective, c, isz):
    ax = ctx.flat_axis()
    p = ax.p
    b = (c // p) * isz
    n_log = (p - 1).bit_length()
    if collective == "all_gather":
        return sum(ctx.step([(ax, -(1 << k), min(1 << k, p - (1 << k)) * b)])
                   for k in range(n_log))
    t = 0.0
    for k in range(n_log):
        # ranks 1..p-1 with bit k set: whole periods of 2^(k+1), then the partial one
        blocks = ((p >> (k + 1)) << k) + max(0, (p & ((2 << k) - 1)) - (1 << k))
        t += ctx.step([(ax, 1 << k, blocks * b)])
    return t


def _direct_alltoall(ctx, collective, c, isz):
    ax = ctx.flat_axis()
    b = (c // ax.p) * isz
    return ctx.step([(ax, k, b) for k in range(1, ax.p)])


def _hier_names(ctx, per_level):
    k = len(ctx.dims)
    names = (per_level,) if isinstance(per_level, str) else tuple(per_level)
    return names * k if len(names) == 1 else names


def _hierarchical(ctx, collective, c, isz, per_level=None, heavy_axis="inner"):
    axes = ctx.require_axes()
    if collective == "alltoall":
        return _hier_alltoall(ctx, c, isz, per_level or "pairwise")
    names = _hier_names(ctx, per_level or "ring")
    if len(names) != len(axes):
        raise NoClosedForm("no closed form: per_level needs one name per axis")
    live = [(ax, n) for ax, n in zip(axes, names) if ax.p > 1]

    if collective == "all_reduce":
        t, seg = 0.0, c
        for ax, name in live[:-1]:
            t += _phase(name)(ctx, ax, "reduce_scatter", seg, isz)
            t += _phase(name)(ctx, ax, "all_gather", seg, isz)
            seg = _blocks_max(seg, ax.p)
        if live:
            ax, name = live[-1]
            t += _phase(name)(ctx, ax, "all_reduce", seg, isz)
        return t
    if len(live) > 1 and heavy_axis == "inner":
        raise NoClosedForm("no closed form for hierarchical reduce_scatter / all_gather with "
                           "heavy_axis='inner' (its permutation step crosses levels); use "
                           "heavy_axis='outer' or simulate()")
    t, seg = 0.0, c
    for ax, name in (live[::-1] if heavy_axis == "outer" else live):
        t += _phase(name)(ctx, ax, collective, seg, isz)
        seg = _blocks_max(seg, ax.p)
    return t


def _hier_alltoall(ctx, c, isz, per_level):
    from .algorithms.hierarchical import alltoall_level_names

    axes = ctx.require_axes()
    names = alltoall_level_names(ctx, per_level)  # the builder's checks and messages
    n = ctx.n
    b = (c // n) * isz
    live = [(ax, nm) for ax, nm in zip(axes, names) if ax.p > 1]
    groups = []
    for ax, nm in live:
        shifts = list(range(1, ax.p))
        groups += [[(ax, t, (n // ax.p) * b) for t in shifts]] if nm == "direct" else \
            [[(ax, t, (n // ax.p) * b)] for t in shifts]
    return sum(ctx.step(msgs) for msgs in groups)  # the own block: a local copy


ESTIMATORS = {}
for _name in ("ring", "ring_bidir", "halving_doubling", "nhr", "direct"):
    for _coll in ("all_reduce", "reduce_scatter", "all_gather"):
        ESTIMATORS[(_coll, _name)] = _flat(_name)
ESTIMATORS[("all_reduce", "recursive_doubling")] = _flat("recursive_doubling")
ESTIMATORS[("all_gather", "recursive_doubling")] = _flat("recursive_doubling")
ESTIMATORS[("all_reduce", "multi_ring")] = _flat("multi_ring")
ESTIMATORS[("alltoall", "pairwise")] = _pairwise_alltoall
ESTIMATORS[("alltoall", "bruck")] = _bruck
ESTIMATORS[("all_gather", "bruck")] = _bruck
ESTIMATORS[("alltoall", "direct")] = _direct_alltoall
for _coll in ("all_reduce", "reduce_scatter", "all_gather", "alltoall"):
    ESTIMATORS[(_coll, "hierarchical")] = _hierarchical


# -- the public call -------------------------------------------------------------------------
def _group_key(group):
    if group is None or isinstance(group, str):
        return group
    if isinstance(group, dict):
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                            for k, v in group.items()))
    if isinstance(group, (list, tuple)):
        return tuple(group)
    return group  # a Group (hashed by identity) or an array (unhashable -> no cache)


def context(topology, group=None):
    """The cached :class:`Context` of ``group`` on ``topology`` (a Topology or a spec)."""
    from .api import resolve_topology

    topo = resolve_topology(topology)
    key = (topo, _group_key(group))
    try:
        return _CACHE[key]
    except KeyError:
        pass
    except TypeError:  # unhashable group spec
        key = None
    from .groups import group_of

    ctx = Context(topo, group_of(topo, group))
    if key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = ctx
    return ctx


@lru_cache(maxsize=64)
def _itemsize(dtype):
    from .dtypes import get_dtype

    return get_dtype(dtype).itemsize


def estimate(collective, nbytes, topology=None, algorithm="auto", group=None, dtype="float32",
             **options):
    """Closed-form modelled time (seconds) of one collective; see the module docstring.

    Parameters are those of :func:`ubemu.api.simulate` (sizes in nccl-tests' convention).
    ``algorithm="auto"`` returns the fastest closed form among the registered algorithms that
    have one here. Raises :class:`UbemuError` for a combination without a closed form.
    """
    from .algorithms import REGISTRY as registry

    ctx = context(topology, group)
    isz = _itemsize(dtype) if isinstance(dtype, str) else _itemsize.__wrapped__(dtype)
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
        raise UbemuError(f"nbytes must be an integer >= 0, got {nbytes!r}")
    c = nbytes // isz
    if collective in ("all_gather", "reduce_scatter", "alltoall"):
        c -= c % ctx.n
    if algorithm == "auto":
        best = None
        for (coll, name), fn in ESTIMATORS.items():
            if coll != collective or (coll, name) not in registry:
                continue
            try:
                t = _run(ctx, fn, collective, name, c, isz, options)
            except UbemuError:
                continue
            if best is None or t < best:
                best = t
        if best is None:
            raise NoClosedForm(f"no closed form for any {collective} algorithm on "
                               f"{'x'.join(map(str, ctx.dims))} ranks of {ctx.name!r}")
        return best
    if (collective, algorithm) not in registry:
        from .algorithms import get_algorithm

        get_algorithm(collective, algorithm)  # raises with the valid names
    fn = ESTIMATORS.get((collective, algorithm))
    if fn is None:
        raise NoClosedForm(f"no closed form for {collective} algorithm {algorithm!r}; "
                           f"closed forms: "
                           f"{', '.join(sorted(n for c_, n in ESTIMATORS if c_ == collective))}")
    return _run(ctx, fn, collective, algorithm, c, isz, options)


def _run(ctx, fn, collective, name, c, isz, options):
    if ctx.n == 1:  # no link is crossed: every step costs the overhead alone
        from .algorithms import build_schedule

        return build_schedule(collective, name, 1, c, data=False, **options).n_steps * \
            ctx.overhead_s
    return fn(ctx, collective, c, isz, **options)
