"""Shared fixtures for the MCMC tests."""

import pytest

from tests.mcmc.gaussians import make_gaussian


@pytest.fixture(scope="module")
def gaussian10():
    """A rotated 10-d Gaussian with condition number 10."""
    return make_gaussian(10, 1.0, seed=0)
