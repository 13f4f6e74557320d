"""nccl-tests-style tables and JSON documents from :class:`~ubemu.result.Result` objects.

The table keeps nccl-tests' first nine columns (size, count, type, redop, root, time, algbw,
busbw, #wrong) at nccl-tests' widths, so scripts that read those columns by position keep
working; ubemu's extras follow #wrong: ``maxrelerr`` (only when checking), the link class that
bounded the run and the algorithm that ran. Per-link-class utilisation goes in ``#`` lines.

Pure formatting: nothing here runs a collective.
"""

import json
import math
import os
import tempfile
from pathlib import Path

from .errors import UbemuError

#: Collectives without a reduction: nccl-tests prints ``none`` as their redop.
NO_REDOP = ("all_gather", "alltoall", "broadcast")
#: Collectives with a root: nccl-tests prints it; the others print -1.
ROOTED = ("broadcast", "reduce")
#: Name of the JSON document's list of records; a bare list of records is also accepted.
RECORDS_KEY = "records"


def format_time_us(time_us):
    """Time in microseconds the way nccl-tests prints it: 7 wide, fewer decimals when large."""
    if time_us >= 10000.0:
        return f"{time_us:7.0f}"
    if time_us >= 100.0:
        return f"{time_us:7.1f}"
    return f"{time_us:7.2f}"


def redop_label(collective, op):
    """What the redop column shows: the op, or ``none`` for collectives without reduction."""
    return "none" if collective in NO_REDOP else op


def root_label(collective, result=None):
    """What the root column shows: the root rank for broadcast / reduce, -1 otherwise."""
    if collective not in ROOTED:
        return -1
    return int((result.notes or {}).get("root", 0)) if result is not None else 0


def table_header(check=False):
    """The three ``#`` lines above the table (titles, units), nccl-tests' alignment."""
    extra_t = f"  {'maxrelerr':>9}" if check else ""
    extra_u = f"  {'':>9}" if check else ""
    blank = f"# {'':>10}  {'':>12}  {'':>8}  {'':>6}  {'':>6}"
    return [
        f"{blank}           out-of-place",
        f"# {'size':>10}  {'count':>12}  {'type':>8}  {'redop':>6}  {'root':>6}"
        f"  {'time':>7}  {'algbw':>6}  {'busbw':>6} {'#wrong':>6}{extra_t}  bottleneck  algorithm",
        f"# {'(B)':>10}  {'(elements)':>12}  {'':>8}  {'':>6}  {'':>6}"
        f"  {'(us)':>7}  {'(GB/s)':>6}  {'(GB/s)':>6} {'':>6}{extra_u}",
    ]


def format_row(result, check=False):
    """One table row for ``result``; ``#wrong`` is ``N/A`` when the data plane did not run."""
    wrong = "N/A" if result.wrong is None else str(int(result.wrong))
    row = (f"{result.nbytes:12d}  {result.count:12d}  {result.dtype:>8}"
           f"  {redop_label(result.collective, result.op):>6}"
           f"  {root_label(result.collective, result):6d}"
           f"  {format_time_us(result.time_s * 1e6)}  {result.algbw_GBps:6.2f}"
           f"  {result.busbw_GBps:6.2f} {wrong:>6}")
    if check:
        err = result.max_rel_err
        row += f"  {'N/A' if err is None else f'{err:.2e}':>9}"
    return f"{row}  {result.bottleneck or '-':<10}  {result.algorithm}"


def avg_busbw(results):
    """Mean bus bandwidth over ``results`` (nccl-tests' ``# Avg bus bandwidth``); 0 if none."""
    return sum(r.busbw_GBps for r in results) / len(results) if results else 0.0


def footer_lines(results, check=False):
    """nccl-tests' closing lines: out-of-bounds values (when checking) and average busbw."""
    lines = []
    if check:
        wrong = sum(int(r.wrong or 0) for r in results)
        lines.append(f"# Out of bounds values : {wrong} {'OK' if wrong == 0 else 'FAILED'}")
    lines.append(f"# Avg bus bandwidth    : {avg_busbw(results):g} ")
    return lines


def usage_lines(result):
    """``#`` lines with each link class's bytes, busy time and utilisation for one result."""
    if not result.usage:
        return []
    lines = [f"# link classes at {result.nbytes} B ({result.algorithm}):",
             f"#   {'class':<14} {'level':>5} {'bytes':>14} {'busy (us)':>10} {'util':>6}"]
    for u in result.usage:
        u = _usage_dict(u)
        lines.append(f"#   {u['name']:<14} {u['level']:5d} {u['bytes']:14.4g}"
                     f" {u['busy_s'] * 1e6:10.2f} {u['utilisation'] * 100:5.1f}%")
    return lines


def _usage_dict(u):
    return u if isinstance(u, dict) else {k: getattr(u, k) for k in
                                          ("name", "level", "bytes", "busy_s", "utilisation")}


# -- JSON ------------------------------------------------------------------------------------
def record(result, **extra):
    """A JSON-ready dict: every :meth:`Result.to_dict` field plus ``extra`` keys."""
    return {**result.to_dict(), **extra}


def _plain(obj):
    """json.dumps ``default``: NumPy scalars and arrays, tuples and sets become plain values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(document):
    """Serialise a document deterministically (sorted keys, fixed indentation)."""
    return json.dumps(document, indent=1, sort_keys=True, default=_plain) + "\n"


def write_json_atomic(path, document):
    """Write ``document`` to ``path`` via a temporary file and a rename: never a half file."""
    path = Path(path)
    text = dumps(document)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise UbemuError(f"-J/--output_file: cannot write {str(path)!r} "
                         f"({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise UbemuError(f"-J/--output_file: cannot write {str(path)!r} "
                         f"({exc.strerror})") from None


def load_records(path):
    """Records of a JSON file written by ``-J`` (a document with ``records`` or a bare list)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UbemuError(f"{path}: cannot read result file ({exc.strerror})") from None
    except ValueError as exc:
        raise UbemuError(f"{path}: not valid JSON ({exc})") from None
    recs = data.get(RECORDS_KEY) if isinstance(data, dict) else data
    if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
        raise UbemuError(f"{path}: expected a ubemu result file with a '{RECORDS_KEY}' list")
    need = ("collective", "algorithm", "topology", "nbytes", "time_s", "busbw_GBps")
    for i, r in enumerate(recs):
        missing = [k for k in need if k not in r]
        if missing:
            raise UbemuError(f"{path}: record {i} lacks field {missing[0]!r}")
        if not isinstance(r["time_s"], (int, float)) or math.isnan(r["time_s"]):
            raise UbemuError(f"{path}: record {i}: time_s must be a number")
    return recs
