"""Fitting a topology's parameters to measured times: least squares on log time.

The unknowns are numbers of the topology by dotted key (:mod:`.params`), fitted as their
logarithms (so a relative change is a unit, and every value stays positive; fractions stay
below 1). The model is ubemu itself: every :class:`Point` (a distinct thing measured, e.g. a
collective of one size on one group) is evaluated on the candidate topology, in closed form
where ``estimate`` is exact and by the step-level model otherwise. Residuals are
``log(model / measured)``; the fit is Levenberg-Marquardt with a Jacobian of central
differences, taken with every point's algorithm held at the one ``auto`` chose at the current
values (so the derivative does not jump where ``auto`` changes its mind; the steps are judged
with ``auto`` free). By default the loss is soft-L1 in the log (a row off by much more than
``robust_scale`` weighs like one off by ``robust_scale``), so a single outlying measurement
does not pull the fit; ``robust_scale=None`` gives plain least squares.

What the data cannot determine is found from the Jacobian at the start: a key no row is
sensitive to (every elasticity below :data:`SENSITIVE`) and, while the Jacobian's condition
number (columns scaled to unit length) exceeds :data:`MAX_CONDITION`, one key of the
near-null direction (:data:`DROP_FIRST`: the efficiency and the link rate, or two per-message
costs that every row sees summed, cannot both be fitted) are kept at their base values and
reported.
The uncertainty of each fitted value is one standard deviation from the weighted residual
variance and ``(J^T W J)^-1``, in relative terms.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UbemuError
from . import params as pm

#: A key is undetermined when no row's log time moves by more than this per unit change of
#: the key's log (a 10 % change moving no row by 0.01 %).
SENSITIVE = 1e-3
#: Above this condition number of the (column-scaled) Jacobian a direction is undetermined.
MAX_CONDITION = 1e6
#: A value moves at most this factor from where it starts (a fraction stays <= 1).
RANGE = 1e4
#: A fitted value whose relative uncertainty exceeds this is reported as poorly determined.
POORLY = 0.5
#: Factors on every fitted value the descents start from (:func:`fit`'s ``starts``).
START_FACTORS = (1.0, 2.0, 0.5)
#: Order in which keys are given up when only a combination of them is determined: a
#: fraction first (it is bounded by 1, so it cannot stand for every value the combination
#: may need), then bandwidths, sizes, latencies, the rest.
DROP_FIRST = (pm.FRACTION_WORDS, ("_GBps",), ("_bytes",), ("_ns",), ("",))


@dataclass
class FitResult:
    """What :func:`fit` found (times in seconds, per measured row unless said)."""

    keys: list
    base: dict
    fitted: dict
    sigma_rel: dict
    undetermined: list
    poorly: list
    before_s: np.ndarray
    after_s: np.ndarray
    algorithms_before: list
    algorithms_after: list
    iterations: int
    topology: object
    condition: float
    notes: list = field(default_factory=list)

    @staticmethod
    def rms(model_s, measured_s):
        return float(np.sqrt(np.mean(np.log(model_s / measured_s) ** 2)))


class _Problem:
    def __init__(self, base, keys, points, point_of_row, measured_s, robust_scale):
        self.base, self.keys, self.points = base, keys, points
        self.idx = np.asarray(point_of_row, np.int64)
        self.log_meas = np.log(np.asarray(measured_s, float))
        self.scale = robust_scale
        values = pm.fittable(base)
        self.x0 = np.array([math.log(values[k]) for k in keys])
        self.lower = self.x0 - math.log(RANGE)
        self.upper = np.array([0.0 if pm.is_fraction(k) else x + math.log(RANGE)
                               for k, x in zip(keys, self.x0)])

    def clip(self, x):
        return np.clip(x, self.lower, self.upper)

    def topology(self, x):
        return pm.with_values(self.base, dict(zip(self.keys, np.exp(x))))

    def evaluate(self, x, algorithms=None):
        """(model time per point, algorithm per point) at ``x``."""
        topo = self.topology(x)
        out, algs = np.empty(len(self.points)), []
        for k, p in enumerate(self.points):
            out[k], a = p.evaluate(topo, None if algorithms is None else algorithms[k])
            algs.append(a)
        return out, algs

    def residuals(self, x, algorithms=None):
        t, algs = self.evaluate(x, algorithms)
        return np.log(t[self.idx]) - self.log_meas, algs

    def weights(self, r):
        if self.scale is None:
            return np.ones_like(r)
        return 1.0 / np.sqrt(1.0 + (r / self.scale) ** 2)

    def cost(self, r):
        if self.scale is None:
            return float(r @ r)
        c = self.scale
        return float(np.sum(2 * c * c * (np.sqrt(1 + (r / c) ** 2) - 1)))

    def jacobian(self, x, algorithms, cols=None, h=1e-3):
        """d residual / d x by central differences (one-sided below an upper bound)."""
        J = np.zeros((len(self.idx), len(x)))
        for j in range(len(x)) if cols is None else cols:
            hi, lo = x.copy(), x.copy()
            hi[j] = min(x[j] + h, self.upper[j])
            lo[j] = max(hi[j] - 2 * h, self.lower[j])
            hi[j] = lo[j] + 2 * h
            J[:, j] = (self.residuals(hi, algorithms)[0]
                       - self.residuals(lo, algorithms)[0]) / (hi[j] - lo[j])
        return J


def _spread(step, active, n):
    out = np.zeros(n)
    out[active] = step
    return out


def _first_to_drop(keys, weight):
    """The key given up first among ``keys`` (:data:`DROP_FIRST`; then a level's before a
    parameter's, then the one the rows are least sensitive to, ``weight[key]``)."""
    def rank(key):
        last = key.rsplit(".", 1)[-1]
        k = next(k for k, words in enumerate(DROP_FIRST)
                 if any(w in last if k == 0 else last.endswith(w) for w in words))
        return k, not key.startswith("level."), weight[key]
    return min(keys, key=rank)


def identify(prob, J):
    """(active column indices, [(key, reason)]) at the start (module docstring)."""
    active, out = [], []
    for j, key in enumerate(prob.keys):
        if np.max(np.abs(J[:, j])) < SENSITIVE:
            out.append((key, "no row depends on it"))
        else:
            active.append(j)
    while len(active) > 1:
        Js = J[:, active] / np.linalg.norm(J[:, active], axis=0)
        _, s, vt = np.linalg.svd(Js, full_matrices=False)
        if s[-1] > 0 and s[0] / s[-1] <= MAX_CONDITION:
            break
        v = np.abs(vt[-1])
        involved = [prob.keys[active[i]] for i in np.flatnonzero(v > 0.3 * v.max())]
        weight = {k: float(np.linalg.norm(J[:, prob.keys.index(k)])) for k in involved}
        drop = _first_to_drop(involved, weight)
        others = [k for k in involved if k != drop]
        out.append((drop, "only its combination with " + ", ".join(others)
                    + " is determined" if others else "undetermined"))
        active.remove(prob.keys.index(drop))
    return active, out


def check_counts(keys, point_of_row):
    """Refuse a fit of more parameters than distinct measurements, in one line."""
    n_points = len(set(int(i) for i in point_of_row))
    if not keys:
        raise UbemuError("fit: no parameter to fit")
    if n_points < len(keys):
        raise UbemuError(f"fit: {n_points} distinct measurements for {len(keys)} parameters "
                         f"({', '.join(keys)}); name fewer with --fit or give more rows")


def _descend(prob, x, active, on_iteration, max_iter, at_x=None):
    """Levenberg-Marquardt from ``x`` over the ``active`` columns: ``(x, residuals,
    algorithms, cost, iterations)`` where it stops (``at_x``: the residuals, algorithms and
    Jacobian at ``x`` when known)."""
    r, algs, J = at_x if at_x is not None else (*prob.residuals(x), None)
    if J is None:
        J = prob.jacobian(x, algs, cols=active)
    lam, it = 1e-2, 0
    cost = prob.cost(r)
    for it in range(1, max_iter + 1):
        Ja = J[:, active]
        w = prob.weights(r)
        A = Ja.T @ (Ja * w[:, None])
        g = Ja.T @ (w * r)
        improved = False
        for _ in range(12):
            step = -np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), g)
            x_new = x.copy()
            x_new[active] = prob.clip(x + _spread(step, active, len(x)))[active]
            r_new, algs_new = prob.residuals(x_new)
            c_new = prob.cost(r_new)
            if c_new < cost:
                improved = True
                break
            lam *= 4
        if not improved:
            break
        gain = (cost - c_new) / max(cost, 1e-300)
        x, r, algs, cost = x_new, r_new, algs_new, c_new
        lam = max(lam / 3, 1e-9)
        if on_iteration is not None:
            on_iteration(it, cost)
        if gain < 1e-6 or np.max(np.abs(step)) < 1e-6:
            break
        J = prob.jacobian(x, algs, cols=active)
    return x, r, algs, cost, it


