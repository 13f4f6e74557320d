"""Protocols: the library's trade of latency for bandwidth (NCCL's LL, LL128 and Simple).

A collective runs with one protocol, and the library's tuner picks the fastest by size
(NCCL: ``ncclTopoGetAlgoTime`` over every algorithm and protocol; docs/sources.md). In ubemu
a protocol changes two terms of every step of the timing rule (:mod:`ubemu.timing.timer`):

- ``simple``: the topology's costs as given (large messages: full bandwidth, a handshake per
  step);
- ``ll128``, ``ll``: the step's software costs (``overhead_ns`` and the per-message send and
  receive overheads) times the protocol's ``sw`` factor, its link bandwidth times its ``bw``
  factor (LL sends 8-byte lines carrying 4 bytes of data and a flag, so it needs no
  handshake and moves at most half the bytes). Wire latencies and the first-chunk fill stay.

A topology offers ``ll`` and ``ll128`` when its params give both of their factors
(``ll_sw_factor``, ``ll_bw_factor``, ...); ``simple`` is always offered. A level may give the
protocol a bandwidth factor of its own (``Level.ll_bw_factor``: NCCL's LL is far slower across
the network than over NVLink), so a step's link term is the most over its link classes of the
busiest link's time over its level's factor (:func:`class_factors`). ``auto`` times every
offered protocol the schedule allows in one walk over its steps and keeps the fastest.
"""

from ..errors import UbemuError, choices_error

#: Every protocol, the plain one first.
PROTOCOLS = ("simple", "ll128", "ll")
SIMPLE = ("simple", 1.0, 1.0)


def offered(params):
    """``{name: (sw factor, bw factor)}`` of the protocols a topology's params offer."""
    out = {"simple": (1.0, 1.0)}
    for name in PROTOCOLS[1:]:
        sw, bw = getattr(params, f"{name}_sw_factor"), getattr(params, f"{name}_bw_factor")
        if sw > 0 and bw > 0:
            out[name] = (float(sw), float(bw))
    return out


def resolve(protocol, params, allowed=None):
    """The protocols to time, as ``((name, sw, bw), ...)``: ``"auto"`` (or None) gives every
    one the topology offers that ``allowed`` (None: any) admits; a name gives that one, or a
    one-line error when the topology does not offer it or the schedule cannot run it."""
    have = offered(params)
    if protocol in (None, "auto"):
        names = [p for p in PROTOCOLS if p in have and (allowed is None or p in allowed)]
        return tuple((p, *have[p]) for p in names)
    if protocol not in PROTOCOLS:
        raise choices_error("protocol", protocol, ("auto",) + PROTOCOLS)
    if protocol not in have:
        raise UbemuError(f"protocol {protocol!r}: the topology does not offer it (its params "
                         f"give no {protocol}_sw_factor and {protocol}_bw_factor); offered: "
                         f"{', '.join(have)}")
    if allowed is not None and protocol not in allowed:
        raise UbemuError(f"protocol {protocol!r}: this algorithm runs only "
                         f"{', '.join(allowed)}")
    return ((protocol, *have[protocol]),)


def class_factors(topology, protocol, bw):
    """The bandwidth factor of ``protocol`` on each link class of ``topology`` (its level's
    own, else ``bw``), or None when every class has ``bw``."""
    if protocol == "simple":
        return None
    n = len(topology.levels)
    out = [getattr(topology.levels[c.level], f"{protocol}_bw_factor", 0.0) or bw
           if c.level < n else bw for c in topology.link_classes]
    return None if all(f == bw for f in out) else out


def check_name(protocol):
    """``protocol`` if it is ``auto`` or a protocol's name, else a one-line error."""
    if protocol not in ("auto",) + PROTOCOLS:
        raise choices_error("protocol", protocol, ("auto",) + PROTOCOLS)
    return protocol
