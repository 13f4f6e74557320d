"""Collective algorithms, one module per family; importing this package fills the registry."""

from . import ring  # noqa: F401
from .base import REGISTRY, Comm, algorithm_names, build_schedule, get_algorithm

__all__ = ["REGISTRY", "Comm", "algorithm_names", "build_schedule", "get_algorithm"]
