"""``make bench``: collect the ``bench_*.py`` files, end with the table of every performance
target they reported (:mod:`targets`), and fail the run when one is missed.

pytest's default pattern is ``test_*.py``; a file named on the command line is collected
anyway, so only files reached through a directory are added here (no duplicates).
"""

import pytest
import targets


def pytest_collect_file(file_path, parent):
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter):
    for line in targets.table():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    if targets.missed() and exitstatus == 0:
        session.exitstatus = 1
