"""Every benchmark's performance targets in one table, met or MISSED.

A benchmark measures its figures and reports each target here; ``make bench`` (pytest, with
``benchmarks/conftest.py``) ends with the table of every target reported in the session and
exits non-zero when one is missed, and a benchmark file run as a script does the same for its
own targets. Using it in a new benchmark file::

    import targets

    def main():
        t_s = ...  # measure
        targets.target("route 1M pairs, atlas960", t_s, "<", 2.0, "s")
        targets.target("kernel / np.add", ratio, ">=", 0.70, "x", baseline="np.add 11 GB/s")
        targets.check("pairwise all-to-all, 1M NPUs, refused up front", refused,
                      "refused", "refused" if refused else "ran")

    def test_bench_x(benchmark):           # the pytest-benchmark entry, for make bench
        benchmark.pedantic(main, rounds=1, iterations=1)

    if __name__ == "__main__":
        targets.run_script(main)           # prints the figures, then the table; exit 1 on a miss

A figure without a target is printed by the benchmark itself and not reported here (a target
retired by an issue is such a figure, with the reason in the file's docstring).
"""

import math
import sys
from dataclasses import dataclass

#: Every target reported in this process, in order.
REPORTED = []


@dataclass
class Target:
    """One target: what, the goal, the figure measured, a baseline measured in the same run
    (if any), and whether it was met."""

    name: str
    goal: str
    measured: str
    baseline: str
    met: bool


def _text(value, unit):
    return f"{value:.3g} {unit}".strip()


def target(name, measured, op, goal, unit="", baseline=None):
    """Report a numeric target: ``measured`` against ``goal`` with ``op`` (``"<"``,
    ``"<="``, ``">"``, ``">="``), in ``unit``; ``baseline``: the baseline's figure (a number
    in ``unit`` or a text). A NaN (nothing measured) is a miss. Returns whether it is met."""
    met = not math.isnan(measured) and {"<": measured < goal, "<=": measured <= goal,
                                        ">": measured > goal, ">=": measured >= goal}[op]
    base = _text(baseline, unit) if isinstance(baseline, (int, float)) else (baseline or "")
    REPORTED.append(Target(name, f"{op} {_text(goal, unit)}", _text(measured, unit), base, met))
    return met


def check(name, ok, goal, measured, baseline=""):
    """Report a target that is a behaviour (``ok``), described by ``goal`` and ``measured``
    texts. Returns ``ok``."""
    REPORTED.append(Target(name, goal, measured, baseline, bool(ok)))
    return bool(ok)


def table(reported=None):
    """The lines of the table of ``reported`` targets (default every one so far)."""
    rows = REPORTED if reported is None else reported
    if not rows:
        return ["# no performance target was reported"]
    head = ("target", "goal", "measured", "baseline", "")
    cells = [head] + [(t.name, t.goal, t.measured, t.baseline or "-",
                       "met" if t.met else "MISSED") for t in rows]
    widths = [max(len(c[k]) for c in cells) for k in range(4)]
    lines = [("  ".join(c[k].ljust(widths[k]) for k in range(4)) + "  " + c[4]).rstrip()
             for c in cells]
    missed = sum(not t.met for t in rows)
    return (["# performance targets", *lines,
             f"# {len(rows)} targets: {len(rows) - missed} met, {missed} MISSED"])


def missed(reported=None):
    """The targets not met."""
    return [t for t in (REPORTED if reported is None else reported) if not t.met]


def run_script(main, *args):
    """Run a benchmark's ``main(*args)`` as a script: its figures, then the table of its
    targets; exit status 1 when one is missed."""
    main(*args)
    print("\n".join(table()), flush=True)
    sys.exit(1 if missed() else 0)
