"""Collective algorithms, one module per family; importing this package fills the registry."""

from . import ring  # noqa: F401
from . import bidir_ring  # noqa: F401
from . import halving_doubling  # noqa: F401
from . import recursive_doubling  # noqa: F401
from . import nhr  # noqa: F401
from . import direct  # noqa: F401
from . import multi_ring  # noqa: F401
from . import pairwise  # noqa: F401
from . import bruck  # noqa: F401
from . import multipath  # noqa: F401
from . import tree  # noqa: F401
from . import hierarchical  # noqa: F401
from .base import REGISTRY, Comm, algorithm_names, build_schedule, get_algorithm

__all__ = ["REGISTRY", "Comm", "algorithm_names", "build_schedule", "get_algorithm"]
