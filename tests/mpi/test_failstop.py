"""Fail-stop: an error on one rank ends the whole MPI job quickly, reported once.

Launches its own ``mpiexec`` jobs (so it runs in a single-process pytest and is skipped when
pytest itself runs under MPI). ``failstop_job.py`` makes rank 1 alone fail at its second
timed step, while rank 0 waits in a collective: without fail-stop the job would hang.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from jobs import MPIEXEC, job_env

from ubemu.parallel import env

pytestmark = [pytest.mark.slow, pytest.mark.skipif(env.world_size() > 1,
                                                   reason="launches its own MPI jobs")]
HERE = Path(__file__).parent
BOUND_S = 30


def _run(args, n=2):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py", *args]
    t0 = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=BOUND_S * 2,
                         env=job_env())
    return run, time.monotonic() - t0


JOB = [str(HERE / "failstop_job.py")]
#: A checked run: its timing is spread over the processes, so rank 1 times steps too (a
#: timing-only run is timed by rank 0 alone).
CLI = ["all_reduce", "--topo", "ub-mesh-rack", "-b", "1K", "-e", "1K", "--algo", "ring", "-c",
       "1"]


def test_bad_input_on_one_rank_aborts_job_with_status_2():
    run, wall_s = _run(JOB + ["input"] + CLI)
    assert wall_s < BOUND_S
    assert run.returncode == 2
    assert run.stderr.count("ubemu: error: step 2: a bad value seen late on rank 1") == 1
    assert "peak memory" not in run.stdout  # the sweep did not finish


def test_memory_error_on_one_rank_aborts_job():
    run, wall_s = _run(JOB + ["memory"] + CLI)
    assert wall_s < BOUND_S
    assert run.returncode != 0
    assert run.stderr.count("MemoryError: rank 1 ran out of memory at step 2") == 1


def test_single_process_error_is_one_line_and_status_2():
    run = subprocess.run([sys.executable, "-m", "ubemu", "all_reduce", "--topo", "nosuch"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ubemu: error: unknown topology 'nosuch'")
