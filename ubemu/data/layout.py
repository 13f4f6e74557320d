"""Inputs into the per-rank working buffer and outputs out of it (the table is in
:mod:`ubemu.collectives`, whose record says where each collective's data sit).

Inputs and outputs are per-rank arrays: ``(n, count)`` inputs, or ``(n, count // n)`` where a
rank's input is its own block (all_gather, gather, hypercube); broadcast and scatter read
only the root's row. Outputs: ``(n, count)``; ``(n, count // n)`` where rank r ends with block
r (reduce_scatter, scatter); ``(count,)`` where only the root has a result (reduce, gather).
alltoallv takes ``(n, S)`` and gives ``(n, R)`` (its largest send and receive; a row past the
rank's own total is padding: inputs never sent, outputs left 0).
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
    n, count = schedule.n_ranks, schedule.count
    k = inputs.shape[0]
    buf = np.zeros((k, schedule.buf_count), dtype or inputs.dtype)
    if get(schedule.collective).in_block:
        b = count // n
        buf[:, :count].reshape(k, n, b)[np.arange(k), np.arange(lo, lo + k)] = inputs
    else:
        buf[:, :inputs.shape[1]] = inputs
    return buf


def rows_buffer(schedule, inputs, lo=0):
    """The working-buffer rows of ranks ``lo..``: ``inputs`` itself (run in place) when the
    buffer is just the inputs, else a new array (:func:`place_inputs`)."""
    if (not get(schedule.collective).in_block and schedule.collective != "alltoallv"
            and schedule.buf_count == schedule.count and inputs.flags.c_contiguous):
        return inputs
    return place_inputs(schedule, inputs, lo)


def unpack_outputs(schedule, buf):
    """Read the collective's outputs from the whole working buffer (a copy)."""
    if get(schedule.collective).out_place == "root":
        return buf[schedule.root, :schedule.count].copy()
    return output_rows(schedule, buf).copy()


def output_rows(schedule, buf, lo=0):
    """The outputs in buffer rows of ranks ``lo, lo + 1, ...`` (where only the root has a
    result: every row's), a view where the layout allows."""
    place, n, count = get(schedule.collective).out_place, schedule.n_ranks, schedule.count
    if schedule.collective == "alltoallv":
        s = schedule.traffic.in_count
        return buf[:, s:s + schedule.traffic.out_count]
    if place == "block":
        k, b = buf.shape[0], count // n
        return buf[:, :count].reshape(k, n, b)[np.arange(k), np.arange(lo, lo + k)]
    if place == "second":
        return buf[:, count:2 * count]
    return buf[:, :count]
