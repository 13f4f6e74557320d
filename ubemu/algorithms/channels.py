"""Channels and pipeline chunks: how a library spreads one collective over its engines.

NCCL runs a collective as k *channels* (one thread block each), every channel on its own
share of the data with its own ring or tree, all in flight together; the rings are laid so
that each crosses nodes through a different NIC (docs/sources.md, "Channels"). An algorithm
that takes the option ``channels=k`` builds its k channels into one schedule: step i holds
step i of every channel, so the channels share links by the timing rule, and each NPU's
message costs are shared by its k engines (``Step.channels``).

- **Data.** Channel c works on a contiguous share of each segment (:func:`split`): every
  channel but the last gets the same multiple of the ranks' count, the last the rest, so
  the first channels' ring blocks are all of one size and only the last channel's differ
  (a large ring stays one compact :class:`~ubemu.schedule.ShiftSteps`).
- **Rank orders.** A flat ring's channel c visits the grid by :func:`rail_orders`: inside a
  unit of the innermost level from position ``c`` down to ``c + 1``, the next unit back up, so
  consecutive units are joined at one position (a *rail*: the same GPU index, hence the same
  NIC, on both sides) and channel c crosses on rails ``c`` and ``c + 1``. A phase along one
  axis runs channel c with the stride :func:`axis_stride` gives (a full mesh: the
  link-disjoint stride rings of :mod:`.multi_ring`; a ring: alternate directions; a switch:
  the same order, the channels then differ by their data only).

Library defaults (``channels`` and ``chunk`` left out; :func:`library_options`): the
topology's ``params.channels``, fewer while the collective has under ``channel_bytes`` per
channel (NCCL's rule in ``enqueue.cc``), and ``params.chunk_bytes``; and the options the
topology's library sets (:mod:`.libraries`).
"""

from functools import lru_cache

import numpy as np

from ..errors import UbemuError
from ..schedule import Step
from .libraries import library_defaults
from .multi_ring import stride_classes


def check_channels(channels):
    """``channels`` as an int >= 1, else a one-line error."""
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
            or channels < 1:
        raise UbemuError(f"channels must be an integer >= 1, got {channels!r}")
    return int(channels)


def check_chunk(chunk):
    """``chunk`` (bytes per pipeline chunk, 0: not pipelined) as an int >= 0."""
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer, float)) \
            or chunk < 0 or int(chunk) != chunk:
        raise UbemuError(f"chunk must be a whole number of bytes >= 0 (0: not pipelined), "
                         f"got {chunk!r}")
    return int(chunk)


def default_channels(params, nbytes):
    """NCCL's channel count for a collective of ``nbytes``: ``params.channels``, one fewer
    while ``nbytes < channels x params.channel_bytes`` (at least 1)."""
    nc = max(int(params.channels), 1)
    while nc > 1 and nbytes < nc * params.channel_bytes:
        nc -= 1
    return nc


def library_options(alg, topology, count, itemsize, options):
    """``options`` with the library's defaults of ``channels`` and ``chunk`` filled in where
    ``alg`` takes them and they were left out (or ``channels="auto"``), and the options its
    library sets for it (:data:`~ubemu.algorithms.libraries.LIBRARY_OPTIONS`)."""
    out = dict(options or {})
    for key, value in library_defaults(topology, alg.collective, alg.name).items():
        if key in alg.options and out.get(key) is None:
            out[key] = value
    if "channels" in alg.options and out.get("channels", "auto") in ("auto", None):
        out["channels"] = default_channels(topology.params, count * itemsize)
    if "chunk" in alg.options and out.get("chunk") is None:
        out["chunk"] = int(topology.params.chunk_bytes)
    return out


def split(count, channels, parts):
    """``(offsets, lengths)`` of the channels' shares of ``count`` elements cut for rings of
    ``parts`` ranks: every share but the last a multiple of ``parts`` (as equal as that
    allows), the last the rest; channels left without data are dropped."""
    channels = check_channels(channels)
    each = count // (channels * parts) * parts
    lengths = np.full(channels, each, np.int64)
    lengths[-1] = count - each * (channels - 1)
    lengths = lengths[lengths > 0] if count else lengths[-1:]
    return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64), lengths


def rail_orders(dims, channels):
    """Ring orders ``(channels, n)`` of the ranks of a grid ``dims`` (innermost first), one per
    channel (module docstring): inside each unit of axis 0 channel c goes from position
    ``c`` down to ``c + 1`` or, in every other unit (in boustrophedon order of the outer
    axes), from ``c + 1`` up to ``c``; a flat group is one unit. Read-only: the last few
    are kept (a run builds its steps and its closed form from the same orders)."""
    return _rail_orders(tuple(int(d) for d in dims), int(channels))


