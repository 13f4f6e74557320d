"""Small measurements of schedules shared by the algorithm tests."""

import numpy as np


def link_elements(sched):
    """Elements each rank sends over links (local copies excluded), step repeats counted."""
    out = np.zeros(sched.n_ranks, np.int64)
    for st in sched.steps():
        link = st.src != st.dst
        np.add.at(out, st.src[link], st.n[link] * st.repeat)
    return out
