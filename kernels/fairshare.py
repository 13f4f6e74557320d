"""Max-min fair rates by progressive filling (:mod:`ubemu.workloads.sharing`), in one pass per
filling level and without a temporary array per level: a play of a million-NPU step meets
flows of millions of links, and every array made is memory first touched (on this VM,
page faults that cost 1-11 us each, as the host backs the page).

The flows are given as one array of link ids and one of uses, flow ``f`` owning entries
``offs[f]:offs[f + 1]``; the sums run in that order, so the figures are those of the NumPy
formulation (``np.bincount`` over the live entries) to the bit.
"""

import numpy as np

from ._jit import kernel


@kernel
def fill(offs, ids, use, scratch, full_tol, rates, limit):
    """Fill ``rates`` (each flow's speed in (0, 1]) and ``limit`` (the link that froze it,
    -1 for none) of the flows ``offs``/``ids``/``use``.

    Every unfrozen rate rises at the same pace until a link is full (spare below
    ``full_tol x max(load, 1)``: its flows freeze at that level, each naming the largest id
    of its full links) or the level reaches 1. ``scratch``: int64, -1 at every link id (left
    so).
    """
    n = offs.shape[0] - 1
    m = ids.shape[0]
    inv = np.empty(m, np.int64)
    links = np.empty(m, np.int64)
    k = 0
    for t in range(m):  # dense link numbers, in first-seen order
        link = ids[t]
        if scratch[link] < 0:
            scratch[link] = k
            links[k] = link
            k += 1
        inv[t] = scratch[link]
    for j in range(k):
        scratch[links[j]] = -1
    spare = np.ones(k)
    w = np.zeros(k)
    full = np.zeros(k, np.bool_)
    frozen = np.zeros(n, np.bool_)
    now = np.zeros(n, np.int64)
    level = 0.0
    for f in range(n):
        rates[f] = 0.0
        limit[f] = -1
    while True:
        live = False
        for f in range(n):
            live = live or not frozen[f]
        if not live:
            break
        for j in range(k):
            w[j] = 0.0
        for f in range(n):
            if not frozen[f]:
                for t in range(offs[f], offs[f + 1]):
                    w[inv[t]] += use[t]
        step = 1.0 - level
        for j in range(k):
            if w[j] > 0.0:
                step = min(step, spare[j] / w[j])
        level += step
        any_full = False
        for j in range(k):
            spare[j] -= step * w[j]
            full[j] = w[j] > 0.0 and spare[j] <= full_tol * max(w[j], 1.0)
            any_full = any_full or full[j]
        if level >= 1.0 or not any_full:
            for f in range(n):
                if not frozen[f]:
                    rates[f] = min(level, 1.0)
            break
        for f in range(n):
            now[f] = -1
            if not frozen[f]:
                for t in range(offs[f], offs[f + 1]):
                    if full[inv[t]]:
                        now[f] = max(now[f], links[inv[t]])
        for f in range(n):
            if now[f] >= 0:
                rates[f] = level
                limit[f] = now[f]
                frozen[f] = True
