"""The training-step planner (issue 11): one step timed, and every plan of a machine ranked.

Run: ``python benchmarks/bench_training.py`` (or within ``make bench``). Each case runs in a
fresh process (wall time and peak RSS its own, the kernels' load included) and prints its
figures:

- GPT-3 175B, TP 8 x PP 8 x DP 128 on atlas950-superpod (8,192 NPUs), communication only and
  with 400 TFLOP/s per NPU: the step time and the exposed communication;
- the sweep of every valid TP x PP x DP plan of GPT-3 175B on atlas950-superpod (target
  < 5 min): the number of plans and the fastest;
  and again keeping only the plans that fit 128 GB per NPU (an example capacity; the rough
  memory figure of :func:`ubemu.training.formulas.memory_per_npu`);
- the sweep of Mixtral 8x7B (TP x PP x DP x EP).
"""

import targets
from bench_scale import run

ONE = ("import ubemu.training as tr; from ubemu.training import planner as tp; "
       "r = tp.plan(tr.get_model('gpt3-175b'), tr.Plan(tp=8, pp=8, dp=128), "
       "'atlas950-superpod', {flops}); "
       "print(f'step {{r.step_s * 1e3:.2f}} ms, compute {{r.compute_s * 1e3:.2f}} ms, '"
       "f'exposed {{r.exposed_s * 1e3:.2f}} ms, TP {{r.axis(\"tp\").time_s * 1e3:.2f}} ms, '"
       "f'DP {{r.axis(\"dp\").time_s * 1e3:.2f}} ms, {{r.bottleneck}}')")
SWEEP = ("import ubemu.training as tr; from ubemu.training import planner as tp; "
         "s = tp.sweep(tr.get_model({model!r}), 'atlas950-superpod', 400e12, "
         "memory_bytes={memory}); "
         "b = s.reports[0]; "
         "print(f'{{len(s.reports)}} plans ({{len(s.failed)}} failed, {{s.n_too_big}} over "
         "the memory) in {{s.wall_s:.1f}} s; '"
         "f'fastest {{b.plan.label()}} {{b.step_s * 1e3:.2f}} ms')")


def main():
    run("warm-up (compile or load the kernels)",
        "import ubemu.training as tr; from ubemu.training import planner as tp; "
        "tp.plan(tr.Model('t', layers=2, hidden=64, heads=8, seq_len=16, global_batch=8, "
        "vocab=10), tr.Plan(tp=8, dp=8), 'ub-mesh-rack')")
    run("GPT-3 175B TP8 PP8 DP128 atlas950, comm only", ONE.format(flops=None))
    run("GPT-3 175B TP8 PP8 DP128 atlas950, 400 TFLOP/s", ONE.format(flops=400e12))
    gpt = run("sweep GPT-3 175B on atlas950-superpod (< 5 min)",
              SWEEP.format(model="gpt3-175b", memory=None))
    targets.target("plan --sweep GPT-3 175B, atlas950-superpod", gpt.wall_s, "<", 300, "s")
    run("  the plans within 128 GB per NPU (example)",
        SWEEP.format(model="gpt3-175b", memory=128e9))
    moe = run("sweep Mixtral 8x7B on atlas950-superpod (< 5 min)",
              SWEEP.format(model="mixtral-8x7b", memory=None))
    targets.target("plan --sweep Mixtral 8x7B, atlas950-superpod", moe.wall_s, "<", 300, "s")


def test_bench_training(benchmark):
    """pytest-benchmark entry: every case once (run with -s to see the table)."""
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
