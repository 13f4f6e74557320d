"""Reading topologies: the short string form, TOML files, and the shipped presets.

String form (levels innermost first, comma-separated)::

    KIND:SIZE[@BANDWIDTH][/LATENCY][:OPTION]...
    full_mesh:8@56GBps/150ns,full_mesh:8,switch:16@224GBps/1us:planes=7:oversub=2
    torus:4x4x4@50GBps        (one ring level per dimension)

Options: ``links=N``, ``planes=N``, ``oversub=X``, ``trunk``, ``name=TEXT``,
``efficiency=X`` (the level's point-to-point efficiency), ``innet_efficiency=X`` (its switches
reduce in the network), ``innet_lat_ns=X`` (their latency), ``ll_bw_factor=X`` and
``ll128_bw_factor=X`` (the protocols' bandwidth on this level); two levels may not have
the same name (groups and reports name levels).
TOML: a top-level ``name``, ``description``, optional ``[params]`` (see
:class:`ubemu.machine.topology.TopologyParams`), optional ``[npu]`` (see
:mod:`ubemu.machine.npu`) and one ``[[level]]`` table per level with
``fabric``, ``size``, ``bw_GBps`` (or ``bw = "56GBps"``), ``lat_ns`` (or ``lat = "150ns"``) and the
options.
"""

import math
import re
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import UbemuError, choices_error, did_you_mean
from ..units import parse_bandwidth_GBps, parse_latency_ns
from .npu import npu_from_dict
from .topology import FABRICS, NAME_RE, Level, Spare, Topology, TopologyParams

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

KINDS = (*FABRICS, "torus")
#: Defaults for fields left out, per fabric (bw_GBps, lat_ns): a UB x4 port and a UB switch.
DEFAULTS = {"full_mesh": (56.0, 150.0), "ring": (56.0, 150.0), "switch": (56.0, 1000.0)}
LEVEL_FIELDS = ("fabric", "size", "bw_GBps", "bw", "lat_ns", "lat", "links", "trunk",
                "planes", "oversub", "access_GBps", "access", "access_lat_ns", "access_lat",
                "name", "note", "efficiency", "innet_efficiency", "innet_lat_ns",
                "ll_bw_factor", "ll128_bw_factor")
PARAM_FIELDS = ("overhead_ns", "send_overhead_ns", "recv_overhead_ns", "fill_bytes",
                "fill_GBps", "hop_lat_ns", "reduce_GBps", "efficiency", "launch_ns",
                "ll_sw_factor", "ll_bw_factor", "ll128_sw_factor", "ll128_bw_factor",
                "channels", "channel_bytes", "chunk_bytes", "slices")
TOP_FIELDS = ("name", "description", "notes", "params", "level", "source", "spare", "npu",
              "library")
#: Libraries a topology may name (``ubemu.algorithms.libraries`` holds their algorithms).
LIBRARIES = ("nccl",)
SPARE_FIELDS = ("level", "bw_GBps", "lat_ns")
STRING_OPTIONS = ("links", "planes", "oversub", "trunk", "access", "access_lat", "name",
                  "efficiency", "innet_efficiency", "innet_lat_ns", "ll_bw_factor",
                  "ll128_bw_factor")


