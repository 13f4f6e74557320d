"""Process groups laid onto a topology: a spec in, a :class:`ubemu.machine.comm.Comm` out.

A group is an ordered list of NPU ids: rank ``r`` of the group runs on NPU ``npus[r]``. Ways to
name one (``group_of``, ``Topology.group``):

- ``unit="board"``: the NPUs of one unit of a level (one board, one rack): a "TP" group;
- ``one_per="rack"`` (optionally ``within="pod"``): one NPU per unit of a level, across the
  levels above it up to ``within`` (default: the outermost): a "DP" group;
- ``levels=("board", "pod")``: the NPUs that differ only on the listed levels;
- ``start=, stride=, count=``: NPUs ``start + stride * k`` for ``k < count``;
- ``npus=[...]`` (or a plain sequence of ints): an explicit list.

``at`` (an NPU id, default 0) picks which group of a kind: the one that contains NPU ``at``.
``without=[...]`` leaves NPUs out of any of these (the survivors of a failed NPU).

The communicator's grid follows the group's shape (see :mod:`ubemu.machine.comm`).

A string form serves the command line: ``unit=board,at=8``, ``one_per=rack,within=pod``,
``levels=board+rack``, ``start=0,stride=8,count=8``, ``npus=0+9+18``, ``unit=rack,without=5``.
"""

import numpy as np

from ..errors import UbemuError, choices_error
from .comm import Comm

KEYS = ("unit", "one_per", "within", "levels", "at", "start", "stride", "count", "npus",
        "without")


def level_index(topology, level):
    """Index of a level given by name (``board``), ``level<i>`` or an int."""
    names = [lv.name or f"level{i}" for i, lv in enumerate(topology.levels)]
    if isinstance(level, (int, np.integer)) and not isinstance(level, bool):
        if 0 <= level < len(names):
            return int(level)
    elif isinstance(level, str):
        if level in names:
            return names.index(level)
        if level.startswith("level") and level[5:].isdigit() and int(level[5:]) < len(names):
            return int(level[5:])
        if level.isdigit() and int(level) < len(names):
            return int(level)
    raise choices_error("level", level, names, f"topology {topology.name!r}")


def _int(value, key, minimum):
    try:
        x = int(value)
        ok = x == float(value) and x >= minimum
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(value, bool):
        raise UbemuError(f"group: {key} must be an integer >= {minimum}, got {value!r}")
    return x


