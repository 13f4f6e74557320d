"""NumPy references for every collective, independent of ubemu's schedules."""

import numpy as np

_REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def reduce_rows(inputs, op):
    """Element-wise reduction over ranks (axis 0) in float64 / int64 accumulation."""
    acc = inputs.astype(np.int64 if inputs.dtype.kind in "iu" else np.float64)
    if op == "avg":
        return acc.sum(axis=0) / inputs.shape[0]
    return _REDUCE[op](acc, axis=0)


def alltoallv_outputs(inputs, counts):
    """Rank j's output: the blocks of ranks 0, 1, ... in order, each taken from the sender's
    row at the sum of what it sends the ranks before j; 0 past the end (a loop per pair)."""
    n = counts.shape[0]
    out = np.zeros((n, counts.sum(axis=0).max()), inputs.dtype)
    for j in range(n):
        pos = 0
        for i in range(n):
            start = counts[i, :j].sum()
            out[j, pos:pos + counts[i, j]] = inputs[i, start:start + counts[i, j]]
            pos += counts[i, j]
    return out


def expected(collective, inputs, op="sum", root=0, counts=None):
    """The correct outputs of ``collective`` (layout as in ``ubemu.data.layout``; alltoallv
    its element ``counts`` per pair)."""
    n = inputs.shape[0]
    if collective == "alltoallv":  # default: the all-to-all's equal blocks
        counts = np.full((n, n), inputs.shape[1] // n) if counts is None else counts
        return alltoallv_outputs(inputs, counts)
    if collective == "all_reduce":
        return np.broadcast_to(reduce_rows(inputs, op), inputs.shape)
    if collective == "reduce_scatter":
        return reduce_rows(inputs, op).reshape(n, -1)
    if collective in ("all_gather", "hypercube"):
        return np.broadcast_to(inputs.reshape(-1), (n, inputs.size))
    if collective == "gather":
        return inputs.reshape(-1)
    if collective == "scatter":
        return inputs[root].reshape(n, -1)
    if collective == "sendrecv":
        return np.roll(inputs, 1, axis=0)
    if collective == "alltoall":
        b = inputs.shape[1] // n
        return inputs.reshape(n, n, b).transpose(1, 0, 2).reshape(n, n * b)
    if collective == "broadcast":
        return np.broadcast_to(inputs[root], inputs.shape)
    if collective == "reduce":
        return reduce_rows(inputs, op)
    raise ValueError(collective)


def run_on_comm(collective, algorithm, comm, inputs, op="sum", dtype=None, **options):
    """The plain whole-array run: build, pack, execute in one process, unpack (avg finished)."""
    from ubemu import collectives
    from ubemu.algorithms import build_schedule
    from ubemu.data.dtypes import finish_avg, get_dtype
    from ubemu.data.layout import pack_inputs, unpack_outputs
    from ubemu.data.plane import execute

    dt = get_dtype(dtype if dtype is not None else inputs.dtype)
    coll = collectives.get(collective)
    sched = build_schedule(collective, algorithm, comm, coll.count_from_inputs(inputs.shape),
                           **options)
    buf = pack_inputs(sched, inputs, dt.storage)
    execute(sched, buf, op, dt)
    out = unpack_outputs(sched, buf)
    return finish_avg(out, comm.n, dt) if op == "avg" and coll.reducing else out


def emulate_verify(collective, algorithm, comm, count, dtype="float32", op="sum", seed=0,
                   **options):
    """The plain twin of the engine's check (:func:`ubemu.engine.run_checked`): whole arrays
    in one process, the same inputs and runs; ``(wrong, max_rel_err, mean_rel_err)``."""
    from ubemu.data import check as vf
    from ubemu.data.dtypes import get_dtype

    dt = get_dtype(dtype)
    root = options.get("root", 0)
    seen = []  # elements found wrong so far: an element counts once over the runs

    def one(kind, d, o):
        inputs = vf.make_inputs(collective, comm.n, count, d, o, seed, kind=kind)
        out = run_on_comm(collective, algorithm, comm, inputs, o, d, **options)
        if not seen:
            seen.append(np.zeros(out.reshape(1, -1).shape if collective == "reduce"
                                 else out.shape, np.bool_))
        return vf.verify(collective, out, inputs, o, d, root=root, seen=seen[0])

    wrong, max_err, mean_err = one("exact", dt, op)
    if not vf.exact_run_complete(collective, comm.n, dt, op):
        wrong += one("exact", get_dtype(vf.SHADOW_DTYPE), "sum")[0]
    if vf.needs_random_run(collective, dt, op):
        bad, max_err, mean_err = one("random", dt, op)
        wrong += bad
    if not vf.error_measured(collective, dt, op):
        return wrong, None, None
    return wrong, max_err, mean_err
