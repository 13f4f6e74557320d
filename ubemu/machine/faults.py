"""Faults: failed links, NPUs and switch planes, the routing around them, and hot spares.

A fault description (string, TOML ``[faults]`` table or dict) lists, comma-separated:

- ``link=LEVEL:A-B`` a failed mesh or ring link between NPUs A and B (ids or coordinates
  innermost first, ``0.3``), ``link=LEVEL:A`` NPU A's port on a switch level (on a level of
  several planes: one plane of it, named again: the next; the port keeps the rest of its
  capacity and its routes), ``link=LEVEL.access:A`` its access port; a link fails in both
  directions;
- ``npu=A`` a failed NPU (every link it owns goes down with it);
- ``plane=LEVEL:K`` K failed planes of a multi-plane switch level (its links keep
  ``(planes - K) / planes`` of their capacity);
- ``links=N`` or ``links=P%`` random failed links, ``npus=N`` random failed NPUs, ``seed=S``:
  links are drawn uniformly over the topology's cables and switch ports (both directions go
  together), and for one seed the failures of a smaller count are among those of a larger
  (a sweep over counts degrades one machine). An NPU's access port is part of the NPU: it
  fails with it, or when named;
- ``spare=on|off``: whether a failed NPU's spare group (a preset's ``[spare]``, UB-Mesh's 64+1
  rack) lends its hot spare (default on; one spare per group, first failed first served).

:func:`with_faults` returns a copy of the topology that carries the resolved
:class:`FaultSet`: the routing kernels (``kernels/faultroute.py``) read its arrays, so every
command and API that takes a topology honours it. Routing ``minimal`` refuses a route that
crosses a failure; ``apr`` detours (the rule is in the kernel's docstring). With nothing failed
both route minimally, so every time stays bit-identical to a run without faults.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import UbemuError, choices_error
from . import linkmap
from .groups import level_index
from .links import LinkClass

ROUTINGS = ("minimal", "apr")
KEYS = ("link", "npu", "plane", "links", "npus", "seed", "spare")
_EMPTY_U8 = np.zeros(0, np.uint8)
_NO_FP = np.zeros(7, np.int64)
_NO_FLAT = np.zeros(1, np.float64)
_NO_WEIGHT = np.zeros(0, np.float64)
#: A plane of a multi-plane switch port is keyed by the port's id and the plane's index.
PLANE_BITS = 16


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault description (see the module docstring)."""

    link: tuple = ()
    npu: tuple = ()
    plane: tuple = ()
    links: float = 0.0
    links_percent: bool = False
    npus: int = 0
    seed: int = 0
    spare: bool = True

    @property
    def empty(self):
        return not (self.link or self.npu or self.plane or self.links or self.npus)


def _count(value, key, where):
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        x = float(text[:-1] if percent else text)
        ok = math.isfinite(x) and x >= 0 and (percent or x == int(x)) and (x <= 100 or
                                                                          not percent)
    except ValueError:
        ok = False
    if not ok:
        raise UbemuError(f"{where}: {key} must be a whole number >= 0"
                         f"{' or a percentage (0.1%)' if key == 'links' else ''}, got {value!r}")
    return x, percent


