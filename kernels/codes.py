"""Integer codes shared by the kernels and the Python side, defined once.

Reduction ops and element formats of the execute and check kernels, routing modes and route
codes under faults, fabric kinds of the routing kernels, and the columns of the topology's
level table (one row per level, innermost first) that the routing kernels read.
"""

#: Reduction ops inside the kernels (``avg`` runs as ``SUM``, then one division).
OP_SUM, OP_PROD, OP_MAX, OP_MIN = 0, 1, 2, 3
#: Element formats: the buffer type's own arithmetic, or 16-bit patterns via float32.
FMT_NATIVE, FMT_BF16, FMT_FP16 = 0, 1, 2
#: Routing modes under faults, and the codes a route under faults returns
#: (``kernels/faultroute.py``).
MINIMAL, APR = 0, 1
OK, CROSSES_FAILURE, UNREACHABLE, ENDPOINT_FAILED = 0, 1, 2, 3
#: Messages received by one NPU are counted in units of this in its message entry of the
#: timing kernels, those it sends in units of 1: both whole numbers in float64, exact however
#: they are summed.
RECV_UNIT = float(1 << 26)
#: How a switch carries an in-network step's transfers (``Step.innet``): reduced on the way
#: to each destination, or multicast from each sender.
INNET_REDUCE, INNET_MULTICAST = 1, 2
#: Fabric kinds of a level.
FULL_MESH, RING, SWITCH = 0, 1, 2
KIND_OF_FABRIC = {"full_mesh": FULL_MESH, "ring": RING, "switch": SWITCH}

#: Columns of the level table, in order (``ubemu/links.py`` explains the link ids).
LEVEL_COLUMNS = (
    "kind",       # FULL_MESH, RING or SWITCH
    "size",       # units of the level below joined by this level
    "stride",     # NPUs per unit of the level below
    "offset",     # first link id of the level
    "trunk",      # NPUs sharing one trunk port (0: not a trunk level)
    "npus",       # NPUs of the whole topology
    "pool_npus",  # NPUs whose ports share one core pool (0: no oversubscribed core)
    "pools",      # core pools of the level (npus // pool_npus)
    "run_first",  # first level of the trunk run this level belongs to (-1: none)
    "run_last",   # last level of that run
    "access",     # first access link id of that run (uplinks; downlinks follow, npus later)
)
(C_KIND, C_SIZE, C_STRIDE, C_OFFSET, C_TRUNK, C_NPUS, C_POOL_NPUS, C_POOLS, C_RUN_FIRST,
 C_RUN_LAST, C_ACCESS) = range(len(LEVEL_COLUMNS))