def _int_field(value, where, key, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
            value = int(value)
        else:
            raise UbemuError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise UbemuError(f"{where}: {key} must be an integer >= {minimum}, got {value}")
    return value


def _float_field(value, where, key, minimum, strict=False, maximum=math.inf):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UbemuError(f"{where}: {key} must be a number, got {value!r}")
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise UbemuError(f"{where}: {key} must be a number, got {value!r}") from None
    if not (x > minimum if strict else x >= minimum) or x > maximum or not math.isfinite(x):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UbemuError(f"{where}: {key} must be {bound}"
                         + (f" and <= {maximum:g}" if maximum < math.inf else "")
                         + f", got {value!r}")
    return x


def _quantity(fields, where, key, parse, unit, default, strict=False):
    """A field given with units (``bw = "56GBps"``) or as a number in ``unit``
    (``bw_GBps = 56``), not both; ``default`` when absent."""
    plain = f"{key}_{unit}"
    if key in fields and plain in fields:
        raise UbemuError(f"{where}: give {plain} or {key}, not both")
    if key in fields:
        return _float_field(parse(fields[key], f"{where}: {key}"), where, key, 0,
                            strict=strict)
    return _float_field(fields.get(plain, default), where, plain, 0, strict=strict)


def level_from_fields(fields, where):
    """Build one :class:`Level` (or several, for ``torus``) from a dict of raw fields.

    ``where`` names the source and level for error messages (``"rack.toml: level 2"``).
    """
    if not isinstance(fields, dict):
        raise UbemuError(f"{where}: a level must be a table of fields")
    unknown = [k for k in fields if k not in LEVEL_FIELDS]
    if unknown:
        raise choices_error("field", unknown[0], LEVEL_FIELDS, where)
    if "fabric" not in fields:
        raise UbemuError(f"{where}: missing field 'fabric'; valid: {', '.join(KINDS)}")
    fabric = fields["fabric"]
    if fabric not in KINDS:
        raise choices_error("fabric", fabric, KINDS, where)
    if "size" not in fields:
        raise UbemuError(f"{where}: missing field 'size' (units joined by this level)")
    base = "ring" if fabric == "torus" else fabric
    bw_default, lat_default = DEFAULTS[base]
    bw = _quantity(fields, where, "bw", parse_bandwidth_GBps, "GBps", bw_default, strict=True)
    lat = _quantity(fields, where, "lat", parse_latency_ns, "ns", lat_default)
    trunk = fields.get("trunk", False)
    if not isinstance(trunk, bool):
        raise UbemuError(f"{where}: trunk must be true or false, got {trunk!r}")
    name = fields.get("name", "")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UbemuError(f"{where}: name must be a string of letters, digits or _ . + -, "
                         f"got {name!r}")
    common = dict(
        bw_GBps=bw, lat_ns=lat, trunk=trunk, name=name,
        links=_int_field(fields.get("links", 1), where, "links"),
        planes=_int_field(fields.get("planes", 1), where, "planes"),
        oversub=_float_field(fields.get("oversub", 1.0), where, "oversub", 1.0),
        access_GBps=_quantity(fields, where, "access", parse_bandwidth_GBps, "GBps", 0.0),
        access_lat_ns=_quantity(fields, where, "access_lat", parse_latency_ns, "ns", 0.0),
        efficiency=_float_field(fields.get("efficiency", 0.0), where, "efficiency", 0,
                                maximum=1),
        innet_efficiency=_float_field(fields.get("innet_efficiency", 0.0), where,
                                      "innet_efficiency", 0, maximum=1),
        innet_lat_ns=_float_field(fields.get("innet_lat_ns", 0.0), where, "innet_lat_ns", 0),
        **{key: _float_field(fields.get(key, 0.0), where, key, 0, maximum=1)
           for key in ("ll_bw_factor", "ll128_bw_factor")},
    )
    if base != "switch" and (common["planes"] != 1 or common["oversub"] != 1.0):
        raise UbemuError(f"{where}: planes and oversub apply to fabric 'switch' only")
    size = fields["size"]
    if fabric == "torus":
        dims = size if isinstance(size, list) else str(size).split("x")
        if not dims:
            raise UbemuError(f"{where}: size of a torus needs dimensions like 4x4x4")
        levels = [Level("ring", _int_field(d, where, "size"),
                        **{**common, "name": f"{name or 'torus'}.{k}"})
                  for k, d in enumerate(dims)]
    else:
        levels = [Level(base, _int_field(size, where, "size"), **common)]
    for lv in levels:
        lv.check(where)
    return levels


def _unique_names(levels, index, where, seen, fields):
    """Return ``levels`` (read from source level ``index``) after refusing a name that an
    earlier level already has; ``seen`` maps each name met so far to its source level.

    The rings of an unnamed torus are numbered on from the unnamed tori before it
    (``torus:2,torus:2`` has rings ``torus.0`` and ``torus.1``).
    """
    if isinstance(fields, dict) and fields.get("fabric") == "torus" and not fields.get("name"):
        first = sum(1 for name in seen if re.fullmatch(r"torus\.[0-9]+", name))
        levels = [replace(lv, name=f"torus.{first + k}") for k, lv in enumerate(levels)]
    for lv in levels:
        if lv.name and lv.name in seen:
            raise UbemuError(f"{where}: duplicate level name {lv.name!r} (level {seen[lv.name]} "
                             f"has it too); level names must differ")
        seen.setdefault(lv.name, index)
    return levels


def parse_topology_string(text):
    """Parse the short string form (module docstring) into a :class:`Topology`."""
    if not isinstance(text, str):
        raise UbemuError(f"topology string: expected text, got {text!r}")
    where0 = f"topology string {text!r}"
    levels, names = [], {}
    for i, part in enumerate(text.split(",")):
        where = f"{where0}: level {i}"
        pieces = part.strip().split(":")
        if len(pieces) < 2 or not pieces[0]:
            raise UbemuError(f"{where}: expected KIND:SIZE[@BANDWIDTH][/LATENCY][:OPTION=VALUE],"
                             f" KIND one of {', '.join(KINDS)}")
        kind = pieces[0].strip()
        m = re.fullmatch(r"([^@/]*)(?:@([^/]*))?(?:/(.*))?", pieces[1].strip(), re.S)
        fields = {"fabric": kind, "size": m.group(1)}
        if m.group(2) is not None:
            fields["bw"] = m.group(2)
        if m.group(3) is not None:
            fields["lat"] = m.group(3)
        for opt in pieces[2:]:
            key, eq, value = opt.partition("=")
            if key not in STRING_OPTIONS:
                raise choices_error("option", key, STRING_OPTIONS, where)
            if key == "trunk":
                if eq:
                    raise UbemuError(f"{where}: option trunk takes no value")
                fields["trunk"] = True
            elif not eq:
                raise UbemuError(f"{where}: option {key} needs a value ({key}=...)")
            else:
                fields[key] = value
        levels += _unique_names(level_from_fields(fields, where), i, where, names, fields)
    return Topology(tuple(levels), name=text, source="string")


def topology_from_dict(data, source):
    """Build a :class:`Topology` from parsed TOML data; ``source`` names it in errors."""
    if not isinstance(data, dict):
        raise UbemuError(f"{source}: a topology must be a table of fields")
    unknown = [k for k in data if k not in TOP_FIELDS]
    if unknown:
        raise choices_error("top-level field", unknown[0], TOP_FIELDS, source)
    raw_levels = data.get("level")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise UbemuError(f"{source}: missing field 'level' (one [[level]] table per level)")
    levels, names = [], {}
    for i, fields in enumerate(raw_levels):
        where = f"{source}: level {i}"
        levels += _unique_names(level_from_fields(fields, where), i, where, names, fields)
    raw_params = data.get("params", {})
    if not isinstance(raw_params, dict):
        raise UbemuError(f"{source}: params must be a table")
    for key in ("name", "description", "source", "library"):
        if not isinstance(data.get(key, ""), str):
            raise UbemuError(f"{source}: {key} must be a string")
    if data.get("library", "") not in ("",) + LIBRARIES:
        raise choices_error("library", data["library"], LIBRARIES, source)
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(x, str) for x in notes):
        raise UbemuError(f"{source}: notes must be a list of strings")
    return Topology(tuple(levels), name=data.get("name") or Path(source).stem,
                    params=TopologyParams(**_params(raw_params, f"{source}: params")),
                    description=data.get("description", ""), source=source,
                    notes=tuple(notes), spare=_spare(data.get("spare"), levels, source),
                    npu=None if "npu" not in data else npu_from_dict(data["npu"],
                                                                    f"{source}: npu"),
                    library=data.get("library", ""))


