"""Scale without p^2 (issue 10): each case with its baseline, measured in this run.

Run: ``python benchmarks/bench_scale.py`` (or within ``make bench``). Each case runs in a fresh
process so its peak RSS is its own:

- direct all-to-all timing, 8,192 NPUs (atlas950-superpod), 64 MiB: the compact all-pairs
  step against every transfer explicit (target < 1 s, < 0.5 GB);
- direct all-to-all timing, 65,536 NPUs (4.3e9 transfers): compact; the explicit baseline is
  predicted, not run (target < 60 s, < 2 GB);
- ``auto``, all_reduce, atlas950-superpod, 1 KiB: pruned by closed-form bounds against timing
  every candidate (target < 2 s, < 1 GB);
- ring all-reduce on 1,006,720 NPUs, 1 GiB: its p-1 steps per phase timed at once from one
  routing (``ShiftSteps``; target < 10 s, < 2 GB), against the steps one by one (refused up
  front with their prediction);
- pairwise all-to-all on 1,006,720 NPUs: refused up front with its prediction.
"""

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import targets

ENV = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
BIG = ("switch:64@1008GBps/300ns:trunk:access=1008GBps:access_lat=150ns,"
       "switch:1024@1008GBps/1500ns:trunk")  # 65,536 NPUs in cabinets of 64
#: The child's own peak (VmHWM: ru_maxrss would start from the parent's size at the fork).
RSS = ("print('RSS_KB', next(int(x.split()[1]) for x in open('/proc/self/status') "
       "if x.startswith('VmHWM')))")
SIM = ("import ubemu; r = ubemu.simulate({args}); "
       "print(r.algorithm, f'{{r.time_s * 1e6:.2f}} us', r.bottleneck)")
EXPLICIT = "import ubemu.timing.timer as t; t.StepTimer._symmetric = lambda self, step: False; "
STEPWISE = "from ubemu.schedule import ShiftSteps; ShiftSteps.MIN_RANKS = 1 << 62; "
EXHAUSTIVE = ("from ubemu import engine; from ubemu.machine.groups import group_of; "
              "from ubemu.machine.spec import load_topology; t = load_topology({topo!r}); "
              "name, timed, _ = engine.choose('all_reduce', group_of(t), {count}, t, 4, "
              "prune=False); print(name, f'{{timed.time_s * 1e6:.2f}} us', timed.bottleneck)")


@dataclass
class Run:
    """A case run in a fresh process: wall seconds, peak GB (NaN when it died), its last
    line (its result, or its one-line error)."""

    wall_s: float
    gb: float
    said: str


def run(label, code):
    """Run ``code`` in a fresh Python; print wall time, peak RSS and its last line (whole,
    wrapped at words); return the :class:`Run`."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", f"{code}; {RSS}"], capture_output=True,
                          text=True, env=ENV, timeout=3600)
    wall = time.perf_counter() - t0
    out = proc.stdout.splitlines()
    rss = [int(x.split()[1]) for x in out if x.startswith("RSS_KB")]
    said = [x for x in out if not x.startswith("RSS_KB")] or proc.stderr.strip().splitlines()
    gb = rss[0] * 1024 / 1e9 if rss else float("nan")
    last = said[-1] if said else ""
    print(f"{label:50s} {wall:7.2f} s {gb:6.2f} GB", flush=True)
    print(textwrap.fill(last, 100, initial_indent="    ", subsequent_indent="    "), flush=True)
    return Run(wall, gb, last)


def wall_and_memory(name, case, wall_s, gb, baseline=None):
    """Report a case's targets: under ``wall_s`` seconds and ``gb`` GB of peak memory."""
    targets.target(f"{name}: wall", case.wall_s, "<", wall_s, "s", baseline)
    targets.target(f"{name}: peak memory", case.gb, "<", gb, "GB")


def sim(*args, **kw):
    return SIM.format(args=", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kw.items())]))


def refused(name, case):
    """Report that ``case`` was refused up front (its last line a work refusal)."""
    ok = ": work: " in case.said and case.said.split(":")[0].endswith(("Error", "TooMuchWork"))
    targets.check(name, ok, "refused up front", f"refused in {case.wall_s:.3g} s" if ok
                  else "not refused")


def main():
    run("warm-up (compile or load the kernels)", sim("alltoall", 64 * 1024, "switch:64",
                                                      "direct"))
    a2a = ("alltoall", 64 << 20, "atlas950-superpod", "direct")
    fast = run("direct a2a 8,192 NPUs 64M: compact (< 1 s, 0.5 GB)", sim(*a2a))
    slow = run("  baseline: every transfer explicit", EXPLICIT + sim(*a2a))
    print(f"  speed-up {slow.wall_s / fast.wall_s:.1f}x")
    wall_and_memory("direct a2a, 8,192 NPUs, 64M", fast, 1.0, 0.5, slow.wall_s)
    big = run("direct a2a 65,536 NPUs 64M: compact (< 60 s, 2 GB)",
              sim("alltoall", 64 << 20, BIG, "direct", max_work=10**10))
    wall_and_memory("direct a2a, 65,536 NPUs, 64M", big, 60.0, 2.0)
    refused("direct a2a, 65,536 NPUs: without --max-work", run(
        "  baseline: predicted, not run", sim("alltoall", 64 << 20, BIG, "direct")))
    fast = run("auto all_reduce atlas950-superpod 1K (< 2 s, 1 GB)",
               sim("all_reduce", 1024, "atlas950-superpod"))
    slow = run("  baseline: every candidate timed",
               EXHAUSTIVE.format(topo="atlas950-superpod", count=256))
    print(f"  speed-up {slow.wall_s / fast.wall_s:.1f}x")
    wall_and_memory("auto all_reduce, atlas950-superpod, 1K", fast, 2.0, 1.0, slow.wall_s)
    ring = ("all_reduce", 1 << 30, "atlas960-supercluster", "ring")
    fast = run("ring all_reduce 1,006,720 NPUs 1G (< 10 s, 2 GB)", sim(*ring))
    refused("ring all_reduce, 1M NPUs: steps one by one",
            run("  baseline: steps one by one", STEPWISE + sim(*ring)))
    wall_and_memory("ring all_reduce, 1,006,720 NPUs, 1G", fast, 10.0, 2.0)
    refused("pairwise alltoall, 1,006,720 NPUs, 1G", run(
        "pairwise alltoall 1,006,720 NPUs 1G (refused up front)",
        sim("alltoall", 1 << 30, "atlas960-supercluster", "pairwise")))


def test_bench_scale(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
