"""``estimate``: the modelled time of one collective without routing a byte (for planning loops).

``estimate("all_reduce", 1 << 20, "ub-mesh-rack", "hierarchical")`` evaluates the algorithm's
registered closed form (:mod:`ubemu.costmodel`) in microseconds; per (topology, group) the
model's constants are computed once and cached. The answer says how it was obtained:

- ``method="closed form"``, ``exact=True``: equal to the step-level model of ``simulate``
  (to rounding, 1e-9);
- ``method="closed form"``, ``exact=False``: a count that does not divide gives blocks of two
  sizes; ``time_s`` is then the closed form with the largest blocks and ``low_s`` with the
  smallest, and the step-level model lies between them (``rel_error_bound``);
- ``method="step model"``: no closed form exists (it says why in ``note``); the step-level
  model itself was run (as ``simulate`` would, so not in microseconds).

``algorithm="auto"`` chooses from the same registered algorithms as ``simulate``: every closed
form is evaluated; an algorithm without one is timed by the step-level model only when a
lower bound on its time (:func:`lower_bound_s`) leaves it a chance to win.
"""

from dataclasses import dataclass, field
from functools import lru_cache

from . import collectives
from .costmodel import CostModel, NoClosedForm
from .errors import UbemuError

_CACHE = {}
_CACHE_MAX = 512


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

    @property
    def rel_error_bound(self):
        """Largest relative distance to the step-level model: ``(time_s - low_s) / time_s``."""
        return (self.time_s - self.low_s) / self.time_s if self.time_s > 0 else 0.0

    def __float__(self):
        return float(self.time_s)


def _group_key(group):
    if group is None or isinstance(group, str):
        return group
    if isinstance(group, dict):
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                            for k, v in group.items()))
    if isinstance(group, (list, tuple)):
        return tuple(group)
    return group  # a Comm (hashed by identity) or an array (unhashable -> no cache)


def model_of(topology, group=None):
    """The cached :class:`~ubemu.costmodel.CostModel` of ``group`` on ``topology``."""
    from .groups import group_of
    from .topospec import resolve_topology

    topo = resolve_topology(topology)
    key = (topo, _group_key(group))
    try:
        return _CACHE[key]
    except KeyError:
        pass
    except TypeError:  # unhashable group spec
        key = None
    model = CostModel(topo, group_of(topo, group))
    if key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = model
    return model


@lru_cache(maxsize=64)
def _itemsize(dtype):
    from .dtypes import get_dtype

    return get_dtype(dtype).itemsize


def _closed_form(model, alg, count, isz, options):
    """(low_s, high_s) of ``alg``'s closed form; raises NoClosedForm."""
    if alg.cost is None:
        raise NoClosedForm(f"no closed form for {alg.collective} algorithm {alg.name!r}")
    model.collective = alg.collective
    if model.n == 1:  # no link is crossed: every step costs the overhead alone
        from .algorithms import build_schedule

        t = build_schedule(alg.collective, alg.name, 1, count, data=False,
                           **options).n_steps * model.overhead_s
        return t, t
    model.mode, model.uneven = "hi", False
    model.reset_call()
    hi = float(alg.cost(model, count, isz, **options))
    if not model.uneven:
        return hi, hi
    model.mode = "lo"
    model.reset_call()
    try:
        lo = float(alg.cost(model, count, isz, **options))
    finally:
        model.mode = "hi"
    return lo, hi


def _step_model(model, alg, count, isz, options):
    from .engine import time_only

    t = time_only(alg.collective, alg.name, model.comm, count, model.topology, isz,
                  options).time_s
    return t, t


