"""ubemu against published measurements of real machines.

Owns :mod:`.rows` (the measurement files of ``docs/data/``: one CSV per source, each row a
measured figure with its system, its settings and whether it was used to fit the presets'
parameters), :mod:`.kinds` (the registry that turns a row into ubemu's figure for it: one
function per kind of measurement: the collectives there, ``train_step`` in :mod:`.training`,
MoE dispatch and combine in :mod:`.moe`) and :mod:`.report` (the comparison, ratio per row,
median and worst per system). May import the API, the training planner and everything below
them; only the command line (``ubemu validate``, ``make validate``) imports it. Importing
the package fills the registry.
"""

from . import moe, training  # noqa: F401  (register moe_dispatch, moe_combine, train_step)
