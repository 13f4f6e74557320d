"""Reports on topologies: ``ubemu topo show`` (text or JSON) and ``ubemu topo list``.

Every figure comes from :class:`ubemu.topology.Topology`; nothing here allocates per-NPU or
per-link arrays, so a million-NPU topology is reported instantly.
"""

import json
from dataclasses import asdict

from .topospec import load_preset, preset_names
from .units import format_bandwidth

#: The string form, as shown by ``topo list`` (see :mod:`ubemu.topospec`).
STRING_SYNTAX = """\
string form (levels innermost first, comma-separated):
  KIND:SIZE[@BANDWIDTH][/LATENCY][:OPTION]...
  KIND      full_mesh | ring | switch | torus (torus:4x4x4 = one ring level per dimension)
  BANDWIDTH per link and direction: 56GBps, 1.8TBps, 400Gbps, 50GiBps (bare number = GB/s)
  LATENCY   150ns, 1us (bare number = ns)
  OPTION    links=N  planes=N  oversub=X  trunk  name=TEXT
  defaults  full_mesh/ring 56GBps/150ns, switch 56GBps/1000ns (a UB x4 port)
  example   full_mesh:8,full_mesh:8,switch:128@224GBps/1us:name=superpod"""


def summary(topo):
    """Every figure of the report as a JSON-ready dict (bandwidths in GB/s, one direction)."""
    inj = topo.injection_GBps()
    per_level = []
    for lv, g, stride in zip(topo.levels, topo.trunk_group_npus, topo.strides):
        port_GBps = 0.0 if lv.size == 1 else lv.neighbours * lv.link_GBps
        per_level.append({**asdict(lv), "spec": lv.spec, "stride_npus": stride,
                          "trunk_group_npus": g if lv.trunk else 0,
                          "link_GBps": lv.link_GBps,
                          "injection_GBps": 0.0 if lv.trunk else port_GBps,
                          "trunk_share_GBps": port_GBps / lv.oversub / g if lv.trunk else 0.0})
    return {
        "name": topo.name, "description": topo.description, "source": topo.source,
        "string_form": ",".join(topo.describe_levels()),
        "n_npus": topo.n_npus, "n_levels": len(topo.levels), "levels": per_level,
        "n_links": topo.n_links,
        "link_classes": [{**asdict(c), "total_GBps": c.count * c.bw_GBps}
                         for c in topo.link_classes],
        "injection_uni_GBps": inj, "injection_bi_GBps": 2 * inj,
        "trunk_share_GBps": topo.trunk_share_GBps(),
        "bisection_GBps": topo.bisection_GBps(),
        "diameter_hops": topo.diameter_hops,
        "total_npu_io_GBps": topo.n_npus * 2 * inj,
        "params": asdict(topo.params),
    }


def show_json(topo):
    """The report as JSON text."""
    return json.dumps(summary(topo), indent=2)


def _table(rows, header, align):
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths))
    return [("  " + fmt.format(*map(str, r))).rstrip() for r in [header, *rows]]


def show_text(topo):
    """The human-readable report of ``ubemu topo show``."""
    s = summary(topo)
    bw = format_bandwidth
    lines = [f"topology     {s['name']}"]
    if s["description"]:
        lines.append(f"description  {s['description']}")
    lines.append(f"source       {s['source']}")
    lines.append(f"NPUs         {s['n_npus']:,}")
    lines.append(f"levels       {s['n_levels']} (innermost first; string form with defaults)")
    lines += _table([(i, lv["name"] or "-", lv["spec"], f"{lv['stride_npus']:,}",
                      bw(lv["link_GBps"]))
                     for i, lv in enumerate(s["levels"])],
                    ("#", "name", "spec", "stride", "link"), "<<<>>")
    lines.append(f"links        {s['n_links']:,} directed")
    lines += _table([(c["name"], c["level"], f"{c['count']:,}", bw(c["bw_GBps"]),
                      bw(c["total_GBps"])) for c in s["link_classes"]],
                    ("class", "level", "count", "GB/s each", "total"), "<>>>>")
    parts = " + ".join(f"{lv['name'] or f'level{i}'} {bw(lv['injection_GBps'])}"
                       for i, lv in enumerate(s["levels"]) if lv["injection_GBps"])
    lines.append(f"per-NPU      {bw(s['injection_uni_GBps'])} uni, {bw(s['injection_bi_GBps'])}"
                 f" bi injection ({parts or 'no links'})")
    if s["trunk_share_GBps"]:
        tr = " + ".join(f"{lv['name'] or f'level{i}'} {bw(lv['trunk_share_GBps'])} (port shared by "
                        f"{lv['trunk_group_npus']} NPUs)"
                        for i, lv in enumerate(s["levels"]) if lv["trunk_share_GBps"])
        lines.append(f"trunk share  {bw(s['trunk_share_GBps'])} uni per NPU ({tr})")
    lines.append(f"bisection    {bw(s['bisection_GBps'])} one direction (halving the outermost "
                 f"level)")
    lines.append(f"diameter     {s['diameter_hops']} hops (dimension-ordered minimal routing)")
    lines.append(f"total IO     {bw(s['total_npu_io_GBps'])} = {s['n_npus']:,} NPUs x "
                 f"{bw(s['injection_bi_GBps'])} bi (compare with a published aggregate)")
    p = s["params"]
    lines.append("params       " + "  ".join(f"{k}={v:g}" for k, v in p.items()))
    if p["efficiency"] != 1:
        lines.append(f"             effective per-NPU injection {bw(inj_eff(s))} uni "
                     f"(x efficiency)")
    return "\n".join(lines)


def inj_eff(s):
    """Per-NPU injection after ``params.efficiency``, GB/s uni, from a :func:`summary`."""
    return s["injection_uni_GBps"] * s["params"]["efficiency"]


def preset_list_text():
    """The text of ``ubemu topo list``: every preset with its NPU count, and the string form."""
    rows = []
    for name in preset_names():
        topo = load_preset(name)
        rows.append((name, f"{topo.n_npus:,}", topo.description))
    lines = ["presets (ubemu/presets/*.toml; each figure commented with its source):"]
    lines += _table(rows, ("name", "NPUs", "description"), "<><")
    lines.append("ring-8, torus-8x8, full-mesh-8 and switch-64 are examples; other sizes come from"
                 " the string form (ring:16, torus:4x4x4, full_mesh:16, switch:1024).")
    lines.append("A TOML file in the presets' format is accepted wherever a preset name is.")
    lines.append("")
    lines.append(STRING_SYNTAX)
    return "\n".join(lines)
