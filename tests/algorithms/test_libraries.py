"""A topology's library (ubemu.algorithms.libraries): auto chooses among its algorithms."""

import pytest

import ubemu
from ubemu.algorithms import algorithm_names, get_algorithm
from ubemu.algorithms.channels import library_options
from ubemu.algorithms.hier_cost import level_names
from ubemu.algorithms.libraries import LIBRARIES, library_algorithms, library_level
from ubemu.estimator import estimate
from ubemu.machine.comm import Comm
from ubemu.machine.spec import load_topology


def test_every_library_algorithm_is_registered():
    for collectives in LIBRARIES.values():
        for coll, names in collectives.items():
            assert set(names) <= set(algorithm_names(coll)), coll


def test_auto_on_an_nccl_machine_chooses_nccl_algorithms():
    t = load_topology("dgx-h100")
    assert t.library == "nccl" and load_topology("ub-mesh-rack").library == ""
    assert library_algorithms(t, "all_reduce", algorithm_names("all_reduce")) == ["innet",
                                                                                   "ring"]
    for nbytes in (8, 1 << 20, 1 << 30):
        res = ubemu.simulate("all_reduce", nbytes, t)
        assert res.algorithm in ("ring", "innet")
        assert set(res.notes["auto_candidates"]) | set(res.notes["auto_pruned"]) <= {
            "ring", "innet"}
        assert estimate("all_reduce", nbytes, t).algorithm == res.algorithm
    # a named algorithm still runs, whatever the library
    assert ubemu.simulate("all_reduce", 1 << 20, t, "direct").algorithm == "direct"


def test_every_collective_has_an_algorithm_on_an_nccl_machine():
    """auto never finds none: a collective NCCL runs point to point (alltoallv, scatter,
    gather, sendrecv) has its exchange; one the table does not list keeps every algorithm."""
    from ubemu.algorithms import REGISTRY

    t = load_topology("dgx-h100")
    for coll in sorted({c for c, _ in REGISTRY}):
        assert library_algorithms(t, coll, algorithm_names(coll)), coll
    assert library_algorithms(t, "not_listed", ["a", "b"]) == ["a", "b"]
    res = ubemu.simulate("alltoallv", 1 << 20, t, traffic="moe:tokens=256,experts=8,topk=2")
    assert res.algorithm == "direct"


def test_nccl_runs_nvlstree_across_more_than_two_nodes():
    """innet left to NCCL (``per_level`` unset) runs a double binary tree across the nodes
    beyond two (NVLSTree; docs/sources.md), a ring across two; a name given is kept; other
    libraries and algorithms get nothing."""
    assert [library_level("nccl", d) for d in (1, 2, 3, 8)] == [
        "ring", "ring", "double_binary_tree", "double_binary_tree"]
    assert level_names(Comm((8, 4)), "nccl") == ("double_binary_tree",) * 2
    t = load_topology("dgx-h100-multinode")
    innet = get_algorithm("all_reduce", "innet")
    assert library_options(innet, t, 1 << 20, 4, {})["per_level"] == "nccl"
    assert library_options(innet, t, 1 << 20, 4, {"per_level": "ring"})["per_level"] == "ring"
    assert "per_level" not in library_options(get_algorithm("all_reduce", "hierarchical"), t,
                                              1 << 20, 4, {})
    assert "per_level" not in library_options(innet, load_topology("ub-mesh-rack"), 1 << 20,
                                              4, {})
    for nodes, across, choice in ((2, "ring", "innet ch=16"), (4, "double_binary_tree",
                                                               "innet+tree ch=16")):
        res = ubemu.simulate("all_reduce", 1 << 30, t, "innet", group=f"start=0,count={8 * nodes}")
        assert tuple(res.notes["per_level"]) == ("innet", across)
        assert res.choice.startswith(choice)
        est = estimate("all_reduce", 1 << 30, t, "innet", group=f"start=0,count={8 * nodes}",
                       fallback=False)
        assert est.exact and est.time_s == pytest.approx(res.time_s, rel=1e-9)
