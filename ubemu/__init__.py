"""ubemu: a collective-communication emulator for UnifiedBus-style AI SuperClusters.

``import ubemu`` is cheap: it neither imports mpi4py nor compiles a kernel. It turns NumPy's
huge-page advice off (``ubemu.pages``; ``NUMPY_MADVISE_HUGEPAGE=1`` keeps it). The API
(``simulate``, ``estimate``, ``emulate``, ``run_workload``, ``Op``, ``group_of``) is imported
on first use.
"""

from . import pages
from .errors import UbemuError
from .machine.spec import load_topology, preset_names
from .machine.topology import Level, Topology, TopologyParams

pages.small_pages()

__version__ = "0.1.0"

#: Lazily imported API (so ``import ubemu`` stays free of numba): name -> module.
_LAZY = {"simulate": "api", "emulate": "api", "estimate": "estimator",
         "group_of": "machine.groups", "Comm": "machine.comm", "run_workload": "workloads.run",
         "Op": "workloads.ops", "plan": "training.planner", "Model": "training.model",
         "Plan": "training.layout"}
__all__ = ["UbemuError", "Level", "Topology", "TopologyParams", "load_topology",
           "preset_names", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        module = import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
