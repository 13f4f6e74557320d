"""Operations in flight together: each timed alone, then played on one clock sharing links.

Owns :mod:`.ops` (an operation: a collective, a pipeline send or compute, on one group or
every group of a kind), :mod:`.profile` (one operation timed alone, unit by unit),
:mod:`.cache` (profiles kept, and shared by a sweep's workloads), :mod:`.sharing` (max-min
fair rates over shared links), :mod:`.intervals` (time covered by a set of intervals) and
:mod:`.run` (:func:`~.run.run_workload`). May import the engine and
everything below it; the training planner and the API import it.
"""
