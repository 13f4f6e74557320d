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
    ops = [Op("c", "compute", after=("b",)), Op("a", "compute"), Op("b", "compute",
                                                                    after=("a",))]
    assert [op.name for op in check_ops(ops)] == ["a", "b", "c"]


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
