"""Concurrent collectives (issue 11): every group of a kind at once, each with its baseline.

Run: ``python benchmarks/bench_workload.py`` (or within ``make bench``). Each case runs in a
fresh process (wall time and peak RSS its own) and prints the modelled time:

- ring all-reduce 1 GiB on every board of ub-mesh-rack at once, against one board alone (the
  boards share no link: the same modelled time);
- ring all-reduce 1 GiB on every one_per=rack group of ub-mesh-pod at once (64 groups sharing
  the pod's row and column links), against one group alone;
- the expert-parallel all-to-all: direct, 16 MiB per rank, every group of 256 consecutive
  NPUs of atlas960-supercluster at once (3,932 groups, the last 128 NPUs idle; target < 30 s):
  one replica of each shape routed (:mod:`ubemu.timing.replicas`), against 64 groups and
  against routing all 2.6e8 transfers.
"""

import targets
from bench_scale import run, sim

EP = ("import numpy as np, ubemu; from ubemu.workloads.ops import Op; "
      "from ubemu.workloads.run import run_workload; "
      "rows = np.arange({g} * 256).reshape({g}, 256); "
      "r = run_workload([Op('ep', 'alltoall', 16 << 20, npus=rows, algorithm='direct', "
      "dtype='bfloat16')], 'atlas960-supercluster').ops[0]; "
      "print(r.n_groups, 'groups', f'{{r.duration_s * 1e6:.2f}} us', r.bottleneck)")


ROUTE_ALL = "import ubemu.timing.replicas as rt; rt.MIN_REPLICAS = 1 << 62; "


def main():
    run("warm-up (compile or load the kernels)", sim("all_reduce", 1 << 20, "ub-mesh-rack",
                                                      "ring", every=True, group="unit=board"))
    run("ring 1G every board of ub-mesh-rack at once", sim(
        "all_reduce", 1 << 30, "ub-mesh-rack", "ring", group="unit=board", every=True))
    run("  baseline: one board alone", sim("all_reduce", 1 << 30, "ub-mesh-rack", "ring",
                                           group="unit=board"))
    run("ring 1G every one_per=rack group of ub-mesh-pod", sim(
        "all_reduce", 1 << 30, "ub-mesh-pod", "ring", group="one_per=rack", every=True))
    run("  baseline: one group alone", sim("all_reduce", 1 << 30, "ub-mesh-pod", "ring",
                                           group="one_per=rack"))
    ep = run("EP a2a 16M, every 256-NPU group, atlas960 (< 30 s)", EP.format(g=1006720 // 256))
    run("  baseline: 64 groups", EP.format(g=64))
    every = run("  baseline: every replica routed (no symmetry)",
                ROUTE_ALL + EP.format(g=1006720 // 256))
    targets.target("EP all-to-all 16M on every 256-NPU group of atlas960", ep.wall_s, "<", 30,
                   "s", every.wall_s)


def test_bench_workload(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
