"""Small measurements of schedules shared by the algorithm tests."""

import numpy as np


def link_elements(sched):
    """Elements each rank sends over links (local copies excluded), step repeats counted."""
    out = np.zeros(sched.n_ranks, np.int64)
    for st in sched.steps():
        link = st.src != st.dst
        np.add.at(out, st.src[link], st.n[link] * st.repeat)
    return out


def refuses(collective, name, comm):
    """True where the algorithm's own check says it does not apply to ``comm``; the builder
    must then refuse it with the check's reason (asserted here, so a wrong refusal fails
    instead of skipping)."""
    import pytest

    from ubemu.algorithms import REGISTRY, build_schedule
    from ubemu.errors import UbemuError

    alg = REGISTRY[(collective, name)]
    why = alg.check(comm) if alg.check else None
    if why:
        with pytest.raises(UbemuError, match="cannot run on"):
            build_schedule(collective, name, comm, comm.n)
    return bool(why)


def run_against_reference(collective, name, comm, count, seed=1, **options):
    """Build and validate the schedule, interpret it on random integers and compare every
    output with the NumPy reference; returns the schedule."""
    from tests.interpret import interpret
    from tests.reference import expected
    from ubemu.algorithms import build_schedule
    from ubemu.collectives import get
    from ubemu.data.layout import pack_inputs, unpack_outputs

    sched = build_schedule(collective, name, comm, count, **options).validate()
    rng = np.random.default_rng(seed)
    t = sched.traffic
    inputs = rng.integers(-99, 99, size=get(collective).input_shape(comm.n, count, t))
    buf = pack_inputs(sched, inputs.astype(np.int64))
    interpret(sched, buf, "sum")
    np.testing.assert_array_equal(unpack_outputs(sched, buf), expected(
        collective, inputs, root=options.get("root", 0),
        counts=t.counts if t is not None else None))
    return sched


def data_and_timing(collective, name, comm, count, **options):
    """Data and timing-only schedules: both validate and send the same per-rank totals;
    returns the data schedule and those totals."""
    from ubemu.algorithms import build_schedule

    data = build_schedule(collective, name, comm, count, **options).validate()
    timing = build_schedule(collective, name, comm, count, data=False, **options).validate()
    assert data.n_steps == timing.n_steps
    sent = link_elements(data)
    np.testing.assert_array_equal(sent, link_elements(timing))
    return data, sent
