#!/usr/bin/env python3
"""Write SimGrid (v4.1 DTD, SimGrid 3.32) platform XML files for the ubemu peer harness.

Stdlib only. Two topologies, each available in two equivalent spellings:

  star      P hosts, each with a private full-duplex port of bandwidth B per direction,
            attached to a NON-BLOCKING switch (no backbone link at all).
  shared    the same, plus ONE shared backbone ("core") link of capacity C that every
            inter-host message crosses, whatever its direction.

  style="cluster": SimGrid's <cluster> tag (ClusterZone routing).
  style="full":    an explicit <zone routing="Full"> with one <route> per ordered pair.
  Both produce exactly the same routes (checked by run_smpi.py --extras).

Route of a message i -> j (i != j):

      port-i  (UP direction)      latency L_port, bandwidth B
  [+] core    (shared variant)    latency L_core, bandwidth C, SHARED
      port-j  (DOWN direction)    latency L_port, bandwidth B

  end-to-end latency  = L_port + L_core + L_port  (SimGrid sums the latencies of the
  links of a route).  We use L_core = 0 and L_port = L/2, so L = 1 us gives 0.5 us per
  port.  (Any split with the same sum gives identical times: latency is only ever used
  as the route sum, both for the latency phase and -- CM02 with weight-S=0 -- for the
  flows' sharing weights, which are then identical for all flows.)

Sharing semantics (SimGrid link sharing policies):
  * Ports are SPLITDUPLEX: SimGrid creates two independent links <id>_UP and <id>_DOWN,
    each with the full bandwidth B.  A host can send at B and receive at B at the same
    time (full duplex).  A SHARED port would make its in- and out-going traffic compete
    for one B.
  * The core is SHARED: a single max-min constraint of capacity C shared by all flows
    crossing it, in both "directions" (a star core has no meaningful direction; the two
    directions are NOT separate).  FATPIPE would instead cap each flow at C individually
    with no sharing at all (i.e. no contention: equivalent to the non-blocking star as
    long as C >= B).
  * The bandwidth a flow gets is the max-min fair share over the links of its route
    (network/crosstraffic:0 so that a flow does not also load the reverse direction).

Units written to the XML: bandwidth in "Bps" (bytes/s), latency in "s", speed in "f".
"""
import argparse
import sys

DTD = '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">'


def host_names(p, prefix="node-"):
    return [f"{prefix}{i}" for i in range(p)]


def _num(x):
    """Format a float losslessly for XML attributes."""
    return repr(float(x))


def platform_xml(p, bw, lat, core_bw=None, core_lat=0.0, style="cluster",
                 speed="1Gf", zone_id="ubemu", core_policy="SHARED"):
    """Return the XML text of a P-host star platform.

    p        number of hosts
    bw       port bandwidth per direction, bytes/s (e.g. 50e9)
    lat      END-TO-END latency host->host, seconds (e.g. 1e-6); split as
             lat_port = (lat - core_lat) / 2 on each of the two ports
    core_bw  None for a non-blocking switch; else capacity of the shared core, bytes/s
    core_lat latency of the core link, seconds (default 0)
    style    "cluster" (SimGrid <cluster>) or "full" (explicit routes)
    core_policy  "SHARED" (default: one constraint shared by all flows) or "FATPIPE"
             (each flow individually capped at core_bw, no sharing) -- FATPIPE is only
             there to demonstrate the difference.
    """
    if core_policy not in ("SHARED", "FATPIPE"):
        raise ValueError("core_policy must be SHARED or FATPIPE")
    if p < 2:
        raise ValueError("need at least 2 hosts")
    if core_bw is None and core_lat:
        raise ValueError("core_lat without core_bw")
    port_lat = (lat - core_lat) / 2.0
    if port_lat < 0:
        raise ValueError("core latency larger than the end-to-end latency")
    names = host_names(p)
    out = ["<?xml version='1.0'?>", DTD, '<platform version="4.1">']
    comment = (f"  <!-- ubemu peer platform: {p} hosts, port {bw:g} B/s per direction "
               f"(SPLITDUPLEX), port latency {port_lat:g} s; "
               + (f"core {core_bw:g} B/s ({core_policy}), core latency {core_lat:g} s; "
                  if core_bw else "non-blocking switch (no core link); ")
               + f"end-to-end latency {lat:g} s -->")
    out.append(comment)
    if style == "cluster":
        attrs = (f'id="{zone_id}" prefix="node-" suffix="" radical="0-{p - 1}" speed="{speed}" '
                 f'bw="{_num(bw)}Bps" lat="{_num(port_lat)}s" sharing_policy="SPLITDUPLEX"')
        if core_bw is not None:
            attrs += (f' bb_bw="{_num(core_bw)}Bps" bb_lat="{_num(core_lat)}s" '
                      f'bb_sharing_policy="{core_policy}"')
        out.append(f"  <cluster {attrs}/>")
    elif style == "full":
        out.append(f'  <zone id="{zone_id}" routing="Full">')
        for h in names:
            out.append(f'    <host id="{h}" speed="{speed}"/>')
        for i in range(p):
            out.append(f'    <link id="port-{i}" bandwidth="{_num(bw)}Bps" '
                       f'latency="{_num(port_lat)}s" '
                       f'sharing_policy="SPLITDUPLEX"/>')
        if core_bw is not None:
            out.append(f'    <link id="core" bandwidth="{_num(core_bw)}Bps" '
                       f'latency="{_num(core_lat)}s" '
                       f'sharing_policy="{core_policy}"/>')
        for i in range(p):
            for j in range(p):
                if i == j:
                    continue
                links = [f'<link_ctn id="port-{i}" direction="UP"/>']
                if core_bw is not None:
                    links.append('<link_ctn id="core"/>')
                links.append(f'<link_ctn id="port-{j}" direction="DOWN"/>')
                out.append(f'    <route src="{names[i]}" dst="{names[j]}" symmetrical="NO">'
                           + "".join(links) + "</route>")
        out.append("  </zone>")
    else:
        raise ValueError(f"unknown style {style!r}")
    out.append("</platform>")
    return "\n".join(out) + "\n"


def write_platform(path, p, bw, lat, core_bw=None, core_lat=0.0, style="cluster",
                   core_policy="SHARED"):
    with open(path, "w") as f:
        f.write(platform_xml(p, bw, lat, core_bw=core_bw, core_lat=core_lat, style=style,
                             core_policy=core_policy))
    return path


def write_hostfile(path, p):
    """One host per line, in rank order (rank r runs on node-r)."""
    with open(path, "w") as f:
        f.write("\n".join(host_names(p)) + "\n")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-p", "--hosts", type=int, required=True)
    ap.add_argument("--bw", type=float, default=50e9, help="port bandwidth per direction, bytes/s")
    ap.add_argument("--lat", type=float, default=1e-6, help="end-to-end latency, s")
    ap.add_argument("--core-bw", type=float, default=None, help="shared core capacity, bytes/s")
    ap.add_argument("--core-lat", type=float, default=0.0)
    ap.add_argument("--core-policy", choices=["SHARED", "FATPIPE"], default="SHARED")
    ap.add_argument("--style", choices=["cluster", "full"], default="cluster")
    ap.add_argument("-o", "--output", required=True, help="platform XML path")
    ap.add_argument("--hostfile", help="also write a hostfile here")
    a = ap.parse_args(argv)
    write_platform(a.output, a.hosts, a.bw, a.lat, a.core_bw, a.core_lat, a.style, a.core_policy)
    if a.hostfile:
        write_hostfile(a.hostfile, a.hosts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
