"""``ubemu.machine.npu``: the ``[npu]`` table of the presets, checked fields, numbers by key."""

import pytest

from ubemu.errors import UbemuError
from ubemu.machine import npu
from ubemu.machine.spec import load_topology, preset_names, topology_from_toml_text

TOML = """name = "t"
[npu]
name = "X1"
status = "announced"
mem_GBps = 1000
mem_GB = 64
[npu.tflops]
bfloat16 = 100
float8 = 200
[[level]]
fabric = "switch"
size = 4
"""


def test_every_accelerator_preset_names_its_npu():
    with_npu = {n: load_topology(n).npu for n in preset_names()}
    for name in ("dgx-a100", "dgx-a100-multinode", "dgx-h100", "dgx-h100-multinode",
                 "nvl72", "cloudmatrix384", "atlas950-superpod", "atlas960-superpod",
                 "ascend970-superpod"):
        n = with_npu[name]
        assert n is not None and n.mem_GB > 0 and n.mem_GBps > 0, name
        assert n.peak_flops("bfloat16") > 0 and n.status in npu.STATUSES
    assert with_npu["dgx-a100"].peak_flops("bf16") == 312e12         # SC21's peak
    assert with_npu["dgx-h100"].peak_flops("float8") == 1978.9e12
    assert with_npu["ascend970-superpod"].status == "projected"
    assert with_npu["atlas950-superpod"].status == "announced"
    assert with_npu["ub-mesh-rack"] is None                            # the paper names none


def test_table_read_and_defaults():
    t = topology_from_toml_text(TOML, "t.toml")
    assert t.npu.name == "X1" and t.npu.tflops == {"bfloat16": 100.0, "float8": 200.0}
    assert t.npu.matmul_fraction == npu.NPU().matmul_fraction            # the fitted default
    assert npu.numeric_keys(t.npu)["tflops.float8"] == 200.0
    assert npu.with_number(t.npu, "tflops.float8", 300).tflops["float8"] == 300.0
    with pytest.raises(UbemuError, match="no peak rate for 'float32'.*bfloat16, float8"):
        t.npu.peak_flops("float32")


@pytest.mark.parametrize("old, new, words", [
    ('status = "announced"', 'status = "rumoured"', ("npu status", "projected")),
    ("bfloat16 = 100", "bf16 = 100", ("tflops data type", "bfloat16")),
    ("mem_GB = 64", "mem_GB = -1", ("mem_GB", ">= 0")),
    ("mem_GB = 64", "memory = 64", ("npu field", "mem_GB")),
    ("mem_GB = 64", "matmul_fraction = 1.5", ("matmul_fraction", "<= 1")),
])
def test_bad_fields_one_line(old, new, words):
    with pytest.raises(UbemuError) as info:
        topology_from_toml_text(TOML.replace(old, new), "t.toml")
    msg = str(info.value)
    assert "\n" not in msg and "t.toml: npu" in msg and all(w in msg for w in words), msg
