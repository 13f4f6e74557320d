"""MoE dispatch and combine rows (``moe_dispatch``, ``moe_combine``): an alltoallv of top-k
routing, timed by :func:`ubemu.simulate`.

DeepEP-style kernels report a rank's routed copies over the kernel's time:
``size_B = tokens x topk x row_B`` (every copy, the rank's own included) and ``algbw = size_B
/ time``, which is :attr:`ubemu.result.Result.algbw_GBps` of the alltoallv whose traffic is the
routing (:mod:`ubemu.traffic`): dispatch sends each token's row to the ranks of its experts,
combine sends every copy back (the transpose). Settings (lower case, checked): ``tokens``
(per rank), ``experts``, ``topk``, ``row_B`` (bytes per routed copy: the hidden size times the
element size, plus scales), ``seed`` (default 0), ``skew`` (0), ``algorithm`` (``direct``, the
kernels' one-shot exchange) and ``dtype`` (``bfloat16``; its size must divide ``row_B``).
"""

from ..errors import UbemuError
from .kinds import COLLECTIVE_METRICS, inputs, metric, register

KNOWN = ("tokens", "experts", "topk", "row_B", "seed", "skew", "algorithm", "dtype")


def _int(row, given, key, default=None):
    value = given.get(key, default)
    if value is None:
        raise UbemuError(f"{row.id}: settings need {key}= (the {row.kind} row's "
                         f"{'routing' if key != 'row_B' else 'bytes per routed copy'})")
    try:
        return int(value)
    except ValueError:
        raise UbemuError(f"{row.id}: settings {key}={value!r} is not an integer") from None


@register("moe_dispatch", "moe_combine")
def moe_figure(row):
    """The row's dispatch or combine as an alltoallv of its MoE routing."""
    from ..api import simulate
    from ..data.dtypes import get_dtype

    given = inputs(row, KNOWN)
    tokens, experts, topk, row_B = (_int(row, given, k) for k in ("tokens", "experts",
                                                                    "topk", "row_B"))
    if tokens * topk * row_B != row.size_B:
        raise UbemuError(f"{row.id}: size_B {row.size_B} is not tokens x topk x row_B = "
                         f"{tokens * topk * row_B}")
    dtype = given.get("dtype", "bfloat16")
    if row_B % get_dtype(dtype).itemsize:
        raise UbemuError(f"{row.id}: row_B={row_B} is not a whole number of {dtype} elements")
    traffic = (f"moe:tokens={tokens},experts={experts},topk={topk},"
               f"seed={_int(row, given, 'seed', 0)},skew={float(given.get('skew', 0))}"
               + (",combine" if row.kind == "moe_combine" else ""))
    algorithm = given.get("algorithm", "direct")
    res = simulate("alltoallv", row.size_B, row.topo, algorithm, dtype=dtype,
                   group=row.group or None, traffic=traffic)
    return metric(row, COLLECTIVE_METRICS)(res), f"{res.algorithm}, {res.bottleneck}"
