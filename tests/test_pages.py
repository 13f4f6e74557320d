"""NumPy's huge-page advice off once ubemu is imported, freed memory kept by the command line's
allocator (ubemu.pages), unless the environment says otherwise."""

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from ubemu.pages import keep_freed_memory, small_pages

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
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = value
    code = ("import numpy as np; m = np._core.multiarray if hasattr(np, '_core') else "
            "np.core.multiarray; m._set_madvise_hugepage(True); import ubemu; "
            "print(m._get_madvise_hugepage())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [str(advised)]


FAULTS = """
import resource, sys
import numpy as np
from ubemu.pages import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
a = np.ones(3 << 20)  # 24 MiB
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(3 << 20)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_kept_for_the_next_array():
    """A freed 24 MiB array's pages serve the next one: no page faults the second time (by
    default glibc hands them back and faults them in again)."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    pages = (24 << 20) // resource.getpagesize()
    said = {how: subprocess.run([sys.executable, "-c", FAULTS, how], env=env, text=True,
                                capture_output=True, timeout=120, check=True).stdout.split()
            for how in ("keep", "default")}
    assert said["keep"][0] == "True" and int(said["keep"][1]) < pages // 10
    assert int(said["default"][1]) > pages // 2


def test_glibcs_own_switch_decides_when_set(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert not keep_freed_memory()
