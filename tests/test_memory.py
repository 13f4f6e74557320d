"""The memory estimate (hand-computed figures) and the refusal of runs that cannot fit."""

import pytest

from ubemu import memory
from ubemu.errors import UbemuError
from ubemu.topospec import load_topology
from ubemu.verify import TILE_ELEMENTS


def test_estimate_parts_by_hand():
    est = memory.estimate(n_ranks=10, count=100, itemsize=4, n_links=50, n_npus=10,
                          data=True, n_procs=3, proc=0)
    assert est["buffer"] == 4 * 100 * 4  # split_even(10, 3): process 0 owns 4 ranks
    assert est["steps"] == memory.STEP_BYTES * 10
    assert est["timing"] == 16 * 50 + 24 * 10
    tile = memory.CHECK_BYTES * TILE_ELEMENTS  # drawing one tile of the inputs
    assert est["check"] == 4 * 100 * 4 + tile  # its own rows of the inputs
    assert est["total"] == sum(v for k, v in est.items() if k != "total")
    other = memory.estimate(10, 100, 4, 50, 10, data=True, n_procs=3, proc=2)
    assert other["buffer"] == 3 * 100 * 4 and other["check"] == 3 * 100 * 4 + tile
    rand = memory.estimate(10, 100, 2, 50, 10, data=True, n_procs=3, proc=0, random_run=True)
    assert rand["check"] == 4 * 100 * 2 + tile + 10 * 100 * (
        memory.CHECK_BYTES + 4)  # process 0 draws, gathers and checks the random run
    a2a = memory.estimate(10, 100, 4, 50, 10, "alltoall", data=True, n_procs=3, proc=2)
    assert a2a["check"] == 3 * 100 * 4 + tile + 10 * 100 * 4


def test_alltoall_buffer_holds_input_and_output():
    est = memory.estimate(8, 64, 2, 0, 8, collective="alltoall", data=True)
    assert est["buffer"] == 8 * 128 * 2
    assert est["steps"] == memory.STEP_BYTES * 8 * 8  # every block moves on its own
    timing = memory.estimate(8, 64, 2, 0, 8, collective="alltoall")
    assert timing["steps"] == memory.STEP_BYTES * 8


def test_timing_only_has_no_buffer():
    est = memory.estimate(8, 1 << 30, 4, 0, 8, data=False)
    assert est["buffer"] == 0 and est["check"] == 0


def test_available_bytes_reads_meminfo(tmp_path):
    f = tmp_path / "meminfo"
    f.write_text("MemTotal:  100 kB\nMemAvailable:   2048 kB\n")
    assert memory.available_bytes(str(f)) == 2048 * 1024
    assert memory.available_bytes(str(tmp_path / "missing")) is None


def test_check_fits_refuses_with_need_and_available():
    topo = load_topology("ub-mesh-rack")
    need = memory.check_fits(64, 1 << 20, 4, topo, data=True, available=1 << 40)
    assert need > 64 * (1 << 20) * 4
    with pytest.raises(UbemuError, match=r"needs about .* GiB .* only 0\.5 GiB is available"):
        memory.check_fits(64, 1 << 20, 4, topo, data=True, available=1 << 29)


def test_check_fits_sums_processes_on_the_host():
    topo = load_topology("ub-mesh-rack")
    one = memory.check_fits(64, 1 << 16, 4, topo, data=True, n_procs=4, local_procs=1,
                            available=1 << 40)
    total = sum(memory.estimate(64, 1 << 16, 4, topo.n_links, topo.n_npus, data=True,
                                n_procs=4, proc=p)["total"] for p in range(4))
    memory.check_fits(64, 1 << 16, 4, topo, data=True, n_procs=4, available=total)
    with pytest.raises(UbemuError):
        memory.check_fits(64, 1 << 16, 4, topo, data=True, n_procs=4, available=total - 1)
    assert one < total


def test_cli_refuses_a_run_that_cannot_fit():
    from ubemu.cli import main

    assert main(["all_reduce", "--topo", "atlas960-supercluster", "-b", "16G", "-e", "16G",
                 "-c", "1", "--algo", "hierarchical"]) == 2
