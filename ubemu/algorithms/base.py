"""What every algorithm builder shares: the communicator grid, segments, the registry.

A communicator (:class:`Comm`) is a grid of ranks, ``dims`` innermost first (a flat group is
``dims=(n,)``); rank ``r`` has coordinate ``(r // stride_d) % dims[d]`` on axis ``d``. Algorithms
are written once as *phases along one axis*, vectorised over every rank: all the rings (or
butterflies, ...) of that axis advance in the same step. A flat algorithm is its phase on a
one-axis grid; ``hierarchical`` chains phases over the axes.

Each rank works on a *segment* of its buffer (``seg_off``, ``seg_len``, one entry per rank):
the whole buffer for a flat collective, and after a reduce-scatter along one axis, the block
that axis left it with.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import UbemuError, choices_error
from ..schedule import COLLECTIVES

#: (collective, name) -> Algorithm
REGISTRY = {}
#: (kind, name) -> Phase; kind is 'reduce_scatter', 'all_gather' or 'all_reduce'
PHASES = {}


@dataclass(frozen=True, eq=False)
class Comm:
    """A communicator laid out as a grid of ranks.

    Parameters
    ----------
    dims : tuple of int
        Grid shape, innermost first; the product is the rank count.
    fabrics : tuple of str, optional
        Fabric kind of each axis on the topology (``full_mesh``, ``ring``, ``switch``).
    npus : int64 array, optional
        Topology NPU id of each rank (for timing).
    local : (int, int), optional
        Build only the transfers sent by ranks ``lo..hi-1`` (one MPI process's block), for
        builders registered with ``local_ok=True``; the others ignore it.
    """

    dims: tuple
    fabrics: tuple = None
    npus: np.ndarray = field(default=None, repr=False)
    local: tuple = None

    @classmethod
    def flat(cls, n, fabric=None):
        return cls((int(n),), (fabric,) if fabric else None)

    @property
    def n(self):
        return int(np.prod(self.dims, dtype=np.int64))

    def axis(self, d):
        return Axis(self, d)

    @property
    def senders(self):
        """Ranks whose transfers a builder produces (all, or the ``local`` block)."""
        lo, hi = self.local if self.local is not None else (0, self.n)
        return np.arange(lo, hi, dtype=np.int64)


class Axis:
    """One axis of a :class:`Comm`: position of each rank along it and peers at a distance."""

    def __init__(self, comm, d):
        self.comm, self.d = comm, d
        self.size = int(comm.dims[d])
        self.stride = int(np.prod(comm.dims[:d], dtype=np.int64))
        self.ranks = comm.senders
        self.pos = (self.ranks // self.stride) % self.size

    def rank_at(self, pos):
        """Rank on the same line as each rank, at position ``pos`` (array or scalar)."""
        return self.ranks + (np.asarray(pos, np.int64) % self.size - self.pos) * self.stride

    def peer(self, shift):
        """Rank ``shift`` positions further along the axis (cyclic)."""
        return self.rank_at(self.pos + shift)


def blocks(seg_off, seg_len, parts, index):
    """Offset and length of block ``index`` when each segment is cut into ``parts`` blocks.

    The first ``seg_len % parts`` blocks get one element more (``split_even``'s rule).
    """
    index = np.asarray(index, np.int64)
    base, extra = seg_len // parts, seg_len % parts
    return seg_off + index * base + np.minimum(index, extra), base + (index < extra)


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm: ``build(comm, count, data=True, **options) -> Schedule``."""

    collective: str
    name: str
    build: object
    summary: str
    check: object = None  # check(comm) -> None or a sentence stating the constraint
    local_ok: bool = False  # honours Comm.local (builds only the local block's sends)


def register(collective, name, summary, check=None, local_ok=False):
    """Decorator: register a schedule builder under (collective, name)."""
    if collective not in COLLECTIVES:
        raise ValueError(f"unknown collective {collective}")

    def deco(fn):
        key = (collective, name)
        if key in REGISTRY:
            raise ValueError(f"algorithm {key} registered twice")
        REGISTRY[key] = Algorithm(collective, name, fn, summary, check, local_ok)
        return fn

    return deco


def algorithm_names(collective):
    """Names registered for ``collective``, sorted."""
    return sorted(name for coll, name in REGISTRY if coll == collective)


def get_algorithm(collective, name):
    """Look up an algorithm; an unknown collective or name lists the valid ones."""
    colls = sorted({c for c, _ in REGISTRY})
    if collective not in colls:
        raise choices_error("collective", collective, colls)
    if (collective, name) not in REGISTRY:
        raise choices_error(f"{collective} algorithm", name, algorithm_names(collective))
    return REGISTRY[(collective, name)]


def build_schedule(collective, name, comm, count, data=True, **options):
    """Build and return the schedule of ``name`` for ``collective`` on ``comm``.

    ``count`` is the collective's size in elements (see :mod:`ubemu.schedule`); collectives
    with one block per rank need ``count`` divisible by the rank count.
    """
    alg = get_algorithm(collective, name)
    if isinstance(comm, int):
        comm = Comm.flat(comm)
    if comm.local is not None and not alg.local_ok:
        comm = Comm(comm.dims, comm.fabrics, comm.npus)  # builds every rank's transfers
    if count < 0:
        raise UbemuError(f"count must be >= 0, got {count}")
    if collective in ("all_gather", "reduce_scatter", "alltoall") and count % comm.n:
        raise UbemuError(f"{collective}: count {count} must be a multiple of the rank count "
                         f"{comm.n} (one equal block per rank)")
    if alg.check is not None:
        why = alg.check(comm)
        if why:
            raise UbemuError(f"{collective} algorithm {name!r} cannot run on {comm.n} ranks "
                             f"{'x'.join(map(str, comm.dims))}: {why}")
    return alg.build(comm, count, data=data, **options)


@dataclass(frozen=True)
class Phase:
    """A building block along one axis, usable by ``hierarchical`` at any level.

    ``steps(axis, seg_off, seg_len, data)`` yields :class:`~ubemu.schedule.Step` objects, all
    rings / groups of the axis at once. Contracts per ``kind`` (q = rank's position on the axis,
    blocks cut by :func:`blocks` into ``axis.size`` parts):

    - ``reduce_scatter``: every rank ends with block q of its segment reduced over the line;
    - ``all_gather``: every rank starts with block q valid and ends with the whole segment;
    - ``all_reduce``: every rank ends with the whole segment reduced over the line.

    ``n_steps(size)`` is the step count for an axis of ``size`` ranks; ``check(size, fabric)``
    returns None or the constraint that is not met. ``local_ok``: the phase builds only the
    transfers of ``axis.ranks`` (a ``Comm.local`` block) from per-rank segment arrays.
    ``windows(size)``: half-open ranges of the phase's steps that may be timed as one step
    (``notes["concurrent_steps"]`` of a schedule running the phase).
    """

    kind: str
    name: str
    steps: object
    n_steps: object
    check: object = None
    local_ok: bool = False
    windows: object = None


def register_phase(kind, name, n_steps, check=None, local_ok=False, windows=None):
    """Decorator: register an axis phase (see :class:`Phase`)."""

    def deco(fn):
        if (kind, name) in PHASES:
            raise ValueError(f"phase {(kind, name)} registered twice")
        PHASES[(kind, name)] = Phase(kind, name, fn, n_steps, check, local_ok, windows)
        return fn

    return deco


def get_phase(kind, name):
    """Look up an axis phase; an unknown name lists the valid ones."""
    if (kind, name) not in PHASES:
        raise choices_error(f"{kind} per-level algorithm", name,
                            sorted(n for k, n in PHASES if k == kind))
    return PHASES[(kind, name)]
