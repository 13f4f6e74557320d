"""The kernels' compile policy (kernels/_jit.py): cached under a digest of every kernel source,
so a change to one file never leaves another's cached code (which compiled it in) stale."""

import hashlib
from pathlib import Path

import numba
import ubemu.kernels
from ubemu.kernels import _jit


def test_the_cache_is_named_by_every_kernel_source():
    here = Path(ubemu.kernels.__file__).resolve().parent
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(here.glob("*.py"))))
    assert numba.config.CACHE_DIR == _jit.cache_dir()
    assert Path(numba.config.CACHE_DIR).name == f"numba-{digest.hexdigest()[:12]}"
