"""nccl-tests-style tables from :class:`~ubemu.result.Result` objects, and figures for humans.

The table keeps nccl-tests' first nine columns (size, count, type, redop, root, time, algbw,
busbw, #wrong) at nccl-tests' widths, so scripts that read those columns by position keep
working; ubemu's extras follow #wrong: ``maxrelerr`` (only when checking), the link class that
bounded the run and the algorithm that ran. Per-link-class utilisation goes in ``#`` lines.
As in nccl-tests, ``redop`` is ``none`` for a collective without a reduction and ``root`` is
``-1`` for one without a root.

Pure formatting: nothing here runs a collective.
"""

import math

from .. import collectives

#: Significant digits of the figures shown to humans (the JSON keeps every digit).
HUMAN_DIGITS = 4


def format_time_us(time_us):
    """Time in microseconds the way nccl-tests prints it: 7 wide, fewer decimals when large."""
    if time_us >= 10000.0:
        return f"{time_us:7.0f}"
    if time_us >= 100.0:
        return f"{time_us:7.1f}"
    return f"{time_us:7.2f}"


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


def table_header(check=False):
    """The three ``#`` lines above the table (titles, units), nccl-tests' alignment."""
    extra_t = f"  {'maxrelerr':>9}" if check else ""
    extra_u = f"  {'':>9}" if check else ""
    blank = f"# {'':>10}  {'':>12}  {'':>8}  {'':>6}  {'':>6}"
    return [
        f"{blank}           out-of-place",
        f"# {'size':>10}  {'count':>12}  {'type':>8}  {'redop':>6}  {'root':>6}"
        f"  {'time':>7}  {'algbw':>6}  {'busbw':>6} {'#wrong':>6}{extra_t}"
        f"  {'bottleneck':<16}  algorithm",
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
    return f"{row}  {result.bottleneck or '-':<16}  {result.choice}"


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
    """``#`` lines with each link class's bytes, busy time and utilisation for one result.

    ``busy (us)`` sums over the steps the time the class's busiest link spent sending in the
    step; ``util`` is the class's bytes over its effective capacity (links x bandwidth x
    efficiency) times the collective's time.
    """
    if not result.usage:
        return []
    lines = [f"# link classes at {result.nbytes} B ({result.algorithm}):",
             f"#   {'class':<16} {'level':>5} {'bytes':>14} {'busy (us)':>10} {'util':>6}"]
    for u in result.usage:
        u = _usage_dict(u)
        lines.append(f"#   {u['name']:<16} {u['level']:5d} {u['bytes']:14.4g}"
                     f" {u['busy_s'] * 1e6:10.2f} {u['utilisation'] * 100:5.1f}%")
    return lines


def _usage_dict(u):
    return u if isinstance(u, dict) else {k: getattr(u, k) for k in
                                          ("name", "level", "bytes", "busy_s", "utilisation")}
