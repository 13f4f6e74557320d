"""What the closed forms describe a step with: partners, sizes, and the cost of the steps.

A cost (:mod:`ubemu.timing.costmodel`) names each message's partner (a shift, an :class:`Xor`
partner, a :class:`PermPartner`) and its bytes, and sums :class:`Cost` values.

Sizes that differ from rank to rank: a count that does not divide into ``p`` blocks gives
blocks of two sizes (``c // p + 1`` for the first ``c % p``); with fewer elements than ranks
some blocks are empty and their messages are not sent at all. The step-level model charges
each link, port and NPU what it really carries, so the closed forms follow the sizes
position by position: :class:`Sizes` says what each position of a line sends, and
:func:`line_figures` sums what every position sends and receives (bytes and messages) and
what every link carries, in O(p) per message (O(p) in all for a step to every peer).
"""

import numpy as np

from ..errors import UbemuError


class NoClosedForm(UbemuError):
    """The cost model has no closed form for this case (the step-level model answers)."""


class Cost(float):
    """A time in seconds that also counts the work of the steps it sums: ``transfers`` (each
    step's transfers, summed, as the timing model routes them), ``peak`` (the largest
    step's), ``held`` (the most a timing-only schedule holds at once: a compact all-pairs
    step holds one part, :class:`ubemu.schedule.AllPairs`) and ``moved`` (the transfers a
    data run applies: a ring's steps are timed from one routing of their pattern but
    applied one by one; default ``transfers``). While the model records
    (:meth:`ubemu.timing.stepcost.StepArithmetic.recorded`) it also carries ``parts``: each
    step's shape and how many times it occurs, so that channels can be joined step by step
    and a pipeline timed. Sums and integer multiples carry them along; the value is plain
    float arithmetic. ``hidden``: the most one of its sliced steps hid
    (:mod:`ubemu.timing.slices`), which the value includes once: a sum pays the larger of
    its terms' once, k times a cost pays it once."""

    __slots__ = ("transfers", "peak", "held", "moved", "parts", "hidden")

    def __new__(cls, value, transfers=0, peak=0, held=0, moved=None, parts=(), hidden=0.0):
        obj = float.__new__(cls, value)
        obj.transfers, obj.peak, obj.held = transfers, peak, held
        obj.moved = transfers if moved is None else moved
        obj.parts = parts
        obj.hidden = hidden
        return obj

    def __add__(self, other):
        more = other if isinstance(other, Cost) else _NO_WORK  # a plain number: no work
        h_self, h_other = self.hidden, more.hidden
        hidden = h_other if h_other > h_self else h_self  # max(), as plain comparisons
        value = float(self) + float(other) if not hidden else \
            (float(self) - h_self) + (float(other) - h_other) + hidden
        return Cost(value, self.transfers + more.transfers,
                    more.peak if more.peak > self.peak else self.peak,
                    more.held if more.held > self.held else self.held,
                    self.moved + more.moved, self.parts + more.parts, hidden)

    __radd__ = __add__

    def __mul__(self, k):
        if isinstance(k, float) and not k.is_integer():
            return float(self) * k
        k = int(k)
        hidden = self.hidden if k else 0.0
        value = float(self) * k if not hidden else (float(self) - hidden) * k + hidden
        return Cost(value, self.transfers * k, self.peak if k else 0,
                    self.held if k else 0, self.moved * k,
                    tuple((spec, m * k) for spec, m in self.parts if k), hidden)

    __rmul__ = __mul__


#: What a plain number adds to a :class:`Cost`'s work: nothing.
_NO_WORK = Cost(0.0)


class Xor(int):
    """An XOR partner: rank ``r``'s message goes to rank ``r ^ m``."""


class PermPartner:
    """An explicit partner per rank (``dst[r]``; ``dst[r] == r`` sends nothing), keyed by
    ``key`` for caching."""

    __slots__ = ("key", "dst")

    def __init__(self, key, dst):
        self.key, self.dst = key, dst

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, PermPartner) and other.key == self.key


