"""``estimate``: the modelled time of one collective without routing a byte (for planning loops).

``estimate("all_reduce", 1 << 20, "ub-mesh-rack", "hierarchical")`` evaluates the algorithm's
registered closed form (:mod:`ubemu.timing.costmodel`) in microseconds; per (topology, group) the
model's constants and the route patterns its costs ask for are computed once and cached, and
so is each answer (a loop asking again costs a dictionary lookup). The answer says how it was
obtained:

- ``method="closed form"``, ``exact=True``: equal to the step-level model of ``simulate``
  (to rounding, 1e-9);
- ``method="closed form"``, ``exact=False``: a count that does not divide gives blocks of two
  sizes; ``time_s`` is then the closed form with the largest blocks and ``low_s`` with the
  smallest, and the step-level model lies between them (``rel_error_bound``);
- ``method="step model"``: only with ``fallback=True``, where no closed form exists (it says
  why in ``note``): the step-level model itself was run (as ``simulate`` would, so not in
  microseconds). Without ``fallback`` such an algorithm raises
  :class:`~ubemu.timing.costmodel.NoClosedForm`.

``algorithm="auto"`` chooses from the same registered algorithms as ``simulate``, each by its
closed form; one without (``skipped`` says why) is left out, or with ``fallback=True`` timed by
the step-level model when a lower bound on its time
(:func:`ubemu.algorithms.bounds.lower_bound_s`) leaves it a chance to win.
"""

from dataclasses import dataclass, field, replace
from functools import lru_cache

from . import collectives
from .algorithms.bounds import candidate_bounds, closed_form, model_of
from .errors import UbemuError, keyword_names
from .machine.faults import with_faults
from .machine.spec import resolve_topology
from .timing.costmodel import NoClosedForm

#: Answers kept (per model, collective, count, dtype, algorithm and options): a planning loop
#: asking again gets its answer back at once.
ANSWERS_MAX = 1 << 14
_ANSWERS = {}


@dataclass(frozen=True)
class Estimate:
    """The answer of :func:`estimate` (see the module docstring)."""

    time_s: float
    algorithm: str
    method: str
    exact: bool
    low_s: float
    note: str = ""
    candidates: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    protocol: str = "simple"

    @property
    def rel_error_bound(self):
        """Largest relative distance to the step-level model: ``(time_s - low_s) / time_s``."""
        return (self.time_s - self.low_s) / self.time_s if self.time_s > 0 else 0.0

    def __float__(self):
        return float(self.time_s)


@lru_cache(maxsize=64)
def _itemsize(dtype):
    from .data.dtypes import get_dtype

    return get_dtype(dtype).itemsize


def _under_faults(model, collective, algorithm, count, isz, fallback, options,
                  protocol="auto"):
    """The step model's time under failed links or NPUs (no closed form sees them)."""
    from .engine import choose
    from .machine.faultreport import check_group

    why = "failed links or NPUs: the closed forms assume every link of a class alike"
    if not fallback:
        raise NoClosedForm(f"estimate: {why}; pass fallback=True to run the step-level "
                           f"model (as simulate does)")
    check_group(model.topology, model.comm.npus)
    if algorithm == "auto":
        algorithm, timed, _ = choose(collective, model.comm, count, model.topology, isz, options,
                                     protocol=protocol)
        t, proto = timed.time_s, timed.protocol
    else:
        from .algorithms import get_algorithm

        alg = get_algorithm(collective, algorithm)
        alg.check_fits(model.comm, options)
        t, _, proto = _step_model(model, alg, count, isz, options, protocol)
    return Estimate(t, algorithm, "step model", True, t, note=why, protocol=proto)


def _step_model(model, alg, count, isz, options, protocol="auto"):
    from .engine import time_only

    timed = time_only(alg.collective, alg.name, model.comm, count, model.topology, isz, options,
                      protocol=protocol)
    return timed.time_s, timed.time_s, timed.protocol