def _span(topology, levels, at, label):
    """The group of NPUs that share NPU ``at``'s coordinates except on ``levels``."""
    at = _int(at, "at", 0)
    if at >= topology.n_npus:
        raise UbemuError(f"group: at={at} is not an NPU of topology {topology.name!r} "
                         f"(0..{topology.n_npus - 1})")
    levels = sorted({level_index(topology, lv) for lv in levels})
    sizes, strides = topology.sizes, topology.strides
    base = at - sum(((at // strides[i]) % sizes[i]) * strides[i] for i in levels)
    npus = np.array([base], np.int64)
    for i in levels:  # innermost first: rank's coordinate on levels[0] varies fastest
        npus = (npus[None, :] + strides[i] * np.arange(sizes[i], dtype=np.int64)[:, None])
        npus = npus.reshape(-1)
    return npus, label


def _kind(spec):
    """Which way ``spec`` names its group: unit, one_per, levels, start or npus."""
    kinds = [k for k in ("unit", "one_per", "levels", "start", "npus") if k in spec]
    if "stride" in spec or "count" in spec:
        kinds = [k for k in kinds if k != "start"] + ["start"]
    if len(kinds) != 1:
        raise UbemuError("group: give exactly one of unit=, one_per=, levels=, "
                         "start=/stride=/count=, npus=")
    return kinds[0]


def _npus_from_spec(topology, spec):
    """Resolve a dict spec (see module docstring) into (npus, label)."""
    bad = [k for k in spec if k not in KEYS]
    if bad:
        raise choices_error("group key", bad[0], KEYS)
    kind = _kind(spec)
    at = spec.get("at", 0)
    if kind in ("unit", "levels") and "within" in spec:
        raise UbemuError("group: within= goes with one_per= only")
    if kind == "unit":
        top = level_index(topology, spec["unit"])
        return _span(topology, range(top + 1), at, f"unit={spec['unit']}")
    if kind == "one_per":
        low = level_index(topology, spec["one_per"])
        high = level_index(topology, spec.get("within", len(topology.levels) - 1))
        if high <= low:
            raise UbemuError(f"group: within={spec.get('within')!r} must be a level above "
                             f"one_per={spec['one_per']!r}")
        return _span(topology, range(low + 1, high + 1), at,
                     f"one_per={spec['one_per']}" + (f",within={spec['within']}"
                                                     if "within" in spec else ""))
    if kind == "levels":
        lvls = spec["levels"]
        if isinstance(lvls, str):
            lvls = lvls.split("+")
        elif isinstance(lvls, (int, np.integer)):
            lvls = [lvls]
        return _span(topology, list(lvls), at, f"levels={'+'.join(map(str, lvls))}")
    if "at" in spec:
        raise UbemuError("group: at= goes with unit=, one_per= or levels=")
    if kind == "start":
        start = _int(spec.get("start", 0), "start", 0)
        stride = _int(spec.get("stride", 1), "stride", 1)
        count = _int(spec.get("count", (topology.n_npus - start + stride - 1) // stride),
                     "count", 1)
        npus = start + stride * np.arange(count, dtype=np.int64)
        return npus, f"start={start},stride={stride},count={count}"
    ids = spec["npus"]
    if isinstance(ids, str):
        ids = [_int(x, "npus", 0) for x in ids.split("+")]
    return _explicit(ids), "npus"


def _without(npus, drop, label):
    """``npus`` with the NPUs ``drop`` (``5+9`` or a list) left out; each must be a member."""
    ids = [_int(x, "without", 0) for x in (drop.split("+") if isinstance(drop, str) else
                                          np.atleast_1d(drop).tolist())]
    missing = np.asarray(ids, np.int64)[~np.isin(ids, npus)]
    if missing.size:
        raise UbemuError(f"group: without={missing[0]} is not a member of the group {label}")
    kept = npus[~np.isin(npus, ids)]
    if not kept.size:
        raise UbemuError(f"group: without= leaves no NPU of the group {label}")
    return kept, f"{label},without={'+'.join(map(str, ids))}"


def _explicit(ids):
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.size == 0 or not (arr.dtype.kind in "iu" or (
            arr.dtype.kind == "f" and np.all(arr == np.round(arr)))):
        raise UbemuError("group: npus must be a non-empty list of integer NPU ids")
    return arr.astype(np.int64)


def parse_group(text):
    """Parse the string form ``key=value,key=value`` (module docstring) into a dict."""
    spec = {}
    for part in str(text).split(","):
        key, eq, value = part.strip().partition("=")
        if not eq or not value:
            raise UbemuError(f"group {text!r}: expected key=value pairs, keys: {', '.join(KEYS)}")
        if key not in KEYS:
            raise choices_error("group key", key, KEYS, f"group {text!r}")
        spec[key] = value
    return spec


def grid_of(topology, npus):
    """Infer (dims, fabrics, levels) of a group from its members' coordinates."""
    n = npus.size
    if n == 1:
        return (1,), None, ()
    coords = topology.coords(npus)
    varying = [i for i in range(coords.shape[1]) if np.any(coords[:, i] != coords[0, i])]
    uniq = [np.unique(coords[:, i]) for i in varying]
    dims = tuple(int(u.size) for u in uniq)
    fabrics = tuple(topology.levels[i].fabric for i in varying)
    if int(np.prod(dims, dtype=np.int64)) == n:
        ranks = np.arange(n, dtype=np.int64)
        stride, ok = 1, True
        for col, u, d in zip(varying, uniq, dims):
            ok &= bool(np.array_equal(np.searchsorted(u, coords[:, col]), (ranks // stride) % d))
            stride *= d
        if ok:
            return dims, fabrics, tuple(varying)
    if len(varying) == 1:
        return (n,), fabrics, tuple(varying)
    return (n,), None, ()


def group_of(topology, spec=None, **keys):
    """Resolve a group spec on ``topology`` into a :class:`~ubemu.machine.comm.Comm`.

    Parameters
    ----------
    spec : None, Comm, dict, str or sequence of int
        None: every NPU. A dict or ``key=value`` string uses the keys of the module docstring;
        a sequence lists NPU ids; a Comm is checked against the topology and returned.
    **keys
        The same keys as a dict spec (``group_of(t, unit="board", at=8)``).

    Raises
    ------
    UbemuError
        Unknown keys or levels, NPU ids out of range, duplicates.
    """
    if isinstance(spec, Comm):
        if keys:
            raise UbemuError("group: give a communicator or keys, not both")
        if spec.npus is None:
            spec = Comm(spec.dims, spec.fabrics, np.arange(spec.n, dtype=np.int64),
                        spec.levels, spec.label or "npus")
        npus, label = spec.npus, spec.label
    else:
        if spec is not None and keys:
            raise UbemuError("group: give a spec or keys, not both")
        if isinstance(spec, str):
            spec = parse_group(spec)
        if spec is None and not keys:
            npus, label = np.arange(topology.n_npus, dtype=np.int64), "all"
        elif isinstance(spec, dict) or spec is None:
            spec = dict(spec or keys)
            drop = spec.pop("without", None)
            npus, label = _npus_from_spec(topology, spec)
            if drop is not None:
                npus, label = _without(npus, drop, label)
        else:
            npus, label = _explicit(spec), "npus"
    if npus.min() < 0 or npus.max() >= topology.n_npus:
        bad = int(npus[(npus < 0) | (npus >= topology.n_npus)][0])
        raise UbemuError(f"group: NPU {bad} is not in topology {topology.name!r} "
                         f"(NPU ids 0..{topology.n_npus - 1})")
    s = np.sort(npus)  # (np.unique hashes: 10x slower at a million NPUs)
    twice = s[1:][s[1:] == s[:-1]]
    if twice.size:
        raise UbemuError(f"group: NPU {int(twice[0])} appears more than once")
    if label == "all":
        sizes = [(i, lv) for i, lv in enumerate(topology.levels) if lv.size > 1]
        dims = tuple(lv.size for _, lv in sizes) or (1,)
        fabrics = tuple(lv.fabric for _, lv in sizes) or None
        levels = tuple(i for i, _ in sizes)
    else:
        dims, fabrics, levels = grid_of(topology, npus)
    npus = np.ascontiguousarray(npus, np.int64)
    npus.setflags(write=False)
    reducing = tuple(topology.levels[i].reduces for i in levels)
    return Comm(dims, fabrics, npus, levels, label, reducing=reducing if any(reducing) else ())


def every_group(topology, spec):
    """Every group of the kind ``spec`` names (``--every``): the group containing NPU 0 as a
    :class:`~ubemu.machine.comm.Comm`, and an int64 array (G, n) whose row g holds group g's NPU ids
    (row 0 is the Comm's; the rows are translates of it and cover every NPU once).

    Only the kinds defined by levels have a set of groups: ``unit=``, ``one_per=`` (with
    ``within=``), ``levels=``.
    """
    if isinstance(spec, str):
        spec = parse_group(spec)
    if not isinstance(spec, dict) or _kind(spec) not in ("unit", "one_per", "levels"):
        raise UbemuError("group: every group of a kind needs a group named by levels "
                         "(unit=, one_per=, levels=), got " + repr(spec))
    if "at" in spec:
        raise UbemuError("group: at= picks one group; every group runs them all (drop at=)")
    comm = group_of(topology, spec)
    coords = topology.coords(comm.npus)
    varying = [i for i in range(coords.shape[1]) if np.any(coords[:, i] != coords[0, i])]
    ids = np.arange(topology.n_npus, dtype=np.int64)
    base = np.ones(ids.size, bool)
    for i in varying:
        base &= (ids // topology.strides[i]) % topology.sizes[i] == 0
    rows = ids[base][:, None] + (comm.npus - comm.npus[0])[None, :]
    return comm, rows
