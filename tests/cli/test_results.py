"""``ubemu.cli.results``: -J documents built row by row, written atomically, read back."""

import json
import os
import types

import pytest

from ubemu.cli import results
from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology
from ubemu.result import ClassUsage, Result


def make(nbytes=1 << 20, usage=None, **kw):
    return Result("all_reduce", "ring", "t", 8, nbytes, nbytes // 4, "float32", "sum", 1e-4,
                  14, usage=usage or [], bottleneck="board", **kw)


def fake_plan(topology="ring:4@488.88888888888889Gbps,switch:2:oversub=2"):
    return types.SimpleNamespace(command_record=lambda: {"collective": "all_reduce"},
                                 topology=load_topology(topology), n_ranks=8, n_jobs=3)


def test_json_round_trip(tmp_path):
    usage = [ClassUsage("board", 0, 1.5e9, 80e-6, 0.875, 64, 8, 0.99)]
    r = make(usage=usage, wrong=0, max_rel_err=0.0, wall_s=0.25)
    doc = {"ubemu": "x", results.RECORDS_KEY: [results.record(r, requested_algorithm="auto")]}
    path = tmp_path / "out.json"
    results.write_json_atomic(path, doc)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left
    recs = results.load_records(path)
    assert recs[0]["busbw_GBps"] == pytest.approx(r.busbw_GBps)
    assert recs[0]["usage"][0] == {"name": "board", "level": 0, "bytes": 1.5e9,
                                   "busy_s": 80e-6, "utilisation": 0.875, "links": 64,
                                   "links_used": 8, "group_utilisation": 0.99}
    assert recs[0]["requested_algorithm"] == "auto" and recs[0]["wall_s"] == 0.25
    back = Result(**{k: v for k, v in recs[0].items()
                     if k not in ("algbw_GBps", "busbw_GBps", "requested_algorithm")})
    assert back.time_s == r.time_s and back.nbytes == r.nbytes
    # Deterministic text: the same document serialises to the same bytes.
    assert results.dumps(doc) == path.read_text()


def test_numpy_values_serialise():
    np = pytest.importorskip("numpy")
    r = make(notes={"steps": np.int64(3), "per_level": np.array([1.0, 2.0])})
    text = results.dumps({results.RECORDS_KEY: [results.record(r)]})
    assert json.loads(text)[results.RECORDS_KEY][0]["notes"] == {"steps": 3,
                                                                 "per_level": [1.0, 2.0]}


