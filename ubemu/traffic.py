"""Per-pair sizes of an uneven all-to-all (``alltoallv``): given, read from a file, or drawn.

A *traffic spec* says how much each rank sends each other rank, up to scale:

- ``None`` or ``"uniform"``: the same to everyone (an all-to-all);
- a square array of weights (the API), or a file holding one (``.npy``, or text: ``.csv``,
  ``.txt``), rank ``i``'s row giving what it sends to each rank ``j``; the diagonal is what
  a rank keeps (a local copy);
- MoE top-k routing, :class:`MoE` (``"moe:tokens=4096,experts=256,topk=8,seed=1,skew=0.5"``;
  ``combine`` for the way back): every rank holds ``tokens`` tokens, each routed to ``topk``
  distinct experts of ``experts`` spread evenly over the ranks, expert ``e`` on rank
  ``e // (experts / n)``; the weight of ``(i, j)`` is the number of (token of rank ``i``,
  expert on rank ``j``) pairs. Each token draws its experts one by one from the experts'
  popularity, a repeat drawn again (top-k without replacement); ``skew`` s > 0 makes the
  popularity Zipf-like, ``(1 + r)^-s`` for the expert of rank ``r`` in a seeded random order
  of the experts (a few hot experts), 0 uniform. Combine sends every routed copy back: the
  transpose.

:func:`resolve` scales the weights to a collective of ``count`` elements per rank on
average (nccl-tests' all-to-all size: what a rank sends, its own block included): pair
``(i, j)`` gets ``floor(w_ij n count / sum w)`` elements, exact in integers, so a matrix of
byte counts whose total is ``n x count x itemsize`` is reproduced exactly, and MoE routing
with ``count = tokens x topk x row`` gives every routed copy one row of ``row`` elements.
"""

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from .errors import UbemuError, choices_error

#: Keys of the MoE spec string and their types.
MOE_FIELDS = {"tokens": int, "experts": int, "topk": int, "seed": int, "skew": float,
              "combine": bool}


