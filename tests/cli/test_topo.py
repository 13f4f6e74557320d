"""``ubemu.cli.topo``: ``topo show`` and ``topo list`` reports, JSON, exit statuses."""

import json
import subprocess
import sys

import pytest

from tests.cli_helpers import child_env, run_main
from ubemu.cli import main
from ubemu.cli.topo import level_injection
from ubemu.machine.spec import parse_topology_string, preset_names


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "ubemu", *args], capture_output=True,
                          text=True, env=child_env(), timeout=120)


def test_show_ub_mesh_rack_text(capsys):
    assert main(["topo", "show", "ub-mesh-rack"]) == 0
    out = capsys.readouterr().out
    assert "NPUs         64\n" in out
    assert "full_mesh:8@56GBps/150ns:name=board" in out
    assert "784 GB/s uni, 1.568 TB/s bi" in out        # 14 x 56 GB/s
    assert "diameter     2 hops" in out
    assert "100.4 TB/s = 64 NPUs x 1.568 TB/s bi" in out
    assert "7.168 TB/s" in out                          # bisection 8 x 16 x 56 GB/s


def test_show_json_figures(capsys):
    assert main(["topo", "show", "atlas950-superpod", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_npus"] == 8192
    assert data["injection_uni_GBps"] == 1008 and data["injection_bi_GBps"] == 2016
    assert data["total_npu_io_GBps"] == 8192 * 2016
    # access up, rack up + down, superpod up + down, access down (by hand)
    assert data["diameter_hops"] == 6
    assert [lv["name"] for lv in data["levels"]] == ["rack", "superpod"]
    assert sum(c["count"] for c in data["link_classes"]) == data["n_links"]


def test_show_trunk_share_and_string_form(capsys):
    assert main(["topo", "show", "ub-mesh-pod"]) == 0
    assert "trunk share  168 GB/s uni per NPU" in capsys.readouterr().out
    assert main(["topo", "show", "--json", "ring:4,switch:3@100GBps/2us:oversub=2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_npus"] == 12 and data["diameter_hops"] == 2 + 4
    assert data["string_form"] == "ring:4@56GBps/150ns,switch:3@100GBps/2000ns:oversub=2"


def test_show_toml_file(tmp_path, capsys):
    path = tmp_path / "two.toml"
    path.write_text('description = "mine"\n[[level]]\nfabric = "ring"\nsize = 2\n')
    assert main(["topo", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "topology     two" in out and "description  mine" in out


def test_list_names_every_preset(capsys):
    assert main(["topo", "list"]) == 0
    out = capsys.readouterr().out
    for name in preset_names():
        assert name in out
    assert "1,006,720" in out and "KIND:SIZE[@BANDWIDTH][/LATENCY][:OPTION]" in out
    assert "other sizes come from the string form" in out


def test_million_npu_preset_through_python_m():
    proc = run_module("topo", "show", "atlas960-supercluster", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_npus"] >= 1_000_000


@pytest.mark.parametrize("args, words", [
    (["topo", "show", "ub-mesh-rak"], ["unknown topology 'ub-mesh-rak'; did you mean "
                                       "'ub-mesh-rack'? valid: a preset ("]),
    (["topo", "show", "ring:2:name=a,ring:2:name=a"], ["level 1: duplicate level name 'a'"]),
    (["topo", "show", "full_mesh:8,rign:4"], ["fabric 'rign'", "full_mesh, ring, switch"]),
    (["topo", "show", "ring:0"], ["size must be an integer >= 1"]),
    (["topo", "show", "switch:100000,switch:1000"], ["beyond the supported range"]),
    (["topo", "show", "nowhere.toml"], ["nowhere.toml: cannot read topology file"]),
])
def test_bad_input_exits_2_with_one_line(args, words, capsys):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ubemu: error: ")
    for w in words:
        assert w in lines[0]


def test_bad_input_through_python_m_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[level]]\nfabric = "ring"\nsize = "eight"\n')
    for spec in (str(bad), "ring:8:lnks=2"):
        proc = run_module("topo", "show", spec)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ubemu: error: ")
        assert "Traceback" not in proc.stderr


def test_oversubscribed_switch_shows_the_sustained_injection(capsys):
    assert main(["topo", "show", "switch:8:oversub=4"]) == 0
    out = capsys.readouterr().out
    assert ("per-NPU      14 GB/s uni, 28 GB/s bi injection (level0 14 GB/s = 56 GB/s / "
            "oversub 4); oversubscription applied\n") in out
    assert "NPU ports    56 GB/s uni, 112 GB/s bi (before oversubscription" in out
    assert main(["topo", "show", "--json", "switch:8:oversub=4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["injection_sustained_uni_GBps"] == 14 and data["injection_uni_GBps"] == 56
    assert data["levels"][0]["sustained_injection_GBps"] == 14


def test_planes_are_said_to_be_applied(capsys):
    assert main(["topo", "show", "cloudmatrix384"]) == 0
    out = capsys.readouterr().out
    assert ("per-NPU      392 GB/s uni, 784 GB/s bi injection (superpod 392 GB/s = 7 planes x "
            "56 GB/s); planes applied\n") in out
    assert "NPU ports" not in out  # nothing oversubscribed: ports and sustained agree


def test_level_injection():
    topo = parse_topology_string("switch:8@56GBps:planes=2:oversub=4,full_mesh:8@56GBps,"
                                 "ring:8@50GBps:trunk:access=30GBps,ring:3@50GBps:trunk,"
                                 "ring:1@50GBps")
    assert [level_injection(topo, i) for i in range(5)] == [
        (112, 28), (7 * 56, 7 * 56), (30, 30), (0, 0), (0, 0)]  # the run's access port once


def test_specs_rounded_in_text_exact_in_json(capsys):
    spec = "ring:4@488.88888888888889Gbps"
    assert main(["topo", "show", spec]) == 0
    out = capsys.readouterr().out
    assert "ring:4@61.11GBps/150ns" in out and "61.111111111111114" not in out
    assert "(innermost first; string form with defaults, 4 digits; --json is exact)" in out
    assert main(["topo", "show", "--json", spec]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["levels"][0]["spec"] == "ring:4@61.111111111111114GBps/150ns"
    assert data["string_form"] == "ring:4@61.111111111111114GBps/150ns"


def test_show_names_the_hot_spare_of_ub_mesh_racks(capsys):
    status, out, _ = run_main(["topo", "show", "ub-mesh-pod"], capsys)
    assert status == 0 and "spare        one hot spare NPU per rack" in out
    status, out, _ = run_main(["topo", "show", "nvl72"], capsys)
    assert "spare " not in out


def test_show_prints_the_npu(capsys):
    assert main(["topo", "show", "dgx-a100"]) == 0
    out = capsys.readouterr().out
    assert "npu          NVIDIA A100 SXM4 80GB (shipping): bfloat16 312, float16 312" in out
    assert "memory 85.9 GB at 2,039 GB/s; matmuls at up to" in out
    assert main(["topo", "show", "ub-mesh-rack"]) == 0
    assert "npu          none" in capsys.readouterr().out
    assert main(["topo", "show", "--json", "ascend970-superpod"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["npu"]["status"] == "projected" and data["npu"]["tflops"]["float8"] == 4000
