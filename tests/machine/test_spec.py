"""Reading topologies: only UbemuError escapes, and messages name the field and the choices."""

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ubemu.errors import UbemuError
from ubemu.machine.spec import (
    LEVEL_FIELDS,
    PARAM_FIELDS,
    load_preset,
    load_toml,
    load_topology,
    parse_topology_string,
    preset_names,
    tomllib,
    topology_from_dict,
    topology_from_toml_text,
)
from ubemu.machine.topology import MAX_NPUS, Topology

SETTINGS = settings()  # the profile chosen in conftest.py

VALID_STRINGS = [
    "full_mesh:8,full_mesh:8,switch:16@224GBps/1us:planes=7:oversub=2",
    "torus:4x4x4@50GBps",
    "ring:8@1.8TBps/150ns:links=2:name=row",
    "full_mesh:4:trunk,switch:3@400Gbps/2us:trunk:oversub=1.5",
]
VALID_TOML = """name = "t"
description = "d"
[params]
overhead_ns = 1000
hop_lat_ns = 5
reduce_GBps = 800
efficiency = 0.9
[[level]]
name = "board"
fabric = "full_mesh"
size = 8
bw_GBps = 56
lat_ns = 150
[[level]]
fabric = "switch"
size = 16
bw = "224GBps"
lat = "1us"
planes = 7
oversub = 2
"""
ALPHABET = ":,@/=x.-_ 0123456789abcdefghijklmnopqrstuvwxyzGBTMKpsnu\"[]{}#\n\t\\'+"
TYPOS = ["fabrik", "sizes", "bw_gbps", "lat", "link", "plane", "over_sub", "trunks", "Name",
         "levels", "param", "torus", "mesh", "rign", "swich", "full-mesh", ""]

weird_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(alphabet=ALPHABET, max_size=12), st.booleans(), st.none(),
    st.sampled_from(["8", "4x4", "56GBps", "1us", "full_mesh", "ring", "switch", "torus", "0",
                     "-3", "1e400", "nan", "inf", "2.5", "1.8TBps", "x", "4x0x2"]),
    st.lists(st.integers(min_value=-2, max_value=300), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
level_dicts = st.dictionaries(st.sampled_from(LEVEL_FIELDS + tuple(TYPOS)), weird_values,
                              max_size=8)
sane_level = st.fixed_dictionaries(
    {"fabric": st.sampled_from(["full_mesh", "ring", "switch", "torus", "rign", 3]),
     "size": st.one_of(st.integers(min_value=-2, max_value=5000), st.sampled_from(["4x4", "0"]))},
    optional={k: weird_values for k in ("bw_GBps", "lat_ns", "links", "planes", "oversub",
                                        "trunk", "name", "bw", "lat")})
top_dicts = st.fixed_dictionaries(
    {}, optional={"name": weird_values, "description": weird_values,
                  "level": st.one_of(st.lists(st.one_of(level_dicts, sane_level), max_size=5),
                                     weird_values),
                  "params": st.one_of(st.dictionaries(
                      st.sampled_from(PARAM_FIELDS + ("overhead", "eff")), weird_values,
                      max_size=4), weird_values),
                  "levels": weird_values})


@st.composite
def mutated(draw, texts):
    """A valid text with a few random insertions, deletions and replacements."""
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup"]))
        piece = draw(st.one_of(st.text(alphabet=ALPHABET, min_size=1, max_size=4),
                               st.sampled_from(TYPOS + ["99999999", "-1", "0", "1e400"])))
        if op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + len(piece):]
        elif op == "replace":
            text = text[:i] + piece + text[i + len(piece):]
        else:
            text = text + "," + text[:i]
    return text


