"""Channels and pipelining at 8,192 and 1,006,720 NPUs (issue 18): each run next to the same
run without them, in this run; the bar is 1.5x.

Run: ``python benchmarks/bench_channels.py`` (or within ``make bench``). Every case runs in a
fresh process (wall time and peak RSS its own), the kernels warmed first, in ``PAIRS`` pairs:
the plain run, then the run with channels or chunks, back to back; the figure is the median
of the pairs' ratios (one run of a million-NPU case moves 2-4x on these machines with the
page faults of the moment, and a pair shares them):

- ring all-reduce of 1 GiB in 2 and in 4 rail-aligned channels, against one ring: the
  channels' rings are one compact step (the first channels' blocks steady, the last one's
  sliding, :func:`ubemu.timing.shifts.time_steady_shift_steps`), every transfer routed once
  per collective (the reduce-scatter and the all-gather reuse the routes), the sliding
  channel's counted per link: k rings' routing against the plain ring's four (a profile and
  a load pass per phase);
- hierarchical all-reduce of 1 GiB pipelined in chunks of 1 MiB (every phase overlapping the
  next), and in 2 channels as well, against the plain hierarchical all-reduce: on switch
  levels the channels' rings send between the same pairs, so a joined step is 2 copies of
  one pattern, profiled routing one copy and timed from the sums of the channels' elements,
  never joined (:meth:`ubemu.timing.patterns.PatternProfiles._copies`,
  :class:`ubemu.algorithms.channels.JoinedStep`).
"""


import targets
from bench_scale import run

SIM = ("import ubemu; "
       "r = ubemu.simulate('all_reduce', 1 << 30, {topo!r}, {alg!r}{opts}); "
       "print(r.choice, f'{{r.time_s * 1e6:.1f}} us', r.bottleneck)")
#: Most time a run with channels or pipelining may take, over the same run without.
BAR = 1.5
#: Plain / channelled pairs run back to back per case (the median pair's ratio counts).
PAIRS = 3
CASES = [  # (label, algorithm, options)
    ("ring, 2 channels", "ring", {"channels": 2}),
    ("ring, 4 channels", "ring", {"channels": 4}),
    ("hierarchical, 1 MiB chunks", "hierarchical", {"chunk": 1 << 20}),
    ("hierarchical, 2 channels, 1 MiB chunks", "hierarchical",
     {"channels": 2, "chunk": 1 << 20}),
]


def sim(topo, alg, options):
    opts = "".join(f", {k}={v!r}" for k, v in options.items())
    return SIM.format(topo=topo, alg=alg, opts=opts)


def main():
    run("warm-up (compile or load the kernels)", sim("switch:64", "ring", {"channels": 2}))
    ratios = []
    for topo, npus in (("atlas950-superpod", "8,192"), ("atlas960-supercluster", "1,006,720")):
        for label, alg, options in CASES:
            pairs = []
            for _ in range(PAIRS):
                base_s = run(f"{npus} NPUs {alg}, plain", sim(topo, alg, {"channels": 1})).wall_s
                got = run(f"{npus} NPUs {label}", sim(topo, alg, options)).wall_s
                pairs.append((got / base_s, base_s))
            ratio, base_s = sorted(pairs)[len(pairs) // 2]
            ratios.append(ratio)
            print(f"  {ratio:.2f}x the plain run, median of {PAIRS} pairs "
                  f"({', '.join(f'{r:.2f}x' for r, _ in pairs)}; bar {BAR}x)"
                  + ("" if ratio <= BAR else "  OVER"), flush=True)
            targets.target(f"{npus} NPUs {label}, wall over the plain run", ratio,
                           "<=", BAR, "x", baseline=f"{base_s:.2f} s plain")
    return ratios


def test_bench_channels(benchmark):
    """pytest-benchmark entry: every case's pairs once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
