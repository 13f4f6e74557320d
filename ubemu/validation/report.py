"""ubemu against every measurement row: the ratio per row, the median and worst per system.

The ratio is ubemu's figure over the measured one in the row's metric (so for a bandwidth
above 1 means ubemu is optimistic, for a time it means pessimistic). A system's *worst* row
is the one whose ratio lies furthest from 1 on a log scale (0.5 and 2 are equally bad).
"""

import math
import statistics
from dataclasses import dataclass

from .kinds import figure


@dataclass(frozen=True)
class Compared:
    """One row with ubemu's figure."""

    row: object
    model: float
    note: str

    @property
    def ratio(self):
        return self.model / self.row.published if self.row.published else math.inf


@dataclass(frozen=True)
class Summary:
    """The rows of one system and role."""

    system: str
    role: str
    n: int
    median_ratio: float
    worst: Compared

    @property
    def worst_error(self):
        """|ratio - 1| of the worst row."""
        return abs(self.worst.ratio - 1)


def compare(rows, on_row=None):
    """Every row with ubemu's figure, in the rows' order; ``on_row(compared)`` after each."""
    out = []
    for row in rows:
        model, note = figure(row)
        out.append(Compared(row, float(model), str(note)))
        if on_row is not None:
            on_row(out[-1])
    return out


def summarise(compared):
    """One :class:`Summary` per (system, role), in order of first appearance."""
    groups = {}
    for c in compared:
        groups.setdefault((c.row.system, c.row.role), []).append(c)
    return [Summary(system, role, len(cs), statistics.median(c.ratio for c in cs),
                    max(cs, key=lambda c: abs(math.log(c.ratio)) if c.ratio > 0 else math.inf))
            for (system, role), cs in groups.items()]
