"""Schedule generation speed (emulator wall clock) for hierarchical, tree, Bruck, pairwise and
multipath builders: walking every step of a schedule at SuperPod-like sizes.

Run: ``python benchmarks/bench_schedules.py``, or
``.venv/bin/python -m pytest benchmarks/bench_schedules.py --benchmark-only -s``.
Figures only (no target).
"""

import time

import pytest
import targets

from ubemu.algorithms import build_schedule
from ubemu.machine.comm import Comm

CASES = [
    # collective, algorithm, dims, elements per rank, data
    ("all_reduce", "hierarchical", (8, 8, 128), 1 << 20, False),  # 8192-NPU SuperPod
    ("all_reduce", "hierarchical", (8, 8, 128), 1 << 20, True),
    ("reduce_scatter", "hierarchical", (8, 8, 128), 1 << 20, True),
    ("all_reduce", "double_binary_tree", (8192,), 1 << 20, True),
    ("all_gather", "bruck", (8192,), 8192 * 16, True),
    ("alltoall", "bruck", (1024,), 1024 * 16, True),
    ("alltoall", "pairwise", (1024,), 1024 * 16, False),
    ("alltoall", "hierarchical", (8, 8, 16), 1024 * 16, True),
    ("alltoall", "multipath", (32, 32), 1024 * 16, True),
]


def walk(collective, name, dims, count, data):
    sched = build_schedule(collective, name, Comm(dims, ("full_mesh",) * len(dims)), count,
                           data=data)
    transfers = sum(st.n_transfers for st in sched.steps())
    return sched.n_steps, transfers


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{'x'.join(map(str, c[2]))}"
                         f"-{'data' if c[4] else 'timing'}")
def test_schedule_walk(benchmark, case):
    steps, transfers = benchmark.pedantic(walk, args=case, rounds=1, iterations=1)
    print(f"\n{case[0]} {case[1]} {case[2]}: {steps} steps, {transfers} transfers")
    assert steps > 0 and transfers > 0


def main():
    """Walk every case once and print its steps, transfers and wall time."""
    for case in CASES:
        t0 = time.perf_counter()
        steps, transfers = walk(*case)
        wall = time.perf_counter() - t0
        label = f"{case[0]} {case[1]} {'x'.join(map(str, case[2]))} " \
                f"{'data' if case[4] else 'timing'}"
        print(f"{label:50s} {steps:6d} steps {transfers:12,d} transfers {wall * 1e3:9.1f} ms",
              flush=True)


if __name__ == "__main__":
    targets.run_script(main)
