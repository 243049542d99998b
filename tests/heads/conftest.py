"""Synthetic pairs for the head tests (fast, no model needed), from the public
:func:`embrm.testing.make_preference_pairs`; real-data tests use the session fixtures of
``tests/conftest.py``."""

from __future__ import annotations

import pytest

from embrm.testing import PlantedPairs, make_preference_pairs

Pairs = PlantedPairs


def gaussian_pairs(
    n_pairs: int = 400, n_features: int = 32, n_groups: int = 40, seed: int = 0
) -> PlantedPairs:
    """Unit-norm anisotropic Gaussian "embeddings" labelled by a linear BT reward."""
    return make_preference_pairs(n_pairs, n_features, n_groups=n_groups, random_state=seed)


@pytest.fixture(scope="session")
def pairs() -> PlantedPairs:
    """400 training pairs, 32-d, 40 groups."""
    return gaussian_pairs(n_pairs=700).take(slice(0, 400))


@pytest.fixture(scope="session")
def test_pairs() -> PlantedPairs:
    """300 held-out pairs from the same distribution and reward as ``pairs``."""
    return gaussian_pairs(n_pairs=700).take(slice(400, 700))


@pytest.fixture(scope="session", params=[0, 1], ids=["seed0", "seed1"])
def wide_split(request) -> tuple[PlantedPairs, PlantedPairs]:
    """1,200 training and 800 held-out pairs, 64-d, from two seeds."""
    data = gaussian_pairs(n_pairs=2000, n_features=64, seed=request.param)
    return data.take(slice(0, 1200)), data.take(slice(1200, 2000))
