"""Preference pairs with a known answer, planted over real embedding rows.

In the spirit of LightGBM's ``make_ranking``: the embeddings are real (so their anisotropy
and clustering are the real ones) and only the labels are simulated, from a reward
direction we choose, so a head can be checked against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


@dataclass(frozen=True)
class PlantedPairs:
    """Pairs labelled by a known linear reward ``direction @ x``."""

    X_win: np.ndarray
    X_lose: np.ndarray
    groups: np.ndarray
    direction: np.ndarray
    label_error_rate: float


def random_direction(X: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """A unit direction along which the rows of ``X`` really vary: ``Cov(X) @ g``.

    With ``g`` standard Gaussian, each principal direction gets weight proportional to its
    variance. A direction drawn uniformly in R^d would put most of its weight where real
    embeddings barely vary (MiniLM vectors fill a narrow cone), a reward no response could
    express and no head could recover from any number of pairs.
    """
    Xc = X - X.mean(axis=0)
    u = Xc.T @ (Xc @ rng.standard_normal(X.shape[1]))
    return u / np.linalg.norm(u)


def make_preference_pairs(
    X: np.ndarray,
    n_pairs: int,
    random_state: int | None = None,
    *,
    beta: float = 4.0,
    direction: np.ndarray | None = None,
) -> PlantedPairs:
    """Sample ``n_pairs`` pairs of rows of ``X`` and Bradley-Terry labels from a planted reward.

    The reward ``r = direction @ x`` is standardised over ``X``; a pair (i, j) is labelled
    i-preferred with probability ``sigmoid(beta * (r_i - r_j))``. Each pair's group is its
    first row's index, so grouped splits never put the same first row on both sides.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Real embeddings.
    n_pairs : int
    random_state : int, optional
    beta : float, default=4.0
        Annotation quality (large: almost noiseless).
    direction : ndarray of shape (n_features,), optional
        The reward direction; by default :func:`random_direction`.
    """
    rng = np.random.RandomState(random_state)
    if direction is None:
        direction = random_direction(X, rng)
    r = X @ direction
    r = (r - r.mean()) / r.std()
    i = rng.randint(X.shape[0], size=n_pairs)
    j = (i + 1 + rng.randint(X.shape[0] - 1, size=n_pairs)) % X.shape[0]
    i_wins = rng.rand(n_pairs) < expit(beta * (r[i] - r[j]))
    win = np.where(i_wins, i, j)
    lose = np.where(i_wins, j, i)
    errors = float(np.mean(r[win] < r[lose]))
    return PlantedPairs(X[win], X[lose], i, direction, errors)
