"""A timer's totals taken out as a record, and the records of consecutive parts summed back in.

One operation's steps can be timed in parts, each part by a timer of its own (on another MPI
process: :mod:`ubemu.workloads.parts`); :meth:`RunTotals.totals` takes a part's totals out
and :meth:`RunTotals.add_totals` sums the parts' totals into one timer, which then answers
as if it had timed every step itself, bit for bit: the times, busy times and message times are
exact :class:`~fractions.Fraction` sums (any grouping gives the same); what sliced steps hid is
the most of any part's; the bytes per class, a float sum, are added again unit by unit in the
order the one timer added them; the links used are a union.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UbemuError


@dataclass
class Totals:
    """What a recording timer has counted (see the module docstring)."""

    times: list  # Fraction per protocol
    hidden: list  # Fraction per protocol: the most a sliced step hid (paid once per run)
    messages: list  # Fraction per protocol: the busiest NPU's message time where it rules
    busy: list  # Fraction per link class
    n_steps: int
    class_bytes: list  # (bytes per class of one unit, times counted) per unit, in order
    used: np.ndarray | None  # packed per-link flags of the links that carried bytes
    class_used: np.ndarray  # per class: every link of it carried bytes


class RunTotals:
    """Mixin of :class:`ubemu.timing.timer.StepTimer`: its totals out and in."""

    def totals(self):
        """This timer's :class:`Totals` (it must record: :attr:`capture`, which the
        bytes per class are read from)."""
        if self.capture is None:
            raise UbemuError("timing in parts needs a recording timer")
        return Totals(list(self._times), list(self._hidden), list(self._message_totals),
                      list(self._busy_total),
                      self.n_steps, [(unit[5], unit[4]) for unit in self.capture],
                      None if self._used is None else np.packbits(self._used),
                      self._class_used.copy())

    def add_totals(self, parts):
        """Sum ``parts`` (:class:`Totals` of consecutive parts of one run, in order) into
        this timer's totals."""
        for t in parts:
            for i in range(len(self._times)):
                self._times[i] += t.times[i]
                self._hidden[i] = max(self._hidden[i], t.hidden[i])
                self._message_totals[i] += t.messages[i]
            for c in range(len(self._busy_total)):
                self._busy_total[c] += t.busy[c]
            self.n_steps += t.n_steps
            for class_bytes, k in t.class_bytes:  # as the one timer added them
                self.bytes += class_bytes * k
            if t.used is not None:
                used = np.unpackbits(t.used, count=self.topology.n_links).view(bool)
                self._used = used if self._used is None else self._used | used
            self._class_used |= t.class_used
