"""ubemu: a collective-communication emulator for UnifiedBus-style AI SuperClusters.

``import ubemu`` is cheap: it neither imports mpi4py nor compiles a kernel.
"""

from .errors import UbemuError
from .topology import Level, Topology, TopologyParams
from .topospec import load_topology, preset_names

__version__ = "0.1.0"
__all__ = ["UbemuError", "Level", "Topology", "TopologyParams", "load_topology", "preset_names"]
