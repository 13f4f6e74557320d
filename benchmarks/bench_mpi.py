"""Wall time and peak memory of jobs spread over 1, 2 and 4 processes.

Runs ``mpiexec -n P python -m mpi4py -m ubemu all_reduce --topo atlas960-supercluster`` with
real data (1K per NPU, ``-c 1``) for P = 1, 2, 4 (and with ``--algo auto``, the issue's
command as written, for P = 1, 2), and timing only (``-c 0``, 1G per NPU) for P = 1, 2;
prints the wall times, the peak memory of each process and the speedup of 2 over 1. Then,
for P = 1, 2: the hierarchical all-to-all with data on atlas950-superpod, 32 KiB per NPU
(issue 10: < 20 s, < 2 GB per process with 2), and one training step of GPT-3 175B,
TP 8 x PP 8 x DP 15,730 on atlas960-supercluster (issue 11: < 60 s with 2).

``python benchmarks/bench_mpi.py`` or ``pytest benchmarks/bench_mpi.py --benchmark-only -s``.
Uses the venv's own mpiexec (next to ``sys.executable``); warms the Numba cache first.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import targets

TOPO = "atlas960-supercluster"
ALGO = "hierarchical"
MPIEXEC = str(Path(sys.executable).with_name("mpiexec"))
#: One process prints no peak-memory line of its own: this runs the CLI and prints its peak.
_SOLO = ("import resource, sys; from ubemu.cli import main; code = main(sys.argv[1:]); "
         "kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
         "print(f'# solo peak MiB: {kib / 1024:.0f}'); sys.exit(code)")

def _env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "PMIX_", "HYDRA_", "MPI_LOCAL", "OMPI_"))}
    env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", MPIR_CVAR_ENABLE_HEAVY_YIELD="1")
    return env


def warm():
    """Compile (or load) every kernel once in a single small run."""
    subprocess.run([sys.executable, "-m", "ubemu", "all_reduce", "--topo", "ub-mesh-rack",
                    "-b", "1K", "-e", "1K", "-c", "1", "--algo", "hierarchical"],
                   check=True, capture_output=True, env=_env())


A2A = ["alltoall", "--topo", "atlas950-superpod", "--algo", "hierarchical", "-b", "32K", "-e",
       "32K", "-c", "1"]
PLAN = ["plan", "--model", "gpt3-175b", "--topo", TOPO, "--tp", "8", "--pp", "8", "--dp",
        "15730", "--global-batch", "15730", "--flops", "400e12"]


def run(n_procs, check, nbytes="1K", algo=ALGO, args=None):
    """Wall seconds, per-process peak MiB (none known: empty) and stdout of one job
    (``args``: the command line, default the all-reduce of the module docstring)."""
    args = args or ["all_reduce", "--topo", TOPO, "--algo", algo, "-b", nbytes, "-e", nbytes,
                    "-c", str(check)]
    cmd = [MPIEXEC, "-n", str(n_procs), sys.executable, "-m", "mpi4py"]
    cmd += ["-m", "ubemu", *args] if n_procs > 1 else ["-c", _SOLO, *args]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=3600)
    wall_s = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    m = re.search(r"# peak memory per process \(MiB\): ([\d ]+)\(", out.stderr)
    if m:
        peaks = [float(x) for x in m.group(1).split()]
    else:  # one process prints no line: its own peak, printed by _SOLO
        solo = re.search(r"# solo peak MiB: ([\d.]+)", out.stdout)
        peaks = [float(solo.group(1))] if solo else []
    return wall_s, peaks, out.stdout


def _row(stdout):
    rows = [ln for ln in stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return rows[0].split() if rows else []


def main():
    warm()
    figures = {}
    for n in (1, 2, 4):
        wall_s, peaks, stdout = run(n, 1)
        figures[("data", n)] = wall_s
        row = _row(stdout)
        print(f"real data 1K/NPU, {n} process(es): {wall_s:7.1f} s  peak MiB per process "
              f"{' '.join(f'{p:.0f}' for p in peaks)} (sum {sum(peaks):.0f})  time "
              f"{row[5] if row else '?'} us  #wrong {row[8] if row else '?'}", flush=True)
    speedup = figures[("data", 1)] / figures[("data", 2)]
    print(f"speedup 2 vs 1 process (real data): {speedup:.2f}x (target >= 1.6x)")
    targets.target("all_reduce -c 1, atlas960, 1K/NPU: speedup of 2 processes over 1", speedup,
                   ">=", 1.6, "x", f"{figures[('data', 1)]:.3g} s with 1")
    for n in (1, 2):  # the command as written: no --algo, so auto picks
        wall_s, peaks, stdout = run(n, 1, algo="auto")
        figures[("auto", n)] = wall_s
        row = _row(stdout)
        print(f"real data 1K/NPU, --algo auto, {n} process(es): {wall_s:7.1f} s  peak MiB per "
              f"process {' '.join(f'{p:.0f}' for p in peaks)}  picked "
              f"{row[-1] if row else '?'}", flush=True)
    print(f"speedup 2 vs 1 process (auto): "
          f"{figures[('auto', 1)] / figures[('auto', 2)]:.2f}x", flush=True)
    for n in (1, 2):
        wall_s, peaks, stdout = run(n, 0, "1G")
        figures[("timing", n)] = wall_s
        print(f"timing only 1G/NPU, {n} process(es): {wall_s:7.1f} s  peak MiB per process "
              f"{' '.join(f'{p:.0f}' for p in peaks)}  (target < 10 s with 2)", flush=True)
    targets.target("all_reduce timing only, atlas960, 1G/NPU, 2 processes",
                   figures[("timing", 2)], "<", 10.0, "s", f"{figures[('timing', 1)]:.3g} s "
                   f"with 1")
    for n in (1, 2):
        wall_s, peaks, stdout = run(n, 1, args=A2A)
        figures[("a2a", n)] = wall_s
        row = _row(stdout)
        print(f"alltoall hierarchical, data 32K/NPU, atlas950-superpod, {n} process(es): "
              f"{wall_s:7.1f} s  peak MiB per process {' '.join(f'{p:.0f}' for p in peaks)}  "
              f"#wrong {row[8] if row else '?'}  (target < 20 s, < 2 GB each with 2)",
              flush=True)
    targets.target("alltoall hierarchical -c 1, atlas950, 32K/NPU, 2 processes: wall",
                   figures[("a2a", 2)], "<", 20.0, "s", f"{figures[('a2a', 1)]:.3g} s with 1")
    targets.target("alltoall hierarchical -c 1, atlas950, 32K/NPU, 2 processes: peak each",
                   max(peaks, default=float("nan")) * 2**20 / 1e9, "<", 2.0, "GB")
    for n in (1, 2):
        wall_s, peaks, stdout = run(n, 0, args=PLAN)
        figures[("plan", n)] = wall_s
        step = [ln for ln in stdout.splitlines() if ln.startswith("step time")]
        print(f"plan GPT-3 175B TP8 PP8 DP15730, atlas960, {n} process(es): {wall_s:7.1f} s  "
              f"{step[0] if step else '?'}  (target < 60 s with 2)", flush=True)
    targets.target("plan GPT-3 175B TP8 PP8 DP15730, atlas960, 2 processes",
                   figures[("plan", 2)], "<", 60.0, "s", f"{figures[('plan', 1)]:.3g} s with 1")
    return figures


def test_bench_mpi(benchmark):
    """pytest-benchmark entry: the whole comparison once."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
