"""Numba kernels of ubemu, installed as ``ubemu.kernels``.

Each module pairs a private ``_kernel`` that only loops with nothing else; validation and
allocation live in the Python callers in ``ubemu``. Decorators come from :mod:`._jit`.
"""
