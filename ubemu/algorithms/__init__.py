"""Collective algorithms, one module per family; importing this package fills the registry."""

from . import (  # noqa: F401
    bidir_ring,
    bruck,
    direct,
    halving_doubling,
    hierarchical,
    multi_ring,
    multipath,
    nhr,
    pairwise,
    recursive_doubling,
    ring,
    tree,
)
from .base import REGISTRY, Comm, algorithm_names, build_schedule, get_algorithm

__all__ = ["REGISTRY", "Comm", "algorithm_names", "build_schedule", "get_algorithm"]
