"""Which links carried bytes, and each link class's usage of a timed run.

:class:`LinkUsage` is a mixin of :class:`~ubemu.timing.timer.StepTimer`: the per-link flags
of the links some step loaded (counted per class by a popcount at the end: the group's own
links), and the per-class usage (bytes, busiest link, utilisation over every link of the
class and over the links the group used) under one protocol.
"""

import numpy as np

from ..result import ClassUsage

#: The bottleneck when the NPUs' per-message costs, not a link class, took most of the time.
MESSAGES = "npu.messages"


class LinkUsage:
    """Link usage of a :class:`~ubemu.timing.timer.StepTimer` (its mixin)."""

    def mark_classes_used(self, classes):
        """Remember every link of the classes ``classes`` as carrying bytes (a step that loads
        them all, found without routing it)."""
        self._class_used[classes] = True

    def mark_ports(self, first, senders):
        """Remember link ``first + i`` as carrying bytes for every ``i`` where ``senders[i]``
        (a class laid out one link per NPU, the NPUs in order)."""
        if self._used is None:
            self._used = np.zeros(self.topology.n_links, bool)
        self._used[first:first + senders.size] |= senders

    def mark_used(self, ids):
        """Remember the links ``ids`` (this process's) as carrying bytes: the links the run's
        group uses, however many steps load them (counted per class by :meth:`links_used`)."""
        if self._used is None:
            self._used = np.zeros(self.topology.n_links, bool)
        self._used[ids] = True

    def links_used(self):
        """Links of each class that carried bytes so far (int64 per class), over every
        process: the links the run's group actually uses."""
        ends = np.append(self.class_first[1:], self.topology.n_links)
        mine = np.zeros(len(self.class_names))
        if self._used is not None:  # a popcount per class, not a loop over links
            mine[:] = [np.count_nonzero(self._used[a:b])
                       for a, b in zip(self.class_first.tolist(), ends.tolist())]
        each = self.spread.gather_sum(mine).astype(np.int64)
        return np.where(self._class_used, self.class_count.astype(np.int64), each)

    def usage(self, protocol=0):
        """Per-class usage so far (:class:`ubemu.result.ClassUsage` list) and the bottleneck,
        under the protocol of index ``protocol``.

        Utilisation is bytes / (effective capacity x links x total time): 1.0 means every link
        of the class sent at full (efficiency-derated) speed for the whole collective. The
        group's utilisation divides by the links that carried bytes instead of all of them.
        """
        bw = self._factors[protocol][1]
        if self._class_bw[protocol] is not None:
            bw = self._class_bw[protocol]
        busy = self.busy_s / bw
        time_s = float(self._times[protocol] + self._hidden[protocol])
        used = self.links_used()
        out = [ClassUsage(name, lvl, float(b), float(s), float(u), int(n), int(k), float(g))
               for name, lvl, b, s, u, n, k, g in
               zip(self.class_names, self.level_of_class, self.bytes, busy,
                   self._per_link(self.class_count, bw, time_s), self.class_count, used,
                   self._per_link(used, bw, time_s))]
        bottleneck = ""
        if busy.size and busy.max() > 0:
            bottleneck = self.class_names[int(np.argmax(busy))]
        messages = self._message_totals[protocol]
        if messages > 0 and float(messages) > busy.max(initial=0):
            bottleneck = MESSAGES
        return out, bottleneck

    def _per_link(self, links, bw, time_s):
        """Each class's bytes over (effective capacity x the protocol's bandwidth factor
        ``bw`` x ``links`` x total time ``time_s``)."""
        denom = self.class_cap_Bps * bw * links * time_s
        return np.divide(self.bytes, denom, out=np.zeros_like(self.bytes), where=denom > 0)
