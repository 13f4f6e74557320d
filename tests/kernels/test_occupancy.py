"""The occupancy kernels (ubemu.kernels.occupancy) against a NumPy reference."""

import numpy as np
from ubemu.kernels import occupancy


def test_enter_and_leave_count_occupied_links_per_class():
    rng = np.random.default_rng(5)
    class_first = np.array([0, 10, 25, 40], np.int64)
    users = np.zeros(50, np.int32)
    occupied = np.zeros(4, np.int64)
    flows = [rng.choice(50, rng.integers(1, 30), replace=False).astype(np.int64)
             for _ in range(12)]
    inside = []
    for step in range(60):  # enter or leave flows at random, checking after each
        if inside and (rng.random() < 0.5 or len(inside) == len(flows)):
            f = inside.pop(rng.integers(len(inside)))
            occupancy.leave(flows[f], users, class_first, occupied)
        else:
            f = int(rng.choice([k for k in range(len(flows)) if k not in inside]))
            inside.append(f)
            occupancy.enter(flows[f], users, class_first, occupied)
        want_users = np.zeros(50, np.int32)
        for k in inside:
            want_users[flows[k]] += 1
        cls = np.searchsorted(class_first, np.flatnonzero(want_users), side="right") - 1
        assert np.array_equal(users, want_users), step
        assert occupied.tolist() == np.bincount(cls, minlength=4).tolist(), step
        for f in flows:
            assert occupancy.shared(f, users) == bool((want_users[f] > 1).any()), step
