"""alltoallv (ubemu/algorithms/alltoallv.py): data against a plain reference, timing against
the alltoall, closed forms, the busiest receiver."""

import numpy as np
import pytest

import ubemu
from tests.reference import alltoallv_outputs
from ubemu.algorithms import algorithm_names, build_schedule
from ubemu.machine.spec import load_topology, with_params
from ubemu.timing.costmodel import NoClosedForm
from ubemu.traffic import resolve

ALGS = algorithm_names("alltoallv")
MOE = "moe:tokens=40,experts=24,topk=5,seed=2"


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("counts", [
    [[3, 0, 5], [1, 1, 1], [0, 7, 2]],
    [[0, 4, 0, 1], [2, 0, 0, 0], [0, 0, 0, 9], [1, 1, 1, 1]],
    [[5]],
    np.random.default_rng(3).integers(0, 6, (7, 7)).tolist()])
def test_emulate_moves_every_block_where_mpi_alltoallv_puts_it(alg, counts):
    counts = np.array(counts)
    inputs = np.random.default_rng(1).integers(-99, 99, (len(counts), counts.sum(axis=1).max()))
    got = ubemu.emulate("alltoallv", inputs.astype(np.int32), algorithm=alg, traffic=counts)
    np.testing.assert_array_equal(got, alltoallv_outputs(inputs, counts))


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("topo,group", [("switch:12@50GBps/1us", None), ("ub-mesh-rack", None),
                                        ("ub-mesh-rack", "unit=board")])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64"])
def test_checked_runs_have_nothing_wrong(alg, topo, group, dtype):
    for traffic in ("uniform", MOE, MOE + ",skew=1.5,combine"):
        n = ubemu.group_of(load_topology(topo), group).n
        if traffic != "uniform" and 24 % n:
            traffic = traffic.replace("experts=24", f"experts={2 * n}")
        res = ubemu.simulate("alltoallv", 40 * 5 * 12, topo, alg, dtype=dtype, group=group,
                             verify=True, traffic=traffic, seed=5)
        assert res.wrong == 0, (traffic, res.wrong)


def test_a_lost_block_is_counted(monkeypatch):
    """The check can fail: a direct schedule that drops one block gives wrong elements."""
    from ubemu.algorithms import alltoallv

    real = alltoallv._pairs

    def drop_one(t, src, dst, data):
        step = real(t, src, dst, data)
        step.n[np.flatnonzero(step.src != step.dst)[3]] = 0
        return step

    monkeypatch.setattr(alltoallv, "_pairs", drop_one)
    res = ubemu.simulate("alltoallv", 4096, "switch:8", "direct", verify=True, traffic=MOE
                         .replace("24", "16"))
    assert res.wrong > 0


@pytest.mark.parametrize("topo", ["switch:16@50GBps/1us", "ub-mesh-rack", "full_mesh:8",
                                  "torus:4x4"])
@pytest.mark.parametrize("alg", ALGS)
def test_uniform_traffic_times_as_the_alltoall(topo, alg):
    a = ubemu.simulate("alltoall", 3 << 16, topo, alg)
    v = ubemu.simulate("alltoallv", 3 << 16, topo, alg)
    assert (v.time_s, v.bottleneck, v.usage) == (a.time_s, a.bottleneck, a.usage)


@pytest.mark.parametrize("topo", ["switch:16@50GBps/1us", "full_mesh:8@100GBps/500ns",
                                  "cloudmatrix384"])
@pytest.mark.parametrize("costs", [[], ["send_overhead_ns=900", "recv_overhead_ns=400",
                                        "overhead_ns=700", "fill_bytes=65536", "fill_GBps=20"],
                                   ["send_overhead_ns=200", "recv_overhead_ns=3000",
                                    "efficiency=0.8"]])
@pytest.mark.parametrize("traffic", [MOE.replace("24", "48") + ",skew=2",
                                     MOE.replace("24", "48") + ",combine", "uniform"])
def test_closed_forms_equal_the_step_model(topo, costs, traffic):
    """Direct and pairwise on a group of one full-mesh or switch level: the closed form from
    the matrix equals routing every transfer, message costs and receive queues included."""
    tp = with_params(load_topology(topo), costs)
    group = "count=16" if tp.n_npus > 16 else None
    for alg in ("direct", "pairwise"):
        est = ubemu.estimate("alltoallv", 3 * 40 * 5 * 16, tp, alg, group=group,
                             traffic=traffic, fallback=False)
        sim = ubemu.simulate("alltoallv", 3 * 40 * 5 * 16, tp, alg, group=group,
                             traffic=traffic)
        assert est.exact and est.time_s == pytest.approx(sim.time_s, rel=1e-9), alg


def test_no_closed_form_over_several_levels_the_step_model_answers():
    est = ubemu.estimate("alltoallv", 1 << 16, "ub-mesh-rack", "direct", fallback=True,
                         traffic=MOE.replace("24", "64"))
    assert est.method == "step model" and "one level only" in est.note
    with pytest.raises(NoClosedForm):
        ubemu.estimate("alltoallv", 1 << 16, "ub-mesh-rack", "direct", fallback=False)


