"""What an algorithm's time can be before it is timed: closed-form brackets and lower bounds.

Both ``auto``s use this: :func:`ubemu.estimator.estimate` answers from the brackets, and
:func:`ubemu.engine.choose` times the candidates in the order of their lower bounds and stops
timing those that can no longer win.

- :func:`closed_form` gives ``(low_s, high_s, protocol)`` from an algorithm's registered closed
  form
  (:mod:`ubemu.timing.costmodel`); equal when the count divides evenly, else the step-level model's
  time lies between them.
- :func:`lower_bound_s` is a time any algorithm without a closed form cannot beat.
- :func:`candidate_bounds` brackets every registered algorithm of a collective on a group.
"""

import hashlib
import math

import numpy as np

from .. import collectives
from ..errors import UbemuError
from ..machine.comm import Comm
from ..timing import protocols as protos
from ..timing.costmodel import CostModel, NoClosedForm
from ..timing.stepshape import ProtocolNotRun
from . import REGISTRY, algorithm_names, build_schedule
from .channels import library_options
from .libraries import library_algorithms

_CACHE = {}
_CACHE_MAX = 512


def _group_key(group):
    if group is None or isinstance(group, str):
        return group
    if isinstance(group, Comm):  # by content: the same group asked again (a new object)
        npus = b"" if group.npus is None else np.ascontiguousarray(group.npus).tobytes()
        return ("comm", group.dims, tuple(group.levels), tuple(group.fabrics or ()),
                hashlib.blake2b(npus, digest_size=16).digest())
    if isinstance(group, dict):
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                            for k, v in group.items()))
    if isinstance(group, (list, tuple)):
        return tuple(group)
    return group  # an array (unhashable -> no cache)


def model_of(topology, group=None):
    """The cached :class:`~ubemu.timing.costmodel.CostModel` of ``group`` on ``topology``."""
    from ..machine.groups import group_of
    from ..machine.spec import resolve_topology

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


def closed_form(model, alg, count, isz, options, protocol="auto", low=True, high_s=None):
    """(low_s, high_s, protocol) of ``alg``'s closed form, its options completed with the
    library's defaults (:func:`~ubemu.algorithms.channels.library_options`), under each
    protocol ``protocol`` admits (:func:`ubemu.timing.protocols.resolve`) that the algorithm
    runs, the fastest kept; raises NoClosedForm. ``low=False``: ``low_s`` is None where the
    bracket is not one time (the lower pass is not made: what ranks candidates is
    ``high_s``); ``high_s``: the high end such a call gave under ``protocol`` (one
    protocol's name), the lower pass alone is made."""
    if alg.cost is None:
        raise NoClosedForm(f"no closed form for {alg.collective} algorithm {alg.name!r}")
    options = library_options(alg, model.topology, count, isz, options)
    best, why = None, None
    for name, sw, bw in protos.resolve(protocol, model.topology.params):
        model.proto = (sw, bw)
        factors = protos.class_factors(model.topology, name, bw)
        if factors is not None:
            model.class_bw = {c.name: f for c, f in zip(model.topology.link_classes, factors)}
        try:
            lo, hi = _bounds(model, alg, count, isz, options, low, high_s)
        except ProtocolNotRun as exc:
            why = exc
            continue
        finally:
            model.proto, model.class_bw = (1.0, 1.0), None
        if best is None or hi < best[1]:
            best = (lo, hi, name)
    if best is None:
        raise why
    return best


def _bounds(model, alg, count, isz, options, low=True, high_s=None):
    """(low_s, high_s) of the closed form under the model's protocol, with the launch
    (``low=False``: ``low_s`` None unless equal to ``high_s``; ``high_s`` given: the lower
    pass alone)."""
    model.collective = alg.collective
    launch = model.launch_s
    if model.n == 1:  # no link is crossed: every step costs the overhead alone
        t = build_schedule(alg.collective, alg.name, 1, count, data=False,
                           **options).n_steps * model.overhead_s * model.proto[0] + launch
        return t, t
    if high_s is None:
        model.mode, model.uneven = "hi", False
        model.reset_call()
        hi = float(alg.cost(model, count, isz, **options)) + launch
        if not model.uneven:
            return hi, hi
    else:
        hi = high_s
    if not low:
        return None, hi
    model.mode = "lo"
    model.reset_call()
    try:
        lo = float(alg.cost(model, count, isz, **options)) + launch
    finally:
        model.mode = "hi"
    return min(lo, hi), hi  # (equal terms summed in another order may round apart)


