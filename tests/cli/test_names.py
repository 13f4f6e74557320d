"""``ubemu.cli.names.parse_names``: the one parser of --algo, -d, -o and --per-level lists."""

import pytest

from ubemu.cli.names import parse_names
from ubemu.data.dtypes import ALIASES, DTYPES, OPS
from ubemu.errors import UbemuError

ALGOS = ["auto", "direct", "ring", "ring_bidir"]


def dtypes(text):
    return parse_names(text, list(DTYPES), "-d", "datatype", aliases=ALIASES, all_word="all",
                       fold_case=True)


def test_names_in_order_without_repeats():
    assert parse_names("ring, direct,ring", ALGOS, "--algo", "algorithm") == ["ring", "direct"]
    assert parse_names("ring,ring", ALGOS, "--per-level", "x", unique=False) == ["ring", "ring"]


def test_aliases_case_and_all():
    assert dtypes("float") == ["float32"]
    assert dtypes("double,half,int,bfloat16") == ["float64", "float16", "int32", "bfloat16"]
    assert dtypes("BF16,Float32") == ["bfloat16", "float32"]
    assert dtypes("all") == list(DTYPES)
    assert parse_names("all", list(OPS), "-o", "op", all_word="all") == list(OPS)


@pytest.mark.parametrize("text, message", [
    ("rign", "unknown algorithm (--algo) 'rign'; did you mean 'ring'? valid: auto, direct, "
             "ring, ring_bidir"),
    ("ring,,direct", "--algo: empty name in 'ring,,direct'; give names separated by commas"),
    ("", "--algo: empty name in ''; give names separated by commas"),
    ("all", "unknown algorithm (--algo) 'all'; valid: auto, direct, ring, ring_bidir"),
])
def test_unknown_names_name_the_flag_and_the_choices(text, message):
    with pytest.raises(UbemuError) as info:
        parse_names(text, ALGOS, "--algo", "algorithm")
    assert str(info.value) == message


def test_valid_list_of_dtypes_shows_aliases_and_all():
    with pytest.raises(UbemuError) as info:
        dtypes("float8")
    msg = str(info.value)
    assert msg.startswith("unknown datatype (-d) 'float8'; did you mean 'float'? valid: float64")
    assert msg.endswith("bf16, int, all")