@dataclass(frozen=True)
class MoE:
    """MoE top-k routing (module docstring): ``tokens`` per rank, ``experts`` in all."""

    tokens: int
    experts: int
    topk: int
    seed: int = 0
    skew: float = 0.0
    combine: bool = False

    def __post_init__(self):
        for key in ("tokens", "experts", "topk"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise UbemuError(f"traffic moe: {key} must be an integer >= 1, got {v!r}")
        if self.topk > self.experts:
            raise UbemuError(f"traffic moe: topk={self.topk} must be <= experts="
                             f"{self.experts}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed < 2**63:
            raise UbemuError(f"traffic moe: seed must be an integer in 0..2**63-1, got "
                             f"{self.seed!r}")
        if not (isinstance(self.skew, (int, float)) and math.isfinite(self.skew)
                and self.skew >= 0):
            raise UbemuError(f"traffic moe: skew must be a number >= 0, got {self.skew!r}")

    @property
    def label(self):
        s = (f"moe:tokens={self.tokens},experts={self.experts},topk={self.topk},"
             f"seed={self.seed}")
        s += f",skew={self.skew:g}" if self.skew else ""
        return s + (",combine" if self.combine else "")

    def popularity(self):
        """Each expert's share of the routing (sums to 1)."""
        if not self.skew:
            return np.full(self.experts, 1.0 / self.experts)
        order = np.random.default_rng([self.seed, 1]).permutation(self.experts)
        weight = (1.0 + np.arange(self.experts)) ** -float(self.skew)
        p = np.empty(self.experts)
        p[order] = weight
        return p / p.sum()


def parse_moe(text):
    """``"moe:tokens=4096,experts=256,topk=8,seed=1,skew=0.5,combine"`` -> :class:`MoE`."""
    body = text.split(":", 1)[1] if ":" in text else ""
    fields = {}
    for item in filter(None, (x.strip() for x in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if key not in MOE_FIELDS:
            raise choices_error("traffic moe field", key, list(MOE_FIELDS))
        kind = MOE_FIELDS[key]
        try:
            if kind is bool:
                if eq and value.strip() not in ("0", "1"):
                    raise ValueError
                fields[key] = not eq or value.strip() == "1"
            else:
                fields[key] = kind(value)
        except ValueError:
            raise UbemuError(f"traffic moe: {key}={value!r} is not a valid "
                             f"{'0 or 1' if kind is bool else kind.__name__}") from None
    missing = [k for k in ("tokens", "experts", "topk") if k not in fields]
    if missing:
        raise UbemuError(f"traffic {text!r}: missing {', '.join(missing)} (form: moe:tokens=T,"
                         f"experts=E,topk=K[,seed=S][,skew=X][,combine])")
    return MoE(**fields)


def _draw(cdf, seed, n_spare, out):
    """Fill ``out`` as :func:`.kernels.traffic.draw_experts` does from ``seed``'s stream
    (``out.size`` first numbers, then ``n_spare`` spares); return the spares used, or -1
    when they ran out. The NumPy twin serves (no Numba to import) unless a strong skew would
    make it slower, or ``UBEMU_KERNELS`` asks for one side (:mod:`.kernels.select`)."""
    from .kernels import numpy_traffic, select

    side = select.mode()
    if side != "numba":
        used = numpy_traffic.draw_experts(cdf, np.random.default_rng(seed), n_spare, out,
                                          None if side == "numpy" else numpy_traffic.BUDGET)
        if used is not None:
            return used
    from .kernels.traffic import draw_experts as draw

    rng = np.random.default_rng(seed)
    first = rng.random(out.shape)
    return draw(cdf, first, rng.random(n_spare), out)


def draw_experts(moe, n_tokens):
    """``(n_tokens, topk)`` expert ids, each row distinct (module docstring), int32."""
    cdf = np.cumsum(moe.popularity())
    cdf[-1] = 1.0
    out = np.empty((n_tokens, moe.topk), np.int32)
    spare = max(1024, out.size // 8)
    while spare <= 64 * max(out.size, 1024):  # a stream per seed: the firsts, then redraws
        if _draw(cdf, moe.seed, spare, out) >= 0:
            return out
        spare *= 4
    raise UbemuError(f"traffic {moe.label}: skew={moe.skew:g} leaves too few experts to draw "
                     f"{moe.topk} distinct ones per token (more than 64 draws each)")


@lru_cache(maxsize=16)
def moe_weights(moe, n):
    """(n, n) int64: routed copies from each rank's tokens to each rank's experts."""
    if moe.experts % n:
        raise UbemuError(f"traffic {moe.label}: experts={moe.experts} must be a multiple of the "
                         f"{n} ranks (experts spread evenly)")
    experts = draw_experts(moe, n * moe.tokens).reshape(n, -1)
    hits = np.array([np.bincount(row, minlength=moe.experts) for row in experts])
    w = hits.reshape(n, n, moe.experts // n).sum(axis=2)  # expert e on rank e // (experts / n)
    w = w.T.copy() if moe.combine else w
    w.setflags(write=False)
    return w


@lru_cache(maxsize=16)
def _file_weights(path, mtime_ns):
    p = Path(path)
    try:
        if p.suffix == ".npy":
            w = np.load(p, allow_pickle=False)
        else:
            w = np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
    except (OSError, ValueError) as exc:
        raise UbemuError(f"traffic file {path}: cannot read a matrix ({exc})") from None
    w = np.asarray(w)
    w.setflags(write=False)
    return w


def weights_of(spec, n):
    """The (n, n) weights of ``spec`` (module docstring) and a label for it."""
    if spec is None or (isinstance(spec, str) and spec.strip() == "uniform"):
        return np.ones((n, n), np.int64), "uniform"
    if isinstance(spec, MoE):
        return moe_weights(spec, n), spec.label
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("moe"):
            moe = parse_moe(text)
            return moe_weights(moe, n), moe.label
        p = Path(text)
        if not p.is_file():
            raise UbemuError(f"traffic {spec!r}: not 'uniform', 'moe:...' or a matrix file "
                             f"(.npy, .csv, .txt) that exists")
        return _file_weights(str(p.resolve()), p.stat().st_mtime_ns), p.name
    return np.asarray(spec), "matrix"


def _check_weights(w, n, label):
    if w.ndim != 2 or w.shape != (n, n):
        raise UbemuError(f"traffic {label}: a matrix of {n} x {n} (one row and column per "
                         f"rank) is needed, got shape {w.shape}")
    if not (np.issubdtype(w.dtype, np.integer) or np.issubdtype(w.dtype, np.floating)) \
            or w.dtype == np.bool_:
        raise UbemuError(f"traffic {label}: the matrix must hold numbers, got {w.dtype}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise UbemuError(f"traffic {label}: every entry must be a finite number >= 0")
    if not w.any():
        raise UbemuError(f"traffic {label}: the matrix is all zeros")


def resolve(spec, n, count):
    """The :class:`Traffic` of ``spec`` on ``n`` ranks, scaled to ``count`` elements per rank
    on average (module docstring). A :class:`Traffic` already made for (n, count) is
    returned as it is."""
    if isinstance(spec, Traffic):
        if spec.n == n and spec.count == count:
            return spec
        spec = spec.weights
    w, label = weights_of(spec, n)
    _check_weights(w, n, label)
    total = n * int(count)
    if np.issubdtype(w.dtype, np.integer):
        w64 = w.astype(np.int64)
        big = int(w64.max()) * total >= 2**62
        scaled = (np.array(w64.tolist(), dtype=object) * total // int(w64.sum())).astype(
            np.int64) if big else w64 * total // int(w64.sum())
    else:
        scaled = np.floor(w.astype(np.float64) * (total / float(w.sum()))).astype(np.int64)
    return Traffic(scaled, int(count), label, w)


def exact(counts):
    """A :class:`Traffic` of the element counts as given (no scaling): ``counts[i, j]``
    elements from rank i to rank j (``emulate``'s form)."""
    c = np.asarray(counts)
    n = c.shape[0] if c.ndim == 2 else -1
    _check_weights(c, n, "counts")
    if not np.issubdtype(c.dtype, np.integer) and not (c == np.floor(c)).all():
        raise UbemuError("traffic counts: element counts must be whole numbers")
    c = c.astype(np.int64)
    return Traffic(c, int(c.sum()) // n, "matrix", c)


class Traffic:
    """Per-pair element counts of one alltoallv (see the module docstring).

    Attributes
    ----------
    counts : int64 array (n, n)
        Elements rank ``i`` sends rank ``j``; ``counts[i, i]`` its own block (a local copy).
    count : int
        The collective's size: elements a rank sends on average, as asked.
    label : str
    weights : array
        The unscaled spec (for another size).
    """

    def __init__(self, counts, count, label, weights):
        self.counts = np.ascontiguousarray(counts, np.int64)
        self.counts.setflags(write=False)
        self.count, self.label, self.weights = int(count), label, weights
        self.n = int(self.counts.shape[0])

    @cached_property
    def sends(self):
        """Elements each rank sends (row sums, its own block included)."""
        return self.counts.sum(axis=1)

    @cached_property
    def receives(self):
        """Elements each rank receives (column sums, its own block included)."""
        return self.counts.sum(axis=0)

    @cached_property
    def send_offsets(self):
        """(n, n): where block ``j`` starts in rank ``i``'s input (MPI's sdispls)."""
        return np.cumsum(self.counts, axis=1) - self.counts

    @cached_property
    def recv_offsets(self):
        """(n, n) indexed ``[i, j]``: where rank ``j``'s output holds the block from ``i``
        (MPI's rdispls of rank j)."""
        return np.cumsum(self.counts, axis=0) - self.counts

    @property
    def in_count(self):
        """Input elements per rank's buffer row (the largest send)."""
        return int(self.sends.max(initial=0))

    @property
    def out_count(self):
        """Output elements per rank's buffer row (the largest receive)."""
        return int(self.receives.max(initial=0))

    def off_diagonal(self):
        """The counts with the diagonal (local copies) zeroed."""
        c = self.counts.copy()
        np.fill_diagonal(c, 0)
        return c

    def summary(self):
        """A dict for notes: the spec and the busiest sender and receiver (elements, over
        links: the own block excluded), against the mean."""
        off = self.off_diagonal()
        mean = off.sum() / self.n if self.n else 0
        return {"traffic": self.label, "busiest_send_elements": int(off.sum(axis=1).max()),
                "busiest_recv_elements": int(off.sum(axis=0).max()),
                "mean_send_elements": float(mean)}
