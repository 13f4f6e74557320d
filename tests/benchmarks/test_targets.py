"""``benchmarks/targets.py`` and ``benchmarks/conftest.py``: the table of every target, and a
missed one fails ``make bench`` and a benchmark run as a script."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import child_env

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
FILE = '''\
import targets


def main():
    print("figure: 3 widgets")
    targets.target("widgets per second", 3.0, ">=", {goal}, "/s", baseline=1.5)
    targets.check("refused up front", True, "refused", "refused in 0.1 s")


def test_bench_widgets(benchmark):
    benchmark.pedantic(main, rounds=1, iterations=1)


if __name__ == "__main__":
    targets.run_script(main)
'''


def _suite(tmp_path, goal):
    """A suite of its own directory: a file rewritten in place within the same second, at the
    same size, would be run from its stale bytecode."""
    where = tmp_path / f"goal{goal:g}"
    where.mkdir()
    for name in ("conftest.py", "targets.py"):
        shutil.copy(BENCH / name, where / name)
    (where / "bench_widgets.py").write_text(FILE.format(goal=goal))
    return where


def _run(*args, cwd):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=child_env(), timeout=300)


def test_the_table_lists_every_target_and_a_miss_fails_the_bench(tmp_path):
    met = _run("-m", "pytest", ".", "--benchmark-only", "-s", "-q", "-p", "no:cacheprovider",
               cwd=_suite(tmp_path, 2.0))
    assert met.returncode == 0, met.stdout + met.stderr
    lines = met.stdout.splitlines()
    table = lines[lines.index("# performance targets"):]
    assert table[1].split() == ["target", "goal", "measured", "baseline"]
    assert table[2].split() == ["widgets", "per", "second", ">=", "2", "/s", "3", "/s", "1.5",
                                "/s", "met"]
    assert table[3].split()[-1] == "met" and table[4] == "# 2 targets: 2 met, 0 MISSED"
    missed = _run("-m", "pytest", ".", "--benchmark-only", "-s", "-q", "-p",
                  "no:cacheprovider", cwd=_suite(tmp_path, 5.0))
    assert missed.returncode == 1
    assert "# 2 targets: 1 met, 1 MISSED" in missed.stdout
    assert any(ln.startswith("widgets per second") and ln.endswith("MISSED")
               for ln in missed.stdout.splitlines())


def test_a_benchmark_file_runs_as_a_script(tmp_path):
    script = _run("bench_widgets.py", cwd=_suite(tmp_path, 5.0))
    assert script.returncode == 1
    assert script.stdout.splitlines()[0] == "figure: 3 widgets"
    assert script.stdout.splitlines()[-1] == "# 2 targets: 1 met, 1 MISSED"
    assert _run("bench_widgets.py", cwd=_suite(tmp_path, 2.0)).returncode == 0


def test_every_benchmark_file_is_a_script_and_reports_to_the_table():
    for path in sorted(BENCH.glob("bench_*.py")):
        text = path.read_text()
        assert 'if __name__ == "__main__":\n    targets.run_script(main' in text, path.name
        assert "def test_" in text, path.name  # and make bench runs it
