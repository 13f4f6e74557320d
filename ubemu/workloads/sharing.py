"""How operations in flight at once share links: max-min fairness over their progress rates.

Each operation in its bandwidth term is one flow. Running alone, its current step needs the
fraction ``use[l]`` of link l's capacity (1.0 on its busiest link: alone it finishes the
bandwidth term in exactly the step model's time). Together, operation a advances at a rate
``y[a]`` in (0, 1] of its solo speed, and every link must hold ``sum_a y[a] use[a, l] <= 1``.
The rates are the max-min fair allocation, found by progressive filling: every unfrozen rate
rises at the same pace until a link is full (its operations freeze at that rate) or the rate
reaches 1. Two operations that need all of one link each get half of it (each takes twice
its bandwidth term); operations on disjoint links keep their solo speed. This is the rule of
TCP-like fair sharing and of SimGrid's flow model, applied to a step's transfers as one flow
(they start and end together in the step model); equal *normalised* rates keep every step's
internal proportions, so a step never finishes faster than alone.
"""

import numpy as np

#: A link counts as full once its spare capacity is below this fraction.
FULL = 1e-12


def fair_rates(ids, use, scratch=None):
    """Max-min fair rates of several flows (:func:`ubemu.kernels.fairshare.fill`).

    Parameters
    ----------
    ids : list of int64 arrays
        The links each flow uses (each array without repeats).
    use : list of float64 arrays
        The fraction of each link's capacity the flow needs at full speed (max 1).
    scratch : int64 array, optional
        -1 at every link id (e.g. ``np.full(n_links, -1)``; left so), kept between calls;
        default one made for this call.

    Returns
    -------
    rates : float64 array (flows,)
        Each flow's speed as a fraction of its solo speed, in (0, 1].
    limit : int64 array (flows,)
        The link that froze each flow (-1: it runs at full speed).
    """
    from ..kernels import fairshare

    n = len(ids)
    offs = np.zeros(n + 1, np.int64)
    np.cumsum([a.size for a in ids], out=offs[1:])
    cat = np.concatenate(ids).astype(np.int64, copy=False) if n else np.zeros(0, np.int64)
    u = np.concatenate(use).astype(np.float64, copy=False) if n else np.zeros(0)
    if scratch is None:
        scratch = np.full(int(cat.max(initial=-1)) + 1, -1, np.int64)
    rates, limit = np.empty(n), np.empty(n, np.int64)  # the kernel fills them
    fairshare.fill(offs, cat, u, scratch, FULL, rates, limit)
    return rates, limit


class FairShare:
    """:func:`fair_rates` of operations sharing links, remembered per set of
    segments (a training step meets the same few combinations at many events). A segment has
    ``ids`` and ``use`` (one flow); ``users`` counts the operations on each link."""

    def __init__(self, n_links):
        self.scratch = np.full(n_links, -1, np.int64)
        self.known = {}

    def __call__(self, segments, users):
        key = tuple(id(s) for s in segments)
        if key not in self.known:  # the segments are kept with it, so their ids stay theirs
            keep = [users[s.ids] > 1 for s in segments]  # a link only one uses never binds
            got = fair_rates([s.ids[k] for s, k in zip(segments, keep)],
                             [s.use[k] for s, k in zip(segments, keep)], self.scratch)
            self.known[key] = (segments, got)
        return self.known[key][1]
