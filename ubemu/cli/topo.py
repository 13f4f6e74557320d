"""``ubemu topo show`` (text or JSON) and ``ubemu topo list``: reports on topologies.

Every figure comes from :class:`ubemu.machine.topology.Topology` and its levels; nothing here
allocates per-NPU or per-link arrays, so a million-NPU topology is reported instantly.

Injection is reported as the timing model sustains it when every NPU sends: a switch level's
planes multiply an NPU's port, its oversubscription divides what leaves the NPU's unit
(``switch:8:oversub=4``: 56 GB/s ports, 14 GB/s each when all send). The JSON keeps the plain
port sum too (``injection_uni_GBps``).
"""

import json
import sys
from dataclasses import asdict

from ..machine.faultreport import summary as fault_summary
from ..machine.npu import to_dict as npu_dict
from ..machine.spec import load_preset, load_topology, preset_names
from ..machine.topology import TopologyParams
from ..units import format_bandwidth
from .csvout import CsvWriter, add_csv_option
from .faults import add_fault_options, apply, failed_links_text
from .table import HUMAN_DIGITS, human_spec

#: The step-level costs, always shown; the library's settings (launch, protocols, channels)
#: are shown where a topology sets them.
COST_PARAMS = ("overhead_ns", "send_overhead_ns", "recv_overhead_ns", "fill_bytes", "fill_GBps",
               "hop_lat_ns", "reduce_GBps", "efficiency")
DEFAULTS = asdict(TopologyParams())

#: The string form, as shown by ``topo list`` (see :mod:`ubemu.machine.spec`).
STRING_SYNTAX = """\
string form (levels innermost first, comma-separated):
  KIND:SIZE[@BANDWIDTH][/LATENCY][:OPTION]...
  KIND      full_mesh | ring | switch | torus (torus:4x4x4 = one ring level per dimension)
  BANDWIDTH per link and direction: 56GBps, 1.8TBps, 400Gbps, 50GiBps (bare number = GB/s)
  LATENCY   150ns, 1us (bare number = ns)
  OPTION    links=N  planes=N  oversub=X  trunk  name=TEXT (names must differ)
            access=BW access_lat=LAT (trunk levels: the NPU's port into the group's switches)
  defaults  full_mesh/ring 56GBps/150ns, switch 56GBps/1000ns (a UB x4 port)
  example   full_mesh:8,full_mesh:8,switch:128@224GBps/1us:name=superpod"""


def add_parsers(subparsers):
    """Add ``topo show`` and ``topo list`` to ``ubemu``'s sub-parsers."""
    topo = subparsers.add_parser("topo", help="show or list topologies",
                                 description="Show a topology's figures or list the presets.")
    sub = topo.add_subparsers(dest="topo_command", metavar="{show,list}", required=True)
    show = sub.add_parser("show", help="report one topology",
                          description="Report a topology: levels, links, bandwidths, diameter.")
    show.add_argument("topology", help="a preset name, a TOML file, or a string form such as "
                                       "full_mesh:8,full_mesh:8,switch:16@224GBps/1us")
    show.add_argument("--json", action="store_true",
                      help="print the report as JSON (exact figures)")
    add_fault_options(show)
    show.set_defaults(command="topo show")
    lst = sub.add_parser("list", help="list the presets and the string form",
                         description="List the shipped presets and the string-form syntax.")
    add_csv_option(lst)
    lst.set_defaults(command="topo list")


def level_injection(topo, i):
    """(port, sustained) GB/s one NPU sends into level ``i``, one direction.

    ``port``: the NPU's own links on the level (planes and bundled links included; a trunk
    run's access port, on its first level); ``sustained``: what the level carries per NPU
    when every NPU sends (the port divided by a switch's oversubscription). Both 0 for a
    level of size 1 and the other levels of a trunk run.
    """
    lv = topo.levels[i]
    if lv.trunk:
        first = next(a for a, b in topo.trunk_runs if a <= i <= b)
        access = topo.access_GBps(i) if first == i else 0.0
        return access, access
    if lv.size == 1:
        return 0.0, 0.0
    port = lv.neighbours * lv.link_GBps
    return port, port / lv.oversub if lv.fabric == "switch" else port


