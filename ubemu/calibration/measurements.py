"""A log's rows as things ubemu can time on a topology: the group each table ran on, and one
:class:`CollectivePoint` per distinct collective, size and group.

Where a table ran: its ranks (from the log, else ``ranks=``), its nodes (the distinct hosts
of nccl-tests' ``Rank`` lines or hccl_test's ``-p``, else ``nodes=``, else packed), and then
the NPUs: the first ``r`` NPUs of each of ``nodes`` units, a unit being the smallest block of
inner levels holding ``r = ranks / nodes`` NPUs (on ``dgx-h100-multinode`` 16 ranks on 2
hosts are NPUs 0-15, two whole nodes; 8 ranks on 2 hosts are NPUs 0-3 and 8-11). ``group=``
names the NPUs instead; a ubemu log names its own. Every refusal is one line naming the file
and line: ranks that do not fit the topology, a size that does not fit the collective on
that many ranks (fewer elements than ranks where the collective is one block per rank, or an
element count in the log that says another rank count), a collective or data type ubemu
does not have.
"""

from dataclasses import dataclass, replace

import numpy as np

from .. import collectives
from ..data.dtypes import get_dtype
from ..errors import UbemuError
from ..machine.spec import load_topology


@dataclass(frozen=True)
class CollectivePoint:
    """One collective of ``nbytes`` (nccl-tests' size) on ``group``, timed by the model."""

    collective: str
    nbytes: int
    group: str
    dtype: str = "float32"
    root: int = -1
    algorithm: str = "auto"

    def evaluate(self, topo, algorithm=None):
        """(time_s, algorithm) on ``topo``: ``estimate`` where exact, else ``simulate``."""
        from ..api import simulate
        from ..estimator import estimate

        alg = algorithm or self.algorithm
        options = {"root": self.root} if self.root >= 0 else {}
        est = estimate(self.collective, self.nbytes, topo, alg, group=self.group,
                       dtype=self.dtype, **options)
        if est.exact:
            return est.time_s, est.algorithm
        res = simulate(self.collective, self.nbytes, topo, est.algorithm, dtype=self.dtype,
                       group=self.group, **options)
        return res.time_s, res.algorithm


@dataclass(frozen=True)
class Entry:
    """One measured row as the fit and its report see it: where it is, what it measured, the
    measured value in its own unit (``us`` for a log's time, else the row's metric: a rate
    when ``rate``) and the index of its point. The fit compares ``measured_s`` with the
    points' model values (times, or inverse rates)."""

    where: str
    label: str
    unit: str
    measured: float
    point: int
    rate: bool = False

    @property
    def measured_s(self):
        return 1.0 / self.measured if self.rate else self.measured * 1e-6

    def shown(self, model_s):
        """A point's model value in this row's unit."""
        return 1.0 / model_s if self.rate else model_s * 1e6


@dataclass(frozen=True)
class RowPoint:
    """A measurement row of ``docs/data`` (:mod:`ubemu.validation.rows`) as a point:
    ``evaluate`` gives the inverse of ubemu's figure for a rate metric (``*_GBps``,
    ``tflops_per_npu``), the figure itself for a time, so that the fit's log ratio is
    model over measured time either way."""

    row: object

    def evaluate(self, topo, algorithm=None):
        from ..validation import training  # noqa: F401  (registers train_step)
        from ..validation.kinds import KINDS, figure

        kind = KINDS.get(self.row.kind)
        if kind is None:
            figure(self.row)                      # the one-line error naming the kind
        if self.row.kind == "train_step":
            value, note = kind(self.row, topo)
        else:
            value, note = kind(replace(self.row, topo=topo))
        return (1.0 / value if _is_rate(self.row.metric) else value * 1e-6), note


def _is_rate(metric):
    return metric.endswith("_GBps") or metric.startswith("tflops")


@dataclass(frozen=True)
class Placement:
    """Where a table ran: ``group`` (a ``--group`` spec), ranks, nodes, and how each was
    known."""

    group: str
    n_ranks: int
    n_nodes: int
    how: str


def _node_unit(topo, per_node):
    """NPUs of the smallest block of inner levels holding ``per_node`` NPUs."""
    unit = 1
    for size in topo.sizes:
        if unit >= per_node:
            break
        unit *= size
    return unit


def place(table, topo, ranks=None, nodes=None, group=None):
    """The :class:`Placement` of ``table`` on ``topo`` (module docstring)."""
    where = table.where()
    n = ranks or table.n_ranks
    if n is None:
        raise UbemuError(f"{where}: the log does not say how many ranks ran; give --ranks N")
    how = [f"{n} ranks ({'--ranks' if ranks else table.how.get('ranks', 'log')})"]
    if n > topo.n_npus:
        raise UbemuError(f"{where}: {n:,} ranks do not fit topology {topo.name!r} "
                         f"({topo.n_npus:,} NPUs)")
    spec = group or table.group
    if spec:
        from ..machine.groups import group_of

        comm = group_of(topo, spec)
        if comm.n != n:
            raise UbemuError(f"{where}: group {spec!r} has {comm.n} NPUs, the log ran on "
                             f"{n} ranks")
        return Placement(spec, n, nodes or table.n_nodes or 1, "; ".join(
            how + [f"group {spec} ({'--group' if group else 'the log'})"]))
    k = nodes or table.n_nodes
    if k is None:
        return Placement(f"start=0,stride=1,count={n}", n, 1, "; ".join(
            how + ["no hosts in the log: packed on NPUs 0..n-1 (--nodes to spread them)"]))
    if n % k:
        raise UbemuError(f"{where}: {n} ranks on {k} nodes is not a whole number per node")
    per = n // k
    unit = _node_unit(topo, per)
    if k * unit > topo.n_npus:
        raise UbemuError(f"{where}: {k} nodes of {per} ranks need {k} blocks of {unit} NPUs; "
                         f"topology {topo.name!r} has {topo.n_npus:,} NPUs")
    said = "--nodes" if nodes else table.how.get("nodes", "hosts of the Rank lines")
    how.append(f"{k} node{'s' * (k > 1)} ({said}) of {per}, each in a block of {unit} NPUs")
    if per == unit:
        return Placement(f"start=0,stride=1,count={n}", n, k, "; ".join(how))
    npus = (np.arange(k)[:, None] * unit + np.arange(per)[None, :]).reshape(-1)
    return Placement("npus=" + "+".join(map(str, npus)), n, k, "; ".join(how))


