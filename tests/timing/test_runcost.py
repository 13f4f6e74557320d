"""Steps whose messages carry runs of chunks (:mod:`ubemu.timing.runcost`): halving-doubling's
and recursive doubling's XOR steps over a fold or over several levels, against the step-level
model."""

import pytest

import ubemu
from ubemu.algorithms.bounds import model_of
from ubemu.machine.spec import resolve_topology, with_params

COSTS = ["overhead_ns=2700", "send_overhead_ns=1110", "recv_overhead_ns=165"]
#: three switched levels (dimension-ordered routes: a message may ride another NPU's ports, so
#: a link can carry two messages of a step), one of them trunked, and one level alone
LEVELS = "switch:4@100GBps/300ns:name=rack,switch:6@50GBps/1500ns:name=pod,switch:5@25GBps/3us"
TRUNK = ("switch:4@1100GBps/300ns:trunk:access=1100GBps:access_lat=150ns:name=rack,"
         "switch:6@1100GBps/1500ns:trunk:name=pod,switch:5@100GBps/3000ns:name=cluster")
ONE = "switch:12@50GBps/1us"
#: a power of two over two levels: halving-doubling's steps of the group as one line
POW2 = "switch:4@100GBps/300ns:trunk:access=100GBps,switch:8@50GBps/1us"


@pytest.mark.parametrize("spec,costs", [(LEVELS, []), (LEVELS, COSTS), (TRUNK, COSTS),
                                        (ONE, COSTS), (POW2, COSTS)])
@pytest.mark.parametrize("alg", ["halving_doubling", "recursive_doubling"])
def test_fold_steps_exact_or_bracketing(spec, costs, alg):
    """Counts below the chunk count (runs empty), at it, uneven above it: exact where no link
    carries two messages or every moving message has one size (recursive doubling's whole
    vector; half the chunks of one element, half empty: Atlas 960's 1 MiB), else the
    step-level model is bracketed (the link term alone)."""
    topo = with_params(resolve_topology(spec), costs) if costs else resolve_topology(spec)
    n = topo.n_npus
    p2 = 1 << (n.bit_length() - 1)
    for count in (1, 3, p2 // 2, p2 // 2 + 3, p2 - 1, p2, 3 * p2 + 1, 50 * p2 + 37):
        est = ubemu.estimate("all_reduce", 4 * count, topo, alg)
        sim = ubemu.simulate("all_reduce", 4 * count, topo, alg).time_s
        assert est.low_s * (1 - 1e-9) <= sim <= est.time_s * (1 + 1e-9), (count, est, sim)
        if spec == ONE or alg == "recursive_doubling" or count in (1, p2 // 2, p2):
            assert est.exact, count
        if est.exact:
            assert est.time_s == pytest.approx(sim, rel=1e-9, abs=0)
        else:  # the path, message and reduction terms exact: a tight bracket
            assert est.rel_error_bound < 0.05


def test_one_routing_serves_every_count():
    """The XOR patterns are routed once per model: a new count reuses them."""
    topo = resolve_topology(LEVELS)
    ubemu.estimate("all_reduce", 4 * 1001, topo, "halving_doubling")
    model = model_of(topo)
    kept = {k for k in model._memo if k[0] == "profiled"}
    assert any(k[3:] == ("xor", 1) for k in kept)
    ubemu.estimate("all_reduce", 4 * 77, topo, "halving_doubling")
    assert {k for k in model._memo if k[0] == "profiled"} == kept