def estimate(collective, nbytes, topology=None, algorithm="auto", group=None, dtype="float32",
             fallback=False, faults=None, routing="minimal", protocol="auto", **options):
    """Modelled time of one collective in closed form; see the module docstring.

    Parameters are those of :func:`ubemu.simulate` (sizes in nccl-tests' convention;
    ``protocol``: ``auto`` keeps the fastest the topology offers, ``Estimate.protocol``).
    ``fallback=True``: run the step-level model where no closed form exists (the answer's
    ``method`` then says ``step model``); by default an algorithm without one raises
    :class:`~ubemu.timing.costmodel.NoClosedForm` and ``auto`` leaves it out and says so.
    ``faults``: failed switch planes keep the closed forms (the planes are fewer); failed
    links or NPUs have none (the loads are no longer alike): only the step model answers.

    Returns
    -------
    Estimate
    """
    from .algorithms import check_keywords

    coll = collectives.get(collective)
    check_keywords("estimate", ESTIMATE_KEYWORDS, collective, algorithm, options)
    if faults is not None or routing != "minimal":
        topology = with_faults(resolve_topology(topology), faults, routing)
    model = model_of(topology, group)
    isz = _itemsize(dtype) if isinstance(dtype, str) else _itemsize.__wrapped__(dtype)
    count = coll.element_count(nbytes, isz, model.n)
    if model.topology.faults is not None:
        return _under_faults(model, collective, algorithm, count, isz, fallback, options,
                             protocol)
    key = (model, collective, count, isz, algorithm, bool(fallback), protocol,
           repr(sorted(options.items())))
    est = _ANSWERS.get(key)
    if est is None:
        est = _answer(model, collective, algorithm, count, isz, fallback, options, protocol)
        if len(_ANSWERS) >= ANSWERS_MAX:
            _ANSWERS.clear()
        _ANSWERS[key] = est
    return replace(est, candidates=dict(est.candidates), skipped=dict(est.skipped))


def _answer(model, collective, algorithm, count, isz, fallback, options, protocol):
    """The :class:`Estimate` of ``estimate`` for a resolved model and count."""
    from .algorithms import REGISTRY, get_algorithm

    if algorithm != "auto":
        alg = get_algorithm(collective, algorithm)
        alg.check_fits(model.comm, options)
        try:
            lo, hi, proto = closed_form(model, alg, count, isz, options, protocol)
            return Estimate(hi, algorithm, "closed form", lo == hi, lo, protocol=proto)
        except NoClosedForm as exc:
            if not fallback:
                raise NoClosedForm(f"{exc}; pass fallback=True to run the step-level model "
                                   f"(as simulate does)") from None
            t, _, proto = _step_model(model, alg, count, isz, options, protocol)
            return Estimate(t, algorithm, "step model", True, t, note=str(exc), protocol=proto)
    bounds, skipped, pruned = candidate_bounds(model, collective, count, isz, options,
                                               protocol=protocol, low=False)
    forms = {k: (lo, hi) for k, (lo, hi, why, _) in bounds.items() if why is None}
    pending = {k: (lo, why) for k, (lo, _, why, _) in bounds.items() if why is not None}
    best = min(hi for _, hi in forms.values()) if forms else None
    for name, bound in pruned.items():
        skipped[name] = f"cannot beat {best:.4g} s (lower bound {bound:.4g} s)"
    for name, (bound, why) in sorted(pending.items(), key=lambda kv: kv[1][0]):
        if not fallback:
            skipped[name] = f"{why} (fallback=True times it with the step-level model)"
        elif best is not None and bound >= best:
            skipped[name] = f"{why}; cannot beat {best:.4g} s (lower bound {bound:.4g} s)"
        else:
            forms[name] = _step_model(model, REGISTRY[(collective, name)], count, isz, options,
                                      protocol)[:2]
            best = min(best, forms[name][1]) if best is not None else forms[name][1]
    if not forms:
        raise UbemuError(f"estimate: no {collective} algorithm can be estimated on "
                         f"{model.n} ranks {model.comm.shape_label} ("
                         + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    name = min(forms, key=lambda k: forms[k][1])
    lo, hi = forms[name]
    if name in pending:
        proto = _step_model(model, REGISTRY[(collective, name)], count, isz, options,
                            protocol)[2]
    else:
        proto = bounds[name][3]
        if lo is None:  # the winner's low end (the candidates were ranked by their tops)
            lo = closed_form(model, REGISTRY[(collective, name)], count, isz, options, proto,
                             high_s=hi)[0]
    method = "step model" if name in pending else "closed form"
    return Estimate(hi, name, method, lo == hi, lo, protocol=proto,
                    candidates={k: v[1] for k, v in forms.items()}, skipped=skipped)


#: The keywords of :func:`estimate` itself (the others go to the algorithm's builder).
ESTIMATE_KEYWORDS = keyword_names(estimate)