def test_atomic_write_failure_leaves_nothing(tmp_path):
    with pytest.raises(UbemuError, match="output_file"):
        results.write_json_atomic(tmp_path / "missing-dir" / "x.json", {"a": 1})
    with pytest.raises(TypeError):
        results.write_json_atomic(tmp_path / "x.json", {"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "x.json"
    results.write_json_atomic(path, {"a": 1})

    def interrupted(f):
        f.write('{"a": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        results.replace_atomically(path, interrupted, "-J")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_check_writable(tmp_path):
    assert results.check_writable(tmp_path / "x.json", "-J") == tmp_path / "x.json"
    assert list(tmp_path.iterdir()) == []  # nothing created
    with pytest.raises(UbemuError, match=r"^-J: cannot write '.*/no/x.json' \(No such file"):
        results.check_writable(tmp_path / "no" / "x.json", "-J")
    with pytest.raises(UbemuError, match="is a directory"):
        results.check_writable(tmp_path, "-J")
    with pytest.raises(UbemuError, match="cannot write"):
        results.check_writable("a\0b.json", "-J")


def test_writer_text_is_the_document_byte_for_byte(tmp_path):
    path = tmp_path / "r.json"
    writer = results.ResultWriter(path, fake_plan(), n_procs=2)
    assert writer.text() == results.dumps(writer.document())  # no records yet
    writer.add("auto", make(notes={"root": 0}), peak_memory_mib=[100.04, 99.0])
    writer.add("ring", make(nbytes=2 << 20))
    assert path.read_text() == results.dumps(writer.document())
    doc = json.loads(path.read_text())
    assert [r["requested_algorithm"] for r in doc["records"]] == ["auto", "ring"]
    assert doc["records"][0]["root"] == -1  # all_reduce has no root
    assert doc["n_procs"] == 2 and doc["peak_memory_mib"] == [100.0, 99.0]
    assert doc["complete"] is False and doc["n_rows_planned"] == 3
    writer.finish([120.0, 110.0])
    doc = json.loads(path.read_text())
    assert doc["complete"] is True and doc["peak_memory_mib"] == [120.0, 110.0]


def test_topology_record_has_exact_specs_fields_and_params():
    topo = results.topology_record(load_topology("ring:4@488.88888888888889Gbps,switch:2"))
    assert topo["levels"][0] == "ring:4@61.111111111111114GBps/150ns"
    assert topo["level_fields"][1]["fabric"] == "switch"
    assert topo["level_fields"][0]["bw_GBps"] == 488.88888888888889 / 8
    assert topo["params"]["efficiency"] == 1.0 and topo["source"] == "string"
    assert load_topology(",".join(topo["levels"])).levels == load_topology(
        "ring:4@488.88888888888889Gbps,switch:2").levels  # the spec round-trips exactly


def test_writer_without_a_path_writes_nothing(tmp_path):
    writer = results.ResultWriter(None, fake_plan())
    writer.add("auto", make())
    writer.finish()
    assert len(writer.records) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, match", [("{", "not valid JSON"), ('{"a": 1}', "records"),
                                            ('[{"collective": "x"}]', "lacks field")])
def test_load_records_rejects_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UbemuError, match=match):
        results.load_records(p)
    with pytest.raises(UbemuError, match="cannot read"):
        results.load_records(tmp_path / "nope.json")


# -- every output: mode, links, inputs and other outputs --------------------------------------
def _mode(path):
    return path.stat().st_mode & 0o777


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask_022):
    results.write_json_atomic(tmp_path / "new.json", {"a": 1})
    assert _mode(tmp_path / "new.json") == 0o644
    os.umask(0o077)
    results.write_json_atomic(tmp_path / "private.json", {"a": 1})
    assert _mode(tmp_path / "private.json") == 0o600


def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022):
    path = tmp_path / "shared.json"
    path.write_text("old")
    path.chmod(0o664)
    results.write_json_atomic(path, {"a": 1})
    assert _mode(path) == 0o664 and json.loads(path.read_text()) == {"a": 1}


def test_a_symlink_stays_a_link_and_its_target_is_written(tmp_path, umask_022):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    results.write_json_atomic(link, {"a": 2})
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text()) == {"a": 2} and _mode(target) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "runs"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["r.json"]  # no temporary file
    dangling = tmp_path / "next.json"
    dangling.symlink_to(tmp_path / "runs" / "s.json")
    results.check_writable(dangling, "-J")
    results.write_json_atomic(dangling, {"a": 3})
    assert dangling.is_symlink() and json.loads((tmp_path / "runs" / "s.json").read_text())


def test_an_output_equal_to_an_input_or_another_output_is_refused(tmp_path):
    src = tmp_path / "w.toml"
    src.write_text("x")
    with pytest.raises(UbemuError, match=r"^-J: '.*w.toml' is the workload file '.*w.toml'; "
                                         r"writing it would overwrite the input"):
        results.check_outputs([("-J", src)], [("the workload file", src)])
    link = tmp_path / "alias.toml"
    link.symlink_to(src)
    hard = tmp_path / "hard.toml"
    os.link(src, hard)
    for alias in (link, hard, tmp_path / "." / "w.toml"):
        with pytest.raises(UbemuError, match="would overwrite the input"):
            results.check_outputs([("-J", alias)], [("the workload file", src)])
    with pytest.raises(UbemuError, match=r"^--trace: '.*o.json' is also the -J file; one "
                                         r"would overwrite the other"):
        results.check_outputs([("-J", tmp_path / "o.json"), ("--trace", tmp_path / "o.json")])
    # a preset name or a string form is no file; absent outputs are skipped
    results.check_outputs([("-J", tmp_path / "o.json"), ("--trace", None)],
                          [("the --topo file", "ub-mesh-rack"), ("x", None)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.toml", "hard.toml", "w.toml"]
