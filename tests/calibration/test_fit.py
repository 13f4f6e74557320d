"""``ubemu.calibration.fit``: known parameters recovered from ubemu's own times, what the
rows cannot determine, too few rows, and an outlier that does not pull the fit."""

import numpy as np
import pytest

from ubemu.calibration import fit, measurements
from ubemu.calibration import params as pm
from ubemu.errors import UbemuError
from ubemu.machine.spec import load_topology

BASE = load_topology("dgx-h100")
TRUTH = {"params.overhead_ns": 3300.0, "params.send_overhead_ns": 1400.0,
         "params.fill_GBps": 20.0, "params.efficiency": 0.85}
GROUP = "start=0,stride=1,count=8"


def points():
    """Three algorithms of all_reduce and two of alltoall, 1 KiB .. 1 GiB."""
    out = []
    for coll, algs in (("all_reduce", ("ring", "direct", "recursive_doubling")),
                       ("alltoall", ("pairwise", "direct"))):
        for alg in algs:
            out += [measurements.CollectivePoint(coll, 1 << k, GROUP, algorithm=alg)
                    for k in range(10, 31, 4)]
    return out


def measured(topo, pts):
    return [p.evaluate(topo)[0] for p in pts]


def test_known_parameters_recovered_within_one_percent():
    pts = points()
    truth = pm.with_values(BASE, TRUTH)
    res = fit.fit(BASE, list(TRUTH), pts, range(len(pts)), measured(truth, pts))
    assert not res.undetermined and res.iterations > 1
    for key, want in TRUTH.items():
        assert res.fitted[key] == pytest.approx(want, rel=0.01), key
        assert res.base[key] == pm.fittable(BASE)[key]
    assert res.rms(res.after_s, np.array(measured(truth, pts))) < 1e-6
    assert res.rms(res.before_s, np.array(measured(truth, pts))) > 0.05


def test_what_the_rows_cannot_determine():
    pts = points()[18:]                             # alltoall only: nothing reduces
    truth = pm.with_values(BASE, {"params.efficiency": 0.85, "params.overhead_ns": 3300.0})
    keys = ["params.efficiency", "level.node.bw_GBps", "params.overhead_ns",
            "params.hop_lat_ns", "params.reduce_GBps"]
    res = fit.fit(BASE, keys, pts, range(len(pts)), measured(truth, pts),
                  start={"params.hop_lat_ns": 100.0, "params.reduce_GBps": 500.0})
    why = dict(res.undetermined)
    # the efficiency and the link rate only count as their product: the bounded one goes
    assert "level.node.bw_GBps" in why["params.efficiency"]
    assert why["params.reduce_GBps"] == "no row depends on it"
    # the product is what was fitted: 25 GB/s x 0.85 / the base efficiency
    assert res.fitted["level.node.bw_GBps"] == pytest.approx(
        25 * 0.85 / BASE.params.efficiency, rel=0.01)


def test_refusals():
    pts = points()[:3]
    with pytest.raises(UbemuError, match="3 distinct measurements for 4 parameters"):
        fit.fit(BASE, list(TRUTH), pts, [0, 1, 2, 2], [1e-5] * 4)
    with pytest.raises(UbemuError, match="hop_lat_ns is 0 .* starting value"):
        fit.fit(BASE, ["params.hop_lat_ns"], pts, [0, 1, 2], [1e-5] * 3)


def test_one_outlier_does_not_pull_the_robust_fit():
    pts = points()[:18]
    keys = ["params.overhead_ns", "params.efficiency"]
    truth = pm.with_values(BASE, {k: TRUTH[k] for k in keys})
    times = measured(truth, pts)
    times[3] *= 5                                  # one row measured 5x too slow
    robust = fit.fit(BASE, keys, pts, range(len(pts)), times)
    plain = fit.fit(BASE, keys, pts, range(len(pts)), times, robust_scale=None)
    err = {name: max(abs(r.fitted[k] / TRUTH[k] - 1) for k in keys)
           for name, r in (("robust", robust), ("plain", plain))}
    assert err["robust"] < 0.02 < err["plain"]
