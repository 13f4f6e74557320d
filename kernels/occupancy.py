"""Which links operations in flight occupy (:mod:`ubemu.workloads.run`): a count of users per
link and, per link class, how many links have any.

:func:`enter` and :func:`leave` add or remove one operation's links in one pass: the
per-class count changes only where a link gains its first user or loses its last;
:func:`shared` says whether another operation is on any of them (no array made: it is asked
at every event of a play, of segments of millions of links).
"""

from ._jit import kernel


@kernel(inline="always")
def _class_of(link, class_first):
    """Index of the link class holding ``link`` (``class_first`` ascending from 0)."""
    lo, hi = 0, class_first.shape[0]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if class_first[mid] <= link:
            lo = mid
        else:
            hi = mid
    return lo


@kernel
def enter(ids, users, class_first, occupied):
    """One more user on each link of ``ids``; ``occupied[c]`` counts class c's links that
    have a user."""
    for t in range(ids.shape[0]):
        link = ids[t]
        if users[link] == 0:
            occupied[_class_of(link, class_first)] += 1
        users[link] += 1


@kernel
def leave(ids, users, class_first, occupied):
    """One user less on each link of ``ids`` (the inverse of :func:`enter`)."""
    for t in range(ids.shape[0]):
        link = ids[t]
        users[link] -= 1
        if users[link] == 0:
            occupied[_class_of(link, class_first)] -= 1


@kernel
def shared(ids, users):
    """True when a link of ``ids`` has more than one user."""
    for t in range(ids.shape[0]):
        if users[ids[t]] > 1:
            return True
    return False
