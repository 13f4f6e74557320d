"""Warm the Numba cache in one process before MPI jobs start.

MPI ranks that compile the same kernels into an empty cache at once have corrupted it, and
compiling in every rank is slow; after this runs once, every rank loads the cached kernels.
"""


def warm_cache():
    """Compile (or load) every kernel the MPI tests use, for every dtype, in this process."""
    import numpy as np

    import ubemu
    from ubemu.data.dtypes import DTYPES, FMT_NATIVE

    for name in DTYPES:
        for coll in ("all_reduce", "alltoall"):
            res = ubemu.simulate(coll, 32 * DTYPES[name].itemsize, "switch:4",
                                 "ring" if coll == "all_reduce" else "pairwise", dtype=name,
                                 verify=True)
            assert res.wrong == 0, (coll, name)
    from ubemu.kernels import partition as kp

    for dt in DTYPES.values():  # the partition layer's pack / unpack
        storage = np.uint16 if dt.fmt != FMT_NATIVE else dt.storage
        buf, idx = np.zeros((2, 4), storage), np.zeros(1, np.int64)
        out = np.zeros(2, storage)
        kp.pack(buf, idx, idx, idx + 2, out)
        kp.unpack(buf, idx, idx, idx + 2, np.ones(1, np.bool_), out, 0, dt.fmt)
    ubemu.simulate("all_reduce", 1 << 10, "ub-mesh-rack")  # timing kernels
    ubemu.run_workload([ubemu.Op("x", "all_reduce", 1 << 10)], "ub-mesh-rack")  # occupancy
    from ubemu.kernels import select

    with select.forced("numba"):  # every group at once: the replicas' scatter kernels
        ubemu.run_workload([ubemu.Op("x", "all_reduce", 1 << 10, group="unit=board",
                                     every=True)], "ub-mesh-rack")
    ubemu.simulate("all_reduce", 1 << 20, "switch:8192", "ring")  # repeated-pattern kernels
    ubemu.simulate("all_reduce", 1 << 10, "ub-mesh-rack", "hierarchical", verify=True)
    from ubemu.algorithms import build_schedule  # the spread loads' split / merge kernels
    from ubemu.parallel.block import Block
    from ubemu.parallel.exchange import LocalExchange
    from ubemu.parallel.loads import PartitionedLoads
    from ubemu.timing.walk import time_schedule

    tp = ubemu.load_topology("ub-mesh-rack")
    for count in (1 << 10, 1 << 20):
        sched = build_schedule("all_reduce", "ring", 64, count, data=False)
        time_schedule(sched, tp, None, 4, PartitionedLoads(tp, Block(64), LocalExchange()))
