"""``ubemu calibrate``: a ubemu-generated log's known parameters recovered through the
command line, NVIDIA's published 8 x H100 table fitted, the TOML written and read back,
one-line refusals with nothing written."""

from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_error_line, run_main
from ubemu.calibration import params as pm
from ubemu.machine.spec import load_topology
from ubemu.machine.totoml import topology_toml

H100 = str(Path(__file__).resolve().parents[1] / "calibration" / "logs" /
           "nccl-tests-h100x8-all_reduce.txt")
TRUTH = {"params.overhead_ns": 3300.0, "params.send_overhead_ns": 1400.0,
         "params.fill_GBps": 20.0, "params.efficiency": 0.85}


def rows_of(out):
    """(size, column, measured, before ratio, after ratio) of each log row of the report."""
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if not line.startswith("#") and len(parts) == 12 and parts[3] == "B":
            rows.append((int(parts[2]), parts[4], float(parts[6]), float(parts[8]),
                         float(parts[10])))
    return rows


def test_ubemu_log_with_known_parameters_recovered(tmp_path, capsys):
    truth = tmp_path / "truth.toml"
    truth.write_text(topology_toml(pm.with_values(load_topology("dgx-h100"), TRUTH)))
    logs = []
    for coll, algo in (("all_reduce", "ring,direct,recursive_doubling"),
                       ("alltoall", "pairwise,direct")):
        status, out, err = run_main([coll, "--topo", str(truth), "-b", "1K", "-e", "1G",
                                     "-f", "16", "--algo", algo, "--extra"], capsys)
        assert status == 0, err
        logs.append(tmp_path / f"{coll}.log")
        logs[-1].write_text(out)
    fitted = tmp_path / "fitted.toml"
    status, out, err = run_main(["calibrate", *map(str, logs), "--topo", "dgx-h100", "--fit",
                                 ",".join(k.split(".")[1] for k in TRUTH), "-o", str(fitted),
                                 "--quiet"], capsys)
    assert status == 0, err
    assert "ubemu all_reduce, 8 ranks (ubemu header)" in out
    got = pm.fittable(load_topology(str(fitted)))
    for key, want in TRUTH.items():
        assert got[key] == pytest.approx(want, rel=0.01), key
    rows = rows_of(out)
    # 5 tables x 6 sizes, each an out-of-place and an in-place row
    assert len(rows) == 5 * 6 * 2 and all(abs(r[4] - 1) < 1e-3 for r in rows)
    assert "fitted (+-" in fitted.read_text() and "# wrote" in out


def test_published_h100_table(tmp_path, capsys):
    """From a base whose copies and launch are off (the preset itself was fitted to this
    table), the fit brings back at least 54 of the 64 rows within 10 %."""
    fitted, base = tmp_path / "h100.toml", tmp_path / "off.toml"
    base.write_text(topology_toml(pm.with_values(load_topology("dgx-h100"), {
        "params.efficiency": 0.7, "params.launch_ns": 12000.0})))
    status, out, err = run_main(["calibrate", H100, "--topo", str(base), "-o", str(fitted)],
                                capsys)
    assert status == 0, err
    assert "ubemu: calibrate iteration 1" in err
    assert "nccl-tests all_reduce, 8 ranks (Rank lines); 1 node" in out
    # (the in-switch rows set the efficiency apart from the link rate: NVLS runs at its own)
    assert "not determined by these rows, kept at its base value: params.recv_overhead_ns" in out
    rows = rows_of(out)
    assert len(rows) == 64
    before = sum(abs(r[3] - 1) <= 0.10 for r in rows)
    after = sum(abs(r[4] - 1) <= 0.10 for r in rows)
    assert after > before and after >= 54
    # the two single-sample outliers the source notes are left far off, not fitted to
    outliers = [r for r in rows if (r[0], r[1]) in ((32, "out-of-place"),
                                                    (4096, "out-of-place"))]
    assert all(r[4] < 0.75 for r in outliers)
    topo = load_topology(str(fitted))
    assert topo.name == "h100" and topo.npu == load_topology("dgx-h100").npu
    status, out, err = run_main(["all_reduce", "--topo", str(fitted), "-b", "1M", "-e", "1M"],
                                capsys)
    assert status == 0, err


