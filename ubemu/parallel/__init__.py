"""Spreading one emulation over MPI processes: the only subpackage of ubemu that imports mpi4py.

- :mod:`.env`: what the launcher says (world size, rank) without importing mpi4py;
- :mod:`.exchange`: the few collectives the engine needs, over MPI or within one process;
- :mod:`.block`: the contiguous block partition of ranks over processes;
- :mod:`.loads`: the timing plane's load-spreading strategy over processes;
- :mod:`.failstop`: one error line for the whole job, then every process ends.

``import ubemu.parallel`` imports none of mpi4py; :func:`.exchange.exchange` does, on first use
in a job of more than one process.
"""
