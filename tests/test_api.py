"""The Python API: simulate (sizes, algorithm choice, options, errors, verification) and
emulate (every registered algorithm gives the NumPy reference's outputs, exact for ints)."""

import subprocess
import sys

import numpy as np
import pytest

import ubemu
from tests.helpers import refuses
from tests.reference import emulate_verify, expected
from ubemu import engine
from ubemu.algorithms import REGISTRY, algorithm_names
from ubemu.api import emulate
from ubemu.collectives import get
from ubemu.data.dtypes import finish_avg, from_float64, to_float64
from ubemu.errors import UbemuError
from ubemu.machine.comm import Comm
from ubemu.machine.groups import group_of
from ubemu.machine.spec import load_topology


def test_defaults_and_bandwidths():
    res = ubemu.simulate("all_reduce", 2**20, algorithm="ring")
    assert res.topology == "ub-mesh-rack" and res.n_ranks == 64
    assert res.count == 2**18 and res.nbytes == 2**20 and res.dtype == "float32"
    assert res.algbw_GBps == pytest.approx(2**20 / res.time_s / 1e9)
    assert res.busbw_GBps == pytest.approx(res.algbw_GBps * get("all_reduce").busbw_factor(64))
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
    cands, pruned = res.notes["auto_candidates"], res.notes["auto_pruned"]
    assert set(cands) | set(pruned) | set(res.notes["auto_skipped"]) == set(
        algorithm_names("all_reduce"))
    assert res.algorithm == min(cands, key=cands.get)
    assert res.time_s == cands[res.algorithm] and min(pruned.values()) >= res.time_s
    topo = ubemu.load_topology("full_mesh:8@56GBps/150ns")
    _, _, every = engine.choose("all_reduce", ubemu.group_of(topo), 2**14, topo, 4,
                                prune=False)  # timing every candidate: the same pick
    assert len(every["auto_candidates"]) > 1
    assert min(every["auto_candidates"], key=every["auto_candidates"].get) == res.algorithm
    explicit = ubemu.simulate("all_reduce", 2**16, "full_mesh:8@56GBps/150ns", res.algorithm)
    assert explicit.time_s == res.time_s


def test_auto_skips_algorithms_that_cannot_run():
    res = ubemu.simulate("alltoall", 2**16, "switch:8")  # multipath needs a 2-axis grid
    assert "multipath" in res.notes["auto_skipped"]
    assert res.algorithm != "multipath"


def test_groups_and_options():
    res = ubemu.simulate("all_reduce", 2**20, "ub-mesh-rack", "ring",
                         group={"unit": "board"})
    assert res.n_ranks == 8 and res.notes["group"] == "unit=board"
    res = ubemu.simulate("all_reduce", 2**20, "ub-mesh-rack", "hierarchical",
                         per_level="ring")
    assert tuple(res.notes["per_level"]) == ("ring", "ring")


