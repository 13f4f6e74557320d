"""ubemu.simulate: sizes, algorithm choice, options, errors, verification hook."""

import subprocess
import sys

import pytest

import ubemu
from ubemu.algorithms import REGISTRY, algorithm_names
from ubemu.errors import UbemuError
from ubemu.result import busbw_factor


def test_defaults_and_bandwidths():
    res = ubemu.simulate("all_reduce", 2**20, algorithm="ring")
    assert res.topology == "ub-mesh-rack" and res.n_ranks == 64
    assert res.count == 2**18 and res.nbytes == 2**20 and res.dtype == "float32"
    assert res.algbw_GBps == pytest.approx(2**20 / res.time_s / 1e9)
    assert res.busbw_GBps == pytest.approx(res.algbw_GBps * busbw_factor("all_reduce", 64))
    assert res.bottleneck in {u.name for u in res.usage}
    assert res.n_steps == 2 * 63 and res.wall_s > 0


def test_ring_on_a_switch_by_hand():
    # 2 (p-1) (a + S / (p B)): 8 ranks, 1 MiB, 100 GB/s, 2 us
    res = ubemu.simulate("all_reduce", 2**20, "switch:8@100GBps/2us", "ring", dtype="float64")
    assert res.time_s == pytest.approx(14 * (2e-6 + 2**20 / 8 / 100e9), rel=1e-12)


def test_nccl_tests_count_rounding():
    # all_gather: nbytes is the gathered size, rounded down to whole per-rank blocks
    res = ubemu.simulate("all_gather", 1000, "switch:8", "ring", dtype="float32")
    assert res.count == 248 and res.nbytes == 992  # 250 elements -> 31 per rank
    assert res.notes["nbytes_requested"] == 1000
    res = ubemu.simulate("all_reduce", 1001, "switch:8", "ring", dtype="float64")
    assert res.count == 125 and res.nbytes == 1000
    res = ubemu.simulate("all_reduce", 1000, "switch:8", "ring", dtype="bf16")
    assert res.count == 500 and res.dtype == "bfloat16"


def test_auto_picks_the_fastest_and_records_the_candidates():
    res = ubemu.simulate("all_reduce", 2**16, "full_mesh:8@56GBps/150ns")
    cands = res.notes["auto_candidates"]
    assert set(cands) <= set(algorithm_names("all_reduce")) and len(cands) > 1
    assert res.algorithm == min(cands, key=cands.get)
    assert res.time_s == cands[res.algorithm]
    explicit = ubemu.simulate("all_reduce", 2**16, "full_mesh:8@56GBps/150ns", res.algorithm)
    assert explicit.time_s == res.time_s


def test_auto_skips_algorithms_that_cannot_run():
    if ("alltoall", "multipath") not in REGISTRY:
        pytest.skip("multipath not registered")
    res = ubemu.simulate("alltoall", 2**16, "switch:8")  # multipath needs a 2-axis grid
    assert "multipath" in res.notes["auto_skipped"]
    assert res.algorithm != "multipath"


def test_groups_and_options():
    res = ubemu.simulate("all_reduce", 2**20, "ub-mesh-rack", "ring",
                         group={"unit": "board"})
    assert res.n_ranks == 8 and res.notes["group"] == "unit=board"
    if ("all_reduce", "hierarchical") in REGISTRY:
        res = ubemu.simulate("all_reduce", 2**20, "ub-mesh-rack", "hierarchical",
                             per_level="ring")
        assert res.notes["per_level"] == ["ring", "ring"] or res.notes["per_level"] == (
            "ring", "ring")


@pytest.mark.parametrize("kwargs,match", [
    (dict(collective="all_reduce", algorithm="rign"), "valid: .*ring"),
    (dict(collective="allreduce"),
     "unknown collective 'allreduce'; did you mean 'all_reduce'\\? valid:"),
    (dict(collective="all_reduce", algorithm="ring", bogus=1), "option .*'bogus'"),
    (dict(collective="all_reduce", dtype="float8"),
     "unknown dtype 'float8'; did you mean .*\\? valid:"),
    (dict(collective="all_reduce", op="xor"), "unknown op 'xor'; valid:"),
    (dict(collective="all_reduce", topology="no-such"), "unknown topology"),
    (dict(collective="all_reduce", nbytes=-1), "nbytes must be an integer >= 0"),
    (dict(collective="all_reduce", group=[0, 0]), "appears more than once"),
])
def test_bad_input_names_the_choices(kwargs, match):
    args = {"nbytes": 1024, "topology": "switch:4", **kwargs}
    with pytest.raises(UbemuError, match=match):
        ubemu.simulate(args.pop("collective"), args.pop("nbytes"), **args)


def test_verify_fills_wrong_and_16_bit_rounding_errors():
    res = ubemu.simulate("all_reduce", 4096, "switch:4", "ring", verify=True)
    assert res.wrong == 0 and res.max_rel_err is None  # float32: error not measured
    res = ubemu.simulate("all_reduce", 4096, "switch:64", "ring", dtype="bfloat16", verify=True)
    assert res.wrong == 0 and 0 < res.mean_rel_err <= res.max_rel_err < 0.1
    res = ubemu.simulate("all_reduce", 4096, "switch:4", "ring", dtype="int32", verify=True)
    assert (res.wrong, res.max_rel_err) == (0, 0.0)


def test_import_ubemu_stays_free_of_numba():
    code = ("import sys, ubemu; assert callable(ubemu.simulate); assert callable(ubemu.estimate);"
            " print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
