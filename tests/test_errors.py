"""``ubemu.errors``: unknown names get one line with the closest valid ones suggested."""

import pytest

from ubemu.errors import UbemuError, choices_error, close_names, did_you_mean

PRESETS = ["atlas950-superpod", "ub-mesh-pod", "ub-mesh-rack", "ub-mesh-superpod"]


def test_one_clear_winner_is_suggested_alone():
    err = choices_error("preset", "ub-mesh-rak", PRESETS)
    assert isinstance(err, UbemuError)
    assert str(err) == ("unknown preset 'ub-mesh-rak'; did you mean 'ub-mesh-rack'? valid: "
                        "atlas950-superpod, ub-mesh-pod, ub-mesh-rack, ub-mesh-superpod")


def test_ties_are_all_suggested_and_far_names_never():
    assert close_names("float8", ["float64", "float32", "float16", "int32"]) == [
        "float16", "float32", "float64"]
    assert close_names("ring_bi", ["ring_bidir", "ring_bidi", "direct"]) == ["ring_bidi"]
    assert did_you_mean("zzz", PRESETS) == ""
    assert str(choices_error("fabric", "zzz", ["ring"], "x.toml: level 0")) == (
        "x.toml: level 0: unknown fabric 'zzz'; valid: ring")


@pytest.mark.parametrize("value", [3, None, "", "  ", ["ring"]])
def test_non_names_get_no_suggestion(value):
    assert close_names(value, ["ring", "3"]) == []
    assert "\n" not in str(choices_error("x", value, ["ring"]))


def test_case_is_ignored_when_matching():
    assert close_names("Name", ["name", "note"]) == ["name"]
    assert close_names("RING", ["ring"]) == ["ring"]
    assert close_names("ring", ["ring"]) == []  # the name itself is no suggestion


def test_cutoff():
    assert did_you_mean("--foo", ["--topo", "--root"], cutoff=0.75) == ""
    assert did_you_mean("--algos", ["--algo", "--op"], cutoff=0.75) == "did you mean '--algo'? "


def test_keywords_checked_names_an_unknown_keyword_and_the_valid_ones():
    from ubemu.errors import keywords_checked, unknown_keyword

    @keywords_checked
    def plan(model, plan, topology, flops_per_npu=None):
        return model, plan, topology, flops_per_npu

    assert plan("m", "p", topology="t") == ("m", "p", "t", None)
    with pytest.raises(UbemuError, match=r"^plan\(\): unknown keyword 'topolgy'; did you mean "
                                         r"'topology'\? valid: model, plan, topology, "
                                         r"flops_per_npu$"):
        plan("m", "p", topolgy="t")
    err = unknown_keyword("simulate", "perlevel", ["verify"], ["per_level"],
                          "all_reduce algorithm 'hierarchical'")
    assert str(err) == ("simulate(): unknown keyword 'perlevel'; did you mean 'per_level'? "
                        "valid: verify; options of all_reduce algorithm 'hierarchical': "
                        "per_level")
    assert str(unknown_keyword("f", "x", ["a"], [], "ring")).endswith("valid: a; ring takes "
                                                                      "no options")
