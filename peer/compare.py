"""ubemu against SimGrid SMPI on the same platforms (``make test-peer``).

Reads the SMPI times ``run_smpi.py`` wrote to ``results.json`` and times the same runs with
ubemu: SMPI's ``basic_linear`` all-to-all against ubemu's one-step ``direct``, coll_bench's
``MPI_Sendrecv`` pairwise all-to-all against ``pairwise``, its logical-ring all-reduce
(``lr``) against ``ring``, on one non-blocking switch of 8 to 256 hosts (each a private 50 GB/s
port, 1 us end to end) with SMPI's per-message overheads ``smpi/os`` / ``smpi/or`` as ubemu's
``send_overhead_ns`` / ``recv_overhead_ns``, and on a switch whose 200 GB/s core is shared by
every flow (``switch:16:oversub=4``: one pool of 16 x 50 / 4 GB/s), where the 8 even ranks run
the ring. Prints the table (``--markdown``: as the README shows it); exits 1 when a case
differs by more than 5 %.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.05
ALGORITHM = {"alltoall": "direct", "alltoall_pairwise": "pairwise", "allreduce": "ring"}
COLLECTIVE = {"alltoall": "alltoall", "alltoall_pairwise": "alltoall", "allreduce": "all_reduce"}


def ubemu_time_s(run, doc):
    """ubemu's modelled time of one SMPI run."""
    import ubemu
    from ubemu.machine.topology import Topology, TopologyParams

    hosts = run["hosts"]
    bw = doc["port_bw_Bps"] / 1e9
    lat = doc["latency_s"] * 1e9
    spec = f"switch:{hosts}@{bw:g}GBps/{lat:g}ns"
    if run["topology"] != "star":  # every flow crosses one shared core
        spec += f":oversub={hosts * bw / (doc['core_bw_Bps'] / 1e9):g}"
    base = ubemu.load_topology(spec)
    topo = Topology(base.levels, spec, TopologyParams(send_overhead_ns=run["os"] * 1e9,
                                                      recv_overhead_ns=run["or"] * 1e9))
    group = {"start": 0, "stride": 2, "count": hosts // 2} if run["even"] else None
    res = ubemu.simulate(COLLECTIVE[run["coll"]], run["bytes"], topo,
                         ALGORITHM[run["coll"]], dtype="float32" if run["coll"] == "allreduce"
                         else "int32", group=group)
    return res.time_s


def _markdown(rows):
    """The README's table: one line per (ranks, collective, os/or), a column per size."""
    sizes = sorted({r["bytes"] for r, _ in rows})
    head = "| ranks | collective | os / or (us) | " + " | ".join(
        f"{_size(n)}: SMPI us (ubemu)" for n in sizes) + " |"
    out = [head, "|" + " --- |" * 3 + " ---: |" * len(sizes)]
    groups = {}
    for run, mine in rows:
        ranks = f"{run['ranks']} of {run['hosts']}" if run["even"] else str(run["ranks"])
        key = (run["topology"], run["hosts"], ranks, run["coll"], run["os"], run["or"])
        groups.setdefault(key, {})[run["bytes"]] = (run["smpi_s"], mine)
    for (topo, _, ranks, coll, o_s, o_r), by_size in groups.items():
        name = ALGORITHM[coll] + ("" if topo == "star" else " (shared core)")
        cells = [f"{s * 1e6:.2f} ({mine / s - 1:+.1%})" if (s := by_size.get(n, (0,))[0])
                 else "" for n in sizes for mine in [by_size.get(n, (0, 0))[1]]]
        out.append(f"| {ranks} | {name} | {o_s * 1e6:g} / {o_r * 1e6:g} | "
                   + " | ".join(cells) + " |")
    return "\n".join(out)


def _size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    markdown = "--markdown" in args
    paths = [a for a in args if a != "--markdown"]
    doc = json.loads(Path(paths[0] if paths else HERE / "results.json").read_text())
    print(f"# ubemu vs {doc['simgrid']} SMPI (tolerance {TOLERANCE:.0%})")
    if not markdown:
        print(f"# {'configuration':<66} {'SMPI (us)':>11} {'ubemu (us)':>11} {'diff':>7}")
    failed, rows, worst = 0, [], 0.0
    for run in doc["results"]:
        smpi = run["smpi_s"]
        mine = ubemu_time_s(run, doc)
        rows.append((run, mine))
        rel = mine / smpi - 1
        worst = max(worst, abs(rel))
        bad = abs(rel) > TOLERANCE
        failed += bad
        if not markdown:
            print(f"  {run['name']:<66} {smpi * 1e6:11.3f} {mine * 1e6:11.3f} {rel:+7.2%}"
                  + ("  FAIL" if bad else ""), flush=True)
    if markdown:
        print(_markdown(rows))
    print(f"# {len(doc['results']) - failed} of {len(doc['results'])} within "
          f"{TOLERANCE:.0%} (worst {worst:.2%})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
