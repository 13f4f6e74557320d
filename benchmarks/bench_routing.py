"""Routing speed and topology memory on the million-NPU preset (emulator wall clock).

Run: ``python benchmarks/bench_routing.py``, or
``.venv/bin/python -m pytest benchmarks/bench_routing.py --benchmark-only -s``.
Targets: 1,000,000 routes in under 2 s on one core; topology state < 64 B per NPU.
"""

import sys
import time

import numpy as np
import pytest
import targets

from ubemu.machine.spec import load_topology

N_PAIRS = 1_000_000


def state_nbytes(topo):
    """Bytes held by a Topology object itself: its arrays plus its small Python fields.

    Per-link arrays are not held by the object (they are built on demand and counted
    separately by :func:`link_arrays_nbytes`).
    """
    total = sys.getsizeof(topo)
    for value in vars(topo).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif isinstance(value, tuple):
            total += sys.getsizeof(value) + sum(sys.getsizeof(v) for v in value)
        else:
            total += sys.getsizeof(value)
    return total


def link_arrays_nbytes(topo):
    """Bytes of the per-link arrays a timing run allocates (capacity and latency)."""
    return topo.link_capacity_GBps().nbytes + topo.link_latency_ns().nbytes


@pytest.fixture(scope="module")
def supercluster():
    return load_topology("atlas960-supercluster")


def random_pairs(topo):
    rng = np.random.default_rng(0)
    src = rng.integers(0, topo.n_npus, N_PAIRS)
    dst = rng.integers(0, topo.n_npus, N_PAIRS)
    topo.route(src[:8], dst[:8])  # compile, or load from Numba's on-disk cache, outside timing
    return src, dst


def report(topo, t_s, paths, n_hops):
    """Print the routing and memory figures and report their targets."""
    from ubemu.kernels import routing

    state = state_nbytes(topo)
    links = link_arrays_nbytes(topo)
    print(f"\n{topo.name}: {topo.n_npus:,} NPUs, {topo.n_links:,} directed links, "
          f"diameter {topo.diameter_hops}")
    print(f"route {N_PAIRS:,} pairs: {t_s * 1e3:.1f} ms (min of 5), "
          f"{t_s / N_PAIRS * 1e9:.1f} ns per route, mean hops {n_hops.mean():.2f}")
    stats = routing.route_many.stats
    print(f"numba cache of route_many: {sum(stats.cache_hits.values())} hit(s), "
          f"{sum(stats.cache_misses.values())} miss(es)")
    print(f"topology state: {state:,} B = {state / topo.n_npus:.4f} B/NPU (target < 64)")
    print(f"per-link arrays (capacity + latency, float64): {links / 1e6:,.1f} MB = "
          f"{links / topo.n_npus:.1f} B/NPU, {links / topo.n_links:.0f} B/link")
    print(f"route outputs: {(paths.nbytes + n_hops.nbytes + 8 * N_PAIRS) / 1e6:.1f} MB")
    targets.target("route 1M random pairs, atlas960-supercluster (min of 5)", t_s, "<", 2.0,
                   "s")
    targets.target("topology state per NPU, atlas960-supercluster", state / topo.n_npus, "<",
                   64, "B")


def test_route_million_pairs(benchmark, supercluster):
    from ubemu.kernels import routing

    topo = supercluster
    src, dst = random_pairs(topo)
    compiled = len(routing.route_many.signatures)
    paths, n_hops, _ = benchmark.pedantic(topo.route, args=(src, dst), rounds=5, iterations=1)
    assert len(routing.route_many.signatures) == compiled == 1, "route_many recompiled"
    assert n_hops.max() <= topo.diameter_hops and paths.max() < topo.n_links
    report(topo, benchmark.stats.stats.min, paths, n_hops)


def test_build_supercluster(benchmark):
    topo = benchmark(load_topology, "atlas960-supercluster")
    assert topo.n_npus == 1_006_720
    print(f"\nload + build atlas960-supercluster: {benchmark.stats.stats.min * 1e3:.2f} ms")


def main():
    """The same figures without pytest: the best of 5 routings, and one build."""
    t0 = time.perf_counter()
    topo = load_topology("atlas960-supercluster")
    print(f"load + build atlas960-supercluster: {(time.perf_counter() - t0) * 1e3:.2f} ms")
    src, dst = random_pairs(topo)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        paths, n_hops, _ = topo.route(src, dst)
        best = min(best, time.perf_counter() - t0)
    report(topo, best, paths, n_hops)


if __name__ == "__main__":
    targets.run_script(main)
