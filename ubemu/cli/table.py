"""nccl-tests tables from :class:`~ubemu.result.Result` objects, and figures for humans.

The table is nccl-tests' own (``src/util.cu`` and ``src/common.cu`` of NVIDIA/nccl-tests):
the same header lines, the thirteen columns (size, count, type, redop, root, then time,
algbw, busbw, #wrong out of place and in place) at the same widths and number formats, and
the same closing lines, so parsers written for nccl-tests read it unchanged. ubemu's extras
(``maxrelerr`` when checking, the link class that bounded the run, the algorithm that ran)
follow the in-place ``#wrong`` only with ``--extra``; per-link-class utilisation goes in
``#`` lines. As in nccl-tests, ``redop`` is ``none`` for a collective without a reduction,
``root`` is ``-1`` for one without a root, ``count`` is what each rank passes (``count / n``
for the collectives of one block per rank) and ``type`` is nccl-tests' name of the type.

In place the model runs the same schedule on one buffer per rank: ubemu's data plane always
works in its working buffer and charges no local copy, so the in-place columns repeat the
out-of-place time and check (sendrecv's in-place ``#wrong`` is ``N/A``, as in nccl-tests).

Pure formatting: nothing here runs a collective.
"""

import math
from dataclasses import dataclass

from .. import collectives

#: Significant digits of the figures shown to humans (the JSON keeps every digit).
HUMAN_DIGITS = 4
#: nccl-tests' name of each ubemu data type (its ``type`` column and ``-d`` values).
NCCL_TYPE_NAMES = {"float64": "double", "float32": "float", "float16": "half",
                   "bfloat16": "bfloat16", "int32": "int32", "int64": "int64"}
#: nccl-tests' ``-S 1`` timestamp format and its width in the header.
TIMESTAMP_FORMAT, TIMESTAMP_WIDTH = "%Y-%m-%d %H:%M:%S", 19


@dataclass(frozen=True)
class Layout:
    """What a table shows beyond nccl-tests' thirteen columns.

    Attributes
    ----------
    check : bool
        ``-c``: the data plane ran (``#wrong`` counted; ``maxrelerr`` with ``extra``).
    extra : bool
        ``--extra``: ubemu's columns after the in-place ``#wrong``.
    timestamps : bool
        ``-S 1``: nccl-tests' timestamp after the in-place columns.
    """

    check: bool = False
    extra: bool = False
    timestamps: bool = False


def nccl_float(value, width):
    """A figure in ``width`` characters the way nccl-tests prints time and bandwidths
    (``getFloatStr``): two decimals if they fit, else one, else none, else an exponent."""
    for decimals in (2, 1, 0):
        text = f"{value:{width}.{decimals}f}"
        if len(text) <= width:
            return text
    return f"{value:{width}.1e}" if width >= 7 else f"{value:{width}.0e}"


def format_time_us(time_us):
    """Time in microseconds in nccl-tests' 7 characters."""
    return nccl_float(time_us, 7)


def format_number(x, digits=HUMAN_DIGITS):
    """``x`` rounded to ``digits`` significant digits, never in exponent form.

    ``61.111111111111114`` -> ``'61.11'``, ``56.0`` -> ``'56'``, ``12345.6`` -> ``'12350'``,
    ``1.5e-07`` -> ``'0.00000015'``.
    """
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    rounded = float(f"{x:.{digits}g}")
    decimals = max(digits - 1 - math.floor(math.log10(abs(rounded))), 0)
    text = f"{rounded:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def human_spec(level, digits=HUMAN_DIGITS):
    """A level's string form with its figures rounded for reading (``61.11GBps``).

    :attr:`ubemu.machine.topology.Level.spec` is the exact form that parses back to the level (the
    ``-J`` and ``topo show --json`` documents keep it); this one is for tables and headers.
    """
    bw, lat = format_number(level.bw_GBps, digits), format_number(level.lat_ns, digits)
    text = f"{level.fabric}:{level.size}@{bw}GBps/{lat}ns"
    for key, default in (("links", 1), ("planes", 1), ("oversub", 1.0)):
        if getattr(level, key) != default:
            text += f":{key}={format_number(getattr(level, key), digits)}"
    text += ":trunk" if level.trunk else ""
    for key in ("efficiency", "innet_efficiency", "innet_lat_ns", "ll_bw_factor",
                "ll128_bw_factor"):
        if getattr(level, key):
            text += f":{key}={format_number(getattr(level, key), digits)}"
    return text + (f":name={level.name}" if level.name else "")


def redop_label(collective, op):
    """What the redop column shows: the op, or ``none`` for collectives without reduction."""
    return collectives.get(collective).redop_label(op)


def root_label(collective, result=None):
    """What the root column shows: the root rank for broadcast / reduce, -1 otherwise."""
    if not collectives.get(collective).rooted:
        return -1
    return int((result.notes or {}).get("root", 0)) if result is not None else 0


def table_header(layout=Layout()):
    """nccl-tests' lines above the table: ``#``, the two titles, the units (with ``-S 1``
    its timestamp title, with ``--extra`` ubemu's columns)."""
    titles = ("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong",
              "time", "algbw", "busbw", "#wrong")
    units = ("(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
             "(GB/s)", "")
    cols = "# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}" + "  {:>7}  {:>6}  {:>6}  {:>6}" * 2
    title, unit = cols.format(*titles), cols.format(*units)
    if layout.timestamps:  # nccl-tests: " %*s", one column left of the rows' "%21s"
        title += f" {'timestamp':>{TIMESTAMP_WIDTH}} "
        unit += f" {TIMESTAMP_FORMAT:>{TIMESTAMP_WIDTH}} "
    if layout.extra:
        title += f"  {'maxrelerr':>9}" if layout.check else ""
        title += f"  {'bottleneck':<16}  algorithm"
        unit += f"  {'':>9}" if layout.check else ""
    first = "# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}".format(*("",) * 5)
    return ["#", first + "           out-of-place                       in-place",
            title.rstrip(), unit.rstrip()]


