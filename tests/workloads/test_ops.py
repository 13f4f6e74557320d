"""Workload operations from TOML tables (ubemu.workloads.ops)."""

import pytest

from ubemu.errors import UbemuError
from ubemu.workloads.ops import Op, check_ops, ops_from_dicts


def test_tables_become_operations_with_units():
    (op,) = ops_from_dicts([{"name": "dp", "collective": "reduce_scatter", "nbytes": "64M",
                             "group": "one_per=board", "every": True, "at": "10us",
                             "gap": 0.5, "after": "tp", "repeat": 3, "dtype": "bfloat16"}])
    assert op == Op("dp", "reduce_scatter", 64 * 2**20, group="one_per=board", every=True,
                    dtype="bfloat16", at_s=1e-5, after=("tp",), gap_s=0.5, repeat=3)


def test_dependencies_come_first():
    ops = [Op("c", "compute", after=("b",), duration_s=1.0), Op("a", "compute", duration_s=0),
           Op("b", "compute", after=("a",), duration_s=2.0)]
    assert [op.name for op in check_ops(ops)] == ["a", "b", "c"]


def test_a_compute_operation_needs_a_duration_and_only_it_takes_one():
    with pytest.raises(UbemuError, match=r"^step.toml: op 'fwd': a compute operation needs a "
                                         r"duration \(for example duration = \"2ms\"\)$"):
        ops_from_dicts([{"name": "fwd", "collective": "compute"}], "step.toml")
    with pytest.raises(UbemuError, match="op 'fwd': a compute operation needs a duration"):
        check_ops([Op("fwd", "compute")])
    with pytest.raises(UbemuError, match="op 'tp': duration is for compute operations"):
        check_ops(ops_from_dicts([{"name": "tp", "collective": "all_reduce", "nbytes": 8,
                                   "duration": "1ms"}]))
    (op,) = check_ops(ops_from_dicts([{"name": "sync", "collective": "compute",
                                       "duration": 0}]))
    assert op.duration_s == 0.0


@pytest.mark.parametrize("table, match", [
    ({"name": "a", "collective": "all_reduce", "every": "yes"}, "every must be true or false"),
    ({"name": "a", "collective": "all_reduce", "after": [1]}, "after must be a list"),
    ({"name": "a", "collective": "all_reduce", "options": 3}, "options must be a table"),
    ({"name": "a", "collective": "all_reduce", "at": -1}, "at must be a time >= 0"),
    ({"name": "a", "collective": "all_reduce", "nbytes": "1Q"}, "cannot parse size"),
])
def test_bad_tables_name_the_operation_and_the_field(table, match):
    with pytest.raises(UbemuError, match=match) as info:
        ops_from_dicts([table])
    assert "op 'a'" in str(info.value)
