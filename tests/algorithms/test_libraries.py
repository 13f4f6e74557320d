"""A topology's library (ubemu.algorithms.libraries): auto chooses among its algorithms."""

import ubemu
from ubemu.algorithms import algorithm_names
from ubemu.algorithms.libraries import LIBRARIES, library_algorithms
from ubemu.estimator import estimate
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
