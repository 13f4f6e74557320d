"""Replicas' loads moved by coordinate shifts (ubemu.kernels.shifts) against their NumPy twin:
``linkmap.shift_links`` (itself checked against routing the moved ends,
``tests/timing/test_replicas.py``), ``np.add.at`` and the ids that were 0."""

import numpy as np
import pytest
from ubemu.kernels import shifts

from ubemu.machine import linkmap
from ubemu.machine.spec import preset_names, resolve_topology

SPECS = [*preset_names(), "full_mesh:4,ring:5,switch:3:oversub=2", "ring:6,ring:4,full_mesh:3",
         "ring:2,full_mesh:3,switch:4:trunk", "switch:8:trunk,switch:6:trunk,switch:3@50GBps",
         "full_mesh:4,switch:4@100GBps/1us:oversub=4", "ring:2,ring:2,full_mesh:2"]


def _expected(acc, ids, values):
    """``acc`` after ``np.add.at``, and the distinct ids whose entry was 0 before."""
    fresh = np.unique(ids[acc[ids] == 0.0])
    out = acc.copy()
    np.add.at(out, ids, values)
    return out, fresh


@pytest.mark.parametrize("spec", SPECS)
def test_moved_links_and_their_loads_are_the_numpy_twins(spec):
    topo = resolve_topology(spec)
    rng = np.random.default_rng(7)
    ids = rng.integers(0, topo.n_links, 300)
    ids[:20] = ids[20:40]  # a link listed twice
    sizes = np.array(topo.sizes, np.int64)
    v = rng.integers(0, sizes, (9, sizes.size))
    v[0] = 0  # the replica itself
    values = rng.integers(0, 5, ids.size).astype(np.float64)  # some loads of 0 bytes
    acc = np.zeros(topo.n_links)
    acc[rng.integers(0, topo.n_links, topo.n_links // 3)] = 3.0  # links already loaded
    moved = linkmap.shift_links(topo, ids, v).ravel()
    want, fresh = _expected(acc, moved, np.tile(values, v.shape[0]))
    touched = np.full(5 + moved.size, -7, np.int64)
    mark = np.zeros(topo.n_links, np.uint8)
    n = shifts.scatter_links(acc, touched, 5, mark, values, v, sizes,
                             *linkmap.shift_weights(topo, ids))
    assert np.array_equal(acc, want)
    assert n == 5 + fresh.size and np.array_equal(np.sort(touched[5:n]), fresh)
    assert (touched[:5] == -7).all() and (touched[n:] == -7).all() and not mark.any()


def test_moved_npu_keys_and_their_loads_are_the_numpy_twins():
    rng = np.random.default_rng(3)
    n_npus, groups, ranks = 96, 12, 8
    rows = rng.permutation(n_npus).reshape(groups, ranks)
    members = np.array([1, 4, 5, 9, 11])
    rank = rng.integers(0, ranks, 40)
    offset = rng.integers(0, 2, rank.size) * n_npus  # reduced bytes, or messages
    values = rng.integers(0, 3, rank.size).astype(np.float64)
    acc = np.zeros(2 * n_npus)
    acc[rng.integers(0, 2 * n_npus, 50)] = 1.0
    keys = (rows[members][:, rank] + offset[None, :]).ravel()
    want, fresh = _expected(acc, keys, np.tile(values, members.size))
    touched, mark = np.full(keys.size, -1, np.int64), np.zeros(2 * n_npus, np.uint8)
    n = shifts.scatter_keys(acc, touched, 0, mark, values, rows, members, rank, offset)
    assert np.array_equal(acc, want)
    assert n == fresh.size and np.array_equal(np.sort(touched[:n]), fresh) and not mark.any()
