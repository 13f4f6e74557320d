"""``ubemu.cli.progress``: plain lines every 10 s without a terminal, a bar on one; fake clock."""

import io
import time

import pytest

from ubemu.cli import progress
from ubemu.cli.progress import PRIOR_S, Progress, format_duration


class Clock:
    def __init__(self):
        self.now_s = 1000.0

    def __call__(self):
        return self.now_s


class Tty(io.StringIO):
    def isatty(self):
        return True


def run(prog, clock, times_s, labels=None):
    """update(k) at each of ``times_s`` (seconds after the start)."""
    start = clock.now_s
    for k, t in enumerate(times_s):
        clock.now_s = start + t
        prog.update(k, (labels or {}).get(k, ""))


def test_no_terminal_one_line_every_10_s():
    clock, buf = Clock(), io.StringIO()
    prog = Progress([1.0] * 8, stream=buf, mode="auto", clock=clock)
    run(prog, clock, [0, 4, 9, 12, 15, 21, 22, 40], labels={3: "ring float32 sum 4M"})
    lines = buf.getvalue().splitlines()
    assert lines == [
        "ubemu: progress 3/8 rows (38%), 12 s elapsed, ETA 20 s; running: ring float32 sum 4M",
        "ubemu: progress 6/8 rows (75%), 22 s elapsed, ETA 7 s",
        "ubemu: progress 7/8 rows (88%), 40 s elapsed, ETA 6 s",
    ]
    clock.now_s += 5
    prog.update(8)
    prog.close()
    assert buf.getvalue().splitlines()[-1] == "ubemu: progress 8/8 rows in 45 s"


def test_short_sweep_prints_nothing_in_a_log():
    clock, buf = Clock(), io.StringIO()
    prog = Progress([1.0] * 4, stream=buf, mode="auto", clock=clock)
    run(prog, clock, [0, 2, 5, 9])
    prog.close()
    assert buf.getvalue() == ""


def test_on_starts_at_once_and_off_never():
    clock, buf = Clock(), io.StringIO()
    prog = Progress([1.0] * 2, stream=buf, mode="on", clock=clock)
    prog.update(0, "first")
    assert buf.getvalue() == "ubemu: progress 0/2 rows (0%), 0 s elapsed, ETA --; running: first\n"
    off = Progress([1.0] * 2, stream=Tty(), mode="off", clock=clock)
    run(off, clock, [0, 100])
    off.close()
    assert off.stream.getvalue() == ""


def test_bar_on_a_terminal_after_the_delay():
    clock, tty = Clock(), Tty()
    prog = Progress([1.0] * 4, stream=tty, mode="auto", clock=clock, width=4)
    run(prog, clock, [0, 1, 4])
    bar = "[##..] 2/4 rows (50%), 4 s elapsed, ETA 4 s"
    assert tty.getvalue() == "\r" + bar
    prog.clear()
    assert tty.getvalue().endswith("\r" + " " * len(bar) + "\r")
    prog.close()  # nothing more to clear
    assert tty.getvalue().count("\r") == 3


def test_eta_weighs_rows():
    clock = Clock()
    prog = Progress([1.0, 3.0], stream=io.StringIO(), clock=clock)
    clock.now_s += 10
    assert prog.eta_s(1, clock()) == pytest.approx(30.0)
    assert prog.eta_s(0, clock()) is None


def test_a_long_row_gets_an_estimate_from_its_steps_done():
    clock = Clock()
    prog = Progress([1.0, 1.0], stream=io.StringIO(), clock=clock)
    clock.now_s += 10
    assert prog.status(0, clock()).endswith("ETA --")  # nothing known yet
    prog.within(0.25)  # a quarter of the first row's steps in 10 s: 70 s to go for both
    assert prog.status(0, clock()) == "0/2 rows (12%), 10 s elapsed, ETA 1 min 10 s"
    prog.update(1)  # the next row starts from nothing done
    assert prog.eta_s(1, clock()) == pytest.approx(10.0)