@pytest.mark.parametrize("kwargs,match", [
    (dict(collective="all_reduce", algorithm="rign"), "valid: .*ring"),
    (dict(collective="allreduce"),
     "unknown collective 'allreduce'; did you mean 'all_reduce'\\? valid:"),
    (dict(collective="all_reduce", algorithm="ring", bogus=1), "unknown keyword 'bogus'"),
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
    assert (res.wrong, res.max_rel_err) == (0, None)  # exact: no rounding error to measure
    res = ubemu.simulate("all_gather", 4096, "switch:4", "ring", dtype="float32", verify=True)
    assert (res.wrong, res.max_rel_err) == (0, None)  # a copy: N/A like float32 all_reduce


def test_import_ubemu_stays_free_of_numba():
    code = ("import sys, ubemu; assert callable(ubemu.simulate); assert callable(ubemu.estimate);"
            " print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


KEYS = sorted(REGISTRY)
INT_OPS = ("sum", "prod", "max", "min", "avg")


def _int_expected(collective, inputs, op, dtype):
    if op != "avg" or collective not in ("all_reduce", "reduce_scatter", "reduce"):
        return expected(collective, inputs, op)
    s = expected(collective, inputs, "sum")
    return finish_avg(s.astype(dtype), inputs.shape[0], dtype.__name__)


def _check(collective, name, n, count, topology, dtype, op, seed):
    rng = np.random.default_rng(seed)
    hi = 3 if op == "prod" else 1000
    inputs = rng.integers(-hi, hi, size=get(collective).input_shape(n, count)).astype(dtype)
    comm = Comm.flat(n) if topology is None else group_of(topology)
    if refuses(collective, name, comm):
        return
    got = emulate(collective, inputs, topology, algorithm=name, op=op)
    np.testing.assert_array_equal(got, _int_expected(collective, inputs, op, dtype))
    assert got.dtype == dtype


@pytest.mark.parametrize("n", [1, 3, 8, 12])
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_flat_matches_reference_exactly(key, n):
    collective, name = key
    i = KEYS.index(key) + n
    count = 2 * n if get(collective).blocked else n + 5
    dtype = (np.int32, np.int64)[i % 2]
    _check(collective, name, n, count, None, dtype, INT_OPS[i % 5], seed=i)


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_ub_mesh_rack_matches_reference_exactly(key):
    collective, name = key
    i = KEYS.index(key)
    _check(collective, name, 64, 128, load_topology("ub-mesh-rack"), np.int64, INT_OPS[i % 5],
           seed=i)


def test_float_dtypes_and_conversion():
    x = np.random.default_rng(0).random((8, 16))
    out = emulate("all_reduce", x, dtype="bfloat16")
    assert out.dtype == np.uint16 and out.shape == (8, 16)
    ref = to_float64(from_float64(x, "bfloat16"), "bfloat16").sum(axis=0)
    np.testing.assert_allclose(to_float64(out, "bfloat16")[3], ref, rtol=8 * 2.0**-8)
    out16 = emulate("all_reduce", x.astype(np.float16), op="max")
    np.testing.assert_array_equal(out16[0], x.astype(np.float16).max(axis=0))


def test_topology_given_as_string_and_checked():
    x = np.ones((64, 8), np.int64)
    np.testing.assert_array_equal(emulate("all_reduce", x, "ub-mesh-rack",
                                          algorithm="hierarchical"), 64 * x)
    with pytest.raises(UbemuError, match="8 rows but topology 'ub-mesh-rack' has 64 NPUs"):
        emulate("all_reduce", np.ones((8, 8)), "ub-mesh-rack")
    with pytest.raises(UbemuError, match="cannot be emulated as int32"):
        emulate("all_reduce", np.ones((8, 8)), dtype="int32")
    with pytest.raises(UbemuError, match="valid: .*ring"):
        emulate("all_reduce", np.ones((8, 8)), algorithm="rign")


def test_package_level_emulate_is_lazy_and_callable():
    code = ("import sys, ubemu; assert 'numba' not in sys.modules; "
            "import numpy as np; out = ubemu.emulate('all_reduce', np.ones((4, 2))); "
            "assert (out == 4).all(); "
            "assert (ubemu.emulate('all_gather', np.ones((2, 1))) == 1).all()")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert callable(ubemu.emulate)


def test_emulate_verify_on_a_group_comm():
    comm = group_of(load_topology("ub-mesh-rack"))
    assert emulate_verify("all_reduce", "hierarchical", comm, 128, "bfloat16", "sum")[0] == 0


# -- keywords: a misspelt one is named, the builders' options still pass --------------------
_VALID = "collective, nbytes, topology, algorithm, dtype, op, group, verify, seed, max_work"


@pytest.mark.parametrize("algorithm, options", [
    ("auto", "options of the all_reduce algorithms: channels, chunk, n_rings, per_level"),
    ("ring", "options of all_reduce algorithm 'ring': channels"),
    ("hierarchical", "options of all_reduce algorithm 'hierarchical': per_level, channels, "
                     "chunk"),
])
def test_a_misspelt_keyword_of_simulate_is_named(algorithm, options):
    with pytest.raises(UbemuError) as info:
        ubemu.simulate("all_reduce", 1024, algorithm=algorithm, verfy=True)
    assert str(info.value) == (f"simulate(): unknown keyword 'verfy'; did you mean 'verify'? "
                               f"valid: {_VALID}, every, faults, routing, progress, protocol; "
                               f"{options}")


def test_builder_options_still_reach_the_algorithm():
    direct = ubemu.simulate("all_reduce", 1 << 20, algorithm="hierarchical", per_level="direct")
    ring = ubemu.simulate("all_reduce", 1 << 20, algorithm="hierarchical", per_level="ring")
    assert direct.time_s != ring.time_s
    picked = ubemu.simulate("all_reduce", 1 << 20, per_level="direct")  # auto: who takes it
    assert picked.algorithm == "hierarchical" and picked.time_s == direct.time_s
    with pytest.raises(UbemuError, match=r"^simulate\(\): unknown keyword 'perlevel'; did you "
                                         r"mean 'per_level'\?"):
        ubemu.simulate("all_reduce", 1 << 20, algorithm="hierarchical", perlevel="ring")


def test_misspelt_keywords_of_the_other_entry_points_are_named():
    from ubemu.workloads.ops import Op

    calls = [
        (lambda: ubemu.emulate("all_reduce", np.ones((4, 8), np.float32), algorithm="ring",
                               opp="max"), "emulate(): unknown keyword 'opp'; did you mean 'op'"),
        (lambda: ubemu.run_workload([Op("a", "all_reduce", 8)], topolgy="ub-mesh-rack"),
         "run_workload(): unknown keyword 'topolgy'; did you mean 'topology'? valid: ops, "
         "topology, max_work, faults, routing, progress"),
        (lambda: ubemu.plan("gpt3-175b", ubemu.Plan(tp=8), topolgy="ub-mesh-rack"),
         "plan(): unknown keyword 'topolgy'; did you mean 'topology'? valid: model, plan, "
         "topology, flops_per_npu"),
    ]
    for call, message in calls:
        with pytest.raises(UbemuError) as info:
            call()
        assert str(info.value).startswith(message)


def test_plan_takes_a_model_name_or_a_model():
    by_name = ubemu.plan("gpt3-175b", ubemu.Plan(tp=8, pp=8), "ub-mesh-rack")
    from ubemu.training.model import get_model

    by_model = ubemu.plan(get_model("gpt3-175b"), ubemu.Plan(tp=8, pp=8), "ub-mesh-rack")
    assert by_name.step_s == by_model.step_s and by_name.model == by_model.model
    with pytest.raises(UbemuError, match=r"^unknown model 'gpt3'; did you mean 'gpt3-175b'\?"):
        ubemu.plan("gpt3", ubemu.Plan(tp=8), "ub-mesh-rack")
    with pytest.raises(UbemuError, match="model must be a Model or a preset name"):
        ubemu.plan(3, ubemu.Plan(tp=8), "ub-mesh-rack")
