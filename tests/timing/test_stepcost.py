"""The closed forms' step arithmetic (ubemu.timing.stepcost): a step of one message on a
GridFlat, timed without its shape (``step``'s fast path), gives what the shape gives."""

import functools
import itertools
from dataclasses import replace

import pytest

import ubemu
from ubemu.algorithms.bounds import model_of
from ubemu.machine.topology import Topology
from ubemu.timing.costmodel import GridFlat
from ubemu.timing.shapes import Cost, Sizes, Xor
from ubemu.timing.stepshape import Spec


def _shape_path(model, msgs, reduce, engines):
    """The step as its shape, through the general figures (what ``step`` did before)."""
    return model._cost_of(Spec("msgs", msgs, reduce, engines))


def _state(model):
    return model.uneven, model.routed, frozenset(model.asked)


def _same(a, b):
    assert isinstance(a, Cost) and isinstance(b, Cost)
    assert float(a).hex() == float(b).hex()
    assert (a.transfers, a.peak, a.held, a.moved, a.parts, a.hidden) == \
        (b.transfers, b.peak, b.held, b.moved, b.parts, b.hidden)


@pytest.mark.parametrize("topo,params", [
    ("ub-mesh-pod", {}),  # two axes and trunks: every pattern routed
    ("full_mesh:4,ring:6", {"send_overhead_ns": 300, "recv_overhead_ns": 700}),
    ("switch:8,switch:16:oversub=2", {"fill_bytes": 4096, "fill_GBps": 20,
                                      "reduce_GBps": 80, "slices": 2}),
])
def test_one_message_on_a_grid_is_timed_as_its_shape_is(topo, params):
    base = ubemu.load_topology(topo)
    topology = Topology(base.levels, f"{base.name}+costs", replace(base.params, **params))
    model = model_of(topology)
    gf = model.flat_axis()
    assert isinstance(gf, GridFlat) and gf.p > 2
    p = gf.p
    partners = [1, -1, 3, p - 1] + ([Xor(1), Xor(p // 2)] if p & (p - 1) == 0 else [])
    sizes = [1, 4096, 3 << 20, Sizes.between(4000, 4096), Sizes.between(0, 8),
             Sizes(model.cut(p * 5 + 3, p) * 4)]
    protocols = [((1.0, 1.0), None), ((2.0, 0.5), None),
                 ((1.5, 0.5), {c.name: 0.25 + 0.5 * (k % 2)
                               for k, c in enumerate(topology.link_classes)})]
    checked = 0
    for (proto, class_bw), mode, q, b, reduce, engines in itertools.product(
            protocols, ("hi", "lo"), partners, sizes, (False, True), (1, 3)):
        model.proto, model.class_bw, model.mode = proto, class_bw, mode
        answers = []
        for path in (model.step, functools.partial(_shape_path, model)):
            model.reset_call()
            model.uneven = False
            answers.append((path([(gf, q, b)], reduce, engines), _state(model)))
        _same(answers[0][0], answers[1][0])
        assert answers[0][1] == answers[1][1]
        checked += 1
    model.proto, model.class_bw, model.mode = (1.0, 1.0), None, "hi"
    assert checked == len(protocols) * 2 * len(partners) * len(sizes) * 4