def test_the_busiest_receiver_decides():
    """One rank receives 8x what the others do: direct lasts its downlink's bytes."""
    n, b = 8, 1 << 16
    w = np.ones((n, n), np.int64)
    w[:, 3] = 8
    tp = load_topology("switch:8@50GBps/1us")
    res = ubemu.simulate("alltoallv", int(w.sum()) * b // n, tp, "direct", dtype="float16",
                         traffic=w)  # pair (i, j) carries w_ij b bytes
    assert resolve(w, n, int(w.sum()) * b // n // 2).counts[0, 3] * 2 == 8 * b
    assert res.time_s == pytest.approx(7 * 8 * b / 50e9 + 1e-6, rel=1e-12)
    assert res.bottleneck == "level0.down"
    assert res.notes["busiest_recv_elements"] * 2 == 7 * 8 * b
    uniform = ubemu.simulate("alltoallv", int(w.sum()) * b // n, tp, "direct", dtype="float16")
    assert res.time_s > 4 * uniform.time_s


def test_pairwise_steps_last_their_largest_block():
    w = np.array([[0, 1, 2, 3], [4, 0, 5, 6], [7, 8, 0, 9], [1, 1, 1, 0]]) * 1000
    tp = load_topology("switch:4@1GBps/0ns")
    res = ubemu.simulate("alltoallv", int(w.sum()) // 4, tp, "pairwise", dtype="float16",
                         traffic=w)
    ranks = np.arange(4)
    want = sum(w[ranks, (ranks + k) % 4].max() for k in (1, 2, 3)) / 1e9
    assert res.time_s == pytest.approx(want, rel=1e-12) and res.n_steps == 3


def test_traffic_is_refused_elsewhere_and_checked():
    with pytest.raises(ubemu.UbemuError, match="traffic"):
        ubemu.simulate("alltoall", 4096, "switch:8", "direct", traffic="uniform")
    with pytest.raises(ubemu.UbemuError, match="a matrix of 8 x 8"):
        ubemu.simulate("alltoallv", 4096, "switch:8", "direct", traffic=np.ones((4, 4)))
    with pytest.raises(ubemu.UbemuError, match="inputs' 3 columns must be 2 equal blocks"):
        ubemu.emulate("alltoallv", np.zeros((2, 3), np.int32), algorithm="direct")


def test_schedules_hold_their_traffic_and_validate():
    t = resolve(MOE, 8, 40 * 5 * 3)
    for alg in ALGS:
        sched = build_schedule("alltoallv", alg, 8, t.count, traffic=t).validate()
        assert sched.traffic is t and sched.buf_count >= t.in_count + t.out_count


@pytest.mark.parametrize("topo", ["full_mesh:3,full_mesh:4", "ring:2,switch:3,full_mesh:2",
                                  "switch:2,switch:1,switch:3"])
@pytest.mark.parametrize("per_level", ["pairwise", "direct"])
def test_hierarchical_relays_every_block_to_its_place(topo, per_level):
    """Dimension-ordered over the topology's levels, blocks of uneven sizes (some empty)
    relayed through scratch areas, against the plain reference."""
    n = load_topology(topo).n_npus
    rng = np.random.default_rng(n)
    counts = rng.integers(0, 5, (n, n)) * (rng.random((n, n)) > 0.3)
    inputs = rng.integers(-99, 99, (n, counts.sum(axis=1).max())).astype(np.int32)
    got = ubemu.emulate("alltoallv", inputs, topo, algorithm="hierarchical", traffic=counts,
                        per_level=per_level)
    np.testing.assert_array_equal(got, alltoallv_outputs(inputs, counts))


@pytest.mark.parametrize("per_level", ["pairwise", "direct"])
def test_hierarchical_times_as_the_alltoall_and_aggregates_messages(per_level):
    """Uniform traffic: the hierarchical all-to-all's time; MoE routing on a UB-Mesh rack,
    where every message costs 1.3 us: two steps of 7 aggregated messages beat one of 63."""
    for topo in ("ub-mesh-rack", "ub-mesh-pod"):
        a = ubemu.simulate("alltoall", 3 << 16, topo, "hierarchical", per_level=per_level)
        v = ubemu.simulate("alltoallv", 3 << 16, topo, "hierarchical", per_level=per_level)
        assert (v.time_s, v.usage) == (a.time_s, a.usage)
    moe = "moe:tokens=64,experts=64,topk=4,seed=1"
    hier = ubemu.simulate("alltoallv", 1 << 20, "ub-mesh-rack", "hierarchical",
                          per_level="direct", traffic=moe, verify=True)
    direct = ubemu.simulate("alltoallv", 1 << 20, "ub-mesh-rack", "direct", traffic=moe)
    assert hier.wrong == 0 and hier.n_steps == 2
    assert hier.time_s < 0.5 * direct.time_s and direct.bottleneck == "npu.messages"
