"""Shipped presets: they load, carry their sources, and match the reference numbers.

The sources of every figure: docs/sources.md (figures quoted in the comments below). The
dgx-h100 curve the NVLink costs are fitted to: docs/data/nccl-tests-h100.csv.
"""

import re
from importlib import resources
from pathlib import Path

import pytest

from ubemu.machine.spec import load_preset, preset_names

EXPECTED = {
    "ub-mesh-rack", "ub-mesh-pod", "ub-mesh-superpod", "cloudmatrix384", "atlas950-superpod",
    "atlas950-supercluster", "atlas960-superpod", "atlas960-supercluster", "dgx-h100",
    "dgx-h100-multinode", "nvl72", "ring-8", "torus-8x8", "full-mesh-8", "switch-64",
    "ascend970-superpod", "cloudmatrix384-die",
}
TAG = re.compile(r"#.*(\([^)]*\b[PVCMIA]\b[^)]*\)|\bA:|assumed|ASSUMED|CHOICE|example|fitted|"
                 r"fit\b)")
FIGURES = ("size", "bw_GBps", "lat_ns", "links", "planes", "oversub", "efficiency",
           "overhead_ns", "send_overhead_ns", "recv_overhead_ns", "fill_bytes", "fill_GBps",
           "hop_lat_ns", "reduce_GBps", "access_GBps", "access_lat_ns", "launch_ns",
           "ll_sw_factor", "ll_bw_factor", "ll128_sw_factor", "ll128_bw_factor", "channels",
           "channel_bytes", "chunk_bytes", "innet_efficiency", "innet_lat_ns", "library")


def _text(name):
    return (resources.files("ubemu.machine.presets") / f"{name}.toml").read_text()


