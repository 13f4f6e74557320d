"""The emulator's own speed (issue 20), each target with its baseline measured in the same run.

Run: ``python benchmarks/bench_speed.py`` (or within ``make bench``). Whole processes; wall
time (median of 5 where it says so, the cases interleaved so that a busy machine slows them
alike) and peak RSS:

- start-up: ``ubemu all_reduce --topo switch:8@50GiBps/1us -b 1K -e 1K`` (target < 0.3 s and
  at most 4x ``python -c "import numpy"``); baseline: the same with ``UBEMU_KERNELS=numba``
  (Numba imported and its kernels loaded, as every run did before); ``ubemu --help``,
  ``topo list`` and ``topo show`` beside them;
- halving-doubling all-reduce 1 MiB on ``switch:1048576@50GiBps/1us`` (target < 2 s, 0.5 GB);
  baseline: its steps made and routed one by one (no compact partner steps);
- direct all-reduce 1 MiB on ``switch:8192@50GiBps/1us`` (target < 1 s), next to the direct
  all-to-all of the same size; baseline: every every-peer step explicit;
- ``estimate("all_reduce", 1 MiB, T)`` with ``auto``: per call on atlas950-superpod (target
  < 1 ms; the same size again, and new sizes once the patterns are routed) and on
  atlas960-supercluster after the first call (target < 100 ms), the pick against
  ``simulate``'s; baseline: ``simulate``'s ``auto`` (the step-level model);
- MPI, one process against ``mpiexec -n 2`` (target >= 1.7x, output byte-identical but for
  wall-clock figures): ``ubemu plan --sweep`` of Mixtral 8x7B on atlas950-superpod, a
  ``ubemu faults`` sweep of 92 runs (each a direct all-reduce routed under its faults:
  seconds, not milliseconds, so that the processes' start-up does not decide), and the
  atlas960 training-step plan (target < 20 s with 2).
"""

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import targets

MPIEXEC = str(Path(sys.executable).with_name("mpiexec"))
UBEMU = [sys.executable, "-m", "ubemu"]
#: The child's own peak (VmHWM).
RSS = ("print('RSS_KB', next(int(x.split()[1]) for x in open('/proc/self/status') "
       "if x.startswith('VmHWM')), file=__import__('sys').stderr)")
CLI = "import sys; from ubemu.cli import main; code = main(sys.argv[1:]); " + RSS + \
      "; sys.exit(code)"
SMALL = ["all_reduce", "--topo", "switch:8@50GiBps/1us", "-b", "1K", "-e", "1K"]
HD = ["all_reduce", "--topo", "switch:1048576@50GiBps/1us", "--algo", "halving_doubling",
      "-b", "1M", "-e", "1M"]
DIRECT = ["--topo", "switch:8192@50GiBps/1us", "--algo", "direct", "-b", "1M", "-e", "1M"]
NO_PARTNERS = ("import ubemu.algorithms.halving_doubling as h; "
               "h.compact_line = lambda *a: False; ")
NO_ALL_PAIRS = "import ubemu.algorithms.direct as d; d._one_line = lambda axis: False; "
SWEEP = ["plan", "--sweep", "--model", "mixtral-8x7b", "--topo", "atlas950-superpod",
         "--progress", "off"]
FAULTS = ["faults", "all_reduce", "--topo", "ub-mesh-pod", "-b", "1G", "--algo", "direct",
          "--links", "0,1,2,4,8,16,32,64,128,256", "--seeds", "5", "--progress", "off"]
PLAN960 = ["plan", "--model", "gpt3-175b", "--topo", "atlas960-supercluster", "--tp", "8",
           "--pp", "8", "--dp", "15730", "--global-batch", "15730", "--flops", "400e12"]
