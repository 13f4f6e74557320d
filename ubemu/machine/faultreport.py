"""What faults cost and say: the report of ``topo show --faults`` and the one-line errors.

:func:`failures` lists what failed, :func:`summary` adds what it costs in bisection and
per-NPU injection bandwidth; :func:`check_group` refuses a group with a failed, unserved
member before anything runs; :func:`route_error` and :func:`explain` word a route the faults
do not allow (codes of ``kernels/faultroute.py``).
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
    from ..kernels import faultroute as fr

    what = linkmap.name(topology, link) if link >= 0 else "a spare's port"
    if code == fr.CROSSES_FAILURE:
        return UbemuError(f"routing minimal: NPU {s} -> NPU {d} crosses the failed {what}; "
                          f"--routing apr detours around failures")
    if code == fr.ENDPOINT_FAILED:
        bad = s if topology.faults.state[s] == 1 else d
        return UbemuError(f"faults: NPU {bad} failed and no spare serves it: NPU "
                          f"{d if bad == s else s} can no longer reach it")
    alone = [x for x in (s, d) if topology.faults.down[linkmap.npu_links(topology, [x])].all()]
    if alone:
        return UbemuError(f"faults cut NPU {alone[0]} off from every other NPU (all its links "
                          f"failed): NPU {s} can no longer reach NPU {d}")
    return UbemuError(f"faults cut NPU {s} off from NPU {d}: no intact path under apr "
                      f"(the direct route's first failed link: {what})")


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

