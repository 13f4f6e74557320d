"""What faults cost and say: the report of ``topo show --faults`` and the one-line errors.

:func:`failures` lists what failed, :func:`summary` adds what it costs in bisection and
per-NPU injection bandwidth; :func:`check_group` refuses a group with a failed, unserved
member before anything runs; :func:`route_error` and :func:`explain` word a route the faults
do not allow (codes of ``kernels/faultroute.py``), a disconnected pair by the cut between
its two sides (:func:`cut`).
"""

import numpy as np

from ..errors import UbemuError
from ..kernels.codes import C_TRUNK
from . import linkmap
from .faults import port_planes


def check_group(topology, npus):
    """Raise a one-line error when a member of the group failed and no spare serves it."""
    fs = topology.faults
    if fs is None or not fs.state.size:
        return
    npus = np.asarray(npus, np.int64)
    lost = npus[fs.state[npus] == 1]
    if lost.size:
        shown = ", ".join(map(str, lost[:8].tolist())) + (" ..." if lost.size > 8 else "")
        raise UbemuError(f"faults: NPU {shown} of the group failed and no spare serves it: "
                         f"the other {npus.size - lost.size} ranks can no longer reach it "
                         f"(leave it out, e.g. --group '...,without={lost[0]}', or spare=on)")


def route_error(topology, code, s, d, link):
    """The one-line error for a routing failure code of ``kernels/faultroute``."""
    from ..kernels import codes

    if code == codes.CROSSES_FAILURE:
        return UbemuError(f"routing minimal: NPU {s} -> NPU {d} crosses the failed "
                          f"{linkmap.name(topology, link)}; --routing apr detours around "
                          f"failures")
    if code == codes.ENDPOINT_FAILED:
        bad = s if topology.faults.state[s] == 1 else d
        return UbemuError(f"faults: NPU {bad} failed and no spare serves it: NPU "
                          f"{d if bad == s else s} can no longer reach it")
    alone = [x for x in (s, d) if topology.faults.down[linkmap.npu_links(topology, [x])].all()]
    if alone:
        return UbemuError(f"faults cut NPU {alone[0]} off from every other NPU (all its links "
                          f"failed): NPU {s} can no longer reach NPU {d}")
    if link == -2:
        from ..kernels.pathsearch import BUDGET

        return UbemuError(f"routing apr: no path from NPU {s} to NPU {d} found within the "
                          f"search's {BUDGET:,} nodes (the failures are widespread)")
    if link == -3:
        return UbemuError(f"routing apr: NPU {s} reaches NPU {d} only by paths longer than the "
                          f"{topology.route_hops} links a route holds")
    return UbemuError(f"faults cut NPU {s} off from NPU {d}: {cut(topology, s, d)}")


def cut(topology, s, d, budget=1 << 20):
    """In words, the cut that separates NPU ``s`` from NPU ``d`` under the faults: the NPUs
    on the smaller side, those on the other (when few), the failed links between."""
    from ..kernels import moves
    from ..kernels import pathsearch as ps

    args = (topology.level_table, topology.lat_ns, float(topology.params.hop_lat_ns))
    fs = topology.faults
    geo = moves.layout(topology.level_table, fs.fp)
    sides = []
    for x in (s, d):
        nodes = ps.component(int(moves.endpoint(x, fs.state, geo)), *args, fs.down_bits, fs.fp,
                             fs.flat, budget)
        complete = nodes[-1] >= 0
        sides.append((nodes if complete else nodes[:-1], complete))
    (a, a_done), (b, b_done) = sorted(sides, key=lambda sd: (not sd[1], sd[0].size))
    if not a_done:
        return f"no working path (the search from each end covered {budget:,} nodes)"
    n = topology.n_npus

    def npus(nodes):
        x = np.sort(nodes[nodes < n])
        shown = ", ".join(map(str, x[:8].tolist())) + (" ..." if x.size > 8 else "")
        return f"NPU{'s' if x.size > 1 else ''} {shown} ({x.size})"

    rest = npus(b) if b_done and b.size <= a.size * 4 else "the rest of the machine"
    links = ps.cut_links(a, *args, fs.down_bits, fs.fp, fs.flat)
    named = ", ".join(linkmap.name(topology, k) for k in links[:6].tolist())
    more = f" ... ({links.size} in all)" if links.size > 6 else ""
    return (f"{npus(a)} can no longer reach {rest}; the failed links between them: "
            f"{named}{more}")


