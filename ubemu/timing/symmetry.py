"""Steps in which every NPU sends to every other, timed from the routes of NPU 0 alone.

On a topology whose NPUs are interchangeable (no ring of more than two units: a ring's two
directions carry different loads under minimal routing's tie-break), permuting the
coordinates of a level maps every link of a class onto the others and the every-peer pattern
onto itself. Every link of class ``c`` then carries ``n x crossings_c / links_c`` of the
pattern's messages, where ``crossings_c`` counts NPU 0's routes' links in the class, and the
longest of NPU 0's routes is the longest of all. The closed forms (:mod:`ubemu.timing.costmodel`)
and the timer (:class:`ubemu.schedule.AllPairs` steps) both use it.
"""

from functools import lru_cache

import numpy as np


def interchangeable(topology):
    """True when the every-peer pattern loads every link of a class alike (never under
    failed links or NPUs)."""
    return topology.faults is None and not any(lv.fabric == "ring" and lv.size > 2
                                               for lv in topology.levels)


@lru_cache(maxsize=8)
def npu0_routes(topology):
    """``(crossings per link class, longest route's latency in ns)`` of NPU 0's routes to
    every other NPU."""
    n = topology.n_npus
    paths, _, lat_ns = topology.route(np.zeros(n - 1, np.int64), np.arange(1, n, dtype=np.int64))
    crossings = np.bincount(topology.link_class_of(paths[paths >= 0]),
                            minlength=len(topology.link_classes))
    return crossings.astype(np.int64), float(lat_ns.max(initial=0.0))


def link_messages(topology):
    """Messages on each link of every class in the every-peer pattern (int64 per class), or
    None where they do not divide evenly (the symmetry does not hold)."""
    crossings, _ = npu0_routes(topology)
    counts = np.array([c.count for c in topology.link_classes], np.int64)
    total = crossings * topology.n_npus
    if (total % np.maximum(counts, 1)).any():
        return None
    return total // np.maximum(counts, 1)


def every_peer_cost(topology):
    """``(seconds per byte on the busiest link, longest path in s, {link class: seconds per
    byte})`` of the step in which every NPU sends one message to every other
    (:func:`ubemu.timing.costmodel.pattern_cost`'s figures)."""
    per_link = link_messages(topology)
    classes = {c.name: float(m) / (c.bw_GBps * 1e9 * eff) for m, c, eff in
               zip(per_link, topology.link_classes, topology.class_efficiency()) if m}
    return max(classes.values()), npu0_routes(topology)[1] * 1e-9, classes
