"""Small measurements of schedules shared by the algorithm tests."""

import numpy as np


def link_elements(sched):
    """Elements each rank sends over links (local copies excluded), step repeats counted."""
    out = np.zeros(sched.n_ranks, np.int64)
    for st in sched.steps():
        link = st.src != st.dst
        np.add.at(out, st.src[link], st.n[link] * st.repeat)
    return out


def skip_unless_applies(collective, name, comm):
    """Skip where the algorithm's own check says it does not apply to ``comm`` (and only
    there: every other refusal is a failure)."""
    import pytest

    from ubemu.algorithms import REGISTRY

    alg = REGISTRY[(collective, name)]
    why = alg.check(comm) if alg.check else None
    if why:
        pytest.skip(f"{collective} {name} on {comm.shape_label}: {why}")
