"""NumPy references for every collective, independent of ubemu's schedules."""

import numpy as np

_REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def reduce_rows(inputs, op):
    """Element-wise reduction over ranks (axis 0) in float64 / int64 accumulation."""
    acc = inputs.astype(np.int64 if inputs.dtype.kind in "iu" else np.float64)
    if op == "avg":
        return acc.sum(axis=0) / inputs.shape[0]
    return _REDUCE[op](acc, axis=0)


def expected(collective, inputs, op="sum", root=0):
    """The correct outputs of ``collective`` (layout as in ``ubemu.layout``)."""
    n = inputs.shape[0]
    if collective == "all_reduce":
        return np.broadcast_to(reduce_rows(inputs, op), inputs.shape)
    if collective == "reduce_scatter":
        return reduce_rows(inputs, op).reshape(n, -1)
    if collective == "all_gather":
        return np.broadcast_to(inputs.reshape(-1), (n, inputs.size))
    if collective == "alltoall":
        b = inputs.shape[1] // n
        return inputs.reshape(n, n, b).transpose(1, 0, 2).reshape(n, n * b)
    if collective == "broadcast":
        return np.broadcast_to(inputs[root], inputs.shape)
    if collective == "reduce":
        return reduce_rows(inputs, op)
    raise ValueError(collective)
