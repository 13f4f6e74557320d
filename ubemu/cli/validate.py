"""``ubemu validate [FILE.csv ...]``: ubemu against published measurements of real machines.

Reads the measurement files (default every one in ``docs/data/``,
:mod:`ubemu.validation.rows`), prints one line per row as it is computed (measured, ubemu,
ratio, how ubemu got it), then per system and role (``fit``: rows the presets' parameters
were fitted on; ``validate``: never fitted) the number of rows, the median ratio and the worst
row. ``--role`` keeps one role; ``--max-error`` makes the command fail (exit 1) when a kept
row's ratio lies further from 1 than that (a fraction: ``0.1`` is 10 %); ``-J`` writes every
row and the summaries, ``--csv`` every row as it is computed.
"""

import sys

from ..errors import UbemuError
from .csvout import CsvWriter, add_csv_option
from .results import check_outputs, write_json_atomic
from .table import format_number

ROLES = ("fit", "validate", "all")


def add_parsers(subparsers):
    """Add ``validate`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser(
        "validate", help="compare ubemu with published measurements (docs/data/*.csv)",
        description="Compare ubemu with published measurements of real machines, row by row.")
    p.add_argument("files", nargs="*", metavar="FILE.csv",
                   help="measurement files (default: every one in docs/data/)")
    p.add_argument("--role", choices=ROLES, default="all",
                   help="fit (training rows), validate (never fitted) or all")
    p.add_argument("--max-error", type=float, default=None, metavar="FRACTION",
                   help="exit 1 if a row's ratio is further than this from 1 (0.1 = 10 %%)")
    p.add_argument("-J", "--output_file", default=None, metavar="FILE.json",
                   help="write every row and the summaries as JSON")
    add_csv_option(p)
    p.set_defaults(command="validate")


#: ``--csv`` of ``ubemu validate``: a row per measurement.
CSV_COLUMNS = ("id", "system", "role", "kind", "size_B", "metric", "measured", "ubemu",
               "ratio", "note", "source_url")


def _line(c):
    r = c.row
    return (f"{r.id:<24} {r.role:<8} {r.kind:<14} {r.size_B:>12} {r.metric:<14} "
            f"{format_number(r.published):>9} {format_number(c.model):>9} "
            f"{c.ratio:>6.3f}  {c.note}")


def run_validate(args, out=None):
    """``ubemu validate``; returns 0, or 1 when ``--max-error`` is exceeded."""
    from ..validation import report, rows

    out = out if out is not None else sys.stdout
    if args.max_error is not None and not args.max_error > 0:
        raise UbemuError(f"--max-error must be a fraction > 0, got {args.max_error}")
    files = args.files or rows.default_files()
    check_outputs([("-J/--output_file", args.output_file), ("--csv", args.csv)],
                  [("the input", f) for f in files])
    csv_out = CsvWriter(args.csv, CSV_COLUMNS)
    chosen = [r for r in rows.read_all(files) if args.role in ("all", r.role)]
    if not chosen:
        raise UbemuError(f"--role {args.role}: no such rows in {', '.join(map(str, files))}")
    print(f"# ubemu validate: {len(chosen)} rows from {len(files)} files "
          f"(ratio = ubemu / measured)", file=out)
    print(f"# {'id':<22} {'role':<8} {'kind':<14} {'size (B)':>12} {'metric':<14} "
          f"{'measured':>9} {'ubemu':>9} {'ratio':>6}  how", file=out)

    def show(c):
        print(_line(c), file=out, flush=True)
        r = c.row
        csv_out.add((r.id, r.system, r.role, r.kind, r.size_B, r.metric, r.published, c.model,
                     c.ratio, c.note, r.source_url))

    compared = report.compare(chosen, on_row=show)
    summaries = report.summarise(compared)
    print("#\n# system (role): rows, median ratio, worst row (ratio)", file=out)
    for s in summaries:
        print(f"# {s.system} ({s.role}): {s.n} rows, median {s.median_ratio:.3f}, worst "
              f"{s.worst.row.id} ({s.worst.ratio:.3f})", file=out)
    bad = [c for c in compared
           if args.max_error is not None and abs(c.ratio - 1) > args.max_error]
    if bad:
        print(f"# {len(bad)} rows further than {args.max_error:.0%} from the measurement: "
              f"{', '.join(c.row.id for c in bad)}", file=out)
    if args.output_file:
        write_json_atomic(args.output_file, {
            "rows": [dict(id=c.row.id, system=c.row.system, role=c.row.role,
                          kind=c.row.kind, size_B=c.row.size_B, metric=c.row.metric,
                          measured=c.row.published, ubemu=c.model, ratio=c.ratio,
                          note=c.note, source_url=c.row.source_url) for c in compared],
            "summaries": [dict(system=s.system, role=s.role, rows=s.n,
                               median_ratio=s.median_ratio, worst_id=s.worst.row.id,
                               worst_ratio=s.worst.ratio) for s in summaries]})
    return 1 if bad else 0


DISPATCH = {"validate": run_validate}
