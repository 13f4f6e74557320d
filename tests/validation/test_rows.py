"""Measurement files: every shipped one parses, and bad files end in one line naming it."""

import pytest

from ubemu.errors import UbemuError
from ubemu.validation import rows

HEADER = ",".join(rows.COLUMNS)


def write(tmp_path, *lines, header=HEADER):
    path = tmp_path / "m.csv"
    path.write_text("\n".join((header, *lines)) + "\n")
    return path


def test_every_shipped_file_parses_with_unique_ids_and_a_source():
    found = rows.read_all(rows.default_files())
    assert len(found) >= 14
    assert len({r.id for r in found}) == len(found)
    assert all(r.source_url.startswith("http") and r.published > 0 for r in found)


def test_a_row_with_settings(tmp_path):
    path = write(tmp_path, 'x1,sys,all_reduce,ring-8,,1024,busbw_GBps,3.5,'
                           '"algorithm=ring; NCCL_ALGO=Ring",fit,t,https://e.org/t')
    (row,) = rows.read_rows(path)
    assert (row.size_B, row.published, row.role) == (1024, 3.5, "fit")
    assert row.settings == {"algorithm": "ring", "NCCL_ALGO": "Ring"}
    assert row.path == str(path)


@pytest.mark.parametrize("line, match", [
    ("x,s,all_reduce,ring-8,,1K,busbw_GBps,3,,fit,t,u", r"m.csv:2: column 'size_B': '1K'"),
    ("x,s,all_reduce,ring-8,,1024,busbw_GBps,fast,,fit,t,u", r"m.csv:2: column 'published'"),
    ("x,s,all_reduce,ring-8,,1024,busbw_GBps,3,,train,t,u", r"m.csv:2: role 'train'; valid"),
    ("x,s,all_reduce,ring-8,,1024,busbw_GBps,3,algorithm,fit,t,u", r"'algorithm' is not key"),
])
def test_a_bad_row_names_its_line(tmp_path, line, match):
    with pytest.raises(UbemuError, match=match):
        rows.read_rows(write(tmp_path, line))


def test_missing_columns_and_duplicate_ids(tmp_path):
    with pytest.raises(UbemuError, match="missing columns role"):
        rows.read_rows(write(tmp_path, header=HEADER.replace(",role", "")))
    path = write(tmp_path, "x,s,all_reduce,ring-8,,8,time_us,3,,fit,t,u")
    with pytest.raises(UbemuError, match="id 'x' is also in"):
        rows.read_all([path, path])
