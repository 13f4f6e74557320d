"""Links as physical objects: the two directions of a link, the links of an NPU, their names.

Link ids are implicit (:mod:`ubemu.machine.links`); faults need the way back: which directed id runs
the other way along the same cable (a cable fails as a whole), which ids an NPU owns (a failed
NPU takes them down), which NPUs an id joins (to name it in a message), and the id of the link
between two named NPUs. Every function works over arrays of ids, class by class. Where links
go when the coordinates shift (a symmetry of a fault-free grid) lets lockstep replicas be
timed from one of them (:mod:`ubemu.timing.replicas`).
"""

import numpy as np

from ..errors import UbemuError
from .groups import level_index

#: Suffixes of a switch or port class and the class that runs the other way.
PAIRED = {"up": "down", "down": "up", "core_up": "core_down", "core_down": "core_up",
          "access_up": "access_down", "access_down": "access_up",
          "spare_up": "spare_down", "spare_down": "spare_up", "lrs_up": "lrs_down",
          "lrs_down": "lrs_up"}


def role(topology, cls):
    """The port suffix (``up``, ``access_down``, ...) of a class; None for a mesh or ring
    level's own links (a class named as its level: level names may hold dots)."""
    lv = topology.levels[cls.level]
    if lv.fabric != "switch" and cls.name == (lv.name or f"level{cls.level}"):
        return None
    tail = cls.name.rsplit(".", 1)[-1]
    return tail if tail in PAIRED else None


def _class_role(topology, c):
    cls = topology.link_classes[c]
    r = role(topology, cls)
    if r is None:
        r = "ring" if topology.levels[cls.level].fabric == "ring" else "mesh"
    return r


def _line_geometry(topology, level):
    """(size, stride, group NPUs) of a level's lines."""
    row = topology.level_table[level]
    return int(row[1]), int(row[2]), max(int(row[4]), 1)