def explain(topology, s, d):
    """The one-line error of the route from NPU ``s`` to NPU ``d`` (which must fail)."""
    from ..kernels import faultroute as fr

    out = np.empty(topology.route_hops, np.int64)
    _, _, code, link = fr.route_ft(s, d, topology.level_table, topology.lat_ns,
                                   float(topology.params.hop_lat_ns), *topology.faults.arrays,
                                   out)
    return route_error(topology, int(code), s, d, int(link))


def failures(topology):
    """What is down (counts per link class, NPUs, planes): a dict, None without faults."""
    fs = topology.faults
    if fs is None:
        return None
    classes = topology.link_classes
    per_class = np.bincount(topology.link_class_of(fs.failed_links), minlength=len(classes))
    ports, lost = fs.weak_ports
    weak = np.bincount(topology.link_class_of(ports), weights=lost, minlength=len(classes))
    out = {"routing": fs.routing,
           "failed_links": {classes[c].name: int(k) for c, k in enumerate(per_class) if k},
           "failed_port_planes": {classes[c].name: int(k) for c, k in enumerate(weak) if k},
           "failed_npus": fs.failed_npus.tolist(), "spared_npus": fs.spared.tolist(),
           "failed_planes": {topology.levels[i].name or f"level{i}": k for i, k in fs.planes}}
    return out


def summary(topology):
    """What is down and what it costs in bandwidth: a dict for ``topo show``."""
    out = failures(topology)
    if out is not None:
        out.update(_costs(topology))
    return out


def _costs(topology):
    """Bisection and per-NPU injection bandwidth lost to the failed links and NPUs."""
    fs = topology.faults
    caps = np.array([c.bw_GBps for c in topology.link_classes])
    ids = np.flatnonzero(fs.down[:topology.n_links - sum(c.count for c in fs.extra_classes)])
    cls = topology.link_class_of(ids)
    level_of = np.array([c.level for c in topology.link_classes])
    src, dst = linkmap.ends(topology, ids)
    outer = max((i for i, lv in enumerate(topology.levels) if lv.size > 1), default=None)
    lost_bisection = 0.0
    weak, planes_lost = fs.weak_ports  # ports short of some switch planes
    wc = topology.link_class_of(weak)
    weak_npu = linkmap.ends(topology, weak)[0]
    if outer is not None:
        lv, stride = topology.levels[outer], topology.strides[outer]
        half = lv.size // 2
        at = level_of[cls] == outer
        side = lambda x: (x // stride) % lv.size < half  # noqa: E731
        mesh = at & (src >= 0) & (dst >= 0)
        cut = mesh & side(np.maximum(src, 0)) & ~side(np.maximum(dst, 0))
        ports = at & (dst < 0) & side(np.maximum(src, 0))
        per_port = np.where(ports, caps[cls] / lv.oversub, 0.0)
        lost_bisection = float(caps[cls][cut].sum() + per_port.sum())
        low = (level_of[wc] == outer) & side(weak_npu)
        if low.any():  # ports short of planes in the lower half
            lost_bisection += float((caps[wc] * planes_lost / lv.planes / lv.oversub)[low].sum())
    n = topology.n_npus
    trunk = topology.level_table[:, C_TRUNK] > 0
    roles = [linkmap.role(topology, c) for c in topology.link_classes]
    own = np.array([not trunk[c.level] and (r is None or (r == "up" and c.count == n))
                    or r == "access_up" for c, r in zip(topology.link_classes, roles)])
    sel = own[cls] & (src >= 0)  # what an NPU sends on: its links at the levels, its access
    lost = np.bincount(src[sel], weights=caps[cls][sel], minlength=n)
    if weak.size:  # a port short of some planes sends the rest
        np.add.at(lost, weak_npu, caps[wc] * planes_lost / port_planes(topology, weak))
    full = topology.injection_GBps()
    working = fs.state == 0 if fs.state.size else np.ones(n, bool)
    lost = lost[working] if working.any() else np.full(1, full)
    bis = topology.bisection_GBps()
    return {"bisection_GBps": bis, "bisection_lost_GBps": min(lost_bisection, bis),
            "injection_GBps": full, "injection_mean_GBps": full - float(lost.mean()),
            "injection_worst_GBps": max(full - float(lost.max()), 0.0)}

