"""A topology's fittable numbers, by dotted key, and the topology with some of them changed.

Keys are found, not listed: every float field of
:class:`~ubemu.machine.topology.TopologyParams` but the library's settings (:data:`SETTINGS`)
(``params.overhead_ns``; a dict field's numbers
as ``params.FIELD.KEY``), every bandwidth, latency, protocol factor and efficiency of every
level (``level.node.bw_GBps``, ``level.node.lat_ns``, ``level.node.innet_efficiency``), and every
number of the ``[npu]`` table (``npu.matmul_fraction``). A field another change adds to
those records is fittable without touching this module. Short forms are accepted where they
are unambiguous (``node.lat_ns``; a bare name is ``[params]``' own: ``efficiency``).
"""

from dataclasses import fields, replace

from ..errors import UbemuError, choices_error
from ..machine import npu as npu_mod
from ..machine.topology import Level

#: Keys whose values are fractions (fitted below 1).
FRACTION_WORDS = ("efficiency", "fraction")
#: A level's numbers that are fittable: bandwidths, latencies, protocol factors and (by
#: :data:`FRACTION_WORDS`) efficiencies (per traffic kind: copies, in-switch reduction).
LEVEL_SUFFIXES = ("_GBps", "_ns", "_factor")
#: ``[params]`` fields that are the library's settings, whole numbers choosing how a
#: collective runs (:mod:`ubemu.algorithms.channels`, the steps' slices), not costs: never
#: fitted.
SETTINGS = ("channels", "channel_bytes", "chunk_bytes", "slices")


def _level_label(lv, i):
    return lv.name or f"level{i}"


def _numbers(obj):
    """Float fields of a dataclass (dict fields flattened as ``field.key``)."""
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, dict):
            out.update({f"{f.name}.{k}": float(x) for k, x in v.items()
                        if isinstance(x, float)})
        elif isinstance(v, float):
            out[f.name] = v
    return out


def fittable(topo):
    """{dotted key: value} of every number of ``topo`` a fit may change (module docstring)."""
    out = {f"params.{k}": v for k, v in _numbers(topo.params).items() if k not in SETTINGS}
    for i, lv in enumerate(topo.levels):
        for f in fields(Level):
            v = getattr(lv, f.name)
            if isinstance(v, float) and (f.name.endswith(LEVEL_SUFFIXES) or is_fraction(f.name)):
                out[f"level.{_level_label(lv, i)}.{f.name}"] = v
    if topo.npu is not None:
        out.update({f"npu.{k}": v for k, v in npu_mod.numeric_keys(topo.npu).items()})
    return out


def resolve(topo, names, where="--fit"):
    """Full keys for ``names`` (full keys or unambiguous short forms); one-line errors."""
    keys = list(fittable(topo))
    out = []
    for name in names:
        name = name.strip()
        if name in keys:
            out.append(name)
            continue
        hits = [k for k in keys if k.endswith("." + name)]
        if f"params.{name}" in hits:  # a bare name is [params]' (``efficiency``)
            hits = [f"params.{name}"]
        if len(hits) == 1:
            out.append(hits[0])
        elif hits:
            raise UbemuError(f"{where}: {name!r} is ambiguous: {', '.join(hits)}")
        else:
            raise choices_error(f"{where} key", name, keys)
    if len(set(out)) != len(out):
        raise UbemuError(f"{where}: a key is named twice ({', '.join(out)})")
    return out


def is_fraction(key):
    return any(w in key.rsplit(".", 1)[-1] for w in FRACTION_WORDS)


def with_values(topo, values):
    """``topo`` with the numbers at ``values``' keys replaced (a new Topology)."""
    params, levels, npu = topo.params, list(topo.levels), topo.npu
    for key, value in values.items():
        kind, _, rest = key.partition(".")
        value = float(value)
        if kind == "params":
            name, _, sub = rest.partition(".")
            params = replace(params, **{name: {**getattr(params, name), sub: value}
                                        if sub else value})
        elif kind == "level":
            label, _, name = rest.rpartition(".")
            i = next(i for i, lv in enumerate(levels) if _level_label(lv, i) == label)
            levels[i] = replace(levels[i], **{name: value})
        elif kind == "npu":
            npu = npu_mod.with_number(npu, rest, value)
        else:
            raise UbemuError(f"unknown parameter key {key!r}")
    return replace(topo, params=params, levels=tuple(levels), npu=npu)
