"""Faults and All-Path Routing (issue 12), each case with its fault-free baseline.

Run: ``python benchmarks/bench_faults.py`` (or within ``make bench``). Each case runs in a
fresh process (wall time and peak RSS its own):

- route 1,000,000 random pairs on atlas960-supercluster with 0.1 % failed links under apr
  (target < 1 s for the routing), against the same pairs on the intact machine;
- route 100,000 random pairs on ub-mesh-pod with 30 % failed links under apr, where about 3 %
  of the pairs have no intact structured detour and the search over the working links routes
  them (none is refused), against the same pairs on the intact pod;
- hierarchical all-reduce timing, 1 GiB, atlas960-supercluster with 0.1 % failed links under
  apr (target < 2x the fault-free wall time), against the fault-free run;
- ``ubemu faults`` on ub-mesh-pod: 0-64 failed links x 5 seeds, minimal and apr (< 60 s).
"""

import re

import targets
from bench_scale import run, sim

ROUTE = ("import time, numpy as np; from ubemu.machine.spec import load_topology; "
         "from ubemu.machine.faults import with_faults; "
         "t = load_topology({topo!r}); "
         "t = with_faults(t, {faults!r}, 'apr'); rng = np.random.default_rng(0); "
         "s, d = rng.integers(0, t.n_npus, (2, {pairs})); t.route(s[:10], d[:10]); "
         "t0 = time.perf_counter(); p, h, _ = t.route(s, d); "
         "print(f'routing {{time.perf_counter() - t0:.3f}} s, mean hops {{h.mean():.3f}}')")
FAULTS_CLI = ("import sys; sys.argv = ['ubemu', 'faults', 'all_reduce', '--topo', "
              "'ub-mesh-pod', '-b', '1G', '--algo', 'ring', '--links', "
              "'0,1,2,4,8,16,32,64', '--seeds', '5', '--progress', 'off']; "
              "from ubemu.cli import main; print(main())")


def _routing_s(case):
    """The routing time the case printed (NaN when it did not)."""
    found = re.match(r"routing ([\d.]+) s", case.said)
    return float(found.group(1)) if found else float("nan")


def main():
    big = {"topo": "atlas960-supercluster", "pairs": 10**6}
    run("warm-up (compile or load the kernels)", ROUTE.format(faults="links=0.1%,seed=1", **big))
    fast = run("route 1M pairs atlas960, 0.1% links down, apr (< 1 s)",
               ROUTE.format(faults="links=0.1%,seed=1", **big))
    base = run("  baseline: intact", ROUTE.format(faults=None, **big))
    print(f"  whole-process ratio {fast.wall_s / base.wall_s:.2f}x")
    targets.target("route 1M pairs, atlas960, 0.1% links down, apr", _routing_s(fast), "<",
                   1.0, "s", _routing_s(base))
    pod = {"topo": "ub-mesh-pod", "pairs": 10**5}
    search = run("route 100k pairs ub-mesh-pod, 30% links down, apr (searches)",
                 ROUTE.format(faults="links=30%,seed=1", **pod))
    intact = run("  baseline: intact", ROUTE.format(faults=None, **pod))
    targets.target("route 100k pairs, ub-mesh-pod, 30% links down, apr (searches)",
                   _routing_s(search), "<", 1.0, "s", _routing_s(intact))
    faulty = run("hierarchical all_reduce 1G atlas960, 0.1% down, apr (< 2x)", sim(
        "all_reduce", 1 << 30, "atlas960-supercluster", "hierarchical",
        faults="links=0.1%,seed=1", routing="apr"))
    base = run("  baseline: fault-free", sim("all_reduce", 1 << 30, "atlas960-supercluster",
                                             "hierarchical"))
    print(f"  ratio {faulty.wall_s / base.wall_s:.2f}x")
    targets.target("hierarchical all_reduce 1G, atlas960, 0.1% down: wall / fault-free",
                   faulty.wall_s / base.wall_s, "<", 2.0, "x", f"{base.wall_s:.3g} s")
    cli = run("ubemu faults ub-mesh-pod 0-64 links x 5 seeds (< 60 s)", FAULTS_CLI)
    targets.target("ubemu faults, ub-mesh-pod, 0-64 links x 5 seeds", cli.wall_s, "<", 60.0,
                   "s")


def test_bench_faults(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
