"""``ubemu.cli.request``: the checked SweepPlan of a collective command line."""

import dataclasses

import pytest

from ubemu.cli import build_parser
from ubemu.cli.request import (
    SweepPlan,
    check_seed,
    left_out_line,
    parse_options,
    per_level_choices,
    plan_from_args,
    round_sizes,
    sweep_sizes,
)
from ubemu.errors import UbemuError


def plan(*argv):
    return plan_from_args(build_parser().parse_args(list(argv)))


def test_sweep_sizes_like_nccl_tests():
    assert sweep_sizes(8, 128, factor=2) == [8, 16, 32, 64, 128]
    assert sweep_sizes(1024, 1 << 30, factor=4)[-1] == 1 << 30
    assert len(sweep_sizes(1024, 1 << 30, factor=4)) == 11
    assert sweep_sizes(8, 100, step_nbytes=40) == [8, 48, 88]
    assert sweep_sizes(0, 0, factor=2) == [0]
    assert sweep_sizes(100, 400, factor=1.5) == [100, 150, 225, 337]  # hccl_test's -f 1.5
    with pytest.raises(UbemuError, match="-f/--stepfactor must be > 1"):
        sweep_sizes(8, 64, factor=1)
    with pytest.raises(UbemuError, match="larger than -e"):
        sweep_sizes(2048, 1024, factor=2)
    with pytest.raises(UbemuError, match="more than 10000 sizes"):
        sweep_sizes(1, 1 << 30, step_nbytes=1)


def test_round_sizes():
    # all_gather on 8 ranks of float32: multiples of 32 B; 8 and 16 vanish, 40 -> 32 repeats.
    assert round_sizes([8, 16, 32, 40, 64], 32) == [32, 64]


def test_options():
    assert parse_options(["a=1", "b=0.5", "c=x"]) == {"a": 1, "b": 0.5, "c": "x"}
    for key, flag in (("topology", "--topo"), ("root", "-r/--root"),
                      ("per_level", "--per-level"), ("verify", "-c")):
        with pytest.raises(UbemuError, match=f"{key} is set by {flag}, not by -O"):
            parse_options([f"{key}=1"])


@pytest.mark.parametrize("seed", [-1, 2**63, True, 1.5])
def test_seed_out_of_range(seed):
    with pytest.raises(UbemuError, match=r"--seed must be an integer from 0 to 2?\d+"):
        check_seed(seed)


def test_seed_range_ends():
    assert check_seed(0) == 0 and check_seed(2**63 - 1) == 2**63 - 1