@pytest.mark.parametrize("args, words", [
    (["--fit", "efficency"], "did you mean 'params.efficiency'"),
    (["--ranks", "16"], "16 ranks do not fit topology 'dgx-h100' (8 NPUs)"),
    (["--fit", "overhead_ns,send_overhead_ns,recv_overhead_ns,fill_bytes,fill_GBps,"
      "efficiency,node.bw_GBps,node.lat_ns", "--column", "in-place", "--collective",
      "all_reduce"], None),
])
def test_refusals_one_line(tmp_path, capsys, args, words):
    out_toml = tmp_path / "f.toml"
    status, out, err = run_main(["calibrate", H100, "--topo", "dgx-h100", "-o",
                                 str(out_toml), *args], capsys)
    if words is None:     # a valid fit of 8 keys to 32 points: accepted
        assert status == 0, err
        return
    assert_one_error_line(status, out, err)
    assert words in err and not out_toml.exists()


def test_bad_logs_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.log"
    bad.write_text(Path(H100).read_text().replace("123.8", "12x.8"))
    few = tmp_path / "few_all_reduce.log"
    few.write_text("\n".join(Path(H100).read_text().splitlines()[:17]))
    for path, words in ((bad, "bad.log:37: time '12x.8' is not a number"),
                        (few, "2 distinct measurements for 11 parameters"),
                        (tmp_path / "none.log", "cannot read log")):
        status, out, err = run_main(["calibrate", str(path), "--topo", "dgx-h100", "-o",
                                     str(tmp_path / "f.toml")], capsys)
        assert_one_error_line(status, out, err)
        assert words in err, err
        assert not (tmp_path / "f.toml").exists()
    status, out, err = run_main(["calibrate", H100, "--topo", "dgx-h100", "-o",
                                 str(tmp_path / "missing" / "f.toml")], capsys)
    assert_one_error_line(status, out, err)
    assert "-o/--output: cannot write" in err


def test_measurement_rows_of_docs_data(capsys, tmp_path):
    """The 2-node rows fit the InfiniBand rate back from a base that has it wrong (the preset
    was fitted to these rows: nothing to gain there)."""
    rows = str(Path(__file__).resolve().parents[2] / "docs" / "data" /
               "nccl-tests-309-h100x2.csv")
    base = tmp_path / "slow-ib.toml"
    base.write_text(topology_toml(pm.with_values(load_topology("dgx-h100-multinode"),
                                                 {"level.cluster.bw_GBps": 35.0})))
    status, out, err = run_main(["calibrate", rows, "--topo", str(base), "--fit",
                                 "cluster.bw_GBps", "--quiet"], capsys)
    assert status == 0, err
    assert "10 measurement rows (kinds all_reduce)" in out
    assert "busbw_GBps" in out and "level.cluster.bw_GBps" in out
    rms = out.split("rms of log(model/measured): before ")[1].split(";")[0]
    before, after = float(rms.split(",")[0]), float(rms.split("after ")[1])
    assert after < before


def test_a_level_key_at_zero_starts_from_the_value_it_inherits():
    """A level's efficiency of 0 means [params]' (0.852 on dgx-h100): fitting it starts there;
    a key with nothing to inherit starts from its unit's default."""
    from ubemu.cli.calibrate import start_values

    topo = load_topology("dgx-h100")
    assert start_values(topo, ["level.node.efficiency", "level.node.access_lat_ns",
                               "params.efficiency"]) == {"level.node.efficiency": 0.852,
                                                         "level.node.access_lat_ns": 1000.0}
