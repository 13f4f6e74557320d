"""NumPy's huge-page advice off once ubemu is imported (ubemu.pages), unless the environment
says otherwise."""

import numpy as np
import pytest

from ubemu.pages import small_pages

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


@pytest.mark.parametrize("value, advised", [(None, False), ("1", True)])
def test_importing_ubemu_turns_the_advice_off(value, advised):
    """In a fresh process, as a script importing ubemu has it."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = value
    code = ("import numpy as np; m = np._core.multiarray if hasattr(np, '_core') else "
            "np.core.multiarray; m._set_madvise_hugepage(True); import ubemu; "
            "print(m._get_madvise_hugepage())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [str(advised)]
