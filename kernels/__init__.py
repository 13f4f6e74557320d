"""Numba kernels of ubemu, installed as ``ubemu.kernels``.

Kernels only loop: validation and allocation live in their Python callers in ``ubemu``.
Decorators come from :mod:`._jit`; every integer code both sides share from :mod:`.codes`.
"""