def _line_base(line, size, stride, g):
    """First NPU of each line (inverse of ``kernels.routing._line``)."""
    per = stride // g
    return (line // per) * stride * size + (line % per) * g


def _line_of(npu, size, stride, g):
    """Line of each NPU on a level (``kernels.routing._line``; inverse of :func:`_line_base`)."""
    return (npu // (stride * size)) * (stride // g) + (npu % stride) // g


def _ring_ab(rel, s):
    """(line, direction, a) of ring link ids ``rel`` within their class (``s > 2``)."""
    line, r2 = np.divmod(rel, 2 * s)
    direction, a = np.divmod(r2, s)
    return line, direction, a


def _mesh_ab(rel, s):
    line, r = np.divmod(rel, s * (s - 1))
    a, k = np.divmod(r, s - 1)
    return line, a, np.where(k < a, k, k + 1)


def _mesh_id(line, a, b, s):
    return line * s * (s - 1) + a * (s - 1) + np.where(b < a, b, b - 1)


def reverse(topology, ids):
    """The id of the opposite direction of each directed link ``ids``."""
    ids = np.asarray(ids, np.int64)
    out = np.empty_like(ids)
    cls_of = topology.link_class_of(ids)
    by_name = {c.name: c for c in topology.link_classes}
    for c in np.unique(cls_of).tolist():
        cls, sel = topology.link_classes[c], cls_of == c
        rel = ids[sel] - cls.first_id
        r = _class_role(topology, c)
        if r in PAIRED:
            out[sel] = by_name[cls.name[:-len(r)] + PAIRED[r]].first_id + rel
            continue
        s = _line_geometry(topology, cls.level)[0]
        if r == "mesh":
            line, a, b = _mesh_ab(rel, s)
            out[sel] = cls.first_id + _mesh_id(line, b, a, s)
        elif s == 2:
            out[sel] = cls.first_id + (rel ^ 1)
        else:
            line, direction, a = _ring_ab(rel, s)
            b = np.where(direction == 0, (a + 1) % s, (a - 1) % s)
            out[sel] = cls.first_id + line * 2 * s + (1 - direction) * s + b
    return out


def ends(topology, ids):
    """(from NPU, to NPU) of each link; -1 for a switch side. Trunk links join groups: the
    first NPU of each group is given."""
    ids = np.asarray(ids, np.int64)
    src, dst = np.full(ids.shape, -1, np.int64), np.full(ids.shape, -1, np.int64)
    cls_of = topology.link_class_of(ids)
    for c in np.unique(cls_of).tolist():
        cls, sel = topology.link_classes[c], cls_of == c
        rel = ids[sel] - cls.first_id
        r = _class_role(topology, c)
        if r in ("mesh", "ring"):
            s, stride, g = _line_geometry(topology, cls.level)
            if r == "mesh":
                line, a, b = _mesh_ab(rel, s)
            elif s == 2:
                line, a = np.divmod(rel, 2)
                b = 1 - a
            else:
                line, direction, a = _ring_ab(rel, s)
                b = np.where(direction == 0, (a + 1) % s, (a - 1) % s)
            base = _line_base(line, s, stride, g)
            src[sel], dst[sel] = base + a * stride, base + b * stride
            continue
        npus = _port_npus(topology, cls, rel)
        (src if r.endswith("up") else dst)[sel] = npus
    return src, dst


def _port_npus(topology, cls, rel):
    """First NPU behind each port of a switch, access, core or spare class."""
    return rel * (topology.n_npus // cls.count)


def name(topology, link):
    """``board 3->5``, ``superpod.up of NPU 64``: one link in words."""
    link = int(link)
    cls = topology.link_classes[int(topology.link_class_of([link])[0])]
    a, b = (int(x[0]) for x in ends(topology, [link]))
    if a >= 0 and b >= 0:
        return f"{cls.name} link NPU {a} -> NPU {b}"
    return f"{cls.name} port of NPU {a if a >= 0 else b}"


def npu_links(topology, npus):
    """Every directed link id owned by the NPUs ``npus`` (both directions): their mesh and
    ring links, switch ports and access ports. Trunk links shared by a group are not owned."""
    npus = np.asarray(npus, np.int64).reshape(-1)
    out = []
    n = topology.n_npus
    for c, cls in enumerate(topology.link_classes):
        r = _class_role(topology, c)
        if r in ("mesh", "ring"):
            s, stride, g = _line_geometry(topology, cls.level)
            if g > 1 or s < 2:
                continue
            a = (npus // stride) % s
            line = _line_of(npus, s, stride, 1)
            if r == "mesh":
                peers = np.arange(s)
                b = np.broadcast_to(peers, (npus.size, s))
                aa = np.broadcast_to(a[:, None], b.shape)
                keep = b != aa
                ln = np.broadcast_to(line[:, None], b.shape)[keep]
                aa, b = aa[keep], b[keep]
                out += [cls.first_id + _mesh_id(ln, aa, b, s),
                        cls.first_id + _mesh_id(ln, b, aa, s)]
            elif s == 2:
                out += [cls.first_id + line * 2 + a, cls.first_id + line * 2 + (1 - a)]
            else:
                base = cls.first_id + line * 2 * s
                out += [base + a, base + s + a, base + (a - 1) % s, base + s + (a + 1) % s]
        elif cls.count == n and r not in ("spare_up", "spare_down"):
            out.append(cls.first_id + npus)
    return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)


def npu_id(topology, text, where):
    """An NPU id given as ``17`` or as coordinates innermost first (``1.2.0``)."""
    text = text.strip()
    try:
        if "." in text:
            coords = [int(x) for x in text.split(".")]
            if len(coords) != len(topology.levels) or any(
                    not 0 <= c < s for c, s in zip(coords, topology.sizes)):
                raise ValueError
            return int(topology.ranks(coords))
        x = int(text)
    except ValueError:
        raise UbemuError(f"{where}: {text!r} is not an NPU id (0..{topology.n_npus - 1}) or "
                         f"coordinates of {len(topology.levels)} levels (c0.c1...)") from None
    if not 0 <= x < topology.n_npus:
        raise UbemuError(f"{where}: NPU {x} is out of range 0..{topology.n_npus - 1}")
    return x


def link_between(topology, text, where="faults: link"):
    """The directed ids (both directions) of the link ``LEVEL:A-B`` (a mesh or ring link
    between NPUs A and B, ids or coordinates) or ``LEVEL:A`` (NPU A's port on a switch level;
    ``LEVEL.access:A`` its access port)."""
    level_text, colon, rest = text.partition(":")
    if not colon or not rest:
        raise UbemuError(f"{where} {text!r}: expected LEVEL:A-B (mesh, ring) or LEVEL:A "
                         f"(switch port, LEVEL.access:A access port)")
    access = level_text.endswith(".access")
    i = level_index(topology, level_text[:-7] if access else level_text)
    lv = topology.levels[i]
    classes = {c.name: c for c in topology.link_classes}
    label = lv.name or f"level{i}"
    if access or lv.fabric == "switch":
        a = npu_id(topology, rest, f"{where} {text!r}")
        run = next((f for f, last in topology.trunk_runs if f <= i <= last), None)
        key = f"{topology.levels[run].name or f'level{run}'}.access_up" if access else \
            f"{label}.up"
        if access and run is None:
            raise UbemuError(f"{where} {text!r}: level {label!r} has no access port")
        cls = classes[key]
        up = cls.first_id + a // (topology.n_npus // cls.count)
        return np.array([up, int(reverse(topology, [up])[0])], np.int64)
    a_text, dash, b_text = rest.partition("-")
    if not dash:
        raise UbemuError(f"{where} {text!r}: a {lv.fabric} link is LEVEL:A-B")
    a, b = (npu_id(topology, t, f"{where} {text!r}") for t in (a_text, b_text))
    ca, cb = topology.coords([a, b])
    other = [j for j in range(len(topology.levels)) if j != i and ca[j] != cb[j]]
    s, stride, g = _line_geometry(topology, i)
    if g > 1:  # trunk: the groups' coordinates below the run do not matter
        other = [j for j in other if topology.strides[j] >= g]
    near = lv.fabric == "full_mesh" or (cb[i] - ca[i]) % s in (1, s - 1)
    if other or ca[i] == cb[i] or not near:
        raise UbemuError(f"{where} {text!r}: NPUs {a} and {b} are not joined by one "
                         f"{label} link")
    link = _directed(topology, classes[label], i, a, int(ca[i]), int(cb[i]))
    return np.array([link, int(reverse(topology, [link])[0])], np.int64)


def _directed(topology, cls, i, a, ai, bi):
    s, stride, g = _line_geometry(topology, i)
    line = _line_of(a, s, stride, g)
    if topology.levels[i].fabric == "full_mesh":
        return int(cls.first_id + _mesh_id(np.int64(line), np.int64(ai), np.int64(bi), s))
    if s == 2:
        return cls.first_id + line * 2 + ai
    direction = 0 if (bi - ai) % s == 1 else 1
    return cls.first_id + line * 2 * s + direction * s + ai


def shift_npus(topology, npus, v):
    """The NPUs ``npus`` (m,) with every coordinate moved (cyclically) by each row of ``v``
    (G, levels): int64 (G, m)."""
    npus = np.asarray(npus, np.int64)
    out = np.zeros((v.shape[0], npus.size), np.int64)
    for i, (size, stride) in enumerate(zip(topology.sizes, topology.strides)):
        out += (((npus // stride) % size)[None, :] + v[:, i:i + 1]) % size * stride
    return out


def shift_links(topology, ids, v):
    """The links ``ids`` (m,) moved with their NPUs by each coordinate shift of ``v``
    (G, levels): int64 (G, m).

    A cyclic shift of the coordinates maps every link onto a link of its class (the same
    line's ``a -> b`` onto ``a+v -> b+v``; a port onto the port of the moved NPU, group or
    pool), and, with no faults, every dimension-ordered route onto the route between the
    moved ends: routes depend on coordinate differences only (``kernels/routing.py``).
    :func:`shift_weights` evaluated with NumPy (``kernels/shifts.py`` is its kernel).
    """
    coords, weights, const, level, far, size = shift_weights(topology, ids)
    t = (coords[None, :, :] + v[:, None, :]) % np.array(topology.sizes, np.int64)
    out = const + (t * weights).sum(axis=2)
    mesh = far >= 0
    if mesh.any():  # a full mesh's far end moves too, and skips the near one
        a = t[:, np.arange(far.size), level]
        b = (far + v[:, level]) % np.maximum(size, 1)
        out += np.where(mesh, np.where(b < a, b, b - 1), 0)
    return out


def shift_weights(topology, ids):
    """The links ``ids`` (m,) as linear functions of their NPU's coordinates, for moving them
    without a division (``kernels/shifts.py``): ``(coords, weights, const, level, far,
    size)``. Linear because a port's NPUs (one NPU, a unit, a pool: a unit or the machine)
    and a trunk's are whole units of a level: a floor division by them drops lower
    coordinates only.

    Moved by a shift ``v``, link j becomes ``const[j] + sum_i t_i weights[j, i]`` with
    ``t_i = (coords[j, i] + v[i]) mod sizes[i]``, plus, for a full mesh's link (``far[j]``
    its far end, else -1), ``b if b < a else b - 1`` where ``a = t[level[j]]`` and
    ``b = (far[j] + v[level[j]]) mod size[j]``."""
    ids = np.asarray(ids, np.int64)
    strides = np.array(topology.strides, np.int64)
    above = np.arange(strides.size)
    m = ids.size
    coords, weights = (np.zeros((m, strides.size), np.int64) for _ in range(2))
    const, level, size = (np.zeros(m, np.int64) for _ in range(3))
    far = np.full(m, -1, np.int64)
    cls_of = topology.link_class_of(ids)
    for c in np.unique(cls_of).tolist():
        cls, sel = topology.link_classes[c], np.flatnonzero(cls_of == c)
        rel, lv = ids[sel] - cls.first_id, cls.level
        const[sel], level[sel] = cls.first_id, lv
        r = _class_role(topology, c)
        if r in PAIRED:
            per = topology.n_npus // cls.count
            coords[sel] = topology.coords(rel * per)
            weights[sel] = np.where(strides >= per, strides // per, 0)
            continue
        s, stride, g = _line_geometry(topology, lv)
        line_w = np.where(above > lv, strides // (stride * s) * (stride // g),
                          np.where((above < lv) & (strides >= g), strides // g, 0))
        if r == "mesh":
            line, a, far[sel] = _mesh_ab(rel, s)
            w = line_w * s * (s - 1)
            w[lv], size[sel] = s - 1, s
        elif s == 2:
            line, a = np.divmod(rel, 2)
            w = line_w * 2
            w[lv] = 1
        else:
            line, direction, a = _ring_ab(rel, s)
            w = line_w * 2 * s
            w[lv] = 1
            const[sel] += direction * s
        coords[sel] = topology.coords(_line_base(line, s, stride, g) + a * stride)
        weights[sel] = w
    return coords, weights, const, level, far, size