def fit(base, keys, points, point_of_row, measured_s, robust_scale=0.05, max_iter=60,
        start=None, on_iteration=None, starts=3):
    """Fit ``keys`` of ``base`` so that the points' model times match ``measured_s``.

    Parameters
    ----------
    start : dict, optional
        Starting values of keys whose base value is 0 (a cost the base leaves out); every
        other key starts from its base value.
    points : sequence
        Objects with ``evaluate(topology, algorithm=None) -> (time_s, algorithm)``.
    point_of_row, measured_s : sequences
        For every measured row, the index of its point and the measured time (s).
    robust_scale : float or None
        Soft-L1 scale on the log residual; None for plain least squares.
    starts : int
        Descents to run, from the start and from every fitted value times the next of
        :data:`START_FACTORS`; the lowest cost wins (a sliced step's time has kinks, and
        one descent can stop in a valley of its own).

    Returns
    -------
    FitResult
    """
    check_counts(keys, point_of_row)
    before = [p.evaluate(base) for p in points]
    values = pm.fittable(base)
    zero = [k for k in keys if not values[k] > 0 and k not in (start or {})]
    if zero:
        raise UbemuError(f"fit: {', '.join(zero)} is 0 in the base topology; give a "
                         f"starting value")
    start_topo = pm.with_values(base, start) if start else base
    prob = _Problem(start_topo, keys, points, point_of_row, measured_s, robust_scale)
    x = prob.x0.copy()
    r, algs = prob.residuals(x)
    J = prob.jacobian(x, algs)
    active, undetermined = identify(prob, J)
    if not active:
        raise UbemuError("fit: no row depends on any of " + ", ".join(keys))
    best = None
    for factor in START_FACTORS[:max(1, int(starts))]:
        x_start = x.copy()
        x_start[active] = prob.clip(x + math.log(factor))[active]
        got = _descend(prob, x_start, active, on_iteration, max_iter,
                       (r, algs, J) if factor == 1.0 else None)
        if best is None or got[3] < best[3]:
            best = got
    x, r, algs, _, it = best
    kept = {k for k, _ in undetermined}
    fitted = {k: (values[k] if k in kept or j not in active else float(f"{math.exp(x[j]):.6g}"))
              for j, k in enumerate(keys)}
    x = np.array([math.log(fitted[k]) if k not in kept else x[j] for j, k in enumerate(keys)])
    after_t, algs_after = prob.evaluate(x)
    r = np.log(after_t[prob.idx]) - prob.log_meas
    J = prob.jacobian(x, algs_after, cols=active)[:, active]
    w = prob.weights(r)
    dof = len(r) - len(active)
    sigma = {k: math.nan for k in keys}
    A = J.T @ (J * w[:, None])
    norms = np.linalg.norm(J, axis=0)
    s = np.linalg.svd(J / np.where(norms > 0, norms, 1.0), compute_uv=False)
    condition = float(s[0] / s[-1]) if s[-1] > 0 and norms.all() else math.inf
    if dof > 0:
        cov = float(np.sum(w * r * r)) / dof * np.linalg.pinv(A)
        for i, j in enumerate(active):
            sigma[keys[j]] = float(np.sqrt(max(cov[i, i], 0.0)))
    poorly = [k for k in keys if sigma[k] > POORLY]
    notes = [f"{keys[j]} is at the {'lower' if x[j] <= prob.lower[j] else 'upper'} end of its "
             f"range (the rows want {'less' if x[j] <= prob.lower[j] else 'more'} of it)"
             for j in active if not prob.lower[j] < x[j] < prob.upper[j]]
    return FitResult(keys=list(keys), base={k: values[k] for k in keys},
                     fitted=fitted, sigma_rel=sigma, undetermined=undetermined, poorly=poorly,
                     before_s=np.array([before[i][0] for i in prob.idx]),
                     after_s=after_t[prob.idx],
                     algorithms_before=[before[i][1] for i in prob.idx],
                     algorithms_after=[algs_after[i] for i in prob.idx], iterations=it,
                     topology=pm.with_values(base, fitted), condition=condition, notes=notes)
