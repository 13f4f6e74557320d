"""A ubemu command line whose rank 1 fails part-way (used by test_failstop.py).

``python -m mpi4py failstop_job.py KIND ARGS...``: KIND ``input`` raises a UbemuError,
``memory`` a MemoryError, on rank 1 only, at its second timed step; ARGS go to ``ubemu``.
"""

import sys

from ubemu import cli
from ubemu.errors import UbemuError
from ubemu.parallel import env
from ubemu.timing.timer import StepTimer

KIND = sys.argv[1]
_real = StepTimer.step_time
_calls = [0]


def _failing_step_time(self, *args, **kwargs):
    _calls[0] += 1
    if env.world_rank() == 1 and _calls[0] == 2:
        if KIND == "input":
            raise UbemuError("step 2: a bad value seen late on rank 1")
        raise MemoryError("rank 1 ran out of memory at step 2")
    return _real(self, *args, **kwargs)


StepTimer.step_time = _failing_step_time

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[2:]))
