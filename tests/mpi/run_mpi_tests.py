"""Run the MPI test suite under mpiexec at several world sizes.

Usage: ``python tests/mpi/run_mpi_tests.py --mpiexec PATH -n 2 -n 4``.

First warms the Numba cache in this one process (every kernel is compiled and cached for every
dtype, so the MPI ranks load it instead of compiling into an empty cache at once), then for
each N runs ``MPIEXEC -n N PYTHON -m mpi4py -m pytest tests/mpi -q -p no:cacheprovider`` with
one thread per process, 600 s each, and prints ``N passed, M failed`` counting the runs.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from jobs import THREADS_ENV
from warm import warm_cache

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600
ENV = THREADS_ENV


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpiexec", default=str(Path(sys.executable).parent / "mpiexec"),
                    help="mpiexec to launch with (default: the one next to this Python)")
    ap.add_argument("-n", dest="sizes", type=int, action="append",
                    help="world size; repeat for several (default: 2 and 4)")
    args = ap.parse_args(argv)
    sizes = args.sizes or [2, 4]
    mpiexec = os.path.abspath(args.mpiexec) if os.sep in args.mpiexec else args.mpiexec
    env = dict(os.environ, **ENV)
    os.environ.update(ENV)
    t0 = time.perf_counter()
    warm_cache()
    print(f"# numba cache warm in {time.perf_counter() - t0:.1f} s", flush=True)
    passed = failed = 0
    for n in sizes:
        cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "pytest",
               "tests/mpi", "-q", "-p", "no:cacheprovider"]
        print(f"# {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            print(f"# world size {n}: timed out after {TIMEOUT_S} s", flush=True)
            rc = -1
        except OSError as exc:
            print(f"# world size {n}: cannot run {mpiexec}: {exc}", flush=True)
            rc = -1
        ok = rc == 0
        passed, failed = passed + ok, failed + (not ok)
        print(f"# world size {n}: {'passed' if ok else f'FAILED (exit {rc})'} in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
