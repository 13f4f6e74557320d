"""``ubemu.machine.totoml``: every preset written and read back unchanged; comments kept."""

import pytest

from ubemu.machine.spec import load_topology, preset_names, topology_from_toml_text
from ubemu.machine.totoml import topology_toml


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips(name):
    t = load_topology(name)
    back = topology_from_toml_text(topology_toml(t), "x")
    for key in ("name", "description", "notes", "levels", "params", "spare", "npu"):
        assert getattr(back, key) == getattr(t, key), key


def test_string_forms_and_comments():
    t = load_topology("torus:4x4@50GBps/1us,switch:4@12.5GBps:oversub=2")
    text = topology_toml(t, header=["made here"], comments={"level.torus.1.lat_ns": "why"})
    assert text.startswith("# made here\n")
    assert 'name = "torus.1"' in text and "# why" in text and "oversub = 2" in text
    back = topology_from_toml_text(text, "x")
    assert back.levels == t.levels and back.n_npus == 64
