"""``ubemu.validation.training``: Megatron-LM's weak-scaling table (SC21 Table 1) predicted
within 15 % on every row by one achieved-fraction model; the kind's settings and errors."""

from dataclasses import replace
from pathlib import Path

import pytest

from ubemu.errors import UbemuError
from ubemu.machine.npu import NPU
from ubemu.validation import kinds, report
from ubemu.validation.rows import Row, read_rows
from ubemu.validation.training import megatron_flops, step_of

DATA = Path(__file__).resolve().parents[2] / "docs" / "data"


def row(**kw):
    base = dict(id="r", system="s", kind="train_step", topo="dgx-a100-multinode", group="",
                size_B=0, metric="tflops_per_npu", published=150.0,
                settings={"layers": "8", "hidden": "2048", "heads": "16", "seq": "2048",
                          "vocab": "51200", "global_batch": "64", "tp": "8", "pp": "2",
                          "npus": "64", "recompute": "full", "flash": "0"},
                role="validate", source_title="t", source_url="u", path=str(DATA / "x.csv"))
    return Row(**{**base, **kw})


@pytest.mark.slow  # ten planned steps on up to 3,072 A100 (about 4 s)
def test_megatron_table_1_within_15_percent_with_one_model():
    rows = read_rows(DATA / "megatron-sc21-table1.csv")
    assert len(rows) == 10 and {r.role for r in rows} == {"fit"}
    assert all(r.source_url == "https://arxiv.org/abs/2104.04473" for r in rows)
    compared = report.compare(rows)
    ratios = {c.row.id: c.ratio for c in compared}
    assert all(abs(r - 1) <= 0.15 for r in ratios.values()), ratios
    # one model: the NPU's defaults, the same for every row
    npu = step_of(rows[0])[2].npu
    assert (npu.matmul_fraction, npu.memory_fraction) == (NPU().matmul_fraction,
                                                          NPU().memory_fraction)


def test_figure_is_the_papers_flops_over_the_planned_step():
    r = row()
    value, note = kinds.figure(r)
    model, plan, topo, rep = step_of(r)
    assert (plan.tp, plan.pp, plan.dp, plan.recompute) == (8, 2, 4, "full")
    assert topo.n_npus == 64 and model.layers == 8
    assert value == pytest.approx(megatron_flops(model) / (rep.step_s * 64) / 1e12)
    assert note.startswith("TP8 PP2 DP4 rc full: step")
    model_flops, _ = kinds.figure(replace(r, settings={**r.settings, "flops": "model"}))
    assert model_flops < value                           # no recomputed forward counted
    fewer, _ = kinds.figure(replace(r, settings={**r.settings, "flops_layers": "4"}))
    assert fewer < value
    auto = step_of(replace(r, settings={**r.settings, "recompute": "auto"}))[1]
    assert auto.recompute == "none"                      # the lightest that fits 85.9 GB


def test_topology_file_beside_the_rows(tmp_path):
    (tmp_path / "m.toml").write_text((Path(__file__).resolve().parents[2] / "ubemu" /
                                      "machine" / "presets" / "dgx-a100.toml").read_text())
    r = row(topo="m.toml", path=str(tmp_path / "rows.csv"),
            settings={**row().settings, "tp": "8", "pp": "1", "npus": "8",
                      "global_batch": "8"})
    assert step_of(r)[2].name == "dgx-a100"


@pytest.mark.parametrize("settings, words", [
    ({"tp": "8", "pp": "3"}, ("tp*pp*cp = 24", "64 NPUs")),
    ({"flash": "maybe"}, ("flash='maybe'", "0/1")),
    ({"layrs": "8"}, ("settings key", "layers")),
    ({"flops": "hardware"}, ("flops='hardware'", "megatron")),
    ({"recompute": "most"}, ("recompute",)),
])
def test_bad_settings_one_line(settings, words):
    with pytest.raises(UbemuError) as info:
        kinds.figure(row(settings={**row().settings, **settings}))
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
