"""``ubemu.cli.main`` and its parser: every command dispatched, usage errors on one line."""

import subprocess
import sys

import pytest

from tests.cli_helpers import assert_one_error_line, child_env, run_main
from ubemu import __version__
from ubemu.cli import DISPATCH, UsageError, build_parser, main


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "ubemu", *args], capture_output=True,
                          text=True, env=child_env(), timeout=120)


USAGE = [
    ([], "the following arguments are required: COMMAND (see 'ubemu --help')"),
    (["frob"], "argument COMMAND: invalid choice: 'frob'"),
    (["topo"], "the following arguments are required: {show,list} (see 'ubemu topo --help')"),
    (["topo", "frob"], "argument {show,list}: invalid choice: 'frob'"),
    (["topo", "show"], "the following arguments are required: topology "
                       "(see 'ubemu topo show --help')"),
    (["topo", "show", "x", "--jsn"], "unrecognized arguments: --jsn; did you mean '--json'? "
                                     "(see 'ubemu topo show --help')"),
    (["all_reduce", "--algos", "ring"], "unrecognized arguments: --algos ring; did you mean "
                                        "'--algo'? (see 'ubemu all_reduce --help')"),
    (["all_reduce", "-c", "yes"], "argument -c/--check: invalid int value: 'yes' "
                                  "(see 'ubemu all_reduce --help')"),
    (["all_reduce", "-S", "2"], "argument -S/--report_timestamps: invalid choice: 2"),
    (["all_reduce", "--progress", "maybe"], "argument --progress: invalid choice: 'maybe'"),
    (["plot", "x.json"], "the following arguments are required: -o/--output"),
]


@pytest.mark.parametrize("argv, message", USAGE, ids=[" ".join(u[0]) or "none" for u in USAGE])
def test_usage_errors_are_one_line_exit_2(argv, message, capsys):
    status, out, err = run_main(argv, capsys)
    assert_one_error_line(status, out, err, f"ubemu: error: {message}")
    assert "usage:" not in err


def test_usage_error_is_a_ubemu_error():
    with pytest.raises(UsageError, match="invalid choice"):
        build_parser().parse_args(["frob"])


def test_usage_error_from_the_shell_has_no_usage_block():
    proc = run_module("all_reduce", "--bogus")
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr,
                          "ubemu: error: unrecognized arguments: --bogus")


def test_help_and_version_exit_0(capsys):
    status, out, _ = run_main(["--version"], capsys)
    assert status == 0 and out.strip() == f"ubemu {__version__}"
    status, out, _ = run_main(["all_reduce", "--help"], capsys)
    assert status == 0 and out.startswith("usage: ubemu all_reduce")
    for flag in ("--progress", "--seed", "-O KEY=VALUE", "--per-level", "-J FILE.json"):
        assert flag in out


def test_every_parsed_command_is_dispatched():
    parser = build_parser()
    argvs = [["topo", "show", "x"], ["topo", "list"], ["algorithms"], ["plot", "a", "-o", "b"],
             *[[c] for c in ("all_reduce", "all_gather", "reduce_scatter", "alltoall",
                             "broadcast", "reduce")]]
    for argv in argvs:
        assert parser.parse_args(argv).command in DISPATCH


def test_bad_input_from_the_shell():
    proc = run_module("all_reduce", "-d", "float8")
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr,
                          "ubemu: error: unknown datatype")


def test_main_returns_the_status_without_exiting():
    assert main(["topo", "show", "nosuch-preset"]) == 2


def test_broken_pipe_is_quiet():
    proc = subprocess.run(f"{sys.executable} -m ubemu topo list | head -1", shell=True,
                          capture_output=True, text=True, env=child_env(), timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""


def _outputs_cases(tmp_path):
    """Every command with an output that is one of its inputs or another of its outputs."""
    topo = tmp_path / "t.toml"
    topo.write_text('name = "t"\n[[level]]\nfabric = "full_mesh"\nsize = 4\nbw = "50GBps"\n')
    work = tmp_path / "w.toml"
    work.write_text('topology = "full_mesh:4"\n[[op]]\nname = "a"\ncollective = "all_reduce"'
                    '\nnbytes = "1K"\n')
    doc = tmp_path / "r.svg"  # any name: ubemu plot reads JSON
    doc.write_text("{}")
    csv = tmp_path / "rows.csv"
    csv.write_text("id\n")
    same = str(tmp_path / "same.json")
    return [
        (["all_reduce", "--topo", str(topo), "-J", str(topo)], "is the --topo file"),
        (["workload", str(work), "-J", str(work)], "is the workload file"),
        (["workload", str(work), "--topo", str(topo), "--trace", str(topo)],
         "is the topology file"),
        (["workload", str(work), "-J", same, "--trace", same], "is also the -J/--output_file"),
        (["plan", "--topo", str(topo), "-J", str(topo)], "is the --topo file"),
        (["plan", "-J", same, "--trace", same], "is also the -J/--output_file"),
        (["faults", "all_reduce", "--topo", str(topo), "-J", str(topo)], "is the --topo file"),
        (["plot", str(doc), "-o", str(doc)], "is the input"),
        (["validate", str(csv), "-J", str(csv)], "is the input"),
    ]


def test_every_command_refuses_an_output_that_is_an_input_or_another_output(tmp_path,
                                                                             capsys):
    for argv, message in _outputs_cases(tmp_path):
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        status, out, err = run_main(argv, capsys)
        assert_one_error_line(status, out, err)
        assert message in err and "overwrite" in err, (argv, err)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched


HEAVY = ("numba", "mpi4py", "matplotlib")


@pytest.mark.parametrize("argv", [["--help"], ["topo", "list"],
                                  ["topo", "show", "atlas950-superpod"],
                                  ["all_reduce", "--topo", "switch:8@50GiBps/1us", "-b", "1K",
                                   "-e", "1K"]])
def test_light_commands_import_nothing_heavy(argv):
    """The help, the topology listings and a small timing-only run start without Numba
    (the NumPy twins time a small machine), MPI or plotting."""
    code = ("import sys; from ubemu.cli import main; status = main(sys.argv[1:]); "
            "sys.stdout.flush(); "
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)")
    env = {k: v for k, v in child_env().items() if k != "UBEMU_KERNELS"}
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stderr and out.stdout
