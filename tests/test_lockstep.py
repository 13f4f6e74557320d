"""Steps of one group in lockstep replicas (ubemu.lockstep): compact or explicit, the same
transfers."""

import numpy as np
import pytest

from ubemu.lockstep import Replicas, replicate
from ubemu.schedule import AllPairs, Step


@pytest.mark.parametrize("base", [
    Step.make([0, 1, 2], [1, 2, 0], [5, 6, 7], reduce=[True, False, True], repeat=2),
    AllPairs(np.array([3, 3, 4]), repeat=3),
])
def test_replicas_hold_the_same_transfers_compact_or_explicit(base, monkeypatch):
    explicit = replicate(base, 4, 3)
    monkeypatch.setattr(AllPairs, "PART_TRANSFERS", 4)
    compact = Replicas(base, 4, 3)
    parts = list(compact.parts())
    assert len(parts) > 1 and compact.repeat == base.repeat
    for f in ("src", "dst", "n", "reduce"):
        whole = np.concatenate([getattr(p, f) for p in parts])
        mine = getattr(explicit, f) if isinstance(explicit, Step) else whole
        assert np.array_equal(np.sort(whole), np.sort(mine))
    assert compact.n_transfers == base.n_transfers * 4 == sum(p.n_transfers for p in parts)
