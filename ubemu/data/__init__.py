"""The data plane: real values moved through a schedule, and the check of the result.

Owns :mod:`.dtypes` (element types, bfloat16 as bit patterns, reduction ops),
:mod:`.layout` (inputs into the working buffer and outputs out of it), :mod:`.plane`
(applying steps with the execute kernel and the cross-process exchange), :mod:`.check`
(inputs, the independent reference and ``#wrong``) and :mod:`.memory` (the memory preflight).
May import the algorithms, the timing model, the machine, ``parallel``, the shared records
and the kernels.
"""
