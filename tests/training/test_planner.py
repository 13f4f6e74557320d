"""``ubemu.training.planner.plan``: the compute of the NPU in the step, memory against the
capacity (refused, or marked), MFU, and communication only without an ``[npu]``."""

from dataclasses import replace

import pytest

import ubemu.training as tr
from ubemu.errors import UbemuError
from ubemu.training.compute import step_model_flops
from ubemu.training.planner import plan

GPT3 = tr.get_model("gpt3-175b")
SMALL = tr.Model("small", layers=8, hidden=1024, heads=16, seq_len=512, global_batch=64,
                 vocab=1000)


def test_compute_of_the_npu_in_the_step():
    rep = plan(SMALL, tr.Plan(tp=8, pp=2, dp=8), "dgx-h100-multinode")
    c = rep.compute
    assert c is not None and rep.compute_s == pytest.approx(c.total_s)
    assert rep.step_s >= rep.compute_s and rep.bubble_s == c.bubble_s > 0
    assert rep.fits and rep.capacity_bytes == pytest.approx(85.9e9)
    assert rep.mfu == pytest.approx(step_model_flops(SMALL) /
                                    (128 * rep.step_s * 989.4e12))
    names = {o.name for o in rep.result.ops}
    assert {"compute.main", "compute.last", "compute.optimizer"} <= names
    d = rep.to_dict()
    assert d["memory"]["total_B"] == rep.memory_bytes and d["compute"]["fwd_s"] == c.fwd_s


def test_memory_refused_or_marked():
    big = tr.Plan(tp=1, pp=1, dp=128)
    with pytest.raises(UbemuError) as info:
        plan(GPT3, big, "dgx-h100-multinode")
    msg = str(info.value)
    assert "\n" not in msg and "needs" in msg and "85.9 GB" in msg and "--memory-gb" in msg
    rep = plan(replace(GPT3, layers=8, global_batch=128), big, "dgx-h100-multinode",
               check_memory=False)
    assert not rep.fits and rep.memory_bytes > rep.capacity_bytes
    ok = plan(SMALL, tr.Plan(tp=8, pp=2, dp=8), "dgx-h100-multinode", capacity_bytes=1e15)
    assert ok.capacity_bytes == 1e15


def test_communication_only_without_an_npu():
    rep = plan(SMALL, tr.Plan(tp=8, pp=2, dp=8), "switch:8@100GBps/1us,switch:16@25GBps/2us")
    assert rep.compute is None and rep.compute_s == 0 and rep.mfu is None
    assert rep.capacity_bytes is None and rep.fits
    with pytest.raises(UbemuError, match=r"--mfu needs the NPU's peak"):
        plan(SMALL, tr.Plan(tp=8, pp=2, dp=8), "switch:8@100GBps/1us,switch:16@25GBps/2us",
             mfu=0.4)
    with pytest.raises(UbemuError, match="mfu must be a fraction"):
        plan(SMALL, tr.Plan(tp=8, pp=2, dp=8), "dgx-h100-multinode", mfu=1.5)
