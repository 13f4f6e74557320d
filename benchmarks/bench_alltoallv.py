"""Uneven all-to-all (issue 18): MoE dispatch timed as alltoallv, each with its baseline.

Run: ``python benchmarks/bench_alltoallv.py`` (or within ``make bench``). Each case runs in a
fresh process (wall time and peak RSS its own) and prints the modelled time:

- DeepEP-style dispatch at EP128 on cloudmatrix384-die (4,096 tokens per die, top-8 of 256
  experts: the routing drawn, 16,256 pairs), direct, against the uniform all-to-all of the
  same size (the cost of drawing and routing the matrix);
- MoE dispatch on every 64-NPU cabinet of atlas950-superpod at once (128 groups, 2,048
  tokens per NPU, top-8 of 256 experts), against one cabinet alone.
"""

import targets
from bench_scale import run, sim

MOE = "moe:tokens=4096,experts=256,topk=8,seed=0"


def main():
    run("warm-up (compile or load the kernels)", sim(
        "alltoallv", 1 << 20, "switch:16", "direct", traffic="moe:tokens=64,experts=32,topk=4"))
    moe = run("dispatch EP128 cloudmatrix384-die, direct", sim(
        "alltoallv", 242221056, "cloudmatrix384-die", "direct", dtype="bfloat16",
        group="count=128", traffic=MOE))
    uniform = run("  baseline: uniform alltoall of the same size", sim(
        "alltoall", 242221056 - 242221056 % 256, "cloudmatrix384-die", "direct",
        dtype="bfloat16", group="count=128"))
    cab = "moe:tokens=2048,experts=256,topk=8,seed=0"
    targets.target("alltoallv EP128 dispatch / uniform alltoall, wall", moe.wall_s / uniform.wall_s,
                   "<", 2.0, "x", baseline=f"uniform {uniform.wall_s:.3g} s")
    every = run("dispatch every cabinet of atlas950-superpod (128 groups)", sim(
        "alltoallv", 2048 * 8 * 7168 * 2, "atlas950-superpod", "direct", dtype="bfloat16",
        group="unit=rack", every=True, traffic=cab))
    one = run("  baseline: one cabinet alone", sim(
        "alltoallv", 2048 * 8 * 7168 * 2, "atlas950-superpod", "direct", dtype="bfloat16",
        group="unit=rack", traffic=cab))
    targets.target("alltoallv every cabinet of atlas950 (128 groups), wall", every.wall_s, "<",
                   30, "s", baseline=f"one cabinet {one.wall_s:.3g} s")


def test_bench_alltoallv(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
