"""``ubemu.calibration.params``: keys found from the records, short forms, changed copies."""

import pytest

from ubemu.calibration import params as pm
from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology
from ubemu.machine.topology import TopologyParams


def test_every_float_parameter_and_level_bandwidth_and_latency():
    topo = load_topology("atlas950-superpod")
    keys = pm.fittable(topo)
    for f in TopologyParams.__dataclass_fields__:  # the library's settings are no costs
        assert (f"params.{f}" in keys) == (f not in pm.SETTINGS)
    for name in ("rack", "superpod"):
        assert keys[f"level.{name}.bw_GBps"] == 1008.0
    assert keys["level.rack.access_lat_ns"] == 150.0
    assert keys["npu.tflops.bfloat16"] == 500.0 and "npu.matmul_fraction" in keys
    assert not any(k.endswith((".size", ".links", ".planes", ".oversub")) for k in keys)


def test_efficiency_per_traffic_kind_and_protocol_factors_of_a_level():
    """Issue 19: efficiency per traffic kind is fittable: a level's copies and its in-switch
    reduction, and its protocols' bandwidth factors."""
    topo = load_topology("dgx-h100-multinode")
    keys = pm.fittable(topo)
    assert keys["level.node.innet_efficiency"] == 0.65
    assert keys["level.cluster.efficiency"] == 0.966
    assert keys["level.cluster.ll_bw_factor"] == 0.05
    assert pm.is_fraction("level.node.innet_efficiency")
    assert pm.resolve(topo, ["node.innet_efficiency", "cluster.efficiency"]) == [
        "level.node.innet_efficiency", "level.cluster.efficiency"]
    new = pm.with_values(topo, {"level.node.innet_efficiency": 0.7})
    assert new.levels[0].innet_efficiency == 0.7 and new.levels[1] == topo.levels[1]


def test_short_forms_and_errors():
    topo = load_topology("dgx-h100-multinode")
    assert pm.resolve(topo, ["efficiency", "node.lat_ns", "params.fill_GBps"]) == [
        "params.efficiency", "level.node.lat_ns", "params.fill_GBps"]
    with pytest.raises(UbemuError, match="ambiguous"):
        pm.resolve(topo, ["lat_ns"])                       # node and cluster
    with pytest.raises(UbemuError, match="did you mean 'params.efficiency'"):
        pm.resolve(topo, ["params.eficiency"])
    with pytest.raises(UbemuError, match="twice"):
        pm.resolve(topo, ["efficiency", "params.efficiency"])


def test_with_values_changes_only_those():
    topo = load_topology("dgx-h100-multinode")
    new = pm.with_values(topo, {"params.efficiency": 0.8, "level.cluster.lat_ns": 1234,
                                "npu.mem_GBps": 3000})
    assert new.params.efficiency == 0.8 and topo.params.efficiency == 0.852
    assert new.levels[1].lat_ns == 1234 and new.levels[0] == topo.levels[0]
    assert new.npu.mem_GBps == 3000 and new.npu.tflops == topo.npu.tflops
    assert pm.is_fraction("params.efficiency") and pm.is_fraction("npu.matmul_fraction")
    assert not pm.is_fraction("params.fill_GBps")