def test_predicted_seconds_give_an_estimate_from_the_start_and_follow_the_speed():
    clock = Clock()
    prog = Progress([2.0, 8.0, 30.0], stream=io.StringIO(), clock=clock, predicted_s=True)
    assert prog.eta_s(0, clock()) == pytest.approx(40.0)  # the prediction alone
    clock.now_s += 2.0
    prog.update(1)
    assert prog.eta_s(1, clock()) == pytest.approx(38.0)  # as predicted: the same speed
    clock.now_s += 3 * 8.0  # the second row took 3x its prediction: the rest will too
    prog.update(2)
    speed = (26.0 + PRIOR_S) / (10.0 + PRIOR_S)
    assert prog.eta_s(2, clock()) == pytest.approx(30.0 * speed)
    assert speed > 1.9


def test_the_first_rows_start_up_does_not_count_in_the_speed():
    clock = Clock()
    prog = Progress([1.0, 1.0, 8.0], stream=io.StringIO(), clock=clock, predicted_s=True)
    clock.now_s += 20.0  # the first row compiles the kernels: 19 s more than predicted
    done = 1 - 0.1 / 20  # the running row, 20x its prediction
    assert prog.eta_s(0, clock()) == pytest.approx((10 - done) * (1 + PRIOR_S) / (done + PRIOR_S))
    prog.update(1)
    clock.now_s += 1.0
    prog.update(2)
    assert prog.eta_s(2, clock()) == pytest.approx(8.0)  # the rest at the predicted speed


def test_a_long_row_without_step_reports_is_credited_at_the_speed_before_it():
    clock = Clock()
    prog = Progress([5.0, 100.0], stream=io.StringIO(), clock=clock, predicted_s=True)
    clock.now_s += 5.0
    prog.update(1)  # the first row as predicted: speed 1
    clock.now_s += 50.0  # the second row reports no steps (its data is drawn, then checked)
    speed = (55.0 + PRIOR_S) / (50.0 + PRIOR_S)  # 45 of its 100 s done
    assert prog.eta_s(1, clock()) == pytest.approx(55.0 * speed)
    assert prog.status(1, clock()).startswith("1/2 rows (48%)")
    clock.now_s += 150.0  # twice its prediction: 95 % done, and the speed is twice as slow
    eta = prog.eta_s(1, clock())
    assert eta == pytest.approx(5.0 * (205.0 + PRIOR_S) / (100.0 + PRIOR_S)) and eta > 0


@pytest.mark.parametrize("s, text", [(0.4, "0 s"), (8, "8 s"), (243, "4 min 03 s"),
                                     (7500, "2 h 05 min")])
def test_format_duration(s, text):
    assert format_duration(s) == text


def test_sweep_shows_progress_on_stderr(monkeypatch, capsys):
    from tests.cli_helpers import install_fake_simulate, run_main

    install_fake_simulate(monkeypatch)
    status, out, err = run_main(["all_reduce", "--topo", "full_mesh:4", "-b", "1K", "-e", "4K",
                                 "-f", "2", "--progress", "on"], capsys)
    assert status == 0 and "progress" not in out
    assert err.splitlines()[0].startswith("ubemu: progress 0/3 rows (0%)")
    assert err.splitlines()[-1].startswith("ubemu: progress 3/3 rows in ")
    assert progress.MODES == ("auto", "on", "off")


def test_background_thread_shows_a_long_row():
    clock, buf = Clock(), io.StringIO()
    prog = Progress([1.0] * 2, stream=buf, mode="auto", clock=clock)
    prog.update(1, "ring float32 sum 1G")
    clock.now_s += 11  # the second row has run for 11 s: no update() from the sweep
    prog.start(tick_s=0.005)
    deadline = time.monotonic() + 10
    while not buf.getvalue() and time.monotonic() < deadline:
        time.sleep(0.005)
    with prog.hold():  # nothing drawn while held
        held = buf.getvalue()
        time.sleep(0.05)
        assert buf.getvalue() == held
    prog.close()
    assert held == ("ubemu: progress 1/2 rows (50%), 11 s elapsed, ETA 11 s; "
                    "running: ring float32 sum 1G\n")
    assert prog._ticker is None
