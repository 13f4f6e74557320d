"""The machine: topologies, their presets and specs, links, groups, communicators, faults.

Owns what the network *is*: :mod:`.topology` (levels, link classes, routing through the
kernels), :mod:`.spec` (string forms, TOML files and the shipped :mod:`.presets`),
:mod:`.links` (the implicit link-id scheme), :mod:`.linkmap` (a link id's physical sense),
:mod:`.groups` and :mod:`.comm` (process groups and the grid they form), :mod:`.faults` and
:mod:`.faultreport` (what failed, and what it costs). May import the shared records
(``errors``, ``units``, ``collectives``, ``schedule``, ``result``) and the kernels only.
"""
