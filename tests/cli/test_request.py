"""``ubemu.cli.request``: the checked SweepPlan of a collective command line."""

import dataclasses

import pytest

from ubemu.cli import build_parser
from ubemu.cli.request import (
    SweepPlan,
    check_seed,
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
    assert p.jobs[0] == ("ring", "float32", "sum", 16)
    assert set(p.command_record()) == {"collective", "dtypes", "ops", "algorithms", "check",
                                       "group", "seed", "min_nbytes", "max_nbytes",
                                       "stepfactor", "step_nbytes", "options", "max_work",
                                       "every", "faults", "routing", "protocol"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 3


def test_options_root_and_per_level():
    p = plan("reduce", "--topo", "full_mesh:4", "-r", "2", "-O", "x=1")
    assert p.options == {"x": 1, "root": 2}
    p = plan("all_reduce", "--per-level", "ring")
    assert p.options == {"per_level": "ring"}  # one name: every level
    p = plan("all_reduce", "--per-level", "ring,ring")
    assert p.options == {"per_level": ("ring", "ring")}


def test_per_level_choices_come_from_the_phase_registry():
    names = per_level_choices("all_reduce")
    assert "ring" in names and "double_binary_tree" in names  # the top level's all-reduce
    assert "double_binary_tree" not in per_level_choices("all_gather")
    with pytest.raises(UbemuError, match=r"\(--per-level\) 'rign'; did you mean 'ring'"):
        plan("reduce_scatter", "--per-level", "ring,rign")


def test_ops_of_a_collective_without_reduction():
    assert plan("all_gather", "-o", "max").ops == ("sum",)  # nccl-tests prints redop none
    with pytest.raises(UbemuError, match="unknown reduction op"):
        plan("all_gather", "-o", "mean")
