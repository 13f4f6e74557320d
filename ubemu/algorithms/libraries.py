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

A library also sets options its algorithms leave to it (:data:`LIBRARY_OPTIONS`, filled in by
:func:`ubemu.algorithms.channels.library_options` where the caller left them out). NCCL's
NVLSTree runs NVLS inside the node and a double binary tree across the nodes, one tree per
rail (docs/sources.md, "NVLSTree"): ``innet`` all-reduce takes ``per_level="nccl"``, which
:func:`library_level` resolves per axis to ``double_binary_tree`` across more than two ranks
and ``ring`` across two (a tree of two ranks moves what a ring of two does; NCCL's tuner
credits NVLSTree with the whole network bandwidth up to two nodes and half of it beyond).
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


#: Options a library's tuner sets where the caller leaves them out, per (collective,
#: algorithm).
LIBRARY_OPTIONS = {
    "nccl": {("all_reduce", "innet"): {"per_level": "nccl"}},
}


def library_defaults(topology, collective, name):
    """The options :data:`LIBRARY_OPTIONS` gives algorithm ``name`` of ``collective`` on
    ``topology`` (its library's; none without one)."""
    library = getattr(topology, "library", "")
    return dict(LIBRARY_OPTIONS.get(library, {}).get((collective, name), {}))


#: Per-level names that stand for a library's pick on each level (:func:`library_level`).
LIBRARY_LEVELS = ("nccl",)


def library_level(name, size):
    """A per-level algorithm name on an axis of ``size`` ranks: a library's name (``nccl``)
    resolved to what the library runs there (module docstring), any other as it is."""
    if name == "nccl":
        return "double_binary_tree" if size > 2 else "ring"
    return name
