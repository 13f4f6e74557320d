"""``ubemu validate``: a row per measurement as it is computed, the summary, the exit status."""

import json

from tests.cli_helpers import assert_one_error_line, run_main
from ubemu.validation.rows import COLUMNS


def measurements(tmp_path, published=(10.0, 1000.0)):
    path = tmp_path / "m.csv"
    lines = [",".join(COLUMNS)]
    for i, value in enumerate(published):
        lines.append(f"r{i},ring of 8,all_reduce,ring:8@50GBps/1us,,{1 << (10 + 10 * i)},"
                     f"time_us,{value},algorithm=ring,{'fit' if i else 'validate'},t,u")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rows_summary_and_json(tmp_path, capsys):
    out = tmp_path / "v.json"
    code, text, _ = run_main(["validate", str(measurements(tmp_path)), "-J", str(out)], capsys)
    assert code == 0
    rows = [line.split() for line in text.splitlines() if line.startswith("r")]
    assert [r[0] for r in rows] == ["r0", "r1"] and all(r[-1] == "ring" for r in rows)
    assert "# ring of 8 (validate): 1 rows" in text and "# ring of 8 (fit): 1 rows" in text
    doc = json.loads(out.read_text())
    assert [r["id"] for r in doc["rows"]] == ["r0", "r1"]
    assert doc["rows"][0]["ratio"] == doc["rows"][0]["ubemu"] / 10.0


def test_role_and_max_error(tmp_path, capsys):
    code, text, _ = run_main(["validate", str(measurements(tmp_path)), "--role", "fit"], capsys)
    assert code == 0 and "r0" not in text.split("#")[-1]
    code, text, _ = run_main(["validate", str(measurements(tmp_path, (1e-9, 1e9))),
                              "--max-error", "0.1"], capsys)
    assert code == 1 and "2 rows further than 10% from the measurement: r0, r1" in text


def test_bad_input_is_one_line(tmp_path, capsys):
    for argv, text in ((["validate", str(tmp_path / "none.csv")], "cannot read"),
                       (["validate", str(measurements(tmp_path)), "--max-error", "0"],
                        "--max-error must be a fraction > 0")):
        status, out, err = run_main(argv, capsys)
        assert_one_error_line(status, out, err)
        assert text in err
