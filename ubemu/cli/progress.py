"""Progress of a long sweep on stderr, with an estimate of the time left.

``--progress auto`` (the default): when stderr is a terminal, a bar redrawn in place once the
sweep has run :data:`DELAY_S`; otherwise (a batch job's log) one plain line every
:data:`LINE_INTERVAL_S`, the first after one interval, and a closing line. ``on``: the same
from the first row. ``off``: nothing. Besides the sweep's own calls between rows, a background
thread looks every :data:`TICK_S` (:meth:`Progress.start`), so a long row shows progress too,
with an estimate from the part of its steps done (:meth:`Progress.within`, which ``simulate``'s
``progress`` calls); :meth:`Progress.hold` keeps it from drawing while the sweep prints.

The estimate weighs rows by the work they are expected to take. Given each row's predicted
seconds (``predicted_s=True``: :func:`ubemu.algorithms.work.predicted_wall_s` of the work
preflight), the time left is the predicted seconds left times the speed measured so far
(seconds taken per predicted second done), which trusts the prediction alone at first
(:data:`PRIOR_S`), so there is an estimate from the start. The first row's time beyond its
prediction is start-up (compiling or loading the kernels) and does not count in the speed.
Relative weights (the default) scale the time taken so far.

Standard output and the progress lines may share one file (``cmd > log 2>&1``): every line
the command prints while a :class:`Progress` runs is printed under :meth:`Progress.hold`,
and before each progress write the output stream (``out``) is flushed, so a progress line
never lands inside a table line.
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
#: Predicted seconds whose prediction is trusted as much as the speed measured over them.
PRIOR_S = 2.0
MODES = ("auto", "on", "off")


def format_duration(seconds):
    """``'8 s'``, ``'4 min 03 s'``, ``'2 h 05 min'``."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Progress of ``len(weights)`` rows on ``stream`` (stderr by default).

    Parameters
    ----------
    weights : sequence of float
        Expected work of each row: relative, or seconds with ``predicted_s``.
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
    out : file, optional
        The command's output (stdout), flushed before every progress write.
    predicted_s : bool
        ``weights`` are predicted seconds (see the module docstring).
    unit : str or None
        What a row is called in the status (``rows``); None: one task, no count shown.

    Attributes
    ----------
    done : int
        Rows finished, as last told (:meth:`update`, or set directly at the end).
    """

    def __init__(self, weights, stream=None, mode="auto", delay_s=DELAY_S,
                 line_interval_s=LINE_INTERVAL_S, width=20, clock=time.monotonic, out=None,
                 predicted_s=False, unit="rows"):
        self.stream = stream if stream is not None else sys.stderr
        self.out, self.predicted_s, self.unit = out, predicted_s, unit
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
        self.row_start_s = self.start_s
        self.startup_s = None  # the first row's time beyond its prediction, once it ended
        self._lock = threading.RLock()  # one writer at a time: the sweep or the ticker
        self._stop, self._ticker = threading.Event(), None

    @property
    def n_rows(self):
        return len(self.done_weight) - 1

    def _speed(self, done_weight, elapsed_s):
        """Seconds taken per predicted second in ``elapsed_s`` (start-up left out), the
        prediction itself trusted for the first :data:`PRIOR_S` (predicted weights only)."""
        first = self.done_weight[1] if self.n_rows else 0.0
        startup = (self.startup_s if self.startup_s is not None
                   else max(elapsed_s - first, 0.0))
        return (max(elapsed_s - startup, 0.0) + PRIOR_S) / (done_weight + PRIOR_S)

    def _done_weight(self, done, now_s):
        """Weight of the first ``done`` rows and the done part of the next one: the fraction
        of its steps done (:meth:`within`) or, with predicted weights, the larger of 0.9 of
        that (drawing and checking the data are not steps) and what its time so far is worth
        at the speed measured before it: ``0.9 x`` of the row after ``x`` of its expected
        time, then ``1 - 0.1 / x`` (a row that runs late still has some left, and slows the
        estimate down)."""
        w = self.done_weight[done]
        if done < self.n_rows:
            row, frac = self.done_weight[done + 1] - w, self.row_done
            if self.predicted_s and row > 0:  # its steps are not all of it: 0.9 at most
                x = (now_s - self.row_start_s) / (self._speed(w, self.row_start_s
                                                              - self.start_s) * row)
                frac = max(0.9 * frac, 0.9 * x if x <= 1 else 1 - 0.1 / x)
            w += frac * row
        return w

    def eta_s(self, done, now_s):
        """Seconds left after ``done`` rows (and the running row's done part, :meth:`within`)
        at ``now_s``; None when nothing is known (relative weights, nothing done)."""
        done_weight = self._done_weight(done, now_s)
        left = self.total_weight - done_weight
        if self.predicted_s:
            return left * self._speed(done_weight, now_s - self.start_s)
        if done_weight <= 0:
            return None
        return (now_s - self.start_s) * left / done_weight

    def status(self, done, now_s):
        """``12/40 rows (30%), 25 s elapsed, ETA 58 s``."""
        eta = self.eta_s(done, now_s)
        pct = 100 * self._done_weight(done, now_s) / self.total_weight
        count = f"{done}/{self.n_rows} {self.unit} ({pct:.0f}%)" if self.unit else f"{pct:.0f}%"
        return (f"{count}, {format_duration(now_s - self.start_s)} elapsed, "
                f"ETA {'--' if eta is None else format_duration(eta)}")

    def update(self, done, label=""):
        """Show ``done`` rows finished; ``label`` names the row running now."""
        with self._lock:
            self.done, self.label, self.row_done = done, label, 0.0
            self.row_start_s = self.clock()
            if done and self.startup_s is None and self.n_rows:
                self.startup_s = max(self.row_start_s - self.start_s - self.done_weight[1], 0.0)
            self._show()

    def within(self, fraction, label=None):
        """The running row is ``fraction`` (0..1) done (its steps so far): a long row gets an
        estimate before it ends; ``label``: what it runs now. Drawn at the next look of the
        background thread."""
        self.row_done = float(fraction)
        if label is not None:
            self.label = label

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
                done = f"{self.done}/{self.n_rows} {self.unit}" if self.unit else "done"
                self._write(f"ubemu: progress {done} in {took}\n")
                self.last_line_s = None

    def _write(self, text):
        if self.out is not None:  # whole lines of the output first (both may be one file)
            self.out.flush()
        self.stream.write(text)
        self.stream.flush()
