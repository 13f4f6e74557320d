"""The timing plane's loads spread over MPI processes (a strategy for ``ubemu.timing.timer``).

Each process routes the transfers of its own senders (its :class:`~.block.Block` of ranks).
Every link and reducing NPU has an owner process, chosen so that it is mostly the process
holding the link's NPUs; the (key, bytes) pairs of keys owned elsewhere go in one
``Alltoallv`` to their owners, which add them and drain them; the per-step maxima and
per-class byte sums are combined with one ``Allgather``. Byte counts are whole numbers held in
float64, exact below 2**53, so the order of the additions does not matter and the modelled
times equal the single-process ones bit for bit.
"""

import numpy as np


def key_owners(topology, block):
    """Which process sums the loads of each link and of each NPU's reductions.

    Keys are link ids and ``n_links + i`` for the timer's per-NPU entries (``i`` = NPU id:
    bytes reduced; ``n_npus + NPU id``: messages). Each link class's id range (and each NPU
    range) is cut in proportion to the block partition, so a link whose NPUs a process holds mostly
    belongs to that process and its load seldom travels. Returns ascending ``bounds`` and the
    ``owners`` of the ranges they start.
    """
    frac = block.starts[:-1]
    bounds, owners = [], []
    ranges = [(c.first_id, c.count) for c in topology.link_classes]
    ranges += [(topology.n_links, topology.n_npus),
               (topology.n_links + topology.n_npus, topology.n_npus)]
    for first, count in ranges:
        bounds.append(first + count * frac // block.n)
        owners.append(np.arange(block.n_procs))
    return (np.concatenate(bounds).astype(np.int64),
            np.concatenate(owners).astype(np.int64))


class PartitionedLoads:
    """Loads of a timer summed over the processes of ``ex`` (see the module docstring).

    Parameters
    ----------
    topology : Topology
    block : Block
        This process's senders.
    ex : MPIExchange or LocalExchange
    """

    collective = True  # every process runs every step through the same calls

    def __init__(self, topology, block, ex):
        self.block, self.ex = block, ex
        self.n_links = topology.n_links
        self.bounds, self.owners = key_owners(topology, block)
        self._counts = np.zeros(ex.size, np.int64)

    def senders(self, step):
        return np.flatnonzero(self.block.local(step.src))

    def agree(self, same, red_same, n_transfers):
        """Every process decides on the whole step: all saw the same pairs, total transfers."""
        every = self.ex.allgather(np.array([same, red_same, n_transfers], np.float64))
        return bool(every[:, 0].all()), bool(every[:, 1].all()), int(every[:, 2].sum())

    def settle(self, timer, nt, nr):
        """Send the accumulated (link or NPU, bytes) pairs to their owners and sum them there;
        the timer's accumulators and touched lists then hold the keys this process owns."""
        from ..kernels.partition import merge_loads, split_loads

        pairs = np.empty(2 * (nt + nr))
        kept_t, kept_r = split_loads(timer.touched, nt, timer.load, timer.red_touched, nr,
                                     timer.red_bytes, self.n_links, self.bounds, self.owners,
                                     self.ex.rank, self._counts, np.empty(nt + nr, np.int64),
                                     pairs)
        recv, _ = self.ex.alltoallv(pairs[:2 * int(self._counts.sum())], 2 * self._counts)
        timer.ensure_room(kept_t + recv.size // 2, kept_r + recv.size // 2)
        return merge_loads(recv, timer.load, timer.touched, kept_t, timer.red_bytes,
                           timer.red_touched, kept_r, self.n_links)

    def gather(self, figures, busy, nbytes):
        """Maxima of the step figures and of ``busy``; byte sums in process order."""
        n_fig, n_cls = len(figures), busy.size
        mine = np.concatenate((np.array(figures, np.float64), busy, nbytes))
        every = self.ex.allgather(mine)
        busy[:] = every[:, n_fig:n_fig + n_cls].max(axis=0)
        total = np.zeros(n_cls)
        for row in every[:, n_fig + n_cls:]:  # process order, fixed
            total += row
        nbytes[:] = total
        most = every[:, :n_fig].max(axis=0)
        return (*map(float, most[:-1]), bool(most[-1] > 0))

    def gather_max(self, values):
        return self.ex.allgather(np.asarray(values, np.float64)).max(axis=0)

    def gather_sum(self, values):
        """Element-wise sums over the processes (whole numbers: exact in any order)."""
        return self.ex.allgather(np.asarray(values, np.float64)).sum(axis=0)