ESTIMATE = """
import time, ubemu
topo = {topo!r}
t0 = time.perf_counter(); e = ubemu.estimate("all_reduce", 1 << 20, topo)
first = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(200):
    ubemu.estimate("all_reduce", 1 << 20, topo)
again = (time.perf_counter() - t0) / 200
for k in range(10, 31):
    ubemu.estimate("all_reduce", 1 << k, topo)
sizes = [(1 << k) + 4 * 4096 * 3 for k in range(10, 31)]
t0 = time.perf_counter()
for nb in sizes:
    ubemu.estimate("all_reduce", nb, topo)
new = (time.perf_counter() - t0) / len(sizes)
print(f"first {{first:.2f}} s, again {{again * 1e3:.3f}} ms, new sizes {{new * 1e3:.3f}} ms; "
      f"{{e.algorithm}} {{e.time_s * 1e6:.2f}} us ({{e.method}}, exact {{e.exact}})")
"""
SIMULATE = ("import ubemu; r = ubemu.simulate('all_reduce', 1 << 20, {topo!r}); "
            "print(f'{{r.algorithm}} {{r.time_s * 1e6:.2f}} us')")


def cli(*args, pre=""):
    """The command line ``ubemu args`` in a fresh Python that prints its peak RSS
    (``pre``: code run first, a baseline's switch)."""
    return [sys.executable, "-c", pre + CLI, *args]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "PMIX_", "HYDRA_", "MPI_LOCAL", "OMPI_"))
           and k != "PYTHONDONTWRITEBYTECODE"}  # a real user's Python keeps its .pyc
    env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", MPIR_CVAR_ENABLE_HEAVY_YIELD="1")
    env.update(extra)
    return env


