"""A closed-form step's shape and its figures (the records of :mod:`ubemu.timing.stepcost`).

:class:`Spec` is what a cost function says a step is (its messages, or every rank to every
other, a full mesh's busiest links, an in-switch operation); :class:`Figures` is what the
step arithmetic makes of it before the timing rule turns it into a time.
"""

from .shapes import NoClosedForm, Sizes

#: Why a step computed whole (a routed pattern's) has no closed form in channels or a pipeline.
JOINED = "no closed form: a routed pattern's step joined into channels or a pipeline"


class ProtocolNotRun(NoClosedForm):
    """The algorithm does not run under the model's protocol (in-switch reduction: simple)."""


class Spec:
    """A step's shape. ``kind``: ``"msgs"`` (``items``: ``(axis, partner, bytes)`` each rank
    sends; bytes a number or :class:`Sizes`), ``"every"`` (``(axis, bytes)``: every rank sends
    ``bytes`` to every other rank of the axis; ``"every_between"``: ``(axis, lo, hi)``, each
    message between ``lo`` and ``hi`` bytes, bounded), ``"link"`` (``(axis, link bytes, message
    bytes)``, ``n_msgs`` messages a rank), ``"innet"`` (``(axis, mode, block bytes)``: one
    in-switch reduce-scatter or all-gather per entry,
    :func:`ubemu.kernels.timing.accumulate_innet`) or ``"none"`` (nothing moves);
    ``"profiled"`` (``(profile, sizes)`` per channel: a routed pattern's step,
    :class:`ubemu.timing.groupcost.GroupProfile`, ``sizes[g]`` bytes per message of group g);
    ``"lines"`` (``(larger, smaller)``: the shapes of one step on lines of two sizes run side
    by side, :mod:`ubemu.timing.joins`); ``"under_lines"`` (``(smaller, stream s)``: a lower
    bound's step on the smaller of them and the most the step's data stream takes);
    ``"fixed"`` (``((figures, exact),)``: a step whose
    figures were computed whole, a routed pattern's, which joins no channel or pipeline);
    ``engines``: channels sharing the NPUs' message costs; ``group``: the steps of one
    ``group`` (not None) are paced link by link in a pipeline (:mod:`ubemu.timing.pipeline`)."""

    __slots__ = ("kind", "items", "reduce", "engines", "n_msgs", "group")

    def __init__(self, kind, items, reduce=False, engines=1, n_msgs=0, group=None):
        self.kind, self.items, self.reduce = kind, list(items), bool(reduce)
        self.engines, self.n_msgs, self.group = int(engines), int(n_msgs), group

    def message_bytes(self):
        """Bytes of the step's largest message of one channel (an in-switch step's: a rank's
        block), as :func:`ubemu.timing.pipeline.message_bytes` finds it in the steps."""
        if self.kind == "none":
            return 0
        if self.kind == "fixed":
            raise NoClosedForm(JOINED)
        if self.kind in ("lines", "under_lines"):
            return self.items[0].message_bytes()
        if self.kind == "profiled":
            return max(max(sizes) for _, sizes in self.items)
        if self.kind == "every_between":
            return max(hi for _, _, hi in self.items)
        return max(size_max(item[-1]) for item in self.items)

    def top(self):
        """The shape whose links carry the most: a ``"lines"`` step's larger line's."""
        if self.kind == "under_lines":
            return self.items[0].top()
        return self.items[0] if self.kind == "lines" else self


class Figures:
    """A step's figures at full size: ``busy`` (link class -> its busiest link's s),
    ``link_s`` (the busiest link's s), ``lats`` (``(path latency s, message bytes)`` of its
    messages), ``cpu_s`` (the busiest NPU's message time) and ``tail_s`` (the longest receive
    tail), both shared by the engines, ``red`` (bytes an NPU reduces), and the work
    (transfers, of which ``held`` at once)."""

    __slots__ = ("busy", "link_s", "lats", "cpu_s", "tail_s", "red", "reduce", "moved", "work",
                 "held")

    def __init__(self, busy, link_s, lats, cpu_s, tail_s, red, reduce, moved, work=0,
                 held=None):
        self.busy, self.link_s, self.lats, self.cpu_s = busy, link_s, lats, cpu_s
        self.tail_s, self.red, self.reduce, self.moved = tail_s, red, reduce, moved
        self.work, self.held = work, work if held is None else min(work, held)


#: The figures of a step that moves nothing.
NO_FIGURES = Figures({}, 0.0, [], 0.0, 0.0, 0.0, False, False)


def raise_busy(busy, classes, value):
    """Raise each of ``classes``' busy time in ``busy`` to at least ``value``."""
    for c in classes:
        if value > busy.get(c, 0.0):
            busy[c] = value


def size_max(b):
    """The largest of a message's sizes (a number, or :class:`Sizes`)."""
    return b.max() if isinstance(b, Sizes) else b
