"""Test configuration: Hypothesis profiles, a replayable seed, floating-point errors as failures.

* ``HYPOTHESIS_PROFILE=dev`` (default) runs 50 examples per property; ``ci`` runs 200
  and prints the reproduction blob. ``deadline=None``: first calls compile numba kernels.
* ``NONIDENT_TEST_SEED`` fixes the seed of the ``rng`` fixture; otherwise it is
  random and printed in the header, so a failure can be replayed.
"""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

np.seterr(all="warn", under="ignore")  # with filterwarnings=error, overflow/invalid/divide fail;
# underflow of a probability to 0.0 is a correctly rounded result, not an error

SEED = int(os.environ.get("NONIDENT_TEST_SEED", secrets.randbelow(2**32)))


def pytest_report_header(config: pytest.Config) -> str:
    return f"nonident: NONIDENT_TEST_SEED={SEED}, HYPOTHESIS_PROFILE={os.environ.get('HYPOTHESIS_PROFILE', 'dev')}"


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator seeded from NONIDENT_TEST_SEED (printed in the header)."""
    return np.random.default_rng(SEED)
