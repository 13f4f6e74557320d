"""NumPy's huge-page advice off for the command line (ubemu.cli.pages), unless the environment
says otherwise."""

import numpy as np
import pytest

from ubemu.cli.pages import small_pages

multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray


@pytest.fixture
def advice():
    """NumPy's advice as it was, restored after the test."""
    was = multiarray._get_madvise_hugepage()
    yield
    multiarray._set_madvise_hugepage(was)


def test_the_advice_is_turned_off(advice, monkeypatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    multiarray._set_madvise_hugepage(True)
    assert small_pages() and not multiarray._get_madvise_hugepage()


@pytest.mark.parametrize("value, off", [("1", False), ("0", True)])
def test_numpys_own_switch_decides_when_set(advice, monkeypatch, value, off):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", value)
    multiarray._set_madvise_hugepage(True)
    assert small_pages() is off and multiarray._get_madvise_hugepage()  # left as it was
