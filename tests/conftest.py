"""Hypothesis profiles: ``default`` (random, 300 examples), ``ci`` (the same, derandomised so a
CI run is reproducible) and ``fuzz`` (20,000 examples, for hunting). Pick one with
``UBEMU_HYPOTHESIS=fuzz make test-py``."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", settings.get_profile("default"), derandomize=True)
settings.register_profile("fuzz", settings.get_profile("default"), max_examples=20_000)
settings.load_profile(os.environ.get("UBEMU_HYPOTHESIS", "default"))