def summary(topo):
    """Every figure of the report as a JSON-ready dict (bandwidths in GB/s, one direction)."""
    inj = topo.injection_GBps()
    per_level = []
    for i, (lv, g, stride) in enumerate(zip(topo.levels, topo.trunk_group_npus,
                                            topo.strides)):
        port, sustained = level_injection(topo, i)
        share = topo.trunk_share_GBps(i)
        per_level.append({**asdict(lv), "spec": lv.spec, "stride_npus": stride,
                          "trunk_group_npus": g if lv.trunk else 0,
                          "link_GBps": lv.link_GBps, "injection_GBps": port,
                          "sustained_injection_GBps": sustained, "trunk_share_GBps": share})
    sustained = sum(lv["sustained_injection_GBps"] for lv in per_level)
    return {
        "name": topo.name, "description": topo.description, "source": topo.source,
        "notes": list(topo.notes),
        "string_form": ",".join(topo.describe_levels()),
        "n_npus": topo.n_npus, "n_levels": len(topo.levels), "levels": per_level,
        "n_links": topo.n_links,
        "link_classes": [{**asdict(c), "total_GBps": c.count * c.bw_GBps}
                         for c in topo.link_classes],
        "injection_uni_GBps": inj, "injection_bi_GBps": 2 * inj,
        "injection_sustained_uni_GBps": sustained,
        "injection_sustained_bi_GBps": 2 * sustained,
        "trunk_share_GBps": topo.trunk_share_GBps(),
        "bisection_GBps": topo.bisection_GBps(),
        "diameter_hops": topo.diameter_hops,
        "spare": asdict(topo.spare) if topo.spare is not None else None,
        "total_npu_io_GBps": topo.n_npus * 2 * inj,
        "params": asdict(topo.params),
        "npu": None if topo.npu is None else npu_dict(topo.npu),
    }


def show_json(topo):
    """The report as JSON text (with ``faults`` when some are applied)."""
    s = summary(topo)
    if topo.faults is not None:
        s["faults"] = fault_summary(topo)
    return json.dumps(s, indent=2)


def fault_text(topo):
    """The ``faults`` lines of the text report: what is down and what it costs."""
    f = fault_summary(topo)
    if f is None:
        return []
    bw = format_bandwidth
    npus = ", ".join(map(str, f["failed_npus"][:10])) + (" ..." if len(f["failed_npus"]) > 10
                                                         else "")
    spared = ", ".join(map(str, f["spared_npus"][:10])) or "none"
    lost = f["bisection_lost_GBps"]
    return [f"faults       routing {f['routing']}; failed links: {failed_links_text(f)}",
            f"             failed NPUs: {npus or 'none'} (served by their rack's spare: "
            f"{spared})",
            f"             bisection {bw(f['bisection_GBps'] - lost)} left of "
            f"{bw(f['bisection_GBps'])} ({100 * lost / f['bisection_GBps']:.2f} % lost)"
            if f["bisection_GBps"] else "             bisection -",
            f"             injection per NPU: mean {bw(f['injection_mean_GBps'])}, worst "
            f"{bw(f['injection_worst_GBps'])} of {bw(f['injection_GBps'])}"]


def _table(rows, header, align):
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths))
    return [("  " + fmt.format(*map(str, r))).rstrip() for r in [header, *rows]]


def _label(lv, i):
    return lv["name"] or f"level{i}"


def _injection_part(lv, i):
    """``board 392 GB/s`` / ``level0 14 GB/s = 56 GB/s / oversub 4``."""
    bw = format_bandwidth
    access = " access" if lv["trunk"] else ""
    text = f"{_label(lv, i)}{access} {bw(lv['sustained_injection_GBps'])}"
    how = []
    if lv["planes"] > 1:
        how.append(f"{lv['planes']} planes x {bw(lv['injection_GBps'] / lv['planes'])}")
    if lv["oversub"] > 1 and not lv["trunk"]:
        how.append(f"{'' if how else bw(lv['injection_GBps']) + ' '}/ oversub {lv['oversub']:g}")
    return text + (f" = {' '.join(how)}" if how else "")


def injection_lines(s):
    """The ``per-NPU`` line (sustained injection) and, when oversubscribed, the ports line."""
    bw = format_bandwidth
    levels = [(i, lv) for i, lv in enumerate(s["levels"]) if lv["injection_GBps"]]
    parts = " + ".join(_injection_part(lv, i) for i, lv in levels)
    applied = [what for what, key in (("planes", "planes"), ("oversubscription", "oversub"))
               if any(lv[key] > 1 for _, lv in levels)]
    lines = [f"per-NPU      {bw(s['injection_sustained_uni_GBps'])} uni, "
             f"{bw(s['injection_sustained_bi_GBps'])} bi injection ({parts or 'no links'})"
             + (f"; {' and '.join(applied)} applied" if applied else "")]
    if s["injection_sustained_uni_GBps"] != s["injection_uni_GBps"]:
        lines.append(f"NPU ports    {bw(s['injection_uni_GBps'])} uni, "
                     f"{bw(s['injection_bi_GBps'])} bi (before oversubscription: what one NPU "
                     f"sends alone)")
    return lines


