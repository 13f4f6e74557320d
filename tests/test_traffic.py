"""Per-pair sizes of alltoallv (ubemu/traffic.py): scaling, files, MoE routing, errors."""

import numpy as np
import pytest

from ubemu.errors import UbemuError
from ubemu.traffic import MoE, draw_experts, exact, moe_weights, parse_moe, resolve


def test_uniform_is_the_alltoall():
    t = resolve(None, 4, 4 * 10)
    assert (t.counts == 10).all() and t.label == "uniform"
    assert t.in_count == t.out_count == 40
    assert t.send_offsets[2].tolist() == [0, 10, 20, 30]
    assert t.recv_offsets[:, 1].tolist() == [0, 10, 20, 30]


def test_a_matrix_of_bytes_is_reproduced_at_its_mean():
    w = np.array([[0, 8, 4], [12, 4, 0], [4, 0, 16]])  # bytes; 48 in all
    t = resolve(w, 3, 48 // 3 // 4)  # float32: count = 4 elements per rank
    assert (t.counts * 4 == w).all()
    assert t.sends.tolist() == [3, 4, 5] and t.receives.tolist() == [4, 3, 5]
    assert t.in_count == 5 and t.out_count == 5
    doubled = resolve(w, 3, 8)  # twice the size: every pair twice as big
    assert (doubled.counts == 2 * t.counts).all()
    assert resolve(t, 3, 4) is t and (resolve(t, 3, 8).counts == doubled.counts).all()
    floats = resolve(w / 7.0, 3, 4)  # weights need not be integers
    assert (floats.counts * 4 == w).all()


def test_matrix_files(tmp_path):
    w = np.array([[1, 2], [3, 4]])
    np.save(tmp_path / "w.npy", w)
    np.savetxt(tmp_path / "w.csv", w, delimiter=",")
    np.savetxt(tmp_path / "w.txt", w)
    for name in ("w.npy", "w.csv", "w.txt"):
        t = resolve(str(tmp_path / name), 2, 5)
        assert t.counts.tolist() == [[1, 2], [3, 4]] and t.label == name
    with pytest.raises(UbemuError, match="a matrix of 3 x 3"):
        resolve(str(tmp_path / "w.npy"), 3, 5)
    (tmp_path / "bad.csv").write_text("1,x\n2,3\n")
    with pytest.raises(UbemuError, match="cannot read a matrix"):
        resolve(str(tmp_path / "bad.csv"), 2, 5)
    with pytest.raises(UbemuError, match="'nope.npy': not 'uniform', 'moe:...' or a matrix"):
        resolve("nope.npy", 2, 5)


@pytest.mark.parametrize("w,msg", [(np.ones((2, 3)), "a matrix of 2 x 2"),
                                   (np.array([[1, -1], [1, 1]]), ">= 0"),
                                   (np.zeros((2, 2)), "all zeros"),
                                   (np.array([[1, np.nan], [1, 1]]), "finite"),
                                   (np.array([["a", "b"], ["c", "d"]]), "must hold numbers")])
def test_bad_matrices(w, msg):
    with pytest.raises(UbemuError, match=msg):
        resolve(w, 2, 4)


def test_moe_routing_draws_topk_distinct_experts_per_token():
    moe = MoE(tokens=500, experts=32, topk=6, seed=4)
    e = draw_experts(moe, 2000)
    assert e.shape == (2000, 6) and e.min() >= 0 and e.max() < 32
    assert all(len(set(row)) == 6 for row in e.tolist())
    w = moe_weights(moe, 8)  # 4 experts per rank
    assert w.sum(axis=1).tolist() == [500 * 6] * 8  # every copy of every token, own included
    # uniform routing: every rank gets about 1/8 of the copies
    assert np.abs(w.sum(axis=0) / w.sum() - 1 / 8).max() < 0.02
    np.testing.assert_array_equal(moe_weights(MoE(500, 32, 6, seed=4, combine=True), 8), w.T)
    assert (moe_weights(MoE(500, 32, 6, seed=5), 8) != w).any()  # another seed, another draw


def test_skew_concentrates_the_routing_on_a_few_ranks():
    flat = moe_weights(MoE(tokens=2000, experts=64, topk=8, seed=1), 16).sum(axis=0)
    hot = moe_weights(MoE(tokens=2000, experts=64, topk=8, seed=1, skew=1.2), 16).sum(axis=0)
    assert flat.max() / flat.mean() < 1.05
    assert hot.max() / hot.mean() > 1.5


def test_moe_spec_strings():
    m = parse_moe("moe:tokens=4096,experts=256,topk=8,seed=3,skew=0.5,combine")
    assert m == MoE(4096, 256, 8, 3, 0.5, True)
    assert parse_moe(m.label) == m
    t = resolve("moe:tokens=64,experts=16,topk=2", 8, 64 * 2 * 10)  # a row is 10 elements
    assert (t.counts % 10 == 0).all() and t.sends.tolist() == [1280] * 8
    with pytest.raises(UbemuError, match="unknown traffic moe field 'token'; did you mean "
                                         "'tokens'"):
        parse_moe("moe:token=4")
    with pytest.raises(UbemuError, match="missing experts, topk"):
        parse_moe("moe:tokens=4")
    with pytest.raises(UbemuError, match="topk=9 must be <= experts=8"):
        parse_moe("moe:tokens=4,experts=8,topk=9")
    with pytest.raises(UbemuError, match="skew='x' is not a valid float"):
        parse_moe("moe:tokens=4,experts=8,topk=2,skew=x")
    with pytest.raises(UbemuError, match="skew=40 leaves too few experts to draw 8"):
        resolve("moe:tokens=64,experts=16,topk=8,skew=40", 8, 100)
    with pytest.raises(UbemuError, match="experts=12 must be a multiple of the 8 ranks"):
        resolve("moe:tokens=4,experts=12,topk=2", 8, 100)


def test_exact_counts():
    t = exact([[1, 2], [0, 3]])
    assert t.counts.tolist() == [[1, 2], [0, 3]] and t.count == 3
    with pytest.raises(UbemuError, match="whole numbers"):
        exact([[1.5, 2], [0, 3]])