def _spare(raw, levels, source):
    """The ``[spare]`` table (:class:`ubemu.machine.topology.Spare`), or None."""
    if raw is None:
        return None
    where = f"{source}: spare"
    if not isinstance(raw, dict):
        raise UbemuError(f"{where} must be a table with {', '.join(SPARE_FIELDS)}")
    bad = [k for k in raw if k not in SPARE_FIELDS]
    if bad:
        raise choices_error("spare field", bad[0], SPARE_FIELDS, where)
    names = [lv.name or f"level{i}" for i, lv in enumerate(levels)]
    if raw.get("level") not in names:
        raise choices_error("spare level", raw.get("level"), names, where)
    return Spare(raw["level"], _float_field(raw.get("bw_GBps"), where, "bw_GBps", 0, True),
                 _float_field(raw.get("lat_ns", 0), where, "lat_ns", 0))


def _params(raw, where):
    """Checked :class:`TopologyParams` fields from a dict of raw values."""
    bad = [k for k in raw if k not in PARAM_FIELDS]
    if bad:
        raise choices_error("params field", bad[0], PARAM_FIELDS, where)
    params = {k: _float_field(v, where, k, 0) for k, v in raw.items()}
    if "efficiency" in params:
        params["efficiency"] = _float_field(params["efficiency"], where, "efficiency", 0,
                                            strict=True, maximum=1)
    for key in ("ll_sw_factor", "ll_bw_factor", "ll128_sw_factor", "ll128_bw_factor"):
        if key in params:
            params[key] = _float_field(params[key], where, key, 0, maximum=1)
    if "slices" in params:
        params["slices"] = _float_field(params["slices"], where, "slices", 1)
    if "channels" in params:
        params["channels"] = float(_int_field(int(params["channels"])
                                              if float(params["channels"]).is_integer()
                                              else raw["channels"], where, "channels"))
    return params


