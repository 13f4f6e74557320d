"""Progress of a long sweep on stderr, with an estimate of the time left.

``--progress auto`` (the default): when stderr is a terminal, a bar redrawn in place once the
sweep has run :data:`DELAY_S`; otherwise (a batch job's log) one plain line every
:data:`LINE_INTERVAL_S`, the first after one interval, and a closing line. ``on``: the same
from the first row. ``off``: nothing. Besides the sweep's own calls between rows, a background
thread looks every :data:`TICK_S` (:meth:`Progress.start`), so a long row shows progress too,
with an estimate from the part of its steps done (:meth:`Progress.within`, which ``simulate``'s
``progress`` calls);
:meth:`Progress.hold` keeps it from drawing while the sweep prints a table row.

The estimate weighs rows by the work they are expected to take: equal for timing only, and
growing with the data (size x ranks) when ``-c 1`` moves real values.
"""

import contextlib
import shutil
import sys
import threading
import time

#: Seconds a sweep runs before ``auto`` shows any progress.
DELAY_S = 3.0
#: Seconds between two plain progress lines (no terminal).
LINE_INTERVAL_S = 10.0
#: Seconds between two looks of the background thread (:meth:`Progress.start`).
TICK_S = 0.5
#: Bytes of data (size x ranks) that weigh as much as one timing-only row in the estimate.
DATA_WEIGHT_NBYTES = 64 * 2**20
MODES = ("auto", "on", "off")


def format_duration(seconds):
    """``'8 s'``, ``'4 min 03 s'``, ``'2 h 05 min'``."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def row_weights(plan):
    """Expected relative work of each row of a :class:`~ubemu.cli.request.SweepPlan`."""
    if not plan.check:
        return [1.0] * plan.n_jobs
    return [1.0 + job[-1] * plan.n_ranks / DATA_WEIGHT_NBYTES for job in plan.jobs]


class Progress:
    """Progress of ``len(weights)`` rows on ``stream`` (stderr by default).

    Parameters
    ----------
    weights : sequence of float
        Expected relative work of each row (:func:`row_weights`).
    stream : file, optional
    mode : {'auto', 'on', 'off'}
    delay_s : float
        ``auto`` shows nothing before the sweep has run this long.
    line_interval_s : float
        Least seconds between two plain lines.
    width : int
        Characters of the bar.
    clock : callable
        Seconds, monotonic (tests pass a fake one).

    Attributes
    ----------
    done : int
        Rows finished, as last told (:meth:`update`, or set directly at the end).
    """

    def __init__(self, weights, stream=None, mode="auto", delay_s=DELAY_S,
                 line_interval_s=LINE_INTERVAL_S, width=20, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.style = None if mode == "off" or not weights else ("bar" if tty else "lines")
        # auto: the bar after delay_s, the first plain line after one interval; on: at once
        self.delay_s = 0.0 if mode == "on" else (delay_s if tty else line_interval_s)
        self.done_weight = [0.0]  # weight of the first k rows
        for w in weights:
            self.done_weight.append(self.done_weight[-1] + float(w))
        self.total_weight = self.done_weight[-1] or 1.0
        self.line_interval_s, self.width, self.clock = line_interval_s, width, clock
        self.start_s = clock()
        self.last_line_s = None
        self.bar_len = 0  # characters of the bar on screen (0: none drawn)
        self.done, self.label = 0, ""
        self.row_done = 0.0  # fraction of the running row done (:meth:`within`)
        self._lock = threading.RLock()  # one writer at a time: the sweep or the ticker
        self._stop, self._ticker = threading.Event(), None

    @property
    def n_rows(self):
        return len(self.done_weight) - 1

    def _done_weight(self, done):
        """Weight of the first ``done`` rows and the done part of the next one."""
        w = self.done_weight[done]
        if done < self.n_rows:
            w += self.row_done * (self.done_weight[done + 1] - w)
        return w

    def eta_s(self, done, now_s):
        """Seconds left after ``done`` rows (and the running row's done part, :meth:`within`)
        at ``now_s``; None before anything is known to be done."""
        done_weight = self._done_weight(done)
        if done_weight <= 0:
            return None
        return (now_s - self.start_s) * (self.total_weight - done_weight) / done_weight

    def status(self, done, now_s):
        """``12/40 rows (30%), 25 s elapsed, ETA 58 s``."""
        eta = self.eta_s(done, now_s)
        pct = 100 * self._done_weight(done) / self.total_weight
        return (f"{done}/{self.n_rows} rows ({pct:.0f}%), {format_duration(now_s - self.start_s)}"
                f" elapsed, ETA {'--' if eta is None else format_duration(eta)}")

    def update(self, done, label=""):
        """Show ``done`` rows finished; ``label`` names the row running now."""
        with self._lock:
            self.done, self.label, self.row_done = done, label, 0.0
            self._show()

    def within(self, fraction):
        """The running row is ``fraction`` (0..1) done (its steps so far): a long row gets an
        estimate before it ends. Drawn at the next look of the background thread."""
        self.row_done = float(fraction)

    def _show(self):
        now_s = self.clock()
        if self.style is None or now_s - self.start_s < self.delay_s:
            return
        if self.style == "bar":
            filled = self.width * self.done // max(self.n_rows, 1)
            line = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.status(self.done, now_s)}"
            line += f"  {self.label}" if self.label else ""
            line = line[:max(shutil.get_terminal_size().columns - 1, 20)]  # one screen line
            self._write("\r" + line + " " * max(self.bar_len - len(line), 0))
            self.bar_len = len(line)
        elif self.last_line_s is None or now_s - self.last_line_s >= self.line_interval_s:
            running = f"; running: {self.label}" if self.label else ""
            self._write(f"ubemu: progress {self.status(self.done, now_s)}{running}\n")
            self.last_line_s = now_s

    def start(self, tick_s=TICK_S):
        """Look again every ``tick_s`` from a background thread, so that a long row shows
        progress too (the bar's clock, a plain line every interval); returns ``self``."""
        if self.style is not None and self._ticker is None:
            def tick():
                while not self._stop.wait(tick_s):
                    with self._lock:
                        self._show()

            self._ticker = threading.Thread(target=tick, name="ubemu-progress", daemon=True)
            self._ticker.start()
        return self

    @contextlib.contextmanager
    def hold(self, clear=False):
        """Nothing is drawn inside; ``clear``: remove the bar first (a table row is about to
        be printed on the same terminal)."""
        with self._lock:
            if clear:
                self.clear()
            yield

    def clear(self):
        """Remove the bar from the terminal (before a table row is printed there)."""
        with self._lock:
            if self.bar_len:
                self._write("\r" + " " * self.bar_len + "\r")
                self.bar_len = 0

    def close(self):
        """End: stop the background thread; clear the bar, or close the plain lines with the
        total time."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            self.clear()
            if self.style == "lines" and self.last_line_s is not None:
                took = format_duration(self.clock() - self.start_s)
                self._write(f"ubemu: progress {self.done}/{self.n_rows} rows in {took}\n")
                self.last_line_s = None

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()