def parse_faults(spec, where="faults"):
    """A :class:`FaultSpec` from a string, dict (TOML table), FaultSpec or None."""
    if spec is None or isinstance(spec, FaultSpec):
        return spec or FaultSpec()
    if isinstance(spec, str):
        items = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, eq, value = part.partition("=")
            if not eq or not value:
                raise UbemuError(f"{where} {spec!r}: expected key=value items, keys: "
                                 f"{', '.join(KEYS)}")
            items.setdefault(key.strip(), []).append(value.strip())
        spec = {k: v if k in ("link", "npu", "plane") else v[-1] for k, v in items.items()}
    if not isinstance(spec, dict):
        raise UbemuError(f"{where}: expected a string or a table, got {spec!r}")
    bad = [k for k in spec if k not in KEYS]
    if bad:
        raise choices_error("faults key", bad[0], KEYS, where)
    lists = {}
    for key in ("link", "npu", "plane"):
        v = spec.get(key, ())
        lists[key] = tuple(str(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    links, pct = _count(spec.get("links", 0), "links", where)
    npus, _ = _count(spec.get("npus", 0), "npus", where)
    seed, _ = _count(spec.get("seed", 0), "seed", where)
    spare = spec.get("spare", True)
    if isinstance(spare, str):
        if spare.lower() not in ("on", "off", "true", "false"):
            raise choices_error("faults spare", spare, ("on", "off"), where)
        spare = spare.lower() in ("on", "true")
    return FaultSpec(lists["link"], lists["npu"], lists["plane"], links, pct, int(npus),
                     int(seed), bool(spare))


@dataclass(frozen=True, eq=False)
class FaultSet:
    """Faults resolved on one topology: what the routing kernels read, and what failed.

    ``down_bits`` (one bit per link id, little-endian within a byte: 1 for both directions
    of a failed link; a megabyte at a million NPUs stays in cache), ``state`` (uint8 per NPU:
    0 working, 1 failed, 2 failed and replaced by its group's spare; empty if no NPU failed),
    ``fp``/``flat`` (routing mode and the spare blocks, ``kernels/faultroute.py``).
    """

    routing: str
    down_bits: np.ndarray
    state: np.ndarray
    fp: np.ndarray
    flat: np.ndarray
    failed_links: np.ndarray  # one directed id per failed cable or port
    failed_npus: np.ndarray
    spared: np.ndarray  # failed NPUs their group's spare serves
    planes: tuple  # (level index, planes failed)
    extra_classes: tuple
    weight: np.ndarray  # per link: time multiplier of a port short of planes (or empty)
    weak_ports: tuple  # (up ids, planes lost) of those ports

    @property
    def arrays(self):
        return self.down_bits, self.state, self.fp, self.flat

    @property
    def down(self):
        """One uint8 per link id: 1 where it failed."""
        return np.unpackbits(self.down_bits, bitorder="little").astype(bool)


NO_FAULTS = (_EMPTY_U8, _EMPTY_U8, _NO_FP, _NO_FLAT)


def kernel_arrays(topology):
    """The four arrays ``kernels/faultroute.route_ft`` reads (empty: no faults)."""
    fs = topology.faults
    return fs.arrays if fs is not None else NO_FAULTS


def _planes(topology, spec):
    levels, failed = list(topology.levels), []
    for text in spec.plane:
        name, _, k = text.partition(":")
        i = level_index(topology, name)
        lv = levels[i]
        k, _ = _count(k or 1, "plane count", f"faults: plane={text}")
        if lv.fabric != "switch" or lv.planes < 2:
            raise UbemuError(f"faults: plane={text}: level {lv.name or i!r} is not a switch "
                             f"level of several planes (fail its links instead)")
        if not 1 <= k < lv.planes:
            raise UbemuError(f"faults: plane={text}: 1..{lv.planes - 1} of level "
                             f"{lv.name or i!r}'s {lv.planes} planes can fail and leave it "
                             f"connected")
        levels[i] = replace(lv, planes=lv.planes - int(k))
        failed.append((i, int(k)))
    return tuple(levels), tuple(failed)


def _planes_of(topology, cls):
    """Switch planes behind each port of an ``up`` class (1 elsewhere)."""
    lv = topology.levels[cls.level]
    p = lv.planes if lv.fabric == "switch" and linkmap.role(topology, cls) == "up" else 1
    if p >> PLANE_BITS:
        raise UbemuError(f"faults: level {lv.name!r} has {p} planes; failing single planes "
                         f"works up to {(1 << PLANE_BITS) - 1}")
    return p


def _cable_space(topology):
    """(class, ids per class in the draw, planes behind a port, switch port?) of the classes
    random link failures draw from: a mesh or ring class by its directed ids, a switch level
    by each plane of its up ports counted twice, so every cable or plane port has two
    chances."""
    out = []
    for c, cls in enumerate(topology.link_classes):
        r = linkmap.role(topology, cls)
        if r is None or r == "up":
            p = _planes_of(topology, cls)
            out.append((c, cls.count * (2 * p if r == "up" else 1), p, r == "up"))
    return out


def _random_links(topology, spec, rng):
    """Keys of the randomly failed links: a cable's lower directed id, or
    ``-1 - (port << PLANE_BITS | plane)`` for one plane of a multi-plane switch port."""
    space = _cable_space(topology)
    total = sum(n for _, n, _, _ in space)
    k = spec.links
    if spec.links_percent:
        k = max(1, round(k / 100 * total / 2)) if k else 0
    k = int(k)
    if k > total // 2:
        raise UbemuError(f"faults: links={k} is more than the {total // 2:,} links of "
                         f"{topology.name!r}")
    starts = np.cumsum([0] + [n for _, n, _, _ in space])
    chosen = np.zeros(0, np.int64)
    while chosen.size < k:  # batches of one size: the first k of a seed's draws are nested
        draw = rng.choice(total, size=min(total, 4096), replace=False)
        c = np.searchsorted(starts, draw, side="right") - 1
        ids = np.empty(draw.size, np.int64)
        plane = np.full(draw.size, -1, np.int64)  # which plane of a multi-plane port
        for j, (cls_index, _, p, port) in enumerate(space):
            sel = c == j
            rel = draw[sel] - starts[j]
            ids[sel] = topology.link_classes[cls_index].first_id + (rel // (2 * p) if port
                                                                   else rel)
            if p > 1:
                plane[sel] = (rel // 2) % p
        canon = np.minimum(ids, linkmap.reverse(topology, ids))
        split = plane >= 0
        canon[split] = -1 - ((ids[split] << PLANE_BITS) + plane[split])
        _, first = np.unique(canon, return_index=True)
        fresh = canon[np.sort(first)]
        chosen = np.concatenate([chosen, fresh[~np.isin(fresh, chosen)]])
    return chosen[:k]


def _spare_blocks(topology, first_id):
    """(extra link classes, fp, flat) of the spare groups' links."""
    sp = topology.spare
    g = topology.spare_group_npus
    n, groups = topology.n_npus, topology.n_npus // g
    label = sp.level
    classes = [LinkClass(f"{label}.spare_up", sp.level_index, first_id, groups, sp.bw_GBps),
               LinkClass(f"{label}.spare_down", sp.level_index, first_id + groups, groups,
                         sp.bw_GBps)]
    run = next((f for f, _ in topology.trunk_runs if topology.strides[f] == g), None)
    if run is not None:  # the NPUs' access ports are their ports into the LRS
        acc = next(c for c in topology.link_classes
                   if c.name.endswith("access_up") and c.level == run)
        lrs_up, access = acc.first_id, 1
    else:
        lrs_up, access = first_id + 2 * groups, 0
        classes += [LinkClass(f"{label}.lrs_up", sp.level_index, lrs_up, n, sp.bw_GBps),
                    LinkClass(f"{label}.lrs_down", sp.level_index, lrs_up + n, n, sp.bw_GBps)]
    fp = np.array([0, g, first_id, first_id + groups, lrs_up, lrs_up + n, access], np.int64)
    return tuple(classes), fp, np.array([float(sp.lat_ns)])


def with_faults(topology, faults=None, routing="minimal"):
    """``topology`` with ``faults`` applied and ``routing`` (``minimal`` or ``apr``) chosen.

    Returns the topology itself when nothing fails (either routing is then minimal); only
    failed planes: a copy with fewer planes; otherwise a copy carrying a :class:`FaultSet`.
    """
    if routing not in ROUTINGS:
        raise choices_error("routing", routing, ROUTINGS)
    spec = parse_faults(faults)
    if spec.empty:
        return topology
    if topology.faults is not None:
        raise UbemuError("faults: this topology already carries faults; apply them once")
    levels, planes = _planes(topology, spec)
    base = replace(topology, levels=levels) if planes else topology
    if not (spec.link or spec.npu or spec.links or spec.npus):
        return base
    rng_links, rng_npus = (np.random.default_rng([spec.seed, k]) for k in (0, 1))
    named = [_named_key(base, t, spec.link[:i].count(t)) for i, t in enumerate(spec.link)]
    keys = np.unique(np.concatenate([np.array(named, np.int64),
                                     _random_links(base, spec, rng_links)]))
    cables, weak, weight = _plane_ports(base, keys)
    npus = [linkmap.npu_id(base, t, "faults: npu") for t in spec.npu]
    if spec.npus > base.n_npus:
        raise UbemuError(f"faults: npus={spec.npus} is more than the {base.n_npus:,} NPUs")
    if spec.npus:
        npus += rng_npus.choice(base.n_npus, size=spec.npus, replace=False).tolist()
    failed = np.unique(np.asarray(npus, np.int64))
    spared = np.zeros(0, np.int64)
    if failed.size and spec.spare and base.spare is not None:
        groups = failed // base.spare_group_npus
        _, first = np.unique(groups, return_index=True)
        spared = failed[np.sort(first)]
    extra, fp, flat = (), _NO_FP.copy(), _NO_FLAT
    if spared.size:
        extra, fp, flat = _spare_blocks(base, base.n_links)
    fp[0] = ROUTINGS.index(routing)
    down = np.zeros(base.n_links + sum(c.count for c in extra), np.uint8)
    if weight.size:
        weight = np.concatenate([weight, np.ones(down.size - weight.size)])
    down[cables] = 1
    down[linkmap.reverse(base, cables)] = 1
    down[linkmap.npu_links(base, failed)] = 1
    state = _EMPTY_U8
    if failed.size:
        state = np.zeros(base.n_npus, np.uint8)
        state[failed] = 1
        state[spared] = 2
    fs = FaultSet(routing, np.packbits(down, bitorder="little"), state, fp, flat, cables,
                  failed, spared, planes, extra, weight, weak)
    return replace(base, faults=fs)


def _named_key(topology, text, seen):
    """The key (see :func:`_random_links`) of a named link; naming a multi-plane switch
    port again fails its next plane."""
    up = int(linkmap.link_between(topology, text).min())  # a cable's lower id, a port's up
    cls = topology.link_classes[int(topology.link_class_of([up])[0])]
    p = _planes_of(topology, cls)
    return up if p == 1 else -1 - ((up << PLANE_BITS) + min(seen, p - 1))


def _plane_ports(topology, keys):
    """(failed cables, (port up ids, planes lost) of ports that keep some planes, per-link
    time weights or an empty array) from failure keys; a port that lost every plane fails."""
    cables = keys[keys >= 0]
    ports, lost = np.unique((-1 - keys[keys < 0]) >> PLANE_BITS, return_counts=True)
    if not ports.size:
        return cables, (ports, lost), _NO_WEIGHT
    p = port_planes(topology, ports)
    whole = lost >= p
    weak = (ports[~whole], lost[~whole])
    weight = np.ones(topology.n_links)
    times = p[~whole] / (p[~whole] - lost[~whole])
    weight[weak[0]] = times
    weight[linkmap.reverse(topology, weak[0])] = times
    return np.unique(np.concatenate([cables, ports[whole]])), weak, weight


def port_planes(topology, ports):
    """Planes of the switch level each port (link id) belongs to."""
    level_of = np.array([c.level for c in topology.link_classes])
    planes = np.array([lv.planes for lv in topology.levels], np.int64)
    return planes[level_of[topology.link_class_of(ports)]]


def link_weights(topology):
    """Per-link time weights of ports short of switch planes (empty: none)."""
    fs = topology.faults
    return fs.weight if fs is not None else _NO_WEIGHT
