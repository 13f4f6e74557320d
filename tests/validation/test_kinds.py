"""A row's figure is what the API gives for the same question, in the row's metric."""

import pytest

import ubemu
from ubemu.errors import UbemuError
from ubemu.validation import kinds
from ubemu.validation.rows import Row


def row(**kw):
    base = dict(id="r", system="s", kind="all_reduce", topo="switch:8@50GBps/1us", group="",
                size_B=1 << 20, metric="busbw_GBps", published=1.0, settings={}, role="fit",
                source_title="t", source_url="u", path="p.csv")
    return Row(**{**base, **kw})


@pytest.mark.parametrize("metric, get", [("busbw_GBps", lambda r: r.busbw_GBps),
                                         ("algbw_GBps", lambda r: r.algbw_GBps),
                                         ("time_us", lambda r: r.time_s * 1e6)])
def test_a_collective_row_is_simulate_in_its_metric(metric, get):
    want = ubemu.simulate("all_gather", 1 << 20, "switch:8@50GBps/1us", "ring",
                          group="start=0,stride=1,count=4")
    value, note = kinds.figure(row(kind="all_gather", metric=metric, group="start=0,stride=1,"
                                   "count=4", settings={"algorithm": "ring", "NCCL_ALGO": "x"}))
    assert value == get(want) and note == "ring"


def test_auto_names_its_pick():
    assert kinds.figure(row())[1] == ubemu.simulate("all_reduce", 1 << 20,
                                                    "switch:8@50GBps/1us").algorithm


@pytest.mark.parametrize("kw, match", [
    (dict(settings={"algoritm": "ring"}), r"settings key 'algoritm'.*did you mean 'algorithm'"),
    (dict(metric="busbw"), r"metric 'busbw'"),
    (dict(kind="allreduce"), r"unknown kind 'allreduce'; valid: .*all_reduce"),
])
def test_bad_rows_are_one_line(kw, match):
    with pytest.raises(UbemuError, match=match):
        kinds.figure(row(**kw))


def test_a_kind_registers_once():
    with pytest.raises(ValueError, match="registered twice"):
        kinds.register("all_reduce")(lambda r: (0, ""))


def test_channels_chunk_and_protocol_settings_reach_simulate():
    """``channels=``, ``chunk=``, ``protocol=`` are the algorithm options and the protocol;
    the note says what ran (algorithm, channels, chunk, protocol)."""
    topo = "dgx-h100-multinode"
    value, note = kinds.figure(row(topo=topo, group="start=0,stride=1,count=16",
                                   settings={"algorithm": "ring", "channels": "8",
                                             "protocol": "simple"}))
    want = ubemu.simulate("all_reduce", 1 << 20, topo, "ring", group="start=0,count=16",
                          channels=8, protocol="simple")
    assert value == want.busbw_GBps and note == "ring ch=8 simple"
    _, note = kinds.figure(row(topo=topo, group="start=0,stride=1,count=16", size_B=1 << 30,
                               settings={"algorithm": "innet", "chunk": "1048576"}))
    assert note == "innet ch=16 chunk=1M simple"
