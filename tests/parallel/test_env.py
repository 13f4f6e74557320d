"""What the launcher's environment says about the job, read without importing mpi4py."""

import subprocess
import sys

from ubemu.parallel import env


def test_env_detection(monkeypatch):
    for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_RANK",
              "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE"):
        monkeypatch.delenv(v, raising=False)
    assert env.world_size() == 1 and not env.active() and env.is_root()
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "3")
    assert env.world_size() == 4 and env.active() and not env.is_root()
    assert env.local_size() == 4
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    assert env.local_size() == 2


def test_importing_ubemu_imports_no_mpi():
    code = ("import sys, ubemu, ubemu.api, ubemu.engine, ubemu.parallel.exchange; "
            "ubemu.simulate('all_reduce', 1024, 'switch:4'); "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
