"""Routing around failures: minimal routes checked against failed links, All-Path detours, spares.

A fault set reaches the kernels as four arrays (``ubemu/faults.py`` builds them):

- ``down`` uint8, one bit per directed link id (``np.packbits(..., bitorder="little")``): 1
  for a failed link; **empty when nothing failed**, and then :func:`route_ft` is
  :func:`.routing.route_one` unchanged;
- ``state`` uint8 (n_npus, or empty): 0 working, 1 failed, 2 failed and served by its spare
  group's hot spare (UB-Mesh's 64+1);
- ``fp`` int64: ``[mode, spare group NPUs, spare_up, spare_down, lrs_up, lrs_down, access]``:
  ``mode`` 0 minimal, 1 apr; the first link id of each spare block (the spares' ports into
  the group's low-radix switches, LRS, one per group, and the NPUs' own LRS ports, one per
  NPU); ``access`` 1 when those NPU ports are a trunk run's access ports (the LRS then lead
  straight onto the run's cables);
- ``flat`` float64: ``[latency of one spare-to-NPU crossing of the LRS, ns]``.

``minimal`` keeps today's dimension-ordered route and reports the first failed link on it.
``apr`` keeps the minimal route when it is intact, else takes the first intact structured
detour (``kernels/detours.py``: the levels in another order, a third unit, a parallel line;
spread over the intact candidates by a hash of the pair), else any path the search over the
working links finds (``kernels/pathsearch.py``): a pair is refused only when the faults
disconnect it (code UNREACHABLE, ``link`` -1), or, in a search bounded in nodes and in the
route buffer's length, when none was found within them (-2, -3). Routes of pairs whose
minimal route is intact never change.
"""

from ._jit import kernel
from .codes import APR, ENDPOINT_FAILED, MINIMAL, OK, UNREACHABLE  # noqa: F401 (the codes)
from .detours import first_down, leg
from .pathsearch import BUDGET, search, search_in
from .routing import route_one
from .searchtrees import new_store


@kernel(inline="always")
def _mate(group, group_npus, avoid, state):
    """A working NPU of spare group ``group`` other than ``avoid`` (-1 if none)."""
    base = group * group_npus
    for t in range(group_npus):
        x = base + (avoid - base + 1 + t) % group_npus
        if x != avoid and state[x] == 0:
            return x
    return -1


@kernel
def _spare_route(s, d, ss, sd, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out):
    """Route where ``s`` and/or ``d`` is served by its group's spare (state 2)."""
    mode, g = fp[0], fp[1]
    sp_up, sp_down, lrs_up, lrs_down, access = fp[2], fp[3], fp[4], fp[5], fp[6]
    gs, gd = s // g, d // g
    cross_ns = flat[0] + 2 * hop_lat_ns
    if gs == gd:  # inside the group: spare -> LRS -> NPU (or back)
        out[0] = sp_up + gs if ss == 2 else lrs_up + s
        out[1] = lrs_down + d if ss == 2 else sp_down + gd
        bad = first_down(out, 0, 2, down)
        if bad >= 0:
            return 2, 0.0, UNREACHABLE, out[bad]
        return 2, cross_ns, OK, -1
    if access:  # the LRS lead onto the run's cables: the spare's port replaces the access port
        h, lat = route_one(s, d, lv, lat_ns, hop_lat_ns, out)
        if ss == 2 and h and out[0] == lrs_up + s:
            out[0] = sp_up + gs
            ss = 0
        if sd == 2 and h and out[h - 1] == lrs_down + d:
            out[h - 1] = sp_down + gd
            sd = 0
        if ss == 0 and sd == 0 and first_down(out, 0, h, down) < 0:
            return h, lat, OK, -1
    n = 0  # relay through working group mates over the LRS
    lat = 0.0
    a, b = s, d
    if ss == 2:
        a = _mate(gs, g, s, state)
        out[0], out[1] = sp_up + gs, lrs_down + a
        n, lat = 2, cross_ns
    if sd == 2:
        b = _mate(gd, g, d, state)
    if a < 0 or b < 0:
        return 0, 0.0, UNREACHABLE, -1
    h, lt, code, link = leg(a, b, lv, lat_ns, hop_lat_ns, down, mode, out, n)
    if code != OK:
        return 0, 0.0, code, link
    n += h
    lat += lt
    if sd == 2:
        out[n], out[n + 1] = lrs_up + b, sp_down + gd
        n += 2
        lat += cross_ns
    bad = first_down(out, 0, n, down)
    if bad >= 0:
        return 0, 0.0, UNREACHABLE, out[bad]
    return n, lat, OK, -1


@kernel(inline="always")
def _structured(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out):
    """:func:`route_ft` short of the search: UNREACHABLE under apr leaves it to the search."""
    if down.shape[0] == 0:
        h, lat = route_one(s, d, lv, lat_ns, hop_lat_ns, out)
        return h, lat, OK, -1
    if s == d:
        return 0, 0.0, OK, -1
    ss = state[s] if state.shape[0] else 0
    sd = state[d] if state.shape[0] else 0
    if ss == 1 or sd == 1:
        return 0, 0.0, ENDPOINT_FAILED, -1
    if ss == 2 or sd == 2:
        return _spare_route(s, d, ss, sd, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out)
    return leg(s, d, lv, lat_ns, hop_lat_ns, down, fp[0], out, 0)


@kernel
def route_ft(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out):
    """Route one transfer from NPU ``s`` to NPU ``d`` under faults into ``out``.

    Returns ``(hops, latency_ns, code, link)`` (see :func:`leg`; ENDPOINT_FAILED when ``s``
    or ``d`` failed with no spare). With no faults (``down`` empty): ``route_one``'s route.
    """
    h, lat, code, link = _structured(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out)
    if code == UNREACHABLE and fp[0] == APR:  # no structured detour: any path
        return search(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out, BUDGET)
    return h, lat, code, link


@kernel(inline="always")
def route_in(store, s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out):
    """:func:`route_ft` searching in ``store`` (``searchtrees.new_store(lv, fp, 1)``), which
    a batch of routes shares: the same routes, each end's search tree grown once."""
    h, lat, code, link = _structured(s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out)
    if code == UNREACHABLE and fp[0] == APR:
        return search_in(store, s, d, lv, lat_ns, hop_lat_ns, down, state, fp, flat, out,
                         BUDGET)
    return h, lat, code, link


@kernel
def route_many_ft(src, dst, lv, lat_ns, hop_lat_ns, down, state, fp, flat, paths, n_hops,
                  path_lat_ns, codes):
    """:func:`route_ft` for every (src[k], dst[k]): paths padded with -1, and each code (the
    searches sharing one store, :func:`route_in`)."""
    store = new_store(lv, fp, 1)
    for k in range(src.shape[0]):
        row = paths[k]
        h, lat, code, _ = route_in(store, src[k], dst[k], lv, lat_ns, hop_lat_ns, down, state,
                                   fp, flat, row)
        for j in range(h, row.shape[0]):
            row[j] = -1
        n_hops[k] = h
        path_lat_ns[k] = lat
        codes[k] = code
