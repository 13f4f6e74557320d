"""What the command-line tests share: a closed-form stand-in for ``simulate``, running
``ubemu.cli.main`` and reading its table, and the environment of child processes."""

import os
import sys
from pathlib import Path

from ubemu import cli
from ubemu.data.dtypes import DTYPES
from ubemu.errors import UbemuError
from ubemu.machine.groups import group_of
from ubemu.result import ClassUsage, Result

LAT_S, BW_GBps = 2e-6, 50.0
#: One Numba / OpenMP thread per child process.
CHILD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
             "MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}
#: The mpiexec next to this Python (installed with the ``mpi`` extra by ``make setup``).
MPIEXEC = str(Path(sys.executable).with_name("mpiexec"))


def fake_simulate(collective, nbytes, topology=None, algorithm="auto", dtype="float32",
                  op="sum", group=None, verify=False, seed=0, max_work=None, every=False,
                  progress=None, protocol="auto", **options):
    """time = 2 us + nbytes / 50 GB/s; fails above ``fail_above`` bytes when that is set.

    ``auto`` picks ``ring`` below 4 KiB and ``direct`` from there (to see picks change).
    """
    if options.get("fail_above") and nbytes > options["fail_above"]:
        raise UbemuError(f"{collective} algorithm 'ring' cannot run: too big")
    n = group_of(topology, group).n
    itemsize = DTYPES[dtype].itemsize
    usage = [ClassUsage("board", 0, float(nbytes), nbytes / BW_GBps / 1e9, 0.75)]
    name = ("ring" if nbytes < 4096 else "direct") if algorithm == "auto" else algorithm
    notes = {"options": sorted(options)}
    if "root" in options:
        notes["root"] = options["root"]
    return Result(collective, name, topology.name, n, nbytes, nbytes // itemsize, dtype, op,
                  LAT_S + nbytes / (BW_GBps * 1e9), n_steps=2 * (n - 1), usage=usage,
                  bottleneck="board", wrong=0 if verify else None,
                  max_rel_err=1e-7 if verify else None, notes=notes)


def install_fake_simulate(monkeypatch, simulate=fake_simulate):
    """Make the command line call ``simulate`` instead of ``ubemu.api.simulate``."""
    import ubemu.api

    monkeypatch.setattr(ubemu.api, "simulate", simulate)
    return simulate


def run_main(argv, capsys):
    """``ubemu.cli.main(argv)``: (exit status, stdout, stderr)."""
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def table_rows(out):
    """The table rows of a sweep's stdout, read by the nccl-tests parser
    (:func:`tests.nccl_tests.parse`): a dict per row, keyed by column."""
    from tests.nccl_tests import parse

    return parse(out)["rows"]


def child_env():
    """This process's environment for a child: one thread, no MPI launcher variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "PMIX_", "HYDRA_", "MPI_LOCAL", "OMPI_"))}
    env.update(CHILD_ENV)
    return env


def assert_one_error_line(status, out, err, start="ubemu: error: "):
    """Bad input: exit status 2, nothing on stdout, one line on stderr, no traceback."""
    assert status == 2, (out, err)
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(start), err


def one_and_two_processes(args, tmp_path, timeout_s=300):
    """``ubemu ARGS -J FILE`` in one process and under ``mpiexec -n 2``: the two completed
    processes and the two JSON documents (both runs must succeed)."""
    import json
    import subprocess

    runs = []
    for n in (1, 2):
        launch = [MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py"] if n > 1 else [
            sys.executable]
        runs.append(subprocess.run([*launch, "-m", "ubemu", *args, "-J",
                                    str(tmp_path / f"{n}.json")], capture_output=True,
                                   text=True, timeout=timeout_s, env=child_env()))
        assert runs[-1].returncode == 0, runs[-1].stderr[-2000:]
    return runs, [json.loads((tmp_path / f"{n}.json").read_text()) for n in (1, 2)]
