"""A workload's operations: what each communicates (or computes), where and when it may start.

An :class:`Op` is one entry of a workload (:func:`ubemu.workloads.run.run_workload`): a collective
of ``nbytes`` on a group (or, with ``every``, on every group of that kind at once, in
lockstep), a pipeline send (``sendrecv``: rank ``r`` of the group sends ``nbytes`` to rank
``r + 1``, the last rank nothing; ``options = {chain = false}`` makes it nccl-tests' ring
shift, :mod:`ubemu.algorithms.sendrecv`), or a compute phase (``compute``: ``duration_s``,
no link). It may start at ``at_s``, after the operations named in ``after`` end, and
``gap_s`` of compute after that; ``repeat`` runs it that many times back to back.
:func:`ops_from_dicts` reads the ``[[op]]`` tables of a workload file, with one-line errors
that name the operation and the field.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import collectives
from ..errors import UbemuError, choices_error
from ..units import parse_latency_ns, parse_size_bytes

#: Kinds of operation besides the collectives.
SENDRECV, COMPUTE = "sendrecv", "compute"
#: Keys of an ``[[op]]`` table.
FIELDS = ("name", "collective", "nbytes", "group", "every", "algorithm", "dtype", "reduction",
          "at", "after", "gap", "repeat", "duration", "options")


@dataclass
class Op:
    """One operation of a workload (see the module docstring).

    Attributes
    ----------
    name : str
        Unique within the workload.
    collective : str
        A collective (:mod:`ubemu.collectives`), ``"sendrecv"`` or ``"compute"``.
    nbytes : int
        The collective's size (nccl-tests convention); a sendrecv's bytes per message.
    group : None, str, dict or sequence of int
        A group spec (:func:`ubemu.machine.groups.group_of`); default every NPU.
    every : bool
        Run on every group of the kind ``group`` names, concurrently and in lockstep.
    npus : int64 array (G, n), optional
        Explicit lockstep replicas (row g: group g's NPU ids); overrides ``group``/``every``.
    algorithm, dtype, reduction : str
        As in :func:`ubemu.simulate` (``reduction`` is its ``op``).
    at_s, gap_s : float
        Earliest start; compute time between the dependencies' end and the start.
    after : tuple of str
        Names of the operations that must end first.
    repeat : int
        Back-to-back runs of the collective (>= 1).
    duration_s : float
        Length of a ``compute`` operation (required there; None elsewhere).
    options : dict
        Passed to the algorithm's builder.
    """

    name: str
    collective: str
    nbytes: int = 0
    group: object = None
    every: bool = False
    npus: np.ndarray | None = field(default=None, repr=False)
    algorithm: str = "auto"
    dtype: str = "float32"
    reduction: str = "sum"
    at_s: float = 0.0
    after: tuple = ()
    gap_s: float = 0.0
    repeat: int = 1
    duration_s: float | None = None
    options: dict = field(default_factory=dict)

    @property
    def is_compute(self):
        return self.collective == COMPUTE


def kinds():
    """Every value ``collective`` may take."""
    return tuple(dict.fromkeys(collectives.NAMES + (SENDRECV, COMPUTE)))


def _time_s(value, where, key):
    """Seconds from a number of seconds or a latency string (``10us``, ``2ms``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = parse_latency_ns(value, f"{where}: {key}") * 1e-9
    if not seconds >= 0 or seconds == float("inf"):
        raise UbemuError(f"{where}: {key} must be a time >= 0, got {value!r}")
    return seconds


def check_ops(ops):
    """Check names, kinds, sizes, times and dependencies of ``ops`` (a list of :class:`Op`);
    returns them in an order where every operation follows those it waits for."""
    names = [op.name for op in ops]
    if not ops:
        raise UbemuError("workload: no operations (add [[op]] tables)")
    for op in ops:
        if not isinstance(op.name, str) or not op.name:
            raise UbemuError(f"workload: every operation needs a name, got {op.name!r}")
        if names.count(op.name) > 1:
            raise UbemuError(f"workload: operation name {op.name!r} appears more than once")
        where = f"op {op.name!r}"
        if op.collective not in kinds():
            raise choices_error("collective", op.collective, kinds(), where)
        if isinstance(op.repeat, bool) or not isinstance(op.repeat, (int, np.integer)) \
                or op.repeat < 1:
            raise UbemuError(f"{where}: repeat must be an integer >= 1, got {op.repeat!r}")
        if not op.is_compute and (isinstance(op.nbytes, bool) or
                                  not isinstance(op.nbytes, (int, np.integer))
                                  or op.nbytes < 1):
            raise UbemuError(f"{where}: nbytes must be a size >= 1 byte, got {op.nbytes!r}")
        if op.is_compute and op.duration_s is None:
            raise UbemuError(f"{where}: a compute operation needs a duration (duration = "
                             f"\"2ms\" in a workload file, duration_s= in Python)")
        if not op.is_compute and op.duration_s is not None:
            raise UbemuError(f"{where}: duration is for compute operations; a {op.collective} "
                             f"takes the time the model gives it")
        for key in ("at_s", "gap_s") + (("duration_s",) if op.is_compute else ()):
            _time_s(getattr(op, key), where, key)
        for dep in op.after:
            if dep not in names:
                raise choices_error("operation in after", dep, names, where)
            if dep == op.name:
                raise UbemuError(f"{where}: an operation cannot wait for itself")
    return _ordered(ops)


def _ordered(ops):
    """``ops`` sorted so that dependencies come first; a cycle is an error naming it."""
    by_name = {op.name: op for op in ops}
    done, out, visiting = set(), [], []

    def visit(op):
        if op.name in done:
            return
        if op.name in visiting:
            cycle = visiting[visiting.index(op.name):] + [op.name]
            raise UbemuError(f"workload: the operations wait for each other in a cycle: "
                             f"{' -> '.join(cycle)}")
        visiting.append(op.name)
        for dep in op.after:
            visit(by_name[dep])
        visiting.pop()
        done.add(op.name)
        out.append(op)

    for op in ops:
        visit(op)
    return out


def ops_from_dicts(tables, source="workload"):
    """:class:`Op` list from the ``[[op]]`` tables of a workload file (sizes as ``"1G"``,
    times as seconds or ``"10us"``); unknown keys are errors naming the valid ones."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UbemuError(f"{source}: op must be a list of [[op]] tables")
    ops = []
    for k, table in enumerate(tables):
        name = table.get("name", f"op{k}")
        where = f"{source}: op {name!r}"
        for key in table:
            if key not in FIELDS:
                raise choices_error("key", key, FIELDS, where)
        if "collective" not in table:
            raise UbemuError(f"{where}: collective missing (one of {', '.join(kinds())})")
        if table["collective"] == COMPUTE and "duration" not in table:
            raise UbemuError(f"{where}: a compute operation needs a duration (for example "
                             f"duration = \"2ms\")")
        nbytes = table.get("nbytes", 0)
        if isinstance(nbytes, str):
            nbytes = parse_size_bytes(nbytes, f"{where}: nbytes")
        after = table.get("after", ())
        if isinstance(after, str):
            after = (after,)
        if not isinstance(after, (list, tuple)) or not all(isinstance(a, str) for a in after):
            raise UbemuError(f"{where}: after must be a list of operation names")
        every = table.get("every", False)
        if not isinstance(every, bool):
            raise UbemuError(f"{where}: every must be true or false, got {every!r}")
        options = table.get("options", {})
        if not isinstance(options, dict):
            raise UbemuError(f"{where}: options must be a table")
        ops.append(Op(name=name, collective=table["collective"], nbytes=nbytes,
                      group=table.get("group"), every=every,
                      algorithm=table.get("algorithm", "auto"),
                      dtype=table.get("dtype", "float32"),
                      reduction=table.get("reduction", "sum"),
                      at_s=_time_s(table.get("at", 0.0), where, "at"), after=tuple(after),
                      gap_s=_time_s(table.get("gap", 0.0), where, "gap"),
                      repeat=table.get("repeat", 1),
                      duration_s=(_time_s(table["duration"], where, "duration")
                                  if "duration" in table else None),
                      options=options))
    return ops
