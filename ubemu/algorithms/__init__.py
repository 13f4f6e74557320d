"""Collective algorithms, one module per family; importing this package fills the registry.

Owns each algorithm's builder, per-level phase and closed-form cost (:mod:`.base`: one
registration each), and the queries over the registry: :mod:`.bounds` (lower bounds and
closed forms of the candidates of ``auto``) and :mod:`.work` (the work preflight). May import
the timing model (its closed-form constants), the machine, the shared records and the
kernels.
"""

from . import (  # noqa: F401
    alltoallv,
    alltoallv_hier,
    bidir_ring,
    binomial,
    bruck,
    direct,
    halving_doubling,
    hierarchical,
    innet,
    multi_ring,
    multipath,
    nhr,
    pairwise,
    recursive_doubling,
    ring,
    sendrecv,
    tree,
)
from .base import (
    REGISTRY,
    Comm,
    algorithm_names,
    build_schedule,
    check_keywords,
    get_algorithm,
)

__all__ = ["REGISTRY", "Comm", "algorithm_names", "build_schedule", "check_keywords",
           "get_algorithm"]
