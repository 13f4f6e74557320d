"""Point-to-point sends: nccl-tests' ``sendrecv`` (a ring shift) and a pipeline's chain.

nccl-tests' ``sendrecv_perf`` has every rank ``r`` call ``ncclSend`` to ``r+1`` and
``ncclRecv`` from ``r-1`` in one group (``src/sendrecv.cu``): all ``n`` messages are in
flight at once, each rank sending and receiving ``S`` bytes; the bus bandwidth is the
algbw. With ``chain=True`` the last rank sends nothing: a pipeline's stage-to-stage send
(the ``sendrecv`` operation of workloads and ``ubemu plan``), timing only.
"""

from ..errors import UbemuError
from ..schedule import Schedule
from .base import register
from .flat import make_step


def _cost(model, count, itemsize, chain=False):
    from ..timing.costmodel import NoClosedForm

    if chain:
        raise NoClosedForm("sendrecv chain=1: the last rank sends nothing (not a shift)")
    return model.step([(model.flat_axis(), 1, count * itemsize)])


@register("sendrecv", "direct", "every rank sends its buffer to rank r+1 at once: 1 step",
          local_ok=True, cost=_cost)
def sendrecv_direct(comm, count, data=True, chain=False):
    """Ring shift: 1 step, every rank sends ``S`` bytes to ``r+1`` (``n = 1``: a local
    copy); ``chain=True`` drops the send of rank ``n-1`` (timing only)."""
    n = comm.n
    if chain and data:
        raise UbemuError("sendrecv chain=1 (a pipeline's sends) is timing only: rank 0 "
                         "receives nothing to check")
    src = comm.senders
    if chain:
        src = src[src < n - 1]
    n_steps = int(n > 1 or not chain)
    step = make_step(src, (src + 1) % max(n, 1), count, 0, count, False, data)
    return Schedule("sendrecv", "direct", n, count, None, lambda: iter([step] * n_steps),
                    n_steps, data=data, notes={"chain": True} if chain else {})
