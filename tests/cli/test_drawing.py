"""Shared figure helpers: size labels, and matplotlib refused in one line when missing."""

import sys

import pytest

from ubemu.cli import drawing
from ubemu.errors import UbemuError


def test_sizes_in_powers_of_1024():
    assert [drawing.size_label(n) for n in (8, 1024, 1536, 4 << 20, 1 << 30, 1000000)] == [
        "8 B", "1 KiB", "1.5 KiB", "4 MiB", "1 GiB", "976.6 KiB"]


def test_missing_matplotlib_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UbemuError, match=r"pip install 'ubemu\[plot\]'"):
        drawing.pyplot()
