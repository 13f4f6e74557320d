"""``ubemu hccl``: hccl_test's binaries and flags on the collective commands, its table."""

import pytest

from tests.cli_helpers import (
    assert_one_error_line,
    fake_simulate,
    install_fake_simulate,
    run_main,
)
from ubemu.cli.hccl import BINARIES, NO_EFFECT
from ubemu.errors import UbemuError


def hccl_rows(out):
    """hccl_test's result rows as its users read them: ``|``-separated lines that start with
    a number (data_size, aveg_time, alg_bandwidth, check_result)."""
    rows = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 4 and parts[0].isdigit():
            rows.append((int(parts[0]), float(parts[1]), float(parts[2]), parts[3], parts[4:]))
    return rows


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def spy(*a, **k):
        seen.append((a, k))
        return fake_simulate(*a, **k)

    install_fake_simulate(monkeypatch, spy)
    return seen


def test_documented_command_line(calls, capsys):
    """The example of hccl_test's documentation (execution.md), as ubemu runs it."""
    status, out, err = run_main(["hccl", "./bin/all_reduce_test", "-b", "8K", "-e", "64M", "-f",
                                 "2", "-d", "fp32", "-o", "sum", "-p", "8"], capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert "the minbytes is 8192, maxbytes is 67108864, iters is 20, warmup_iters is 10" in lines
    head = next(ln for ln in lines if ln.startswith("data_size"))
    assert head == "data_size(Bytes): | aveg_time(us): | alg_bandwidth(GB/s): | check_result:"
    rows = hccl_rows(out)
    assert [r[0] for r in rows] == [8192 << k for k in range(14)]
    for size, time_us, bw, verdict, extra in rows:
        t_s = 2e-6 + size / 50e9  # the stand-in's time
        assert time_us == pytest.approx(t_s * 1e6, abs=0.006)
        assert bw == pytest.approx(size / t_s / 1e9, abs=6e-6)  # data size / time (GB = 1e9)
        assert verdict == "success" and extra == []  # -c 1 is hccl_test's default
    a, k = calls[0]
    assert a[0] == "all_reduce" and k["dtype"] == "float32" and k["op"] == "sum"
    assert k["verify"] and k["group"] == "start=0,count=8"
    assert "# Group: start=0,count=8 (8 ranks: -p 8)" in out


@pytest.mark.parametrize("binary, collective", sorted((b, c) for b, (c, _) in BINARIES.items()))
def test_every_binary_maps_to_its_collective(calls, capsys, binary, collective):
    status, out, err = run_main(["hccl", binary, "--topo", "full_mesh:4", "-b", "1K", "-e",
                                 "1K", "-c", "0"], capsys)
    assert status == 0, err
    assert calls[0][0][0] == collective and not calls[0][1]["verify"]
    assert hccl_rows(out)[0][3] == "NULL"  # not checked


def test_sizes_steps_and_types(calls, capsys):
    run_main(["hccl", "all_gather_test", "--topo", "full_mesh:4", "-b", "1K", "-e", "11K"],
             capsys)  # default step: (e - b) / 10
    assert [a[1] for a, _ in calls] == [1024 * k for k in range(1, 12)]
    calls.clear()
    run_main(["hccl", "all_gather_test", "--topo", "full_mesh:4", "-b", "1K", "-e", "8K", "-i",
              "0"], capsys)  # -i 0: the start size
    assert [a[1] for a, _ in calls] == [1024]
    calls.clear()
    run_main(["hccl", "broadcast_test", "--topo", "full_mesh:4", "-b", "100", "-e", "400", "-f",
              "1.5", "-i", "7", "-d", "bfp16", "-r", "3"], capsys)  # -f wins over -i
    assert [a[1] for a, _ in calls] == [100, 150, 224, 336]  # whole bfloat16 elements
    assert {k["dtype"] for _, k in calls} == {"bfloat16"} and calls[0][1]["root"] == 3


def test_flags_without_effect_are_named(calls, capsys):
    argv = ["hccl", "reduce_test", "--topo", "full_mesh:4", "-b", "1K", "-e", "1K"]
    for short, _, default, _ in NO_EFFECT:
        argv += [short, str(default)]
    status, out, _ = run_main(argv + ["--zero_copy", "1"], capsys)
    assert status == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("# no effect"))
    assert line.split(": ", 1)[1].split()[::2] == [s for s, _, _, _ in NO_EFFECT]
    assert "-z 1" in line  # the long form wins, as getopt's last value


BAD = [
    (["all_reduce_tset"], "unknown hccl_test binary 'all_reduce_tset'; did you mean "
                          "'all_reduce_test'?"),
    (["reduce_scatterv_test"], "unknown hccl_test binary 'reduce_scatterv_test'"),
    (["all_reduce_test", "-d", "int8"], "unknown datatype (-d) 'int8'; did you mean 'int32' or "
                                        "'int64'? valid: fp32, fp16"),
    (["all_reduce_test", "-o", "avg"], "unknown reduction op (-o) 'avg'; valid: sum, prod"),
    (["all_reduce_test", "-f", "1"], "-f/--stepfactor must be greater than 1, got 1"),
    (["all_reduce_test", "-p", "0"], "-p/--npus must be >= 1, got 0"),
    (["all_reduce_test", "-p", "128"], "-p 128 gives 128 ranks but topology ub-mesh-rack has 64"),
    (["all_reduce_test", "-c", "3"], "argument -c/--check: invalid choice: 3"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_one_line(calls, capsys, argv, message):
    assert_one_error_line(*run_main(["hccl", *argv, "-b", "1K", "-e", "1K"], capsys),
                          f"ubemu: error: {message}")
    assert calls == []


def test_real_run_checks_by_default(capsys):
    status, out, err = run_main(["hccl", "scatter_test", "-p", "8", "-b", "8K", "-e", "32K",
                                 "-f", "2", "-r", "3", "--extra"], capsys)
    assert status == 0, err
    rows = hccl_rows(out)
    assert [r[3] for r in rows] == ["success"] * 3
    assert all(r[4][-1] == "direct" for r in rows)  # --extra: maxrelerr, bottleneck, algorithm


def test_mpi_job_of_n_processes_is_n_ranks_as_hccl_test():
    """hccl_test runs one process per NPU: ``mpirun -n 16 ... -p 8`` is 16 ranks."""
    from types import SimpleNamespace

    from ubemu.cli.hccl import sweep_args

    def args(npus):
        return SimpleNamespace(binary="./bin/all_reduce_test", minbytes="1K", maxbytes="1K",
                               stepfactor=None, stepbytes=None, datatype="fp32", op="sum",
                               check=1, npus=npus)

    assert sweep_args(args(8), world_size=16).ranks == (16, "mpirun -n 16")
    assert sweep_args(args(None), world_size=16).ranks == (16, "mpirun -n 16")
    assert sweep_args(args(8)).ranks == (8, "-p 8") and sweep_args(args(None)).ranks is None
    with pytest.raises(UbemuError, match="-p/--npus 3 does not divide the job's 16 processes"):
        sweep_args(args(3), world_size=16)
