"""Per-group utilisation (issue 22): what counting the links a group uses costs, at scale.

Run: ``python benchmarks/bench_group_usage.py`` (or within ``make bench``). Each case runs in
a fresh process (wall time and peak RSS its own) and prints the time spent counting links
(``StepTimer.mark_used``, timed around every call) against the run's whole time, measured in
the same run:

- the issue's case: direct all-reduce of 1 GiB on one 64-NPU cabinet of atlas950-superpod
  (prints the rack ports' machine-wide and group utilisation);
- halving-doubling all-reduce of 1 GiB on all 8,192 NPUs (26 steps of 8,192 transfers);
- pairwise all-to-all of 16 MiB on 8,192 NPUs: 8,191 steps, each routed and counted (the
  worst case: every step's links are new to the count);
- ring all-reduce of 1 GiB on 1,006,720 NPUs (compact shift steps: one routing counted).
"""

import re

import targets
from bench_scale import run

TIMED = ("import time, ubemu, ubemu.timing.timer as t; real = t.StepTimer.mark_used; "
         "spent = [0.0, 0]\n"
         "def timed(self, ids):\n"
         "    t0 = time.perf_counter(); real(self, ids)\n"
         "    spent[0] += time.perf_counter() - t0; spent[1] += 1\n"
         "t.StepTimer.mark_used = timed; t0 = time.perf_counter(); "
         "r = ubemu.simulate({args}); wall = time.perf_counter() - t0; "
         "u = max(r.usage, key=lambda c: c.bytes); "
         "print(f'counting {{spent[0]:.3f}} s of {{wall:.2f}} s ({{spent[0] / wall * 100:.1f}} "
         "%, {{spent[1]}} calls); {{u.name}} {{u.utilisation * 100:.2f}} % machine-wide, "
         "{{u.group_utilisation * 100:.2f}} % of the {{u.links_used:,}} links used')")


def case(*args, **kw):
    return TIMED.format(args=", ".join([*map(repr, args),
                                         *(f"{k}={v!r}" for k, v in kw.items())]))


def main():
    run("warm-up (compile or load the kernels)", case("all_reduce", 1 << 20, "ub-mesh-rack",
                                                       "ring"))
    cases = {
        "cabinet of atlas950-superpod, direct 1G": case(
            "all_reduce", 1 << 30, "atlas950-superpod", "direct", group="unit=rack"),
        "8,192 NPUs halving_doubling 1G": case("all_reduce", 1 << 30, "atlas950-superpod",
                                               "halving_doubling"),
        "8,192 NPUs pairwise alltoall 16M": case("alltoall", 1 << 24, "atlas950-superpod",
                                                 "pairwise", max_work=10**10),
        "1,006,720 NPUs ring 1G": case("all_reduce", 1 << 30, "atlas960-supercluster", "ring")}
    for label, code in cases.items():
        said = run(label, code).said
        share = re.search(r"\(([0-9.]+) %", said)
        targets.target(f"counting used links, {label}: share of the run",
                       float(share.group(1)) if share else float("nan"), "<=", 3, "%")


def test_bench_group_usage(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
