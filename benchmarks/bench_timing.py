"""Wall-clock speed of the timing plane and the estimator (run: python benchmarks/bench_timing.py).

Figures printed (targets in brackets):
- step-level ring all-reduce on 8,192 NPUs of one switch, timing-only schedule (< 1 s);
- halving-doubling all-reduce on 1,024 NPUs of one switch (< 50 ms);
- hierarchical all-reduce over atlas960-supercluster (>= 1,000,000 NPUs), every transfer
  routed, in this one process (< 10 s, < 4 GB peak RSS);
- ``estimate()`` per call (< 50 us).
Kernels are compiled (or loaded from cache) by a small warm-up before the clocks start.
"""

import os
import resource
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import targets  # noqa: E402

from ubemu.algorithms import build_schedule  # noqa: E402
from ubemu.estimator import estimate  # noqa: E402
from ubemu.machine.comm import Comm  # noqa: E402
from ubemu.machine.groups import group_of  # noqa: E402
from ubemu.machine.spec import load_topology  # noqa: E402
from ubemu.timing.walk import time_schedule  # noqa: E402


def timed(label, fn, target_s):
    """Run ``fn`` once, print and report its wall time against ``target_s``."""
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    print(f"{label:58s} {wall * 1e3:10.1f} ms  (target < {target_s * 1e3:g} ms)")
    targets.target(label, wall * 1e3, "<", target_s * 1e3, "ms")
    return out, wall


def per_call(label, fn, n=20000, target_us=50.0):
    """Mean microseconds of ``n`` calls of ``fn``, printed and reported."""
    fn()  # fills the caches
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    per_us = (time.perf_counter() - t0) / n * 1e6
    print(f"{label:58s} {per_us:10.2f} us  (target < {target_us:g} us)")
    targets.target(label, per_us, "<", target_us, "us")


def flat(name, p, nbytes):
    topo = load_topology(f"switch:{p}@50GiBps/1us")

    def run():
        sched = build_schedule("all_reduce", name, Comm.flat(p), nbytes // 4, data=False)
        return time_schedule(sched, topo, None, 4)[0]

    return run


def main(argv=()):
    flat("ring", 8192, 4 * 8192)()  # warm-up: compile / load the kernels, the repeated-
    # pattern ones too (8,192 transfers per step), so a fresh clone times no compilation
    t, _ = timed("ring all-reduce, 8,192 NPUs, 1 MiB, one switch", flat("ring", 8192, 2**20),
                 1.0)
    print(f"    modelled time {t * 1e6:.2f} us")
    t, _ = timed("halving-doubling all-reduce, 1,024 NPUs, 1 MiB, one switch",
                 flat("halving_doubling", 1024, 2**20), 0.05)
    print(f"    modelled time {t * 1e6:.2f} us")

    topo = load_topology("atlas960-supercluster")
    per_level = argv[0].split(",") if argv else "ring"
    count = topo.n_npus * 64  # whole blocks at every level: repeated ring steps merge

    def big():
        comm = group_of(topo)
        sched = build_schedule("all_reduce", "hierarchical", comm, count, data=False,
                               per_level=per_level)
        return time_schedule(sched, topo, comm.npus, 4), sched.n_steps

    ((t, usage, bottleneck), n_steps), _ = timed(
        f"hierarchical all-reduce, {topo.n_npus:,} NPUs ({per_level})", big, 10.0)
    rss_GB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(f"    {n_steps} steps, {topo.n_links:,} links, modelled {t * 1e3:.3f} ms for "
          f"{count * 4 / 2**30:.2f} GiB, bottleneck {bottleneck}; peak RSS {rss_GB:.2f} GB "
          f"(target < 4 GB)")
    targets.target("hierarchical all-reduce, 1M NPUs: peak RSS of the process", rss_GB, "<",
                   4.0, "GB")
    per_call("estimate() per call, hierarchical all-reduce, ub-mesh-rack",
             lambda: estimate("all_reduce", 2**20, "ub-mesh-rack", "hierarchical"))
    per_call("estimate() per call, hierarchical all-reduce, atlas960 (1M)",
             lambda: estimate("all_reduce", 2**20, "atlas960-supercluster", "hierarchical"))


def test_bench_timing(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the figures)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main, sys.argv[1:])
