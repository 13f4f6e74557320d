"""Emulate a collective on real data: one row of inputs per virtual NPU in, outputs out.

``emulate`` builds the algorithm's schedule, packs the inputs into the working buffer
(:mod:`ubemu.layout`), runs the Numba execute kernel (:mod:`ubemu.execute`) and unpacks the
outputs; ``avg`` divides by the rank count at the end (:func:`ubemu.dtypes.finish_avg`).
"""


import numpy as np

from .algorithms import Comm, build_schedule
from .dtypes import check_op, finish_avg, from_float64, get_dtype
from .errors import UbemuError
from .execute import execute
from .groups import comm_for
from .layout import count_from_inputs, pack_inputs, unpack_outputs
from .verify import REDUCING

__all__ = ["emulate", "emulate_verify", "run", "comm_for", "as_storage"]



def as_storage(inputs, dtype):
    """``inputs`` in the storage type of ``dtype`` (floats rounded once to nearest even).

    bfloat16 takes ``uint16`` arrays as bit patterns and rounds float arrays; integer dtypes
    refuse float inputs rather than rounding them silently.
    """
    dt = get_dtype(dtype)
    a = np.asarray(inputs)
    if a.dtype == dt.storage:
        return a
    if a.dtype.kind == "f" and not dt.is_float:
        raise UbemuError(f"inputs of type {a.dtype.name} cannot be emulated as {dt.name}; "
                         f"convert them to an integer type first")
    if a.dtype.kind not in "fiub":
        raise UbemuError(f"inputs of type {a.dtype.name} are not numbers")
    if not dt.is_float:
        return a.astype(dt.storage)
    return from_float64(a.astype(np.float64), dt)


def emulate(collective, inputs, topology=None, algorithm="ring", op="sum", dtype=None,
            **options):
    """Run ``collective`` with ``algorithm`` on real data and return the outputs.

    Parameters
    ----------
    collective : str
        One of :data:`ubemu.schedule.COLLECTIVES` that ``algorithm`` implements.
    inputs : array (n_npus, m)
        Row ``r`` is NPU ``r``'s input (layout in :mod:`ubemu.layout`: ``m = count`` except
        all_gather, where ``m = count / n_npus``).
    topology : Topology or str, optional
        When given, its NPU count must equal ``n_npus`` and the communicator's axes are its
        levels of size > 1 (for hierarchical algorithms); otherwise a flat group.
    algorithm : str
        A registered algorithm name (never replaced by another).
    op : {'sum', 'prod', 'max', 'min', 'avg'}
    dtype : str, optional
        Element type (:mod:`ubemu.dtypes`); default: the inputs' NumPy type. Inputs of another
        type are converted (rounded to nearest even).
    **options
        Passed to the algorithm's builder.

    Returns
    -------
    ndarray
        Outputs in the dtype's storage type (bfloat16: uint16 bit patterns), shaped as in
        :mod:`ubemu.layout`.
    """
    inputs = np.asarray(inputs)
    dt = get_dtype(dtype if dtype is not None else inputs.dtype)
    check_op(dt, op)
    inputs = np.ascontiguousarray(as_storage(inputs, dt))
    count_from_inputs(collective, inputs)  # checks the shape
    n = inputs.shape[0]
    if n < 1:
        raise UbemuError("inputs need at least one row (one per NPU)")
    if topology is None:
        comm = Comm.flat(n)
    else:
        if isinstance(topology, str):
            from .topospec import load_topology

            topology = load_topology(topology)
        if topology.n_npus != n:
            raise UbemuError(f"inputs have {n} rows but topology {topology.name!r} has "
                             f"{topology.n_npus} NPUs (one row per NPU)")
        comm = comm_for(topology)
    return run(collective, algorithm, comm, inputs, op, dt, **options)


def run(collective, algorithm, comm, inputs, op="sum", dtype=None, **options):
    """Emulate on an explicit communicator (``inputs`` already in storage form, one row per
    rank of ``comm``); see :func:`emulate`."""
    dt = get_dtype(dtype if dtype is not None else inputs.dtype)
    count = count_from_inputs(collective, inputs)
    if inputs.shape[0] != comm.n:
        raise UbemuError(f"inputs have {inputs.shape[0]} rows for {comm.n} ranks")
    schedule = build_schedule(collective, algorithm, comm, count, **options)
    buf = pack_inputs(schedule, inputs, dt.storage)
    execute(schedule, buf, op, dt)
    out = unpack_outputs(schedule, buf)
    if op == "avg" and collective in REDUCING:
        out = finish_avg(out, comm.n, dt)
    return out


def emulate_verify(collective, algorithm, comm, count, dtype="float32", op="sum", seed=0,
                   **options):
    """Emulate on verification inputs and check: ``(wrong, max_rel_err, mean_rel_err)``.

    The exact inputs of :func:`ubemu.verify.make_inputs` give #wrong (a correct algorithm
    reports 0 at any rank count, a broken one never does). For float16 / bfloat16 reductions a
    second run on random data gives the rounding error of the algorithm's summation order (its
    elements are checked against the rigorous error bound too). For other float reductions the
    error is not measured (None); integers, max / min and copies are exact (0).

    Whole arrays in one process (:func:`emulate`, then :func:`ubemu.verify.verify`): the
    plain twin of ``ubemu.partition.emulate_verify``, which ``simulate`` uses and which the
    tests hold to this one.
    """
    from .verify import error_measured, make_inputs, needs_random_run, verify

    dt = get_dtype(dtype)
    root = options.get("root", 0)
    wrong, max_err, mean_err = 0, 0.0, 0.0
    kinds = ("exact", "random") if needs_random_run(collective, dt, op) else ("exact",)
    for kind in kinds:
        inputs = make_inputs(collective, comm.n, count, dt, op, seed, kind=kind)
        out = run(collective, algorithm, comm, inputs, op, dt, **options)
        bad, max_err, mean_err = verify(collective, out, inputs, op, dt, root=root)
        wrong += bad
    if not error_measured(collective, dt, op):
        return wrong, None, None
    return wrong, max_err, mean_err
