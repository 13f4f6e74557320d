"""Ratios, medians and the worst row per system, by hand."""

from ubemu.validation import report
from ubemu.validation.rows import Row


def compared(system, role, published, model):
    row = Row(f"{system}{published}{model}", system, "all_reduce", "t", "", 8, "time_us",
              published, {}, role, "t", "u")
    return report.Compared(row, model, "")


def test_median_and_worst_on_a_log_scale():
    cs = [compared("a", "fit", 10, 5), compared("a", "fit", 10, 19), compared("a", "fit", 10, 11),
          compared("b", "validate", 4, 4)]
    a, b = report.summarise(cs)
    assert (a.system, a.role, a.n, a.median_ratio) == ("a", "fit", 3, 1.1)
    assert a.worst.model == 5 and a.worst_error == 0.5  # 0.5x is worse than 1.9x
    assert (b.n, b.median_ratio, b.worst_error) == (1, 1.0, 0.0)
