"""The algorithms a collective library has: what ``auto`` chooses from on its machines.

A topology may name the library that runs on it (TOML ``library = "nccl"``); ``auto`` then
chooses only among that library's algorithms, as the library's own tuner does (a named
algorithm still runs whatever it is). Without a library ``auto`` chooses from every
registered algorithm.

- ``nccl``: NCCL's algorithms as ubemu has them (docs/sources.md, "Channels and protocols"):
  Ring (``ring``, in channels), NVLS and NVLSTree (``innet``: in-switch reduction on the
  levels that reduce, ring across the others); reduce-scatter and all-gather Ring or NVLS,
  broadcast and reduce Ring (NCCL's tuner skips the others for them, ``tuning.cc``),
  all-to-all, alltoallv, scatter, gather and send/receive the point-to-point exchange
  (``direct``: grouped ``ncclSend``/``ncclRecv``, as nccl-tests runs them), hypercube its
  own exchange (``hypercube``). NCCL's Tree chains the GPUs of a
  node and builds its double binary tree over nodes; ubemu's ``double_binary_tree`` spans
  every rank, a different algorithm, so the set leaves it out (as it leaves out CollNet:
  the measured systems ran without the SHARP plugin).
"""

LIBRARIES = {
    "nccl": {
        "all_reduce": ("ring", "innet"),
        "reduce_scatter": ("ring", "innet"),
        "all_gather": ("ring", "innet"),
        "alltoall": ("direct",),
        "alltoallv": ("direct",),
        "broadcast": ("ring",),
        "reduce": ("ring",),
        "scatter": ("direct",),
        "gather": ("direct",),
        "sendrecv": ("direct",),
        "hypercube": ("hypercube",),
    },
}


def library_algorithms(topology, collective, names):
    """The algorithms of ``names`` (a collective's registered ones) that ``auto`` may choose
    on ``topology``: its library's, or all when it names none (or lists no algorithm for
    the collective)."""
    library = getattr(topology, "library", "")
    have = LIBRARIES[library].get(collective) if library else None
    if have is None:
        return list(names)
    return [n for n in names if n in have]
