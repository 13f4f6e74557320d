"""ubemu against SimGrid SMPI on the same platforms (``make test-peer``).

Reads the SMPI times ``run_smpi.py`` wrote to ``results.json`` and times the same runs with
ubemu: SMPI's ``basic_linear`` all-to-all against ubemu's one-step ``direct``, its logical-ring
all-reduce (``lr``) against ``ring``, on one non-blocking switch (each host a private 50 GB/s
port, 1 us end to end) with SMPI's per-message overheads ``smpi/os`` / ``smpi/or`` as ubemu's
``send_overhead_ns`` / ``recv_overhead_ns``, and on a switch whose 200 GB/s core is shared by
every flow (``switch:16:oversub=4``: one pool of 16 x 50 / 4 GB/s), where the 8 even ranks run
the ring. Prints the table; exits 1 when a case differs by more than 5 %.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.05
ALGORITHM = {"alltoall": "direct", "allreduce": "ring"}
COLLECTIVE = {"alltoall": "alltoall", "allreduce": "all_reduce"}


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


def main(path=HERE / "results.json"):
    doc = json.loads(Path(path).read_text())
    print(f"# ubemu vs {doc['simgrid']} SMPI (tolerance {TOLERANCE:.0%})")
    print(f"# {'configuration':<58} {'SMPI (us)':>11} {'ubemu (us)':>11} {'diff':>7}")
    failed = 0
    for run in doc["results"]:
        smpi = run["smpi_s"]
        mine = ubemu_time_s(run, doc)
        rel = mine / smpi - 1
        bad = abs(rel) > TOLERANCE
        failed += bad
        print(f"  {run['name']:<58} {smpi * 1e6:11.3f} {mine * 1e6:11.3f} {rel:+7.2%}"
              + ("  FAIL" if bad else ""))
    print(f"# {len(doc['results']) - failed} of {len(doc['results'])} within "
          f"{TOLERANCE:.0%}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
