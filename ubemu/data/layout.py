"""Inputs into the per-rank working buffer and outputs out of it (the table is in
:mod:`ubemu.collectives`).

Inputs and outputs are per-rank arrays: all_reduce, reduce_scatter, alltoall, reduce and
broadcast take ``(n, count)`` inputs (broadcast uses only the root's row), all_gather
``(n, count // n)``. Outputs: all_reduce, all_gather, alltoall, broadcast ``(n, count)``;
reduce_scatter ``(n, count // n)``; reduce ``(count,)`` (the root's result). alltoallv takes
``(n, S)`` and gives ``(n, R)`` (its largest send and receive; a row past the rank's own
total is padding: inputs never sent, outputs left 0).
"""

import numpy as np

from ..collectives import get
from ..errors import UbemuError


def pack_inputs(schedule, inputs, dtype=None):
    """Allocate the (n, buf_count) working buffer and place ``inputs`` in it."""
    want = get(schedule.collective).input_shape(schedule.n_ranks, schedule.count,
                                                schedule.traffic)
    if inputs.shape != want:
        raise UbemuError(f"{schedule.collective}: inputs of shape {inputs.shape} do not match "
                         f"{want}")
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
        buf[:, :inputs.shape[1]] = inputs
    return buf


def rows_buffer(schedule, inputs, lo=0):
    """The working-buffer rows of ranks ``lo..``: ``inputs`` itself (run in place) when the
    buffer is just the inputs, else a new array (:func:`place_inputs`)."""
    if (schedule.collective not in ("all_gather", "alltoallv")
            and schedule.buf_count == schedule.count and inputs.flags.c_contiguous):
        return inputs
    return place_inputs(schedule, inputs, lo)


def unpack_outputs(schedule, buf):
    """Read the collective's outputs from the whole working buffer (a copy)."""
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
    if coll == "alltoallv":
        s = schedule.traffic.in_count
        return buf[:, s:s + schedule.traffic.out_count]
    return buf[:, :count]
