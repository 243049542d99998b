"""Synthetic pairs for the head tests (fast, no model needed); real-data tests use the
session fixtures of ``tests/conftest.py``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import expit


@dataclass(frozen=True)
class Pairs:
    X_win: np.ndarray
    X_lose: np.ndarray
    groups: np.ndarray
    direction: np.ndarray


def gaussian_pairs(n_pairs: int = 400, n_features: int = 32, n_groups: int = 40, seed: int = 0) -> Pairs:
    """Unit-norm anisotropic Gaussian "embeddings" labelled by a linear BT reward."""
    rng = np.random.RandomState(seed)
    scales = 1.0 / np.arange(1, n_features + 1) ** 0.5
    offset = 0.5 * rng.standard_normal(n_features) / np.sqrt(n_features)

    def embed(n: int) -> np.ndarray:
        Z = rng.standard_normal((n, n_features)) * scales + offset
        return (Z / np.linalg.norm(Z, axis=1, keepdims=True)).astype(np.float32)

    A, B = embed(n_pairs), embed(n_pairs)
    direction = rng.standard_normal(n_features) * scales
    direction /= np.linalg.norm(direction)
    margin = (A - B) @ direction
    a_wins = rng.rand(n_pairs) < expit(4.0 * margin / margin.std())
    X_win = np.where(a_wins[:, None], A, B)
    X_lose = np.where(a_wins[:, None], B, A)
    groups = rng.randint(n_groups, size=n_pairs)
    return Pairs(X_win, X_lose, groups, direction)


def _rows(p: Pairs, rows: slice) -> Pairs:
    return Pairs(p.X_win[rows], p.X_lose[rows], p.groups[rows], p.direction)


@pytest.fixture(scope="session")
def pairs() -> Pairs:
    """400 training pairs, 32-d, 40 groups."""
    return _rows(gaussian_pairs(n_pairs=700), slice(0, 400))


@pytest.fixture(scope="session")
def test_pairs() -> Pairs:
    """300 held-out pairs from the same distribution and reward as ``pairs``."""
    return _rows(gaussian_pairs(n_pairs=700), slice(400, 700))


@pytest.fixture(scope="session", params=[0, 1], ids=["seed0", "seed1"])
def wide_split(request) -> tuple[Pairs, Pairs]:
    """1,200 training and 800 held-out pairs, 64-d, from two seeds."""
    data = gaussian_pairs(n_pairs=2000, n_features=64, seed=request.param)
    return _rows(data, slice(0, 1200)), _rows(data, slice(1200, 2000))