def format_row(result, layout=Layout(), timestamp=None):
    """One table row for ``result``: nccl-tests' columns, out of place then in place (the
    same schedule on one buffer: the same figures), then the timestamp and the extras."""
    coll = collectives.get(result.collective)
    head = (f"{result.nbytes:12d}  {coll.rank_count(result.count, result.n_ranks):12d}"
            f"  {NCCL_TYPE_NAMES.get(result.dtype, result.dtype):>8}"
            f"  {redop_label(result.collective, result.op):>6}"
            f"  {root_label(result.collective, result):6d}")
    figures = (f"  {format_time_us(result.time_s * 1e6)}  {nccl_float(result.algbw_GBps, 6)}"
               f"  {nccl_float(result.busbw_GBps, 6)}")
    checked = layout.check and result.wrong is not None
    wrong = f"  {float(result.wrong):6g}" if checked else "    N/A"
    in_place = wrong if checked and coll.in_place_checked else "    N/A"
    row = head + figures + wrong + figures + in_place
    if layout.timestamps:
        row += f"{timestamp or '':>{TIMESTAMP_WIDTH + 2}}"
    if layout.extra:
        if layout.check:
            err = result.max_rel_err
            row += f"  {'N/A' if err is None else f'{err:.2e}':>9}"
        row += f"  {result.bottleneck or '-':<16}  {result.choice}"
    return row


def avg_busbw(results):
    """Mean bus bandwidth over ``results`` (nccl-tests' ``# Avg bus bandwidth``, which
    averages the out-of-place and in-place rows: here the same figures); 0 if none."""
    return sum(r.busbw_GBps for r in results) / len(results) if results else 0.0


def footer_lines(results):
    """nccl-tests' closing lines: out-of-bounds values (0 when nothing was checked) and the
    average bus bandwidth."""
    wrong = sum(int(r.wrong or 0) for r in results)
    return [f"# {'Out of bounds values':<20} : {wrong} {'OK' if wrong == 0 else 'FAILED'}",
            f"# {'Avg bus bandwidth':<20} : {avg_busbw(results):g}"]


#: ``--csv`` of a collective command: the table's columns (in-place ones included), every
#: digit, then ubemu's extras and what names the row.
CSV_COLUMNS = ("size", "count", "type", "redop", "root", "time_us", "algbw_GBps",
               "busbw_GBps", "wrong", "in_place_time_us", "in_place_algbw_GBps",
               "in_place_busbw_GBps", "in_place_wrong", "max_rel_err", "bottleneck",
               "algorithm", "requested_algorithm", "collective", "dtype", "n_ranks",
               "topology")


def csv_record(result, requested_algorithm):
    """The ``--csv`` row of one table row (a dict keyed by :data:`CSV_COLUMNS`)."""
    coll = collectives.get(result.collective)
    figures = (result.time_s * 1e6, result.algbw_GBps, result.busbw_GBps)
    wrong = None if result.wrong is None else int(result.wrong)
    return dict(zip(CSV_COLUMNS, (
        result.nbytes, coll.rank_count(result.count, result.n_ranks),
        NCCL_TYPE_NAMES.get(result.dtype, result.dtype),
        redop_label(result.collective, result.op), root_label(result.collective, result),
        *figures, wrong, *figures, wrong if coll.in_place_checked else None,
        result.max_rel_err, result.bottleneck, result.algorithm, requested_algorithm,
        result.collective, result.dtype, result.n_ranks, result.topology)))


def usage_lines(result):
    """``#`` lines with each link class's bytes, busy time and utilisation for one result.

    ``busy (us)`` sums over the steps the time the class's busiest link spent sending in the
    step; ``util`` is the class's bytes over its effective capacity (links x bandwidth x
    efficiency) times the collective's time, machine-wide; ``links used`` counts the class's
    links that carried bytes (the group's), and ``group util`` divides by those alone.
    """
    if not result.usage:
        return []
    return class_lines(f"link classes at {result.nbytes} B ({result.algorithm})", result.usage)


def class_lines(title, usage):
    """``# title:`` and the per-class ``#`` lines of :func:`usage_lines` for ``usage``."""
    lines = [f"# {title}:",
             f"#   {'class':<16} {'level':>5} {'bytes':>14} {'busy (us)':>10} {'util':>6}"
             f" {'links used':>15} {'group util':>10}"]
    for u in usage:
        u = _usage_dict(u)
        used = f"{u['links_used']:,}/{u['links']:,}" if u["links"] else "-"
        group = f"{u['group_utilisation'] * 100:5.1f}%" if u["links_used"] else "-"
        lines.append(f"#   {u['name']:<16} {u['level']:5d} {u['bytes']:14.4g}"
                     f" {u['busy_s'] * 1e6:10.2f} {u['utilisation'] * 100:5.1f}%"
                     f" {used:>15} {group:>10}")
    return lines


def _usage_dict(u):
    """A usage record as a dict (a :class:`~ubemu.result.ClassUsage` or one read from JSON,
    where records written before the group's figures have no link counts)."""
    d = u if isinstance(u, dict) else vars(u)
    return {"links": 0, "links_used": 0, "group_utilisation": 0.0, **d}
