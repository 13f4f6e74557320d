"""Reading benchmark logs: nccl-tests, Ascend's ``hccl_test``, and ubemu's own tables and ``-J``.

:func:`parse_text` turns the text of one log into :class:`Table` s (one per table in it: a log
may hold several collectives), each with its :class:`Row` s (one per size and column: the
out-of-place and in-place columns of nccl-tests are separate rows) and what the log says
about where it ran (ranks and host names from nccl-tests' ``#  Rank`` lines, the collective
from ``# Collective test starting: X_perf``, a ``*_perf`` / ``*_test`` binary named in the
text, or the file name). Nothing here knows a topology: the caller decides what a table's
ranks mean on a machine.

Formats understood (columns are found by their names in the header, so older layouts work):

- nccl-tests: ``#  size  count  type  redop  root  time  algbw  busbw  #wrong  time ...``
  (``root`` and ``redop`` optional, ``error`` for ``#wrong``), rows maybe prefixed by
  ``mpirun --tag-output`` (``[1,0]<stdout>:``) or ``srun -l`` (``0: ``); NCCL's ``INFO`` lines
  and other chatter between rows are skipped. ubemu's own table is the same layout with its
  extra columns (its ``algorithm`` column is kept per row, its ``# ubemu ... nRanks N`` line
  gives the collective and the ranks).
- hccl_test: ``data_size(Bytes): | aveg_time(us): | alg_bandwidth(GB/s): | check_result:``;
  the size follows nccl-tests' convention (the whole gathered output of all_gather, the whole
  input of reduce_scatter). Ranks come from an ``mpirun -n N`` line when the log has one.
- ubemu ``-J`` JSON (``records`` of a collective command).

A line inside a table that looks like a row (starts with a number) but does not parse is
refused with :class:`~ubemu.errors.UbemuError` naming the file and the line; so is a log with
no table at all.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UbemuError

#: nccl-tests / hccl_test binary stems -> collective names (ubemu's where it has one).
BINARIES = {"all_reduce": "all_reduce", "allreduce": "all_reduce", "all_gather": "all_gather",
            "allgather": "all_gather", "all_gatherv": "all_gather",
            "reduce_scatter": "reduce_scatter", "reducescatter": "reduce_scatter",
            "reduce_scatterv": "reduce_scatter", "alltoall": "alltoall",
            "alltoallv": "alltoall", "alltoallvc": "alltoall", "broadcast": "broadcast",
            "reduce": "reduce", "sendrecv": "sendrecv", "send_recv": "sendrecv",
            "scatter": "scatter", "gather": "gather", "hypercube": "hypercube"}
#: nccl-tests / hccl_test type names -> ubemu dtype names (others are kept as written).
TYPES = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16",
         "int": "int32", "int32": "int32", "int64": "int64", "fp32": "float32",
         "fp16": "float16", "bfp16": "bfloat16", "fp64": "float64", "float32": "float32",
         "float64": "float64", "float16": "float16"}
NCCL, HCCL, UBEMU = "nccl-tests", "hccl_test", "ubemu"

_PREFIX = re.compile(r"\[\d+(?:,\d+)*\](?:<std(?:out|err)>:)?|^\s*\d+:\s")
_RANK = re.compile(r"#\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device")
_NTHREAD = re.compile(r"#\s*nThread\s+(\d+)\s+nGpus\s+(\d+)")
_STARTING = re.compile(r"Collective test starting:\s*(\w+?)_perf")
_UBEMU = re.compile(r"#\s*ubemu\s+\S+\s+(\w+)\s+nRanks\s+(\d+)")
_GROUP = re.compile(r"#\s*Group:\s+(\S+)\s+\(\d+ ranks\)")
_BINARY = re.compile(r"\b(\w+?)_(?:perf|test)(?:_mpi)?\b")
_MPIRUN_N = re.compile(r"\b(?:mpirun|mpiexec)\b.*?\s-(?:n|np)\s+(\d+)")
_PER_NODE = re.compile(r"\b\w+_test\b.*\s-p\s+(\d+)")


@dataclass(frozen=True)
class Row:
    """One measured time: ``nbytes`` as the tool prints it (nccl-tests' convention), one
    column (``out-of-place``, ``in-place``, ``time`` for hccl_test and ``-J``)."""

    nbytes: int
    time_us: float
    column: str
    line: int  # in the file (a JSON log: the record's number from 1)
    dtype: str = "float32"
    op: str = "sum"
    root: int = -1
    algbw_GBps: float = None
    busbw_GBps: float = None
    algorithm: str = "auto"
    count: int = None


@dataclass
class Table:
    """One table of a log (see the module docstring). ``n_ranks`` and ``collective`` are None
    where the log does not say; ``how`` says where each figure came from."""

    source: str
    line: int
    tool: str
    collective: str = None
    n_ranks: int = None
    hosts: tuple = ()
    group: str = None
    rows: list = field(default_factory=list)
    how: dict = field(default_factory=dict)

    @property
    def n_nodes(self):
        """Distinct hosts of the ``Rank`` lines (None when the log lists none)."""
        return len(set(self.hosts)) or None

    def where(self, line=None):
        return f"{self.source}:{self.line if line is None else line}"


def _clean(line):
    return _PREFIX.sub("", line).rstrip()


def _collective_of(name):
    stem = name.lower()
    return BINARIES.get(stem)


def _from_name(source):
    """The collective a file name mentions (``1_1_LOG_all_reduce_env1.txt``), or None."""
    stem = Path(source).name.lower()
    for key in sorted(BINARIES, key=len, reverse=True):
        if re.search(rf"(?<![a-z]){key}(?![a-z])", stem):
            return BINARIES[key]
    return None


def _number(text, kind, where, what):
    try:
        return kind(text)
    except ValueError:
        raise UbemuError(f"{where}: {what} {text!r} is not a number") from None


class _NcclColumns:
    """Where the fields of a nccl-tests (or ubemu) row are, from its header line."""

    def __init__(self, names, where):
        self.names = names
        self.ix = {k: names.index(k) for k in ("size", "count", "type", "redop", "root")
                   if k in names}
        if "size" not in self.ix or "time" not in names:
            raise UbemuError(f"{where}: header without 'size' and 'time' columns")
        self.times = [i for i, n in enumerate(names) if n == "time"]
        self.algorithm = names.index("algorithm") if "algorithm" in names else None

    def rows(self, tokens, where, line):
        if len(tokens) < len(self.names):
            raise UbemuError(f"{where}: {len(tokens)} fields, the header has "
                             f"{len(self.names)} ({' '.join(self.names)})")
        get = {k: tokens[i] for k, i in self.ix.items()}
        nbytes = _number(get["size"], int, where, "size")
        dtype = TYPES.get(get.get("type", "float"), get.get("type", "float"))
        op = get.get("redop", "sum")
        root = _number(get.get("root", "-1"), int, where, "root")
        algorithm = tokens[self.algorithm] if self.algorithm is not None else "auto"
        count = _number(get["count"], int, where, "count") if "count" in get else None
        out = []
        for k, i in enumerate(self.times):
            column = ("out-of-place", "in-place")[k] if len(self.times) == 2 else "time"
            bw = [_maybe(tokens[j], where) if j < len(tokens) else None for j in (i + 1, i + 2)]
            out.append(Row(nbytes, _number(tokens[i], float, where, "time"), column, line,
                           dtype, op, root, bw[0], bw[1], algorithm, count))
        return out


def _maybe(text, where):
    return None if text in ("N/A", "-") else _number(text, float, where, "bandwidth")


def _start(tables, source, line, tool, **kw):
    tables.append(Table(source, line, tool, **kw))
    return tables[-1]


def _parse_nccl(lines, source):
    tables, cur, cols, pending = [], None, None, {}
    for k, raw in enumerate(lines, 1):
        line = _clean(raw)
        text = line.strip()
        if not text:
            continue
        m = _STARTING.search(text)
        if m:
            pending = {"collective": _collective_of(m.group(1)), "how": "test starting line"}
            cur, cols = None, None
            continue
        m = _UBEMU.match(text)
        if m:
            pending = {"collective": m.group(1), "how": "ubemu header", "ranks": int(m.group(2))}
            cur, cols = None, None
            continue
        if _NTHREAD.match(text) and cur is not None and cur.rows:
            cur, cols, pending = None, None, {}  # the next run of the same binary
        m = _GROUP.match(text)
        if m:
            pending["group"] = m.group(1)
            continue
        m = _RANK.match(text)
        if m:
            pending.setdefault("hosts", []).append((int(m.group(1)), m.group(2)))
            continue
        if text.startswith("#"):
            names = text.lstrip("#").split()
            if "size" in names and "time" in names:
                cols = _NcclColumns(names, f"{source}:{k}")
                cur = _start(tables, source, k, UBEMU if "ubemu" in pending.get("how", "")
                             else NCCL)
                _settle(cur, pending)
            continue
        first = text.split()[0]
        if not first.isdigit():
            continue  # NCCL INFO lines, shell prompts, ...
        if cols is None:
            raise UbemuError(f"{source}:{k}: a row before any column header (size count "
                             f"type ... time algbw busbw)")
        row_rows = cols.rows(text.split(), f"{source}:{k}", k)
        if row_rows[0].nbytes > 0:
            cur.rows.extend(row_rows)
    return [t for t in tables if t.rows]


def _settle(table, pending):
    """Give ``table`` what the lines before its header said."""
    if pending.get("collective"):
        table.collective, table.how["collective"] = pending["collective"], pending["how"]
    table.group = pending.get("group")
    hosts = dict(pending.get("hosts", []))
    if hosts:
        table.hosts = tuple(hosts[r] for r in sorted(hosts))
        table.n_ranks, table.how["ranks"] = len(hosts), "Rank lines"
    elif pending.get("ranks"):
        table.n_ranks, table.how["ranks"] = pending["ranks"], pending["how"]


def _parse_hccl(lines, source):
    tables, cur, cols = [], None, None
    ranks = per_node = None
    for k, raw in enumerate(lines, 1):
        text = _clean(raw).strip()
        m = _MPIRUN_N.search(text)
        if m:
            ranks = int(m.group(1))
        m = _PER_NODE.search(text)
        if m:
            per_node = int(m.group(1))
        if "data_size" in text and "|" in text:
            names = [c.strip().rstrip(":").split("(")[0] for c in text.split("|")]
            want = ("data_size", "aveg_time", "alg_bandwidth")
            alias = {"avg_time": "aveg_time"}
            names = [alias.get(n, n) for n in names]
            if not all(w in names for w in want[:2]):
                raise UbemuError(f"{source}:{k}: hccl_test header without data_size and "
                                 f"aveg_time")
            cols = {n: names.index(n) for n in names}
            cur = _start(tables, source, k, HCCL)
            if ranks:
                cur.n_ranks, cur.how["ranks"] = ranks, "mpirun -n"
                if per_node and ranks % per_node == 0:
                    cur.hosts = tuple(f"node{r // per_node}" for r in range(ranks))
                    cur.how["nodes"] = "hccl_test -p"
            continue
        if cols is None or not text[:1].isdigit():
            continue
        parts = [p.strip() for p in text.split("|")]
        where = f"{source}:{k}"
        if len(parts) < len(cols):
            raise UbemuError(f"{where}: {len(parts)} fields, the hccl_test header has "
                             f"{len(cols)}")
        nbytes = _number(parts[cols["data_size"]], int, where, "data_size")
        t = _number(parts[cols["aveg_time"]], float, where, "aveg_time")
        bw = (_maybe(parts[cols["alg_bandwidth"]], where) if "alg_bandwidth" in cols else None)
        if nbytes > 0:
            cur.rows.append(Row(nbytes, t, "time", k, algbw_GBps=bw))
    return [t for t in tables if t.rows]


def _parse_json(text, source):
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UbemuError(f"{source}: not valid JSON ({exc})") from None
    records = doc.get("records") if isinstance(doc, dict) else None
    if not isinstance(records, list) or not records:
        raise UbemuError(f"{source}: JSON without 'records' (not ubemu -J output of a "
                         f"collective command)")
    tables = {}
    for k, r in enumerate(records):
        try:
            key = (r["collective"], int(r["n_ranks"]))
            row = Row(int(r["nbytes"]), float(r["time_s"]) * 1e6, "time", k + 1,
                      r.get("dtype", "float32"), r.get("op", "sum"), int(r.get("root", -1)),
                      r.get("algbw_GBps"), r.get("busbw_GBps"),
                      r.get("requested_algorithm") or "auto")
        except (KeyError, TypeError, ValueError) as exc:
            raise UbemuError(f"{source}: record {k}: missing or bad field ({exc})") from None
        if key not in tables:
            group = (doc.get("command") or {}).get("group")
            tables[key] = Table(source, k + 1, UBEMU, key[0], key[1], group=group,
                                how={"collective": "ubemu -J", "ranks": "ubemu -J"})
        tables[key].rows.append(row)
    return list(tables.values())


def parse_text(text, source="<text>", collective=None):
    """Every table of one log's text (see the module docstring).

    ``collective``: the collective of tables whose log does not say (a flag on the command
    line); a table that names its own keeps it. Raises a one-line :class:`UbemuError` when
    a row does not parse or the text holds no table.
    """
    if text.lstrip().startswith("{"):
        tables = _parse_json(text, source)
    else:
        lines = text.splitlines()
        tables = (_parse_hccl(lines, source) if "data_size(Bytes)" in text
                  else _parse_nccl(lines, source))
    if not tables:
        raise UbemuError(f"{source}: no nccl-tests, hccl_test or ubemu table found (a header "
                         f"line naming size and time, then rows)")
    named = _BINARY.search(text)
    for t in tables:
        if t.collective is None:
            guess = (_collective_of(named.group(1)) if named else None) or _from_name(source)
            how = "binary named in the log" if named and guess else "file name"
            if collective is not None:
                t.collective, t.how["collective"] = collective, "--collective"
            elif guess is not None:
                t.collective, t.how["collective"] = guess, how
    return tables


def read_log(path, collective=None):
    """The tables of the log file ``path`` (:func:`parse_text`)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise UbemuError(f"cannot read log {path}: {exc.strerror or exc}") from None
    return parse_text(text, str(path), collective)
