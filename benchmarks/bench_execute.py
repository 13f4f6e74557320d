"""Execute-kernel bandwidth: ring all-reduce on 64 virtual NPUs with 16 MiB of float32 each.

Run as ``python benchmarks/bench_execute.py [--npus 64] [--mib 16]`` (``make bench`` runs the
pytest-benchmark twin below, same case). Both print three figures
counted the same way, in GB/s (1e9 B/s) of bytes read + bytes written: a reducing transfer
of k elements reads 2k and writes k, a copy reads k and writes k, ``np.add(a, b, out=c)``
reads 2 and writes 1 per element (staging copies, when a step needs them, are not counted):

1. the Numba execute kernel (``ubemu.execute.execute``);
2. a straightforward NumPy run of the same schedule (a slice ``np.add`` / copy per transfer,
   staging a step's sources first when it needs it);
3. ``np.add(a, b, out=c)`` on arrays as large as the whole working buffer.

Target (reported to :mod:`targets`): the kernel reaches at least 70 % of ``np.add``'s
bandwidth. The kernel against the NumPy version is printed as a figure only: issue 3 also
asked for 3x, which was retired when it resolved, because at 256 KiB per transfer the
NumPy version already runs at this machine's plain-copy bandwidth (about 1 % call overhead),
so 3x would need more memory bandwidth than there is; with small transfers the kernel's
lead is large (4.6x at 1,024 NPUs x 0.25 MiB).
"""

import argparse
import time

import numpy as np
import targets

from ubemu.algorithms import build_schedule
from ubemu.data.plane import execute, needs_staging


def schedule_nbytes(schedule, itemsize):
    """Bytes read + written by the schedule's transfers (reduce: 3 per element, copy: 2)."""
    total = 0
    for step in schedule.steps():
        per_elem = np.where(step.reduce, 3, 2)
        total += int((per_elem * step.n).sum()) * itemsize
    return total


def numpy_execute(schedule, buf):
    """The schedule applied with one NumPy slice operation per transfer (sum op)."""
    for step in schedule.steps():
        stage = needs_staging(step, schedule.buf_count)
        src = ([buf[s, o:o + k].copy() for s, o, k in zip(step.src, step.src_off, step.n)]
               if stage else None)
        for t in range(step.n_transfers):
            d, o, k = step.dst[t], step.dst_off[t], step.n[t]
            vals = src[t] if stage else buf[step.src[t], step.src_off[t]:step.src_off[t] + k]
            out = buf[d, o:o + k]
            if step.reduce[t]:
                np.add(out, vals, out=out)
            else:
                out[...] = vals
    return buf


def _best_time_s(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _time_schedule(sched, rng, repeats):
    """Best wall times of the kernel and of the NumPy version on one buffer."""
    n = sched.n_ranks
    buf = rng.random((n, sched.buf_count), dtype=np.float32)
    warm = build_schedule("all_reduce", "ring", n, 4 * n)
    execute(warm, np.zeros((n, warm.buf_count), np.float32))  # compile / load the cache
    t_kernel = _best_time_s(lambda: execute(sched, buf), repeats)
    t_numpy = _best_time_s(lambda: numpy_execute(sched, buf), repeats)
    return t_kernel, t_numpy


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npus", type=int, default=64)
    ap.add_argument("--mib", type=float, default=16.0, help="MiB of float32 per NPU")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    n = args.npus
    count = int(args.mib * 2**20) // 4
    sched = build_schedule("all_reduce", "ring", n, count)
    nbytes = schedule_nbytes(sched, 4)
    rng = np.random.default_rng(0)
    t_kernel, t_numpy = _time_schedule(sched, rng, args.repeats)
    a = rng.random(n * count, dtype=np.float32)
    b = rng.random(n * count, dtype=np.float32)
    c = np.empty_like(a)
    t_add = _best_time_s(lambda: np.add(a, b, out=c), args.repeats)
    add_nbytes = 3 * a.nbytes

    bw = {"kernel": nbytes / t_kernel / 1e9, "numpy": nbytes / t_numpy / 1e9,
          "np.add": add_nbytes / t_add / 1e9}
    print(f"# ring all_reduce, {n} NPUs x {args.mib:g} MiB float32, "
          f"{sched.n_steps} steps, {nbytes / 1e9:.2f} GB read+written")
    print(f"execute kernel      {t_kernel * 1e3:9.1f} ms  {bw['kernel']:7.2f} GB/s")
    print(f"numpy per transfer  {t_numpy * 1e3:9.1f} ms  {bw['numpy']:7.2f} GB/s")
    print(f"np.add(a, b, out=c) {t_add * 1e3:9.1f} ms  {bw['np.add']:7.2f} GB/s  "
          f"({add_nbytes / 1e9:.2f} GB)")
    print(f"kernel / np.add = {bw['kernel'] / bw['np.add']:.2f} (target >= 0.70)")
    print(f"kernel / numpy  = {bw['kernel'] / bw['numpy']:.2f} (a figure; its 3x target is "
          f"retired: see the docstring)")
    targets.target(f"execute kernel / np.add bandwidth, ring all-reduce {n} NPUs x "
                   f"{args.mib:g} MiB", bw["kernel"] / bw["np.add"], ">=", 0.70, "x",
                   f"np.add {bw['np.add']:.3g} GB/s")


def test_bench_execute_ring_64x16MiB(benchmark):
    """pytest-benchmark: the execute kernel on ring all-reduce, 64 NPUs x 16 MiB float32;
    prints the kernel, NumPy and np.add figures of the same case first (run with -s)."""
    main([])
    sched = build_schedule("all_reduce", "ring", 64, 2**22)
    buf = np.random.default_rng(0).random((64, sched.buf_count), dtype=np.float32)
    benchmark.pedantic(execute, args=(sched, buf), rounds=3, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
