"""The golden suite (``tests/golden_cases.py``): every case's result is the recorded one."""

import json

import pytest

from tests.golden_cases import DATA, cases, key, run

GOLDEN = json.loads(DATA.read_text())
CASES = cases()


def test_every_case_is_recorded():
    assert sorted(map(key, CASES)) == sorted(GOLDEN)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['collective']}-{c['algorithm']}-{c['topology']}"
                                             f"-{c['group']}-{c['nbytes']}-{c['dtype']}"
                                             for c in CASES])
def test_result_identical(case):
    assert run(case) == GOLDEN[key(case)]