def once(cmd, env=None, cpu=None):
    """(wall s, peak GB or nan, stdout) of one whole process; its CPU seconds (user +
    system: what a busy machine does not stretch) appended to the list ``cpu``."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env or _env(), timeout=3600)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    rss = re.findall(r"RSS_KB (\d+)", out.stderr)
    return wall, int(rss[-1]) * 1024 / 1e9 if rss else float("nan"), out.stdout


def medians(cases, n=5):
    """Median wall s, peak GB and median CPU s of each ``label -> (cmd, env)``, runs
    interleaved."""
    walls, cpus, peaks = {k: [] for k in cases}, {k: [] for k in cases}, {}
    for _ in range(n):
        for label, (cmd, env) in cases.items():
            wall, gb, _ = once(cmd, env, cpus[label])
            walls[label].append(wall)
            peaks[label] = gb
    return {k: (statistics.median(v), peaks[k], statistics.median(cpus[k]))
            for k, v in walls.items()}


def show(label, wall, gb=float("nan"), note=""):
    print(f"{label:62s} {wall:8.3f} s {gb:6.3f} GB  {note}", flush=True)


def _row(stdout):
    """The first table row's time (nccl-tests' out-of-place time column)."""
    rows = [ln.split() for ln in stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return f"{rows[0][5]} us" if rows else ""


def startup():
    cases = {"python -c 'import numpy'": ([sys.executable, "-c", "import numpy"], None),
             "ubemu all_reduce switch:8 1K (NumPy twins)": (cli(*SMALL),
                                                            None),
             "  baseline: UBEMU_KERNELS=numba": (cli(*SMALL),
                                                 _env(UBEMU_KERNELS="numba")),
             "ubemu --help": ([*UBEMU, "--help"], None),
             "ubemu topo list": ([*UBEMU, "topo", "list"], None),
             "ubemu topo show atlas950-superpod": ([*UBEMU, "topo", "show",
                                                    "atlas950-superpod"], None)}
    once(cases["  baseline: UBEMU_KERNELS=numba"][0], _env(UBEMU_KERNELS="numba"))  # warm
    got = medians({k: (c, e or _env()) for k, (c, e) in cases.items()})
    numpy_s, _, numpy_cpu = got["python -c 'import numpy'"]
    for label, (wall, gb, cpu) in got.items():
        show(label + " (median of 5)", wall, gb, f"{wall / numpy_s:.2f}x numpy; cpu "
             f"{cpu:.3f} s = {cpu / numpy_cpu:.2f}x numpy's")
    small = got["ubemu all_reduce switch:8 1K (NumPy twins)"][0]
    numba = got["  baseline: UBEMU_KERNELS=numba"][0]
    targets.target("start-up: ubemu all_reduce switch:8 1K (median of 5)", small, "<", 0.3, "s",
                   numba)
    targets.target("start-up against python -c 'import numpy'", small / numpy_s, "<=", 4, "x",
                   f"numba {numba / numpy_s:.2f} x")


def million():
    fast = medians({"hd": (cli(*HD), None)})["hd"][:2]
    wall, gb, out = once(cli(*HD))
    show("halving-doubling all_reduce 1M, 1,048,576 ranks (median of 5)", *fast,
         f"{_row(out)}  (target < 2 s, 0.5 GB)")
    wall, gb, out = once(cli(*HD, pre=NO_PARTNERS))
    show("  baseline: steps made and routed one by one", wall, gb,
         f"{_row(out)}  ({wall / fast[0]:.1f}x)")
    targets.target("halving_doubling 1M on 1,048,576 ranks: wall", fast[0], "<", 2, "s", wall)
    targets.target("halving_doubling 1M on 1,048,576 ranks: peak memory", fast[1], "<", 0.5,
                   "GB", gb)
    got = medians({"ar": (cli("all_reduce", *DIRECT), None),
                   "a2a": (cli("alltoall", *DIRECT), None)})
    out = once(cli("all_reduce", *DIRECT))[2]
    show("direct all_reduce 1M, 8,192 NPUs (median of 5)", *got["ar"][:2],
         f"{_row(out)}  (target < 1 s)")
    show("  direct alltoall 1M, 8,192 NPUs (median of 5)", *got["a2a"][:2])
    wall, gb, out = once(cli("all_reduce", *DIRECT, pre=NO_ALL_PAIRS))
    show("  baseline: every every-peer step explicit", wall, gb,
         f"{_row(out)}  ({wall / got['ar'][0]:.1f}x)")
    targets.target("direct all_reduce 1M on 8,192 NPUs: wall", got["ar"][0], "<", 1, "s", wall)


def estimates():
    for topo, target, limit_ms in (("atlas950-superpod", "< 1 ms a call", 1),
                                   ("atlas960-supercluster", "< 100 ms a call after the first",
                                    100)):
        wall, gb, out = once([sys.executable, "-c", ESTIMATE.format(topo=topo)])
        show(f"estimate auto all_reduce 1M, {topo}", wall, gb,
             f"{out.strip()}  ({target})")
        new = re.search(r"new sizes ([0-9.]+) ms", out)
        sim_s, gb, out = once([sys.executable, "-c", SIMULATE.format(topo=topo)])
        show("  baseline: simulate's auto (step-level model)", sim_s, gb, out.strip())
        targets.target(f"estimate(auto) a new size, {topo}",
                       float(new.group(1)) if new else float("nan"), "<", limit_ms, "ms",
                       f"simulate {sim_s:.3g} s (whole process)")


def _mpi(n, args):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "ubemu", *args]
    wall, _, out = once(cmd)
    return wall, re.sub(r"timed in [0-9.]+ s", "timed in _ s", out)


def mpi():
    for label, args, target in (("plan --sweep mixtral-8x7b atlas950-superpod (72 plans)", SWEEP,
                                 ">= 1.7x"),
                                ("faults sweep ub-mesh-pod direct 1G, 92 runs", FAULTS, ">= 1.7x"),
                                ("plan gpt3-175b TP8 PP8 DP15730 atlas960", PLAN960,
                                 "< 20 s with 2")):
        one, out1 = _mpi(1, args)
        two, out2 = _mpi(2, args)
        same = "identical" if out1 == out2 else "OUTPUT DIFFERS"
        show(f"{label}, mpiexec -n 2", two, note=f"{one / two:.2f}x against 1 process "
             f"({one:.1f} s); {same}  (target {target})")
        if target.startswith(">="):
            targets.target(f"{label}: speed-up with 2 processes", one / two, ">=", 1.7, "x",
                           f"1 process {one:.3g} s")
        else:
            targets.target(f"{label}: wall with 2 processes", two, "<", 20, "s", one)
        targets.check(f"{label}: output with 2 processes", out1 == out2,
                      "identical to 1 process", same)


def main():
    startup()
    million()
    estimates()
    mpi()


def test_bench_speed(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
