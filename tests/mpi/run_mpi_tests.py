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

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600
ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}


def warm_cache():
    """Compile (or load) every kernel the MPI tests use, for every dtype, in this process."""
    import numpy as np

    from ubemu.algorithms import Comm
    from ubemu.dataplane import emulate_verify
    from ubemu.dtypes import DTYPES, FMT_NATIVE

    for name in DTYPES:
        for coll in ("all_reduce", "alltoall"):
            wrong = emulate_verify(coll, "ring" if coll == "all_reduce" else "pairwise",
                                   Comm.flat(4), 8, name, "sum")[0]
            assert wrong == 0, (coll, name)
    try:  # the partition layer's kernels (best effort: not every checkout has them)
        from ubemu.kernels import partition as kp

        for dt in DTYPES.values():
            storage = np.uint16 if dt.fmt != FMT_NATIVE else dt.storage
            buf, idx = np.zeros((2, 4), storage), np.zeros(1, np.int64)
            out = np.zeros(2, storage)
            kp.pack(buf, idx, idx, idx + 2, out)
            kp.unpack(buf, idx, idx, idx + 2, np.ones(1, np.bool_), out, 0, dt.fmt)
    except (ImportError, AttributeError, TypeError) as exc:
        print(f"# warm: partition kernels skipped ({exc})")
    try:  # the timing plane's kernels
        import ubemu

        ubemu.simulate("all_reduce", 1 << 10, "ub-mesh-rack")
    except Exception as exc:  # best effort only
        print(f"# warm: timing kernels skipped ({exc})")


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
