"""``ubemu algorithms [COLLECTIVE]``: the algorithm registry, one line per algorithm.

Without a collective the per-level phases that ``hierarchical`` accepts (``--per-level``)
follow, one ``#`` line per phase kind.
"""

import sys

from ..errors import choices_error
from .csvout import CsvWriter, add_csv_option


def add_parsers(subparsers):
    """Add ``algorithms`` to ``ubemu``'s sub-parsers."""
    p = subparsers.add_parser("algorithms", help="list the registered algorithms",
                              description="List the algorithm registry.")
    p.add_argument("collective", nargs="?", default=None, help="only this collective")
    add_csv_option(p)
    p.set_defaults(command="algorithms")


def phase_registry():
    """``ubemu.algorithms.PHASES``: (kind, name) -> per-level phase."""
    try:
        from ..algorithms import PHASES
    except ImportError:  # not re-exported by ubemu.algorithms yet
        from ..algorithms.base import PHASES
    return PHASES


def listing_rows(collective=None):
    """``(collective, algorithm, summary)`` of every registered algorithm (of ``collective``)."""
    from ..algorithms import REGISTRY

    colls = sorted({c for c, _ in REGISTRY})
    if collective is not None and collective not in colls:
        raise choices_error("collective", collective, colls)
    return [(c, n, REGISTRY[(c, n)].summary) for c, n in sorted(REGISTRY)
            if collective in (None, c)]


def listing_lines(collective=None):
    """The lines of the listing (all collectives when ``collective`` is None)."""
    rows = listing_rows(collective)
    w1, w2 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines = [f"# {'collective':<{w1 - 2}}  {'algorithm':<{w2}}  summary"]
    lines += [f"{c:<{w1}}  {n:<{w2}}  {s}" for c, n, s in rows]
    phases = phase_registry()
    kinds = sorted({k for k, _ in phases})
    if kinds and collective is None:
        lines.append("# per-level phases (for --per-level):")
        for k in kinds:
            lines.append(f"#   {k}: {', '.join(sorted(n for kk, n in phases if kk == k))}")
    return lines


def run_algorithms(args, out=None):
    """``ubemu algorithms [COLLECTIVE]``; returns 0."""
    out = out if out is not None else sys.stdout
    csv_out = CsvWriter(args.csv, ("collective", "algorithm", "summary"))
    print("\n".join(listing_lines(args.collective)), file=out)
    csv_out.add_all(listing_rows(args.collective))
    return 0


DISPATCH = {"algorithms": run_algorithms}
