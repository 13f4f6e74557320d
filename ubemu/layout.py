"""Where a collective's inputs and outputs sit in the per-rank working buffer.

The table is in :mod:`ubemu.schedule`. ``inputs`` and outputs are per-rank arrays:

- all_reduce, reduce_scatter, alltoall, reduce: inputs ``(n, count)``;
- all_gather: inputs ``(n, count // n)``; broadcast: inputs ``(n, count)`` (only the root's row
  is used).
Outputs: all_reduce, all_gather, alltoall, broadcast ``(n, count)``; reduce_scatter
``(n, count // n)``; reduce ``(count,)`` (the root's result).
"""

import numpy as np

from .errors import UbemuError

IN_PLACE_ROWS = ("all_reduce", "reduce_scatter", "alltoall", "reduce", "broadcast")


def input_shape(collective, n, count):
    """Shape of the per-rank inputs for ``count`` elements on ``n`` ranks."""
    if collective == "all_gather":
        return (n, count // n)
    return (n, count)


def count_from_inputs(collective, inputs):
    """The collective's ``count`` implied by an inputs array of shape (n, m)."""
    if inputs.ndim != 2:
        raise UbemuError(f"inputs must be a 2-D (n_npus, count) array, got shape {inputs.shape}")
    n, m = inputs.shape
    return n * m if collective == "all_gather" else m


def pack_inputs(schedule, inputs, dtype=None):
    """Allocate the (n, buf_count) working buffer and place ``inputs`` in it."""
    coll, n, count = schedule.collective, schedule.n_ranks, schedule.count
    want = input_shape(coll, n, count)
    if inputs.shape != want:
        raise UbemuError(f"{coll}: inputs of shape {inputs.shape} do not match {want}")
    return place_inputs(schedule, inputs, 0, dtype)


def place_inputs(schedule, inputs, lo=0, dtype=None):
    """The working-buffer rows of ranks ``lo .. lo + len(inputs) - 1`` holding ``inputs``."""
    coll, n, count = schedule.collective, schedule.n_ranks, schedule.count
    k = inputs.shape[0]
    buf = np.zeros((k, schedule.buf_count), dtype or inputs.dtype)
    if coll == "all_gather":
        b = count // n
        buf[:, :count].reshape(k, n, b)[np.arange(k), np.arange(lo, lo + k)] = inputs
    else:
        buf[:, :count] = inputs
    return buf


def unpack_outputs(schedule, buf):
    """Read the collective's outputs from the working buffer (a copy)."""
    if schedule.collective == "reduce":
        return buf[schedule.root, :schedule.count].copy()
    return output_rows(schedule, buf).copy()


def output_rows(schedule, buf, lo=0):
    """The outputs in buffer rows of ranks ``lo, lo + 1, ...`` (reduce: every row's), a view
    where the layout allows."""
    coll, n, count = schedule.collective, schedule.n_ranks, schedule.count
    if coll == "reduce_scatter":
        k, b = buf.shape[0], count // n
        return buf[:, :count].reshape(k, n, b)[np.arange(k), np.arange(lo, lo + k)]
    if coll == "alltoall":
        return buf[:, count:2 * count]
    return buf[:, :count]
