"""Channels and pipelining at 8,192 and 1,006,720 NPUs (issue 18): each run next to the same
run without them, in this run; the bar is 1.5x.

Run: ``python benchmarks/bench_channels.py`` (or within ``make bench``). Every case runs in a
fresh process (wall time and peak RSS its own), the kernels warmed first:

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

SIM = ("import ubemu; r = ubemu.simulate('all_reduce', 1 << 30, {topo!r}, {alg!r}{opts}); "
       "print(r.choice, f'{{r.time_s * 1e6:.1f}} us', r.bottleneck)")
#: Most time a run with channels or pipelining may take, over the same run without.
BAR = 1.5
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
        base = {}
        for label, alg, options in CASES:
            if alg not in base:
                base[alg] = run(f"{npus} NPUs {alg}, plain", sim(topo, alg, {"channels": 1})).wall_s
            got = run(f"{npus} NPUs {label}", sim(topo, alg, options)).wall_s
            base_s = base[alg]
            ratios.append(got / base_s)
            print(f"  {got / base_s:.2f}x the plain run (bar {BAR}x)"
                  + ("" if got / base_s <= BAR else "  OVER"), flush=True)
            targets.target(f"{npus} NPUs {label}, wall over the plain run", got / base_s,
                           "<=", BAR, "x", baseline=f"{base_s:.2f} s plain")
    return ratios


def test_bench_channels(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