def lower_bound_s(model, alg, count, isz, options):
    """A time ``alg`` cannot beat: an overhead per timed step (a window counts once), the
    cheapest level's latency once, and the bytes a rank must send
    (:meth:`~ubemu.collectives.Collective.min_send_bytes`) at the sum of all its links'
    capacity. Builds the schedule's outline only (its steps are never made)."""
    from .algorithms import build_schedule

    topo = model.topology
    if model.n <= 1:
        return 0.0
    sched = build_schedule(alg.collective, alg.name, model.comm, count, data=False, **options)
    timed_steps = sched.n_steps - sum(b - a - 1 for a, b in sched.windows)
    links_Bps = sum(lv.neighbours * lv.link_GBps for lv in topo.levels if lv.size > 1) \
        * 1e9 * topo.params.efficiency
    lat_s = min(lv.lat_ns for lv in topo.levels if lv.size > 1) * 1e-9
    send = collectives.get(alg.collective).min_send_bytes(count * isz, model.n)
    return timed_steps * model.overhead_s + lat_s + send / links_Bps


def estimate(collective, nbytes, topology=None, algorithm="auto", group=None, dtype="float32",
             fallback=True, **options):
    """Modelled time of one collective in closed form; see the module docstring.

    Parameters are those of :func:`ubemu.simulate` (sizes in nccl-tests' convention).
    ``fallback=False``: never run the step-level model (an algorithm without a closed form
    raises :class:`~ubemu.costmodel.NoClosedForm`; ``auto`` leaves it out and says so).

    Returns
    -------
    Estimate
    """
    from .algorithms import REGISTRY, algorithm_names, get_algorithm

    coll = collectives.get(collective)
    model = model_of(topology, group)
    isz = _itemsize(dtype) if isinstance(dtype, str) else _itemsize.__wrapped__(dtype)
    count = coll.element_count(nbytes, isz, model.n)
    if algorithm != "auto":
        alg = get_algorithm(collective, algorithm)
        alg.check_options(options)
        why = alg.check(model.comm) if alg.check else None
        if why:
            raise UbemuError(f"{collective} algorithm {algorithm!r} cannot run on {model.n} "
                             f"ranks {model.comm.shape_label}: {why}")
        try:
            lo, hi = _closed_form(model, alg, count, isz, options)
            return Estimate(hi, algorithm, "closed form", lo == hi, lo)
        except NoClosedForm as exc:
            if not fallback:
                raise
            t, _ = _step_model(model, alg, count, isz, options)
            return Estimate(t, algorithm, "step model", True, t, note=str(exc))
    forms, pending, skipped = {}, {}, {}
    for name in algorithm_names(collective):
        alg = REGISTRY[(collective, name)]
        bad = [k for k in options if k not in alg.options]
        why = f"takes no option {bad[0]!r}" if bad else (
            alg.check(model.comm) if alg.check else None)
        if why:
            skipped[name] = why
            continue
        try:
            forms[name] = _closed_form(model, alg, count, isz, options)
        except NoClosedForm as exc:
            pending[name] = str(exc)
        except UbemuError as exc:
            skipped[name] = str(exc)
    best = min(forms.values(), key=lambda lh: lh[1])[1] if forms else None
    for name, why in pending.items():
        alg = REGISTRY[(collective, name)]
        bound = lower_bound_s(model, alg, count, isz, options) if best is not None else 0.0
        if not fallback:
            skipped[name] = why
        elif best is not None and bound >= best:
            skipped[name] = f"{why}; cannot beat {best:.4g} s (lower bound {bound:.4g} s)"
        else:
            forms[name] = _step_model(model, alg, count, isz, options)
            best = min(best, forms[name][1]) if best is not None else forms[name][1]
    if not forms:
        raise UbemuError(f"estimate: no {collective} algorithm can be estimated on "
                         f"{model.n} ranks {model.comm.shape_label} ("
                         + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    name = min(forms, key=lambda k: forms[k][1])
    lo, hi = forms[name]
    method = "step model" if name in pending else "closed form"
    return Estimate(hi, name, method, lo == hi, lo,
                    candidates={k: v[1] for k, v in forms.items()}, skipped=skipped)