def with_params(topology, pairs, where="--param"):
    """``topology`` with some :class:`TopologyParams` replaced by ``KEY=VALUE`` texts (the
    command line's what-if overrides); the same checks as a TOML file's ``[params]``."""
    raw = {}
    for pair in pairs or ():
        key, eq, value = str(pair).partition("=")
        if not eq or not key.strip():
            raise UbemuError(f"{where}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(PARAM_FIELDS)}, got {pair!r}")
        raw[key.strip()] = value.strip()
    if not raw:
        return topology
    params = replace(topology.params, **_params(raw, where))
    return replace(topology, params=params)


def topology_from_toml_text(text, label="topology"):
    """Build a :class:`Topology` from the text of a TOML file; ``label`` names it in errors."""
    if not isinstance(text, str):
        raise UbemuError(f"{label}: expected TOML text, got {type(text).__name__}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UbemuError(f"{label}: not valid TOML ({str(exc).splitlines()[0]})") from None
    return topology_from_dict(data, label)


def load_toml(path, label=None):
    """Read a topology TOML file."""
    label = label or str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise UbemuError(f"{label}: cannot read topology file ({exc.strerror or exc})") from None
    except ValueError as exc:  # embedded NUL in the path, or not UTF-8
        raise UbemuError(f"{label}: cannot read topology file ({exc})".splitlines()[0]) from None
    return topology_from_toml_text(text, label)


def _is_file(spec):
    try:
        return Path(spec).is_file()
    except (OSError, ValueError):
        return False


def preset_names():
    """Names of the presets shipped in ``ubemu/presets``."""
    files = resources.files("ubemu.machine.presets").iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def load_preset(name):
    """Load a shipped preset by name."""
    if name not in preset_names():
        raise choices_error("preset", name, preset_names())
    ref = resources.files("ubemu.machine.presets") / f"{name}.toml"
    with resources.as_file(ref) as path:
        return load_toml(path, label=f"preset {name}")


def load_topology(spec):
    """Resolve a preset name, a TOML file path, or a string form to a :class:`Topology`."""
    if isinstance(spec, Topology):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise UbemuError(f"topology: expected a preset name, a .toml file or a string form, "
                         f"got {spec!r}")
    spec = spec.strip()
    if spec in preset_names():
        return load_preset(spec)
    if spec.endswith(".toml") or _is_file(spec):
        return load_toml(spec)
    if ":" in spec:
        return parse_topology_string(spec)
    raise UbemuError(f"unknown topology {spec!r}; {did_you_mean(spec, preset_names())}"
                     f"valid: a preset ({', '.join(preset_names())}),"
                     f" a .toml file, or a string like full_mesh:8,switch:16@224GBps/1us")


def with_npus(topology, n_npus, where="--npus"):
    """``topology`` with its outermost level resized so that it holds ``n_npus`` NPUs (a
    cluster of the same nodes, more or fewer of them); one line when that is not a whole
    number of the outermost level's units."""
    if isinstance(n_npus, bool) or not isinstance(n_npus, int) or n_npus < 1:
        raise UbemuError(f"{where}: must be an integer >= 1, got {n_npus!r}")
    unit = topology.n_npus // topology.levels[-1].size
    if n_npus % unit:
        raise UbemuError(f"{where}: {n_npus:,} NPUs is not a whole number of {topology.name!r}'s "
                         f"outermost units of {unit:,} NPUs")
    if n_npus == topology.n_npus:
        return topology
    outer = replace(topology.levels[-1], size=n_npus // unit)
    return replace(topology, levels=(*topology.levels[:-1], outer),
                   name=f"{topology.name}*{n_npus // unit}", faults=None)


#: The topology used when none is named.
DEFAULT_TOPOLOGY = "ub-mesh-rack"


@lru_cache(maxsize=64)
def _load_cached(spec):
    return load_topology(spec)


def resolve_topology(topology=None):
    """A :class:`Topology` from None (the default preset), a Topology, or a name / path /
    string form (loaded once per spec and cached)."""
    if topology is None:
        topology = DEFAULT_TOPOLOGY
    if isinstance(topology, Topology):
        return topology
    if isinstance(topology, str):
        return _load_cached(topology.strip())
    raise UbemuError(f"topology: expected a Topology, a preset name, a .toml file or a string "
                     f"form, got {topology!r}")