def _check_size(coll, row, itemsize, n, where):
    """Refuse a size that does not fit ``coll`` on ``n`` ranks (module docstring)."""
    elements = row.nbytes // itemsize
    if coll.blocked and elements < n:
        raise UbemuError(f"{where}: {coll.name} of {row.nbytes:,} B is {elements} elements, "
                         f"fewer than its {n} ranks")
    if not row.count or row.count == elements:
        return
    # nccl-tests prints the count a rank passes: count/n for the collectives of one block
    # per rank (all_gather, reduce_scatter, alltoall, ...: Collective.rank_count)
    per_rank = coll.blocked
    implied = elements / row.count if per_rank else None
    if implied != n:
        said = (f"{implied:g} ranks" if per_rank else f"{row.count * itemsize:,} B")
        raise UbemuError(f"{where}: size {row.nbytes:,} B with count {row.count:,} says "
                         f"{said}, not {n} ranks of {coll.name}; check --ranks")


def place_row(row, topo):
    """``row`` as it runs on ``topo``: a collective row without a group ran on the whole of
    its own topology; on a ``topo`` of another size it runs on as many NPUs, packed from NPU
    0 (as a log without hosts: the 8 NPUs of ``dgx-h100`` are the first node of
    ``dgx-h100-multinode``). One line where they do not fit."""
    if row.kind == "train_step" or row.group or not row.topo:
        return row
    n = load_topology(row.topo).n_npus
    if n == topo.n_npus:
        return row
    if n > topo.n_npus:
        raise UbemuError(f"{row.path}:{row.id}: measured on {row.topo!r} ({n:,} NPUs), more "
                         f"than topology {topo.name!r} has ({topo.n_npus:,}); give the row a "
                         f"group or a larger --topo")
    return replace(row, group=f"start=0,stride=1,count={n}")


def entries_of_rows(rows, topo):
    """(points, entries) of measurement rows (:mod:`ubemu.validation.rows`) on ``topo``:
    one :class:`RowPoint` each (:func:`place_row`)."""
    rows = [place_row(r, topo) for r in rows]
    points = [RowPoint(r) for r in rows]
    entries = [Entry(f"{r.path}:{r.id}", f"{r.kind} {r.id}", r.metric, r.published, k,
                     _is_rate(r.metric)) for k, r in enumerate(rows)]
    return points, entries


def entries_of_logs(tables, topo, **kw):
    """(points, entries, placements) of log tables (:func:`points_of`)."""
    points, rows, placements = points_of(tables, topo, **kw)
    entries = [Entry(t.where(row.line), f"{t.collective} {row.nbytes} B {row.column}", "us",
                     row.time_us, i) for t, row, i in rows]
    return points, entries, placements


def points_of(tables, topo, ranks=None, nodes=None, group=None, algorithm=None,
              columns=("out-of-place", "in-place", "time")):
    """(points, rows, placements): the distinct :class:`CollectivePoint` s, and for every
    kept row ``(table, row, point index)``; each point is checked on ``topo`` (one line
    naming the file and line when it cannot run)."""
    points, index, rows, placements = [], {}, [], []
    for t in tables:
        if t.collective is None:
            raise UbemuError(f"{t.where()}: the log does not say which collective it "
                             f"measured; give --collective")
        try:
            coll = collectives.get(t.collective)
        except UbemuError as exc:
            raise UbemuError(f"{t.where()}: {exc}") from None
        pl = place(t, topo, ranks, nodes, group)
        placements.append(pl)
        for row in t.rows:
            if row.column not in columns:
                continue
            where = t.where(row.line)
            try:
                dtype = get_dtype(row.dtype).name
            except UbemuError as exc:
                raise UbemuError(f"{where}: {exc}") from None
            _check_size(coll, row, get_dtype(dtype).itemsize, pl.n_ranks, where)
            p = CollectivePoint(coll.name, row.nbytes, pl.group, dtype,
                                row.root if coll.rooted else -1,
                                algorithm or row.algorithm)
            if p not in index:
                try:
                    p.evaluate(topo)
                except UbemuError as exc:
                    raise UbemuError(f"{where}: {coll.name} of {row.nbytes:,} B on "
                                     f"{pl.n_ranks} ranks cannot run on {topo.name!r}: "
                                     f"{exc}") from None
                index[p] = len(points)
                points.append(p)
            rows.append((t, row, index[p]))
    if not rows:
        raise UbemuError("no rows to fit (every row left out by --column?)")
    return points, rows, placements