def lower_bound_s(model, alg, count, isz, options):
    """A time ``alg`` cannot beat: an overhead per timed step (a window counts once), the
    cheapest level's latency once, and the bytes a rank must send
    (:meth:`~ubemu.collectives.Collective.min_send_bytes`) at its whole injection rate
    (:meth:`~ubemu.machine.topology.Topology.injection_GBps`). From the registered step count
    of a flat phase, else the schedule's outline (its steps are never made). A flat phase
    with at least one element per rank moves data in every timed step: each then also
    costs a message's two ends and the cheapest level's latency. Where steps move their data
    in slices (``params.slices``), only ``1/slices`` of the bytes' time is sure not to
    overlap the steps' fixed costs (:mod:`ubemu.timing.timer`)."""
    topo = model.topology
    if model.n <= 1:
        return 0.0
    if alg.phase is not None:  # its outline does not depend on the count: kept per model
        timed_steps, in_switch = model.memo(("outline", alg.collective, alg.name),
                                            lambda: _phase_outline(alg.phase, model.n))
    else:
        options = library_options(alg, topo, count, isz, options)

        def outline():
            sched = build_schedule(alg.collective, alg.name, model.comm, count, data=False,
                                   **options)
            return (sched.n_steps - sum(b - a - 1 for a, b in sched.windows),
                    bool(sched.notes.get("in_switch")))

        if alg.fixed_outline:  # the count is checked, the outline kept per options
            collectives.get(alg.collective).check_count(count, model.n)
            timed_steps, in_switch = model.memo(
                ("outline", alg.collective, alg.name, repr(sorted(options.items()))), outline)
        else:
            timed_steps, in_switch = outline()
    inject_Bps, lat_s, sw = model.memo(("rates",), lambda: _rates(topo))
    # the switches reduce: a rank may send less
    send = 0.0 if in_switch else collectives.get(alg.collective).min_send_bytes(count * isz,
                                                                                model.n)
    step_s = model.overhead_s * sw
    if alg.phase is not None and not in_switch and count >= model.n and timed_steps:
        step_s += model.msg_s * sw + lat_s
        lat_s = 0.0  # counted in every step
    return timed_steps * step_s + lat_s + send / inject_Bps / model.slices + model.launch_s


def _phase_outline(phase, n):
    """(timed steps, whether the switches reduce) of a flat phase on ``n`` ranks."""
    windows = phase.windows_of(n)
    return phase.n_steps(n) - sum(b - a - 1 for a, b in windows), phase.name == "innet"


def _rates(topo):
    """(a rank's whole injection rate in B/s, the cheapest level's latency in s, the least
    software factor of the protocols offered)."""
    eff = max([topo.params.efficiency] + [lv.efficiency for lv in topo.levels])
    return (topo.injection_GBps() * 1e9 * eff,
            min(lv.lat_ns for lv in topo.levels if lv.size > 1) * 1e-9,
            min(sw for _, sw, _ in protos.resolve("auto", topo.params)))


def candidate_bounds(model, collective, count, isz, options, prune=True, protocol="auto",
                     low=True):
    """Bracket every algorithm registered for ``collective`` that can run on the model's group.

    The candidates are taken in the order of their :func:`lower_bound_s` (cheap: no pattern
    routed); with ``prune`` one whose lower bound exceeds the best closed form so far (by
    more than rounding) cannot win, and its closed form is not evaluated. ``low=False``: a
    bracket's low end is None where the count does not divide (the closed form's lower pass
    is not made).

    Returns
    -------
    bounds : dict
        name -> ``(low_s, high_s, why, protocol)``: the closed form's bracket with ``why =
        None`` and its fastest protocol, or for an algorithm without one its
        :func:`lower_bound_s`, ``high_s = inf``, why not and None.
    skipped : dict
        name -> why it cannot run (options it does not take, the group's shape, its limits).
    pruned : dict
        name -> its lower bound, for those that cannot beat the best closed form.
    """
    bounds, skipped, pruned, floor = {}, {}, {}, {}
    for name in library_algorithms(model.topology, collective, algorithm_names(collective)):
        alg = REGISTRY[(collective, name)]
        bad = [k for k in options if k not in alg.options]
        why = f"takes no option {bad[0]!r}" if bad else (
            alg.check(model.comm) if alg.check else None)
        try:
            floor[name] = None if why else lower_bound_s(model, alg, count, isz, options)
        except UbemuError as exc:
            why = str(exc)
        if why:
            skipped[name] = why
    best = math.inf
    order = list(floor)
    for name in sorted((k for k in floor if k not in skipped),
                       key=lambda k: (floor[k], order.index(k))):
        if prune and floor[name] > best * (1 + 1e-9):
            pruned[name] = floor[name]
            continue
        try:
            lo, hi, proto = closed_form(model, REGISTRY[(collective, name)], count, isz,
                                        options, protocol, low)
            bounds[name] = (lo, hi, None, proto)
            best = min(best, hi)
        except NoClosedForm as exc:
            bounds[name] = (floor[name], math.inf, str(exc), None)
        except UbemuError as exc:
            skipped[name] = str(exc)
    bounds = {k: bounds[k] for k in order if k in bounds}  # registry order, as before
    return bounds, skipped, pruned