def test_plan_is_a_typed_dataclass():
    p = plan("all_gather", "--topo", "full_mesh:4", "-b", "8", "-e", "64", "-f", "2",
             "-d", "float,double", "--algo", "ring,auto", "-J", "x.json")
    assert isinstance(p, SweepPlan) and dataclasses.is_dataclass(p)
    assert p.collective == "all_gather" and p.n_ranks == 4 and p.ops == ("sum",)
    assert p.sizes_nbytes == (8, 16, 32, 64)
    assert p.per_dtype["float32"].sizes_nbytes == (16, 32, 64)  # 4 ranks x 4 B
    assert p.per_dtype["float64"].unit_nbytes == 32
    assert p.algorithms == ("ring", "auto") and p.output_file == "x.json"
    assert p.n_jobs == 2 * (3 + 2)
    assert p.jobs[0] == ("ring", "float32", "sum", None, 16)
    assert p.jobs[0].nbytes == 16 and p.jobs[0].root is None
    assert set(p.command_record()) == {"collective", "dtypes", "ops", "algorithms", "check",
                                       "group", "seed", "min_nbytes", "max_nbytes",
                                       "stepfactor", "step_nbytes", "options", "max_work",
                                       "every", "faults", "routing", "roots", "protocol"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 3


def test_options_root_and_per_level():
    p = plan("reduce", "--topo", "full_mesh:4", "-r", "2", "-O", "x=1")
    assert p.options == {"x": 1} and p.roots == (2,)
    assert plan("gather", "--topo", "full_mesh:4").roots == (0,)
    for every in ("all", "-1"):  # nccl-tests: every root, one row each
        p = plan("scatter", "--topo", "full_mesh:4", "-r", every, "-b", "1K", "-e", "2K",
                 "-f", "2")
        assert p.roots == (0, 1, 2, 3) and [j.root for j in p.jobs] == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(UbemuError, match=r"-r/--root: expected a rank 0\.\.3 or all"):
        plan("gather", "--topo", "full_mesh:4", "-r", "4")
    p = plan("all_reduce", "--per-level", "ring")
    assert p.options == {"per_level": "ring"}  # one name: every level
    p = plan("all_reduce", "--per-level", "ring,ring")
    assert p.options == {"per_level": ("ring", "ring")}


def test_per_level_choices_come_from_the_phase_registry():
    names = per_level_choices("all_reduce")
    assert "ring" in names and "double_binary_tree" in names  # the top level's all-reduce
    assert "double_binary_tree" not in per_level_choices("all_gather")
    assert "nccl" in names and "nccl" not in per_level_choices("all_gather")  # NVLSTree's pick
    assert plan("all_reduce", "--per-level", "innet,nccl").options == {
        "per_level": ("innet", "nccl")}
    with pytest.raises(UbemuError, match=r"\(--per-level\) 'rign'; did you mean 'ring'"):
        plan("reduce_scatter", "--per-level", "ring,rign")


def test_ops_of_a_collective_without_reduction():
    assert plan("all_gather", "-o", "max").ops == ("sum",)  # nccl-tests prints redop none
    with pytest.raises(UbemuError, match="unknown reduction op"):
        plan("all_gather", "-o", "mean")


def test_nccl_tests_ranks_are_the_topologys_first_npus():
    """-t/-g give the rank count (x processes) as in nccl-tests; --group must agree."""
    p = plan("all_reduce", "-g", "8", "-n", "20", "-w", "5")
    assert (p.n_ranks, p.group, p.ranks_from) == (8, "start=0,count=8", "-t 1 x -g 8")
    p = plan("all_reduce", "-t", "2", "-g", "4", "--group", "unit=board,at=8")
    assert p.n_ranks == 8 and p.group == "unit=board,at=8"
    assert plan("all_reduce").n_ranks == 64  # without -t/-g: every NPU, as before
    with pytest.raises(UbemuError, match="-t 1 x -g 65 gives 65 ranks but topology "
                                         "ub-mesh-rack has 64 NPUs"):
        plan("all_reduce", "-g", "65")
    with pytest.raises(UbemuError, match="-g/--ngpus must be >= 1"):
        plan("all_reduce", "-g", "0")


def test_step_factor_and_bytes_as_nccl_tests_reads_them():
    """A factor above 1 wins over -i; a factor of 1 (nccl-tests' default) steps by -i."""
    p = plan("all_reduce", "-b", "1K", "-e", "8K", "-f", "2", "-i", "1K")
    assert p.sizes_nbytes == (1024, 2048, 4096, 8192) and p.stepfactor == 2
    p = plan("all_reduce", "-b", "1K", "-e", "3K", "-f", "1", "-i", "1K")
    assert p.sizes_nbytes == (1024, 2048, 3072) and p.stepfactor is None


# -- the preflight of every row ----------------------------------------------------------------
@pytest.fixture
def one_gib(monkeypatch):
    """A host with 1 GiB of memory available; no schedule may be built by the preflight."""
    from ubemu.algorithms import work
    from ubemu.data import memory

    def refuse(*a, **k):
        raise AssertionError("the preflight built a schedule")

    monkeypatch.setattr(memory, "available_bytes", lambda: 2**30)
    monkeypatch.setattr(work, "build_schedule", refuse)


def test_rows_that_do_not_fit_are_left_out_before_the_first_runs(one_gib):
    p = plan("all_reduce", "--topo", "full_mesh:8", "-b", "1M", "-e", "64M", "-f", "4", "-c",
             "1", "--algo", "ring,hierarchical")
    # 64 MiB on 8 ranks: 512 MiB of buffers and 656 MiB of reference, over 1 GiB; 16M fits
    assert [(r[0], r[1], r[2], r[4]) for r in p.left_out] == [("ring", "float32", "sum", 64 << 20),
                                          ("hierarchical", "float32", "sum", 64 << 20)]
    assert [j.nbytes for j in p.jobs] == [1 << 20, 4 << 20, 16 << 20] * 2 and len(p.row_s) == 6
    assert all(type(r[-1]).__name__ == "OutOfMemory" for r in p.left_out)
    assert left_out_line(p) == (
        "# Left out, 2 of 8 rows (too big for this run): ring at 64M (1.3 GiB): over the 1.0 "
        "GiB of memory available; hierarchical at 64M (1.3 GiB): over the 1.0 GiB of memory "
        "available")
    timing = plan("all_reduce", "--topo", "full_mesh:8", "-b", "1M", "-e", "64M", "-f", "4",
                  "--algo", "ring,hierarchical")  # -c 0 needs no buffers: every row runs
    assert timing.left_out == () and left_out_line(timing) is None


def test_no_row_fits_is_one_refusal(one_gib):
    with pytest.raises(UbemuError, match=r"^memory: all_reduce of 16777216 elements on 8 ranks "
                                         r"needs about 1\.3 GiB"):
        plan("all_reduce", "--topo", "full_mesh:8", "-b", "64M", "-e", "256M", "-f", "4",
             "-d", "float32,bfloat16", "-c", "1", "--algo", "ring", "--max-work", "1e9")


def test_rows_over_the_work_limit_are_left_out_with_their_prediction():
    p = plan("alltoall", "--topo", "full_mesh:64", "-b", "64K", "-e", "64K", "--algo",
             "direct,bruck", "--max-work", "1000")
    assert [j[0] for j in p.jobs] == ["bruck"]
    assert left_out_line(p) == ("# Left out, 1 of 2 rows (too big for this run): direct at 64K "
                                "(4.03e+03 transfers): over --max-work 1e+03")
    assert "would route about 4.03e+03 transfers" in str(p.left_out[0][-1])


def test_row_seconds_grow_with_transfers_and_with_checked_data():
    small, large = (plan("all_reduce", "--topo", "full_mesh:64", "-b", "1K", "-e", "64M", "-f",
                         "8", "-c", c, "--algo", "halving_doubling,direct").row_s
                    for c in ("0", "1"))
    assert small[0] == small[1] < small[-1]  # timing only: direct routes 10x more
    assert large[0] < large[len(large) // 2 - 1] and large[-1] > 100 * small[-1]