def test_every_expected_preset_is_shipped():
    assert EXPECTED <= set(preset_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_loads_and_every_figure_has_a_source(name):
    topo = load_preset(name)
    assert topo.name == name and topo.description
    assert all(lv.name for lv in topo.levels)
    for line in _text(name).splitlines():
        if re.match(rf"\s*({'|'.join(FIGURES)})\s*=", line):
            assert TAG.search(line), f"{name}: figure without a source tag: {line!r}"


@pytest.mark.parametrize("name, n_npus, inj_uni_GBps", [
    ("ub-mesh-rack", 64, 14 * 56),
    ("ub-mesh-pod", 1024, 14 * 56 + 224),            # + x16 lanes to the rack's LRS (P, I)
    ("ub-mesh-superpod", 8192, 14 * 56 + 224),
    ("atlas950-superpod", 8192, 1008),            # 72 lanes x 112 Gb/s = 2 TB/s bi (V)
    ("ascend970-superpod", 15_488, 2000),         # 4 TB/s bi (C), a projection
    ("atlas950-supercluster", 524_288, 1008 + 100),  # + assumed 2 x 400GE scale-out
    ("atlas960-superpod", 15_488, 1100),          # 2.2 TB/s bi (C)
    ("atlas960-supercluster", 1_006_720, 1100 + 100),
    ("cloudmatrix384", 384, 392),                 # 392 GB/s uni per package (P)
    ("cloudmatrix384-die", 768, 196),             # 7 x 28 GB/s uni per die (P)
    ("dgx-h100", 8, 450),                         # 900 GB/s bi (V)
    ("dgx-h100-multinode", 128, 450 + 50),        # + 400 Gb/s NDR per GPU (V)
    ("nvl72", 72, 900),                           # 1.8 TB/s bi (V)
    ("ring-8", 8, 2 * 56),
    ("torus-8x8", 64, 4 * 56),
    ("full-mesh-8", 8, 7 * 56),
    ("switch-64", 64, 56),
])
def test_npu_count_and_injection(name, n_npus, inj_uni_GBps):
    topo = load_preset(name)
    assert topo.n_npus == n_npus
    assert topo.injection_GBps() == pytest.approx(inj_uni_GBps, rel=1e-12)


def test_atlas950_total_io_close_to_the_claim():
    topo = load_preset("atlas950-superpod")
    total_PBps = topo.n_npus * 2 * topo.injection_GBps() / 1e6
    assert total_PBps == pytest.approx(16.515, abs=1e-3)      # 8,192 x 2 x 1,008 GB/s
    assert abs(total_PBps - 16.3) / 16.3 < 0.02                # claimed 16.3 PB/s (C)


def test_atlas960_total_io_close_to_the_claim():
    topo = load_preset("atlas960-superpod")
    assert topo.n_npus * 2 * topo.injection_GBps() / 1e6 == pytest.approx(34.07, abs=0.01)


CURVE = Path(__file__).resolve().parents[2] / "docs" / "data" / "nccl-tests-h100.csv"
#: The table's two single-sample outliers (their in-place columns: 13.5 and 16.5 us).
OUTLIERS = {"h100x1_ar_s1_32", "h100x1_ar_s1_4096"}
#: The other 8 x H100 rows the fitted model misses by more than 10 %, each with why
#: (docs/sources.md, "NCCL on H100"): within 25 %.
MISSED = {
    "h100x1_ar_s1_8": "NCCL's floor rises 25 % from 16 B to 2 KiB; ubemu's is flat",
    "h100x1_ar_s1_16": "the same",
}


def test_dgx_h100_reproduces_the_published_nccl_tests_curve():
    """NVIDIA's all_reduce_perf on 8 x H100 (docs/data/nccl-tests-h100.csv, a training
    curve): auto's time within 10 % on every row but :data:`MISSED` (within 25 %) and the
    two :data:`OUTLIERS`."""
    from ubemu.validation.kinds import figure
    from ubemu.validation.rows import read_rows

    rows = read_rows(CURVE)
    off = {}
    for row in rows:
        if row.id in OUTLIERS:
            continue
        ratio = figure(row)[0] / row.published
        assert abs(ratio - 1) <= (0.25 if row.id in MISSED else 0.10), (row.id, ratio)
        if abs(ratio - 1) > 0.10:
            off[row.id] = ratio
    assert len(rows) == 38 and set(off) <= set(MISSED)


def test_two_dgx_h100_nodes_reproduce_the_training_tables():
    """The 2-node tables of nccl-tests#309 (a training curve, busbw): every row within 10 %
    (the training curves' bar; from 16 MiB up the issue asks 15 %)."""
    from ubemu.validation.kinds import figure
    from ubemu.validation.rows import read_rows

    rows = read_rows(CURVE.with_name("nccl-tests-309-h100x2.csv"))
    for row in rows:
        ratio = figure(row)[0] / row.published
        assert abs(ratio - 1) <= 0.10, (row.id, ratio)
    assert len(rows) == 10


def test_the_product_and_the_paper_superpod_differ():
    """atlas950-superpod (as announced) and ub-mesh-superpod (the paper) share NPUs and lanes,
    not their model, and each says where it differs."""
    product, paper = load_preset("atlas950-superpod"), load_preset("ub-mesh-superpod")
    assert product.n_npus == paper.n_npus == 8192
    assert product.describe_levels() != paper.describe_levels()
    assert product.injection_GBps() == 1008 and paper.injection_GBps() == 14 * 56 + 224
    assert any("ub-mesh-superpod" in n for n in product.notes)
    assert any("atlas950-superpod" in n for n in paper.notes)
    assert "PROJECTION" in load_preset("ascend970-superpod").description


def test_superclusters_are_made_of_their_superpods():
    for pod, cluster, count in (("atlas950-superpod", "atlas950-supercluster", 64),
                                ("atlas960-superpod", "atlas960-supercluster", 65)):
        p, c = load_preset(pod), load_preset(cluster)
        assert c.levels[:-1] == p.levels and c.levels[-1].size == count
        assert c.n_npus == count * p.n_npus


def test_ub_mesh_pod_trunks_are_shared_by_racks():
    topo = load_preset("ub-mesh-pod")
    assert topo.trunk_group_npus == (1, 1, 64, 64)
    assert topo.levels[2].trunk and topo.levels[3].trunk
    assert topo.levels[2].link_GBps == 128 * 112 / 8           # x128 lanes, ~1.8 TB/s (I)
    assert topo.trunk_share_GBps() == pytest.approx(6 * 1792 / 64)
    assert topo.trunk_runs == ((2, 3),) and topo.access_GBps(3) == 16 * 112 / 8  # x16 lanes
