"""The training-step planner: one step timed, and every plan of a machine ranked (issue 19:
under 5 minutes on 8,192 NPUs, with the plans that do not fit in memory marked).

Run: ``python benchmarks/bench_training.py`` (or within ``make bench``). Each case runs in a
fresh process (wall time and peak RSS its own, the kernels' load included) and prints its
figures:

- GPT-3 175B, TP 8 x PP 8 x DP 128 on atlas950-superpod (8,192 NPUs): communication only
  (``mfu`` unset on a topology without an NPU is that; here the step with the NPU's compute
  modelled) and at a fixed 400 TFLOP/s;
- the sweep of every valid TP x PP x DP plan of GPT-3 175B on atlas950-superpod and on 1,024
  DGX H100 nodes (8,192 GPUs), compute modelled, each plan with the lightest recomputation
  that fits the NPU (target < 5 min): the number of plans, how many do not fit (marked, ranked
  last) and the fastest;
- the sweep of Mixtral 8x7B (TP x PP x DP x EP) on atlas950-superpod.
"""

import targets
from bench_scale import run

ONE = ("import ubemu.training as tr; from ubemu.training import planner as tp; "
       "r = tp.plan(tr.get_model('gpt3-175b'), tr.Plan(tp=8, pp=8, dp=128), "
       "'atlas950-superpod', {flops}); "
       "print(f'step {{r.step_s * 1e3:.2f}} ms, compute {{r.compute_s * 1e3:.2f}} ms, '"
       "f'exposed {{r.exposed_s * 1e3:.2f}} ms, TP {{r.axis(\"tp\").time_s * 1e3:.2f}} ms, '"
       "f'DP {{r.axis(\"dp\").time_s * 1e3:.2f}} ms, memory {{r.memory_bytes / 1e9:.1f}} GB, '"
       "f'{{r.bottleneck}}')")
SWEEP = ("import ubemu.training as tr; from ubemu.training.sweep import sweep; "
         "from ubemu.machine.spec import load_topology, with_npus; "
         "t = with_npus(load_topology({topo!r}), 8192); "
         "s = sweep(tr.get_model({model!r}), t); "
         "b = s.reports[0]; "
         "print(f'{{len(s.reports)}} plans on {{t.n_npus}} NPUs ({{len(s.failed)}} failed, '"
         "f'{{s.n_too_big}} do not fit, marked) in {{s.wall_s:.1f}} s; fastest that fits '"
         "f'{{b.plan.label()}} rc {{b.plan.recompute}} {{b.step_s * 1e3:.0f}} ms')")


def main():
    run("warm-up (compile or load the kernels)",
        "import ubemu.training as tr; from ubemu.training import planner as tp; "
        "tp.plan(tr.Model('t', layers=2, hidden=64, heads=8, seq_len=16, global_batch=8, "
        "vocab=10), tr.Plan(tp=8, dp=8), 'ub-mesh-rack')")
    run("GPT-3 175B TP8 PP8 DP128 atlas950, compute modelled", ONE.format(flops=None))
    run("GPT-3 175B TP8 PP8 DP128 atlas950, 400 TFLOP/s", ONE.format(flops=400e12))
    gpt = run("sweep GPT-3 175B on atlas950-superpod (< 5 min)",
              SWEEP.format(model="gpt3-175b", topo="atlas950-superpod"))
    targets.target("plan --sweep GPT-3 175B, atlas950-superpod", gpt.wall_s, "<", 300, "s")
    h100 = run("sweep GPT-3 175B on 1,024 DGX H100 (< 5 min)",
               SWEEP.format(model="gpt3-175b", topo="dgx-h100-multinode"))
    targets.target("plan --sweep GPT-3 175B, 1,024 DGX H100", h100.wall_s, "<", 300, "s")
    moe = run("sweep Mixtral 8x7B on atlas950-superpod (< 5 min)",
              SWEEP.format(model="mixtral-8x7b", topo="atlas950-superpod"))
    targets.target("plan --sweep Mixtral 8x7B, atlas950-superpod", moe.wall_s, "<", 300, "s")


def test_bench_training(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