class Sizes:
    """Bytes that differ from rank to rank along one line: the rank at position ``q`` sends
    ``vec[(q + rot) % p]`` (0: no message). Equal sizes are passed as a plain number instead.
    ``exact=False`` (:meth:`between`): only the largest and the smallest are known, and the
    step is bounded."""

    __slots__ = ("vec", "rot", "exact", "_top", "_low")

    def __init__(self, vec, rot=0, exact=True):
        self.vec, self.rot, self.exact, self._top, self._low = vec, int(rot), exact, None, None

    @classmethod
    def between(cls, lo, hi):
        """Sizes from ``lo`` to ``hi`` bytes, the largest sent by some rank (a number when
        equal)."""
        if lo == hi:
            return hi
        out = cls(np.array([hi, lo], np.int64), exact=False)
        out._top, out._low = int(hi), int(lo)
        return out

    def max(self):
        if self._top is None:
            self._top = int(self.vec.max())
        return self._top

    def min(self):
        if self._low is None:
            self._low = int(self.vec.min())
        return self._low

    def row(self):
        """Each position's bytes, in position order."""
        return np.roll(self.vec, -self.rot) if self.rot % self.vec.size else self.vec


def line_figures(p, sizes, came, links):
    """What the messages of one step on a line of ``p`` positions carry.

    Parameters
    ----------
    sizes : list of int or Sizes
        Per message (one per rank each): the bytes each position sends.
    came : list of int64 arrays (p,)
        Per message: the position each position receives it from.
    links : list of int
        Per message: its link from a position (messages to one partner share it); a shift
        ``k`` is ``k - p``.

    Returns
    -------
    (busiest link's bytes, largest message's bytes, and by position (p,) the bytes sent, the
    bytes received, the messages sent, the messages received)
    """
    every = _every_peer(p, sizes, links)
    if every is not None:
        return every
    pos = np.arange(p)
    same = sizes[0]
    if all(isinstance(b, Sizes) and b.vec is same.vec for b in sizes):
        rots = np.array([b.rot for b in sizes])  # rotations of one vector: at once
        sent = same.vec[(pos[None, :] + rots[:, None]) % p]
    else:
        sent = np.stack([b.row() if isinstance(b, Sizes) else np.full(p, b, np.int64)
                         for b in sizes])
    # sent: (messages, positions), the bytes each position sends; got: receives
    got = np.take_along_axis(sent, np.stack(came), 1)
    big = int(sent.max())
    link = big if len(set(links)) == len(links) else max(  # messages to one partner: one link
        int(sent[[k == key for k in links]].sum(0).max()) for key in set(links))
    return link, big, sent.sum(0), got.sum(0), (sent > 0).sum(0), (got > 0).sum(0)


def _every_peer(p, sizes, links):
    """:func:`line_figures` of a step in which every position sends to every other at once
    one vector's blocks, the receiver's (``rot`` = shift: a reduce-scatter's) or its own
    (``rot`` = 0: an all-gather's), in O(p); None for any other step."""
    v = getattr(sizes[0], "vec", None)
    if len(sizes) != p - 1 or any(not isinstance(b, Sizes) or b.vec is not v for b in sizes):
        return None
    shifts = [k + p for k in links]
    rots = [b.rot % p for b in sizes]
    scatter = rots == shifts
    if sorted(shifts) != list(range(1, p)) or not (scatter or not any(rots)):
        return None
    nz = (v > 0).astype(np.int64)
    others = (v.sum() - v, nz.sum() - nz)  # every block but one's own: bytes, messages
    own = ((p - 1) * v, (p - 1) * nz)  # one's own block, p-1 times
    out, into = (others, own) if scatter else (own, others)
    big = int(v.max())
    return big, big, out[0], into[0], out[1], into[1]
