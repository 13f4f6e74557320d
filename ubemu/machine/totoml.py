"""A topology written back as the TOML every command reads (``--topo FILE.toml``).

:func:`topology_toml` writes every field that :mod:`ubemu.machine.spec` reads (name,
description, notes, ``[params]``, ``[npu]``, ``[spare]``, one ``[[level]]`` per level) with
numbers that read back exactly, and an optional comment per value (``ubemu calibrate`` says
which were fitted and how well). ``spec.topology_from_toml_text(topology_toml(t))`` gives
``t`` again (tested on every preset).
"""

import json
from dataclasses import asdict, fields

from .npu import to_dict as npu_dict
from .topology import Level, TopologyParams, exact_text

#: Level fields written, in this order (the TOML names of :class:`Level`'s fields).
LEVEL_KEYS = ("name", "fabric", "size", "bw_GBps", "lat_ns", "links", "trunk", "planes",
              "oversub", "access_GBps", "access_lat_ns", "efficiency", "innet_efficiency",
              "innet_lat_ns", "ll_bw_factor", "ll128_bw_factor")


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return exact_text(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {v!r}")


def _line(key, value, comments, path):
    text = f"{key} = {_value(value)}"
    note = comments.get(path)
    return f"{text:<27} # {note}" if note else text


def topology_toml(topo, header=(), comments=None):
    """The TOML text of ``topo`` (see the module docstring).

    Parameters
    ----------
    header : sequence of str
        Comment lines put first.
    comments : dict
        Dotted key (``params.efficiency``, ``level.node.lat_ns``, ``npu.tflops.bfloat16``)
        -> a comment written after that value.
    """
    comments = comments or {}
    out = [f"# {h}" for h in header]
    out += [_line("name", topo.name, comments, "name")]
    if topo.description:
        out.append(_line("description", topo.description, comments, "description"))
    if topo.notes:
        out.append(_line("notes", list(topo.notes), comments, "notes"))
    if topo.library:
        out.append(_line("library", topo.library, comments, "library"))
    out += ["", "[params]"]
    for f in fields(TopologyParams):
        out.append(_line(f.name, getattr(topo.params, f.name), comments, f"params.{f.name}"))
    if topo.npu is not None:
        d = npu_dict(topo.npu)
        rates = d.pop("tflops")
        out += ["", "[npu]"]
        out += [_line(k, v, comments, f"npu.{k}") for k, v in d.items()
                if not (k == "notes" and not v)]
        out += ["", "[npu.tflops]"]
        out += [_line(k, v, comments, f"npu.tflops.{k}") for k, v in rates.items()]
    if topo.spare is not None:
        sp = asdict(topo.spare)
        out += ["", "[spare]"] + [_line(k, sp[k], comments, f"spare.{k}")
                                  for k in ("level", "bw_GBps", "lat_ns")]
    defaults = Level("ring", 1, 1.0, 0.0)
    for i, lv in enumerate(topo.levels):
        label = lv.name or f"level{i}"
        out += ["", "[[level]]"]
        for key in LEVEL_KEYS:
            v = getattr(lv, key)
            if key in ("fabric", "size", "bw_GBps", "lat_ns") or v != getattr(defaults, key):
                out.append(_line(key, v, comments, f"level.{label}.{key}"))
    return "\n".join(out) + "\n"