@lru_cache(maxsize=4)
def _rail_orders(dims, channels):
    d0, n = dims[0], int(np.prod(dims, dtype=np.int64))
    outer = n // d0
    unit = _snake(dims[1:]) * d0  # first rank of each unit in visiting order
    step = np.arange(d0, dtype=np.int64)
    orders = np.empty((channels, n), np.int64)
    for c in range(channels):
        down = (c - step) % d0  # c, c-1, ..., c+1
        up = (c + 1 + step) % d0  # c+1, c+2, ..., c
        local = np.where((np.arange(outer) % 2 == 0)[:, None], down[None, :], up[None, :])
        orders[c] = (unit[:, None] + local).reshape(-1)
    orders.setflags(write=False)
    return orders


def places(orders):
    """Each rank's position on each ring of ``orders`` (``(channels, n)`` permutations of
    ``0..n-1``): their inverse permutations, by one scatter each (not a sort)."""
    orders = np.asarray(orders, np.int64)
    out = np.empty(orders.shape, np.int64)
    step = np.arange(orders.shape[1], dtype=np.int64)
    for row, order in zip(out, orders):
        row[order] = step
    return out


def _snake(dims):
    """Indices (in mixed radix of ``dims``) of the units in boustrophedon order: consecutive
    ones differ on one axis by one."""
    idx = np.zeros(1, np.int64)
    stride = 1
    for d in dims:
        rows = [idx if k % 2 == 0 else idx[::-1] for k in range(d)]
        idx = np.concatenate([r + k * stride for k, r in enumerate(rows)])
        stride *= d
    return idx


def axis_stride(fabric, size, c):
    """The stride channel ``c`` runs a ring phase with along an axis of ``size`` ranks on a
    ``fabric`` level: a full mesh's stride rings in turn (both directions), a ring's two
    directions in turn, 1 on a switch (or a flat axis)."""
    if fabric == "full_mesh" and size > 2:
        strides = [g for g in stride_classes(size) for g in (g, -g)]
        return strides[c % len(strides)]
    if fabric == "ring" and size > 2:
        return 1 if c % 2 == 0 else -1
    return 1


def zip_channels(gens, channels):
    """Step i of every channel's steps (``gens``: one iterable each, the same steps) joined
    into one step: their transfers together, ``Step.channels = channels``; repeats that
    every channel shares stay one step."""
    from ..schedule import AllPairs, explicit_steps

    def singles(gen):
        for st in gen:
            for one in explicit_steps(st):
                if isinstance(one, AllPairs):  # (a window of steps, ``span``)
                    one = Step(one.src, one.dst, one.n, None, None, one.reduce, one.repeat,
                               span=one.span)
                elif not isinstance(one, Step):  # a compact partner step
                    one = one.explicit()
                yield one

    iters = [singles(g) for g in gens]
    current = [[next(it, None), 0] for it in iters]  # (step, repeats already used)
    joined = {}  # field: (the channels' arrays, their join): a ring reuses its rank arrays

    def join(field, steps):
        parts = [getattr(st, field) for st in steps]
        last = joined.get(field)
        if last is None or len(last[0]) != len(parts) \
                or any(a is not b for a, b in zip(last[0], parts)):
            last = joined[field] = (parts, np.concatenate(parts))
        return last[1]

    while current[0][0] is not None:
        if any(st is None for st, _ in current):
            raise UbemuError("channels: the channels' schedules differ in length")
        run = min(st.repeat - used for st, used in current)
        steps = [st for st, _ in current]
        if len({st.span for st in steps}) != 1:
            raise UbemuError("channels: the channels' schedules differ in their windows")
        data = steps[0].src_off is not None
        yield JoinedStep(join("src", steps), join("dst", steps), [st.n for st in steps],
                         np.concatenate([st.src_off for st in steps]) if data else None,
                         np.concatenate([st.dst_off for st in steps]) if data else None,
                         np.concatenate([st.reduce for st in steps]), run, steps[0].innet,
                         steps[0].via, channels, steps[0].span)
        for i, (st, used) in enumerate(current):
            used += run
            current[i] = [next(iters[i], None), 0] if used == st.repeat else [st, used]


class JoinedStep(Step):
    """Step i of every channel joined (:func:`zip_channels`): a :class:`~ubemu.schedule.Step`
    whose elements ``n`` are the channels' ``n_parts`` end to end, joined on first use, so a
    timer that sees the channels as copies of one pattern
    (:meth:`ubemu.timing.patterns.PatternProfiles._copies`) sums the parts instead."""

    def __init__(self, src, dst, n_parts, *fields):
        self.n_parts = list(n_parts)
        super().__init__(src, dst, None, *fields)

    @property
    def n(self):
        if self._n is None:
            self._n = np.concatenate(self.n_parts)
        return self._n

    @n.setter
    def n(self, value):
        self._n = value
