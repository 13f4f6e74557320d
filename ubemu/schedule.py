"""Schedules: an algorithm's steps as NumPy arrays of transfers.

Ranks are the communicator's ranks ``0..n-1``; each owns a working buffer of ``buf_count``
elements; ``count`` is the collective's size in elements, as nccl-tests' ``-b``. Where each
collective's inputs and outputs sit in the buffer: :mod:`ubemu.collectives`.

Within one step every transfer reads the buffers as they were before the step ("pre-step
semantics"); a transfer with ``reduce`` combines into its destination with the op, otherwise it
copies. Buffer space past the output is scratch that a schedule may use.
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import UbemuError


@dataclass
class Step:
    """One step: transfers that happen together.

    Attributes
    ----------
    src, dst : int64 arrays (t,)
        Sending and receiving rank of each transfer.
    n : int64 array (t,)
        Elements per transfer.
    src_off, dst_off : int64 arrays (t,) or None
        Element offsets in the sender's and receiver's working buffers. None only in a
        timing-only schedule (``data=False``).
    reduce : bool array (t,)
        True: combine into the destination with the op; False: copy. A copy may have
        ``src == dst``: a local copy inside one rank's buffer, which uses no link.
    repeat : int
        The step occurs this many times in a row with the same src, dst and n (only in
        timing-only schedules; data schedules always use 1).
    innet : int
        0, or how the switch of topology level ``via`` carries every transfer
        (:data:`ubemu.kernels.codes.INNET_REDUCE`: the switch reduces the transfers to one
        destination, which receives the result once; ``INNET_MULTICAST``: a sender's block
        goes up once and the switch copies it to every destination). Transfers to one
        destination (reduce) or from one sender (multicast) are consecutive; a transfer may
        have ``src == dst`` (the own block also crosses the switch). Timing-only schedules.
    via : int
        The topology level whose switch reduces or multicasts (``innet``), else -1.
    channels : int
        The step's transfers belong to this many channels, run by as many engines of each
        NPU at once: an NPU's per-message costs are shared among them
        (:mod:`ubemu.algorithms.channels`).
    span : int
        Timing-only: the schedule steps it stands for, a window of link-disjoint steps
        timed as one (the channels' join of compact :class:`AllPairs` steps); 1 otherwise.
    """

    src: np.ndarray
    dst: np.ndarray
    n: np.ndarray
    src_off: np.ndarray | None
    dst_off: np.ndarray | None
    reduce: np.ndarray
    repeat: int = 1
    innet: int = 0
    via: int = -1
    channels: int = 1
    span: int = 1

    @classmethod
    def make(cls, src, dst, n, src_off=None, dst_off=None, reduce=False, repeat=1, innet=0,
             via=-1, channels=1):
        """Build a step, broadcasting scalars and dropping transfers of 0 elements."""
        arrays = np.broadcast_arrays(*(np.asarray(a, np.int64) for a in (src, dst, n)),
                                     np.asarray(reduce, bool),
                                     *(np.asarray(a if a is not None else 0, np.int64)
                                       for a in (src_off, dst_off)))
        src, dst, n, red, so, do = (_own(a) for a in arrays)
        keep = n > 0
        if not keep.all():
            src, dst, n, red, so, do = (a[keep] for a in (src, dst, n, red, so, do))
        return cls(src, dst, n, so if src_off is not None else None,
                   do if dst_off is not None else None, red, int(repeat), int(innet), int(via),
                   int(channels))

    @property
    def n_transfers(self):
        return int(self.src.size)


class AllPairs:
    """A compact timing-only step: each of the ``n_ranks`` ranks sends ``n[r]`` elements to
    every other rank (a one-shot all-to-all or all-gather), ``n_ranks (n_ranks - 1)``
    transfers held in O(n_ranks) memory; or, ``n`` a square matrix, ``n[r, j]`` to rank j
    (an uneven all-to-all; pairs of 0 elements send nothing); with ``to_receiver`` every rank
    r *receives* ``n[r]`` from every other (a one-shot reduce-scatter: block r goes to rank r).

    ``span``: the schedule steps it stands for, a window of link-disjoint steps timed as one
    (the direct reduce-scatter's ``p-1``; :func:`ubemu.timing.walk.time_steps`).

    The timer times it from the routes of one NPU where the topology allows
    (:meth:`ubemu.timing.timer.StepTimer.step_time`), else from :meth:`parts`, explicit steps of a
    bounded size. ``src``, ``dst``, ``n`` and ``reduce`` give the explicit form, built on
    first use (for small schedules and tests; the timer never asks).
    """

    #: Most transfers in one of :meth:`parts`.
    PART_TRANSFERS = 1 << 21

    innet, via, channels = 0, -1, 1

    def __init__(self, n, reduce=False, repeat=1, to_receiver=False, span=1):
        self.sizes = np.ascontiguousarray(n, np.int64)
        self.n_ranks = int(self.sizes.shape[0]) if self.sizes.ndim else 0
        self.red = bool(reduce)
        self.repeat, self.span = int(repeat), int(span)
        self.to_receiver = bool(to_receiver)
        self.src_off = self.dst_off = None
        self._explicit = None

    @property
    def uniform(self):
        """The one block size when every rank sends the same (None otherwise)."""
        if self.sizes.ndim == 2:
            off = self.sizes[~np.eye(self.n_ranks, dtype=bool)]
            return int(off[0]) if off.size and (off == off[0]).all() else None
        first = int(self.sizes[0]) if self.n_ranks else 0
        return first if (self.sizes == first).all() else None

    @property
    def n_transfers(self):
        if self.sizes.ndim == 2:
            return int(np.count_nonzero(self.sizes)) - int(np.count_nonzero(
                np.diagonal(self.sizes)))
        return int(np.count_nonzero(self.sizes)) * (self.n_ranks - 1)

    def parts(self):
        """The explicit transfers as steps of at most about :data:`PART_TRANSFERS`: the
        senders ``lo..hi`` at a time, each to every other rank in rank order."""
        p = self.n_ranks
        rows = max(1, self.PART_TRANSFERS // max(p - 1, 1))
        for lo in range(0, p, rows):
            src = np.repeat(np.arange(lo, min(lo + rows, p), dtype=np.int64), p - 1)
            k = np.tile(np.arange(1, p, dtype=np.int64), src.size // max(p - 1, 1))
            dst = (src + k) % p
            if self.sizes.ndim == 2:
                n = self.sizes[src, dst]
            else:
                n = self.sizes[dst if self.to_receiver else src]
            yield Step.make(src, dst, n, reduce=self.red)

    def _explicit_step(self):
        if self._explicit is None:
            parts = list(self.parts())
            self._explicit = Step(*(np.concatenate([getattr(st, f) for st in parts])
                                    if parts else np.zeros(0, t)
                                    for f, t in (("src", np.int64), ("dst", np.int64),
                                                 ("n", np.int64))),
                                  None, None, np.concatenate([st.reduce for st in parts])
                                  if parts else np.zeros(0, bool))
        return self._explicit

    src = property(lambda self: self._explicit_step().src)
    dst = property(lambda self: self._explicit_step().dst)
    n = property(lambda self: self._explicit_step().n)
    reduce = property(lambda self: self._explicit_step().reduce)


class ShiftSteps:
    """A compact timing-only run of ``n_steps`` ring steps that repeat one pattern of pairs
    (rank ``src[t]`` sends to ``dst[t]`` in every step) with blocks of two sizes: at step k
    transfer t carries ``base + 1`` elements when ``(pos[t] - shift_k) mod parts < extra``
    (``shift_k = direction * (k + first_shift)``), else ``base``, the blocks
    ``split_even`` cuts a segment into. :mod:`ubemu.timing.shifts` times all the steps from one
    routing of the pattern; :meth:`explicit` gives them one by one.
    """

    #: Rings of fewer ranks are built step by step (the explicit steps are cheap there).
    MIN_RANKS = 4096
    innet, via = 0, -1

    @classmethod
    def fits(cls, parts, count):
        """A ring of ``parts`` ranks over segments of ``count`` elements is built in this form
        (large, and at least one element per block)."""
        return parts >= cls.MIN_RANKS and count >= parts

    def __init__(self, src, dst, pos, parts, base, extra, first_shift, direction, reduce,
                 steady=None, channels=1):
        self.src, self.dst, self.pos = src, dst, pos
        self.parts, self.base, self.extra = int(parts), int(base), int(extra)
        self.first_shift, self.direction = int(first_shift), int(direction)
        self.reduce = np.broadcast_to(np.asarray(reduce, bool), src.shape)
        self.repeat = self.parts - 1
        self.src_off = self.dst_off = None
        #: Transfers sent unchanged alongside in every step (the channels whose blocks are
        #: all of one size), a :class:`Step`, or None.
        self.steady = steady
        self.channels = int(channels)

    @property
    def n(self):
        return np.full(self.src.size, self.base + 1, np.int64)  # the largest of the blocks

    @property
    def n_transfers(self):
        return int(self.src.size)

    def shift(self, k):
        return self.direction * (k + self.first_shift)

    def big(self, k):
        """Which transfers carry ``base + 1`` elements at step ``k``."""
        return (self.pos - self.shift(k)) % self.parts < self.extra

    def explicit(self):
        """The steps one by one, as the ring builder makes them without this form (the
        steady transfers first)."""
        st = self.steady
        for k in range(self.repeat):
            n = self.base + self.big(k)
            if st is None:
                yield Step.make(self.src, self.dst, n, reduce=self.reduce,
                                channels=self.channels)
            else:
                yield Step.make(np.concatenate((st.src, self.src)),
                                np.concatenate((st.dst, self.dst)), np.concatenate((st.n, n)),
                                reduce=np.concatenate((st.reduce, self.reduce)),
                                channels=self.channels)


class PartnerStep:
    """A compact timing-only step in which every rank sends at most one message, to a partner
    given by a formula: built in O(1), its transfers made only when asked (``make``).

    ``xor`` (rank r sends to ``r ^ xor``) or ``shift`` (to ``(r + shift) mod n_ranks``) name
    the pattern where it is exactly that on ranks ``0..n_ranks-1``; ``sizes`` is the
    multiset of the n_ranks message sizes in elements, ``(values, counts)`` (0 for a rank that
    sends nothing), and ``both`` whether some rank both sends and receives a non-empty
    message; ``summary()`` may give ``(values, counts, both)`` instead, on first use. With
    them the timer times the step from one route where the machine's symmetry allows
    (:mod:`ubemu.timing.partners`); otherwise, and for ``parts``, ``make()`` gives the
    explicit ``(src, dst, n)``; ``live()``, where given, the bool mask of the ranks whose
    message is not empty (cheaper than ``make``: the links a step loads).
    """

    innet, via, channels = 0, -1, 1

    def __init__(self, n_ranks, make, reduce=False, xor=None, shift=None, sizes=None,
                 both=None, summary=None, live=None):
        self.n_ranks, self.make, self.red = int(n_ranks), make, bool(reduce)
        self.xor, self.shift, self.live = xor, shift, live
        self._summary = summary if sizes is None else (lambda: (*sizes, both))
        self.repeat = 1
        self.src_off = self.dst_off = None
        self._explicit = None

    @cached_property
    def _summed(self):
        return None if self._summary is None else self._summary()

    @property
    def sizes(self):
        """``(values, counts)`` of the message sizes, or None (not known in closed form)."""
        return None if self._summed is None else self._summed[:2]

    @property
    def both(self):
        return None if self._summed is None else bool(self._summed[2])

    @property
    def n_transfers(self):
        if self.sizes is None:
            return self.explicit().n_transfers
        values, counts = self.sizes
        return int(np.sum(np.where(np.asarray(values) > 0, counts, 0)))

    def explicit(self):
        """The step as an explicit :class:`Step` (made once, then kept)."""
        if self._explicit is None:
            src, dst, n = self.make()
            self._explicit = Step.make(src, dst, n, reduce=self.red)
        return self._explicit

    def parts(self):
        """The explicit transfers, as one part."""
        yield self.explicit()

    src = property(lambda self: self.explicit().src)
    dst = property(lambda self: self.explicit().dst)
    n = property(lambda self: self.explicit().n)
    reduce = property(lambda self: self.explicit().reduce)


def even_runs(count, parts, width):
    """The multiset ``(values, counts)`` of the elements in runs of ``width`` consecutive
    blocks starting at every multiple of ``width`` below ``parts`` (each run counted once),
    ``count`` elements cut into ``parts`` blocks by :func:`split_even`: runs wholly among the
    larger blocks, the run holding the cut, the rest."""
    base, extra = divmod(int(count), int(parts))
    runs = parts // width
    full, part = divmod(extra, width)
    values = [width * (base + 1), width * base + part, width * base]
    counts = [full, int(part > 0), runs - full - int(part > 0)]
    return np.array(values, np.int64), np.array(counts, np.int64)


def steps_counted(step):
    """The schedule steps ``step`` counts for: its ``repeat``, times the ``span`` of a
    compact step standing for a window (:class:`AllPairs`)."""
    return step.repeat * getattr(step, "span", 1)


def explicit_steps(step):
    """``step`` itself, or the steps of a :class:`ShiftSteps` one by one."""
    if isinstance(step, ShiftSteps):
        yield from step.explicit()
    else:
        yield step


@dataclass
class Schedule:
    """An algorithm's steps for one collective on ``n_ranks`` ranks.

    ``steps`` is a callable returning a fresh iterator of :class:`Step` so that large schedules
    are produced lazily and can be walked more than once (data plane, then timing).
    ``buf_count`` None: the algorithm's registered working buffer (``build_schedule`` fills it).
    ``windows``: half-open ranges ``(start, stop)`` of step indices that the timing model
    times as one step (their link loads add up; latency, overhead and reduction are charged
    once), e.g. the ``p-1`` link-disjoint steps of a one-shot reduce-scatter.
    ``time_apart``: a data schedule whose steps hold far more transfers than the timing-only
    schedule's (blocks moved one by one), or moves its data otherwise than the timing-only
    schedule times it (in-switch reduction); a checked run times the timing-only schedule
    and only applies these (the two time alike: ``tests/test_engine.py``).
    ``pipelines``: ``(start, stop, chunk, elements)``: the steps ``start..stop-1`` move their
    data (``elements`` per channel) in chunks of at most ``chunk`` bytes, each going on to the
    next step as soon as it arrived (:mod:`ubemu.timing.pipeline`).
    ``protocols``: the protocols the schedule can run with (None: every one the topology
    offers; in-switch reduction runs ``simple`` only).
    ``link_sums``: ``(start, stop)`` runs of a pipeline's steps that load different links of
    one class at different steps (a tree's): the pipeline paces them link by link
    (:mod:`ubemu.timing.pipeline`).
    """

    collective: str
    algorithm: str
    n_ranks: int
    count: int
    buf_count: int | None
    steps: object  # Callable[[], Iterator[Step]]
    n_steps: int
    root: int = 0
    data: bool = True
    notes: dict = field(default_factory=dict)
    windows: tuple = ()
    time_apart: bool = False
    traffic: object = None  # alltoallv: its ubemu.traffic.Traffic (where blocks sit)
    pipelines: tuple = ()
    protocols: tuple = None
    link_sums: tuple = ()

    def __iter__(self):
        return iter(self.steps())

    def validate(self):
        """Check every step: ranks and offsets in range, no two writes overlapping in a step.

        Raises
        ------
        UbemuError
            Naming the step and the problem.
        """
        n, total = self.n_ranks, 0
        for k, step in enumerate(self.steps()):
            total += steps_counted(step)
            if step.n_transfers == 0:
                continue
            where = f"{self.algorithm} {self.collective} step {k}"
            for name in ("src", "dst"):
                a = getattr(step, name)
                if a.min() < 0 or a.max() >= n:
                    raise UbemuError(f"{where}: {name} rank out of range 0..{n - 1}")
            if np.any((step.src == step.dst) & step.reduce):
                raise UbemuError(f"{where}: a rank reduces into itself (src == dst is allowed "
                                 "only for local copies)")
            if not self.data:
                continue
            for name, off in (("src_off", step.src_off), ("dst_off", step.dst_off)):
                if off is None:
                    raise UbemuError(f"{where}: {name} missing in a data schedule")
                if off.min() < 0 or (off + step.n).max() > self.buf_count:
                    raise UbemuError(f"{where}: {name} range outside buffer of "
                                     f"{self.buf_count} elements")
            order = np.lexsort((step.dst_off, step.dst))
            d, lo, hi = step.dst[order], step.dst_off[order], (step.dst_off + step.n)[order]
            clash = (d[1:] == d[:-1]) & (lo[1:] < hi[:-1])
            if clash.any():
                j = int(np.flatnonzero(clash)[0])
                raise UbemuError(f"{where}: two transfers write rank {d[j]} elements "
                                 f"{lo[j + 1]}..{min(hi[j], hi[j + 1])}")
        if total != self.n_steps:
            raise UbemuError(f"{self.algorithm} {self.collective}: n_steps says {self.n_steps}"
                             f" but the steps add up to {total}")
        for a, b in self.windows:
            if not 0 <= a < b <= total:
                raise UbemuError(f"{self.algorithm} {self.collective}: window ({a}, {b}) "
                                 f"outside the {total} steps")
        for a, b, c, n in self.pipelines:
            if not (0 <= a < b <= total and c > 0 and n >= 0):
                raise UbemuError(f"{self.algorithm} {self.collective}: pipeline ({a}, {b}) "
                                 f"outside the {total} steps, or chunk {c} not > 0")
        for a, b in self.link_sums:
            if not any(pa <= a < b <= pb for pa, pb, _, _ in self.pipelines):
                raise UbemuError(f"{self.algorithm} {self.collective}: steps ({a}, {b}) "
                                 f"summed link by link outside a pipeline")
        return self


def _own(a):
    """A broadcast (stride-0, read-only) view copied to its own array; others as they are."""
    return np.array(a) if 0 in a.strides else np.ascontiguousarray(a)


def same_array(a, b):
    """Equal arrays, decided cheaply where possible.

    The same memory counts as equal without a compare (schedule builders reuse rank arrays
    between steps and never write to a step's arrays once yielded); a sample of elements
    rejects most unequal pairs before the full compare.
    """
    if a.shape != b.shape:
        return False
    if a.ctypes.data == b.ctypes.data and a.strides == b.strides:
        return True
    stride = max(1, a.size // 64)
    return bool(np.array_equal(a.reshape(-1)[::stride], b.reshape(-1)[::stride])
                and np.array_equal(a, b))


def split_even(count, parts):
    """Offsets and lengths of ``count`` elements cut into ``parts`` near-equal blocks.

    The first ``count % parts`` blocks get one element more; blocks may be empty when
    ``count < parts``.
    """
    parts_arr = np.arange(parts + 1, dtype=np.int64)
    bounds = parts_arr * (count // parts) + np.minimum(parts_arr, count % parts)
    return bounds[:-1], np.diff(bounds)