@st.composite
def perturbed(draw):
    """The valid TOML's data with one or two fields deleted, retyped or misspelt."""
    data = tomllib.loads(VALID_TOML)
    for _ in range(draw(st.integers(1, 2))):
        levels = data.get("level") if isinstance(data.get("level"), list) else []
        tables = [t for t in [data, data.get("params"), *levels] if isinstance(t, dict)]
        table = draw(st.sampled_from(tables))
        key = draw(st.sampled_from(sorted(table) + TYPOS))
        op = draw(st.sampled_from(["delete", "set", "rename"]))
        if op == "delete":
            table.pop(key, None)
        elif op == "set":
            table[key] = draw(weird_values)
        elif key in table:
            table[draw(st.sampled_from(TYPOS))] = table.pop(key)
    return data


def _only_ubemu_error(fn, *args):
    try:
        topo = fn(*args)
    except UbemuError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"error message not one line: {msg!r}"
        return None
    assert isinstance(topo, Topology)
    assert 1 <= topo.n_npus <= MAX_NPUS
    assert all(math.isfinite(lv.bw_GBps) and lv.bw_GBps > 0 for lv in topo.levels)
    # what parsed must read back identically from its own string form
    assert parse_topology_string(",".join(topo.describe_levels())).levels == topo.levels
    return topo


@SETTINGS
@given(st.one_of(st.text(max_size=60), st.text(alphabet=ALPHABET, max_size=60),
                 mutated(VALID_STRINGS)))
@example("switch:16:planes=999999997:links=123456789")  # large ints once read back as '1e+09'
@example("0:/\n0")  # a newline in the latency once slipped past the pattern
def test_string_form_raises_only_ubemu_error(text):
    _only_ubemu_error(parse_topology_string, text)
    _only_ubemu_error(load_topology, text)


@SETTINGS
@given(st.one_of(mutated([VALID_TOML]), st.text(alphabet=ALPHABET, max_size=200)))
def test_toml_text_raises_only_ubemu_error(text):
    _only_ubemu_error(topology_from_toml_text, text, "fuzz.toml")


@SETTINGS
@given(st.one_of(top_dicts, weird_values, perturbed()))
def test_dicts_raise_only_ubemu_error(data):
    _only_ubemu_error(topology_from_dict, data, "fuzz")


@SETTINGS
@given(st.lists(st.integers(min_value=-3, max_value=2**40), min_size=1, max_size=6),
       st.sampled_from(["full_mesh", "ring", "switch", "torus"]))
def test_sizes_in_and_out_of_range(sizes, kind):
    text = ",".join(f"{kind}:{s}" for s in sizes)
    topo = _only_ubemu_error(parse_topology_string, text)
    n = math.prod(sizes)
    assert (topo is not None) == (min(sizes) >= 1 and n <= MAX_NPUS)


def test_valid_inputs_parse():
    for text in VALID_STRINGS:
        assert _only_ubemu_error(parse_topology_string, text) is not None
    topo = topology_from_toml_text(VALID_TOML, "valid.toml")
    assert topo.n_npus == 128 and topo.params.efficiency == 0.9
    assert topo.levels[1].link_GBps == 224 * 7 and topo.levels[1].lat_ns == 1000