def show_text(topo):
    """The human-readable report of ``ubemu topo show``."""
    s = summary(topo)
    bw = format_bandwidth
    lines = [f"topology     {s['name']}"]
    if s["description"]:
        lines.append(f"description  {s['description']}")
    lines.append(f"source       {s['source']}")
    for k, note in enumerate(topo.notes):
        lines.append(f"{'notes' if k == 0 else '':<13}{note}")
    lines.append(f"NPUs         {s['n_npus']:,}")
    specs = [human_spec(lv) for lv in topo.levels]
    rounded = specs != topo.describe_levels()
    lines.append(f"levels       {s['n_levels']} (innermost first; string form with defaults"
                 + (f", {HUMAN_DIGITS} digits; --json is exact)" if rounded else ")"))
    lines += _table([(i, lv["name"] or "-", spec, f"{lv['stride_npus']:,}", bw(lv["link_GBps"]))
                     for i, (lv, spec) in enumerate(zip(s["levels"], specs))],
                    ("#", "name", "spec", "stride", "link"), "<<<>>")
    lines.append(f"links        {s['n_links']:,} directed")
    lines += _table([(c["name"], c["level"], f"{c['count']:,}", bw(c["bw_GBps"]),
                      bw(c["total_GBps"])) for c in s["link_classes"]],
                    ("class", "level", "count", "GB/s each", "total"), "<>>>>")
    lines += injection_lines(s)
    if s["trunk_share_GBps"]:
        tr = " + ".join(f"{_label(lv, i)} {bw(lv['trunk_share_GBps'])} (port shared by "
                        f"{lv['trunk_group_npus']} NPUs)"
                        for i, lv in enumerate(s["levels"]) if lv["trunk_share_GBps"])
        lines.append(f"trunk share  {bw(s['trunk_share_GBps'])} uni per NPU ({tr})")
    lines.append(f"bisection    {bw(s['bisection_GBps'])} one direction (halving the outermost "
                 f"level)")
    lines.append(f"diameter     {s['diameter_hops']} hops (dimension-ordered minimal routing)")
    if s["spare"]:
        sp = s["spare"]
        lines.append(f"spare        one hot spare NPU per {sp['level']} behind its switches, "
                     f"{bw(sp['bw_GBps'])} uni, {sp['lat_ns']:g} ns (serves a failed NPU: "
                     f"--faults npu=...)")
    lines.append(f"total IO     {bw(s['total_npu_io_GBps'])} = {s['n_npus']:,} NPUs x "
                 f"{bw(s['injection_bi_GBps'])} bi (compare with a published aggregate)")
    p = s["params"]
    lines.append("params       " + "  ".join(f"{k}={v:g}" for k, v in p.items()
                                            if k in COST_PARAMS or v != DEFAULTS[k]))
    if p["efficiency"] != 1:
        lines.append(f"             effective per-NPU injection {bw(inj_eff(s))} uni "
                     f"(x efficiency)")
    return "\n".join(lines + npu_lines(s["npu"]))


def npu_lines(npu):
    """The ``npu`` lines: peak rates, memory, and the achieved-fraction model's constants."""
    if npu is None:
        return ["npu          none ([npu] table absent: ubemu plan needs --flops to add "
                "compute)"]
    rates = ", ".join(f"{k} {v:g}" for k, v in npu["tflops"].items())
    return [f"npu          {npu['name']} ({npu['status']}): {rates} TFLOP/s peak dense",
            f"             memory {npu['mem_GB']:g} GB at {npu['mem_GBps']:,.0f} GB/s; "
            f"matmuls at up to {npu['matmul_fraction']:.3g} of peak (half that at "
            f"dimension {npu['matmul_half_dim']:g}), element-wise work at "
            f"{npu['memory_fraction']:.3g} of the memory bandwidth"]


def inj_eff(s):
    """Sustained per-NPU injection after ``params.efficiency``, GB/s uni, from a summary."""
    return s["injection_sustained_uni_GBps"] * s["params"]["efficiency"]


def preset_rows():
    """``(name, NPUs, description)`` of every preset."""
    return [(name, topo.n_npus, topo.description)
            for name, topo in ((n, load_preset(n)) for n in preset_names())]


def preset_list_text(rows=None):
    """The text of ``ubemu topo list``: every preset with its NPU count, and the string form."""
    rows = [(name, f"{n:,}", what) for name, n, what in (rows or preset_rows())]
    lines = ["presets (ubemu/presets/*.toml; each figure commented with its source):"]
    lines += _table(rows, ("name", "NPUs", "description"), "<><")
    lines.append("ring-8, torus-8x8, full-mesh-8 and switch-64 are examples; other sizes come from"
                 " the string form (ring:16, torus:4x4x4, full_mesh:16, switch:1024).")
    lines.append("A TOML file in the presets' format is accepted wherever a preset name is.")
    lines.append("")
    lines.append(STRING_SYNTAX)
    return "\n".join(lines)


def run_topo_show(args, out=None):
    """``ubemu topo show SPEC [--json]``; returns 0."""
    topo = apply(load_topology(args.topology), args)
    text = show_json(topo) if args.json else "\n".join([show_text(topo), *fault_text(topo)])
    print(text, file=out or sys.stdout)
    return 0


def run_topo_list(args, out=None):
    """``ubemu topo list``; returns 0."""
    csv_out = CsvWriter(args.csv, ("name", "n_npus", "description"))
    rows = preset_rows()
    print(preset_list_text(rows), file=out or sys.stdout)
    csv_out.add_all(rows)
    return 0


DISPATCH = {"topo show": run_topo_show, "topo list": run_topo_list}
