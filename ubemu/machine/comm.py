"""The communicator: a group of NPUs laid out as a grid of ranks (the one type for both).

Rank ``r`` runs on NPU ``npus[r]``. The grid ``dims`` (innermost first, product ``n``) follows
the group's shape on the topology: when the members vary on a set of levels and form, in
order, the full product of their coordinates there, ``dims`` are the numbers of distinct
coordinates on those levels, ``fabrics`` their fabrics and ``levels`` their indices, so
hierarchical algorithms work level by level; otherwise the group is flat (``dims=(n,)``).
Rank ``r`` has coordinate ``(r // stride_d) % dims[d]`` on axis ``d``.

Algorithms are written as phases along one :class:`Axis`, vectorised over every rank of the
axis's lines at once. ``local=(lo, hi)`` asks a builder for only the transfers that ranks
``lo..hi-1`` send (one MPI process's block).
"""

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np


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
        Topology NPU id of each rank (default: rank ``r`` is NPU ``r``).
    levels : tuple of int
        Topology level of each grid axis (empty when the group is not a grid on the levels).
    label : str
        How the group was named (``unit=board``, ``all``, ...).
    local : (int, int), optional
        Build only the transfers sent by ranks ``lo..hi-1`` (builders registered with
        ``local_ok=True``; the others build every rank's).
    reducing : tuple of bool
        Per grid axis: its topology level's switches reduce in the network (empty: none).
    """

    dims: tuple
    fabrics: tuple = None
    npus: np.ndarray = field(default=None, repr=False)
    levels: tuple = ()
    label: str = ""
    local: tuple = None
    reducing: tuple = ()

    @classmethod
    def flat(cls, n, fabric=None):
        """A flat communicator of ``n`` ranks (on NPUs ``0..n-1`` when timed)."""
        return cls((int(n),), (fabric,) if fabric else None)

    @cached_property
    def n(self):
        """The rank count (the product of ``dims``)."""
        return int(np.prod(self.dims, dtype=np.int64))

    def axis(self, d):
        return Axis(self, d)

    @property
    def senders(self):
        """Ranks whose transfers a builder produces (all, or the ``local`` block)."""
        lo, hi = self.local if self.local is not None else (0, self.n)
        return np.arange(lo, hi, dtype=np.int64)

    def restricted(self, lo, hi):
        """The same communicator asking builders for ranks ``lo..hi-1``'s sends only."""
        return replace(self, local=(int(lo), int(hi)))

    def whole(self):
        """The same communicator asking builders for every rank's sends."""
        return self if self.local is None else replace(self, local=None)

    def reduces(self, d):
        """Axis ``d``'s switches reduce in the network."""
        return bool(self.reducing) and bool(self.reducing[d])

    @property
    def shape_label(self):
        """``8x8`` style text of the grid."""
        return "x".join(map(str, self.dims))


class Axis:
    """One axis of a :class:`Comm`: position of each rank along it and peers at a distance."""

    def __init__(self, comm, d):
        self.comm, self.d = comm, d
        self.size = int(comm.dims[d])
        self.stride = int(math.prod(comm.dims[:d]))
        lo, hi = comm.local if comm.local is not None else (0, comm.n)
        self.n_ranks = hi - lo  # ranks and positions are made on first use (a compact
        # step built in closed form never asks)

    @cached_property
    def ranks(self):
        return self.comm.senders

    @cached_property
    def pos(self):
        return (self.ranks // self.stride) % self.size

    def rank_at(self, pos):
        """Rank on the same line as each rank, at position ``pos`` (array or scalar)."""
        return self.ranks + (np.asarray(pos, np.int64) % self.size - self.pos) * self.stride

    def peer(self, shift):
        """Rank ``shift`` positions further along the axis (cyclic)."""
        return self.rank_at(self.pos + shift)