def _error(fn, *args):
    with pytest.raises(UbemuError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_messages_name_the_field_and_the_choices():
    msg = _error(parse_topology_string, "full_mesh:8,rign:4")
    assert "level 1" in msg and "fabric 'rign'" in msg and "full_mesh, ring, switch, torus" in msg
    msg = _error(parse_topology_string, "ring:8:lnks=2")
    assert "option 'lnks'" in msg
    assert "links, planes, oversub, trunk, access, access_lat, name" in msg
    msg = _error(parse_topology_string, "ring:0")
    assert "size must be an integer >= 1" in msg
    msg = _error(parse_topology_string, "ring:8@56GBs")
    assert "bandwidth '56GBs'" in msg and "GBps" in msg and "Gbps" in msg
    msg = _error(parse_topology_string, "ring:8/5parsecs")
    assert "latency '5parsecs'" in msg and "ns, us, ms" in msg
    msg = _error(parse_topology_string, "full_mesh:8:planes=2")
    assert "planes and oversub apply to fabric 'switch' only" in msg
    msg = _error(parse_topology_string, "switch:4096,switch:4096,switch:2")
    assert "33,554,432 NPUs" in msg and "1..16,777,216" in msg
    msg = _error(parse_topology_string, "ring:8:name=a,b")
    assert "level 1" in msg and "KIND one of full_mesh, ring, switch, torus" in msg
    msg = _error(topology_from_dict, {"levels": []}, "x.toml")
    assert "x.toml" in msg and "top-level field 'levels'" in msg and "level" in msg
    msg = _error(topology_from_dict, {"level": [{"fabric": "ring", "size": 4, "bw_gbps": 5}]},
                 "x.toml")
    assert "level 0" in msg and "field 'bw_gbps'" in msg and "bw_GBps" in msg
    msg = _error(topology_from_dict, {"level": [{"fabric": "ring", "size": 4}],
                                      "params": {"eff": 1}}, "x.toml")
    assert "params field 'eff'" in msg and "efficiency" in msg
    msg = _error(topology_from_dict, {"level": [{"fabric": "ring", "size": 4}],
                                      "params": {"efficiency": 1.5}}, "x.toml")
    assert "efficiency must be > 0 and <= 1" in msg
    msg = _error(topology_from_dict, {"level": [{"size": 4}]}, "x.toml")
    assert "missing field 'fabric'" in msg and "full_mesh, ring, switch, torus" in msg
    msg = _error(topology_from_dict, {"level": [{"fabric": "ring", "size": 4, "trunk": "yes"}]},
                 "x.toml")
    assert "trunk must be true or false" in msg
    msg = _error(load_preset, "ub-mesh-rak")
    assert "preset 'ub-mesh-rak'" in msg and "ub-mesh-rack" in msg
    msg = _error(load_topology, "ub-mesh-rak")
    assert "unknown topology 'ub-mesh-rak'" in msg and "ub-mesh-rack" in msg
    msg = _error(topology_from_toml_text, "[[level]\nfabric=", "bad.toml")
    assert msg.startswith("bad.toml: not valid TOML")


def test_files(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(VALID_TOML.replace('name = "t"\n', ""))
    topo = load_topology(str(path))
    assert topo.name == "mine" and topo.n_npus == 128
    assert "cannot read topology file" in _error(load_toml, tmp_path / "missing.toml")
    (tmp_path / "dir.toml").mkdir()
    assert "cannot read topology file" in _error(load_topology, str(tmp_path / "dir.toml"))
    assert "unknown topology" in _error(load_topology, str(tmp_path))
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    assert "cannot read topology file" in _error(load_toml, tmp_path / "bin.toml")
    assert "cannot read" in _error(load_topology, "a\0b.toml")


def test_preset_names_are_sorted_and_load():
    names = preset_names()
    assert names == sorted(names) and "ub-mesh-rack" in names


def test_misspelt_preset_suggests_the_closest():
    msg = _error(load_preset, "ub-mesh-rak")
    assert msg.startswith("unknown preset 'ub-mesh-rak'; did you mean 'ub-mesh-rack'? valid: ")
    msg = _error(load_topology, "ub-mesh-rak")
    assert msg.startswith("unknown topology 'ub-mesh-rak'; did you mean 'ub-mesh-rack'? valid:")
    assert "did you mean" not in _error(load_topology, "zzzz")


@pytest.mark.parametrize("text, level, name", [
    ("ring:4:name=a,ring:2:name=a", 1, "a"),
    ("full_mesh:2:name=x,ring:2,switch:2:name=x", 2, "x"),
    ("torus:2x2:name=t,torus:2:name=t", 1, "t.0"),  # a torus names its rings t.0, t.1, ...
])
def test_duplicate_level_names_in_a_string_are_refused(text, level, name):
    msg = _error(parse_topology_string, text)
    assert f"level {level}: duplicate level name {name!r}" in msg


def test_duplicate_level_names_in_toml_are_refused():
    text = ('[[level]]\nfabric = "ring"\nsize = 2\nname = "rack"\n'
            '[[level]]\nfabric = "switch"\nsize = 2\nname = "rack"\n')
    msg = _error(topology_from_toml_text, text, "dup.toml")
    assert msg == ("dup.toml: level 1: duplicate level name 'rack' (level 0 has it too); "
                   "level names must differ")
    # unnamed levels, and distinct names, are fine; unnamed tori number their rings on
    assert parse_topology_string("ring:2,ring:2,ring:2:name=a").n_npus == 8
    tori = parse_topology_string("torus:2x2,torus:3")
    assert [lv.name for lv in tori.levels] == ["torus.0", "torus.1", "torus.2"]


def test_with_npus_resizes_the_outermost_level():
    from ubemu.machine.spec import with_npus

    t = load_topology("dgx-h100-multinode")
    big = with_npus(t, 8192)
    assert big.n_npus == 8192 and big.levels[1].size == 1024 and big.name == \
        "dgx-h100-multinode*1024"
    assert big.levels[0] == t.levels[0] and big.npu == t.npu and big.params == t.params
    assert with_npus(t, 128) is t
    with pytest.raises(UbemuError, match="8,196 NPUs is not a whole number .* of 8 NPUs"):
        with_npus(t, 8196)
    with pytest.raises(UbemuError, match="--npus: must be an integer >= 1"):
        with_npus(t, 0)


def test_in_network_and_per_level_fields_parse_and_print_back():
    from ubemu.machine.spec import parse_topology_string

    text = ("switch:8@25GBps/1us:links=18:efficiency=0.8:innet_efficiency=0.6:"
            "innet_lat_ns=20000:ll_bw_factor=0.5,switch:4@50GBps/2us:ll128_bw_factor=0.2")
    t = parse_topology_string(text)
    lv = t.levels[0]
    assert (lv.efficiency, lv.innet_efficiency, lv.innet_lat_ns, lv.ll_bw_factor) == (
        0.8, 0.6, 20000.0, 0.5)
    assert lv.reduces and not t.levels[1].reduces
    assert parse_topology_string(",".join(x.spec for x in t.levels)).levels == t.levels
    assert t.class_efficiency().tolist() == [0.8, 0.8, 1.0, 1.0]


@pytest.mark.parametrize("text, match", [
    ("switch:8:efficiency=1.5", "efficiency must be >= 0 and <= 1"),
    ("ring:8:innet_efficiency=0.5", "innet_efficiency applies to non-trunk switch levels"),
    ("switch:8:innet_lat_ns=10", "innet_lat_ns applies to a level with innet_efficiency"),
    ("switch:8:ll_bw_factor=2", "ll_bw_factor must be >= 0 and <= 1"),
])
def test_bad_in_network_fields_are_one_line(text, match):
    from ubemu.machine.spec import parse_topology_string

    with pytest.raises(UbemuError, match=match):
        parse_topology_string(text)


def test_library_and_protocol_params():
    from ubemu.algorithms.libraries import LIBRARIES
    from ubemu.machine.spec import LIBRARIES as NAMES
    from ubemu.machine.spec import topology_from_toml_text

    assert set(NAMES) == set(LIBRARIES)
    base = '[[level]]\nfabric = "switch"\nsize = 4\n'
    assert topology_from_toml_text('library = "nccl"\n' + base).library == "nccl"
    with pytest.raises(UbemuError, match="library 'mpi'.*valid: nccl"):
        topology_from_toml_text('library = "mpi"\n' + base)
    with pytest.raises(UbemuError, match="channels must be an integer >= 1"):
        topology_from_toml_text("[params]\nchannels = 2.5\n" + base)
    with pytest.raises(UbemuError, match="ll_sw_factor must be >= 0 and <= 1"):
        topology_from_toml_text("[params]\nll_sw_factor = 3\n" + base)
