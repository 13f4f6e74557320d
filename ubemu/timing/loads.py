"""Where a timer sums its link loads: :class:`LocalLoads`, all in this one process.

The interface a :class:`~ubemu.timing.timer.StepTimer` calls to route a step's transfers and
sum their loads; :class:`ubemu.parallel.loads.PartitionedLoads` implements it over an MPI
job's processes.
"""

import numpy as np


class LocalLoads:
    """Every transfer routed and every load summed in this one process."""

    collective = False

    def senders(self, step):
        """Transfers of ``step`` this process routes (None: all of them)."""
        return None

    def agree(self, same, red_same, n_transfers):
        """The facts every process must decide on alike (one process: as they are)."""
        return same, red_same, n_transfers

    def settle(self, timer, nt, nr):
        """Sum the accumulated loads where they are owned; (links, NPUs) now held here."""
        return nt, nr

    def gather(self, figures, busy, nbytes):
        """Combine every process's step figures ``(link_s, lat_ns, red_bytes, cpu_s, tail_s,
        moved)`` and per-class ``busy`` (max) and ``nbytes`` (sum, in place)."""
        return figures

    def gather_max(self, values):
        """Element-wise maximum over the processes."""
        return np.asarray(values, np.float64)

    def gather_sum(self, values):
        """Element-wise sum over the processes."""
        return np.asarray(values, np.float64)
