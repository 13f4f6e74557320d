"""The timing model: a step's transfers routed onto links and turned into time.

Owns :mod:`.timer` (the step timer and its rule: the busiest link, path latency, message
costs, per-step overhead), its shortcuts (:mod:`.patterns` repeated patterns, :mod:`.shifts`
compact rings, :mod:`.replicas` one replica per shape, :mod:`.symmetry` all-pairs steps on
interchangeable NPUs) and the closed forms' per-level constants (:mod:`.costmodel`). May
import the machine, the shared records and the kernels; the algorithms import it, never the
other way.
"""
