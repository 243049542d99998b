"""Pinned selections: the exact rows every registered strategy (and every design option)
picks on fixed synthetic pools and seeds, so that a refactoring keeps every choice."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.active import STRATEGIES, DOptimal, PoolLeverage, VOptimal


class _Head:
    """A fitted linear head with a given direction (reward ``X @ coef_``)."""

    def __init__(self, coef):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.n_features_in_ = len(self.coef_)

    def reward(self, X):
        return np.asarray(X) @ self.coef_


def _pool():
    """90 candidates in 15 prompts (six each), lengths 0.2 to 4, row 7 a self pair, seven
    labelled rows in either sign, and a linear head."""
    rng = np.random.RandomState(2026)
    D = rng.standard_normal((90, 6)) * rng.uniform(0.2, 4.0, size=(90, 1))
    D[7] = 0.0
    labelled = np.vstack([D[11], -D[23], D[40], -D[41], D[60], D[61], -D[62]])
    groups = np.repeat(np.arange(15), 6)
    head = _Head([0.8, -0.5, 0.3, 0.0, 0.2, -0.1])
    return D, labelled, groups, head


OPTIONS = {
    "unit": {"normalize": "unit"},
    "cap": {"normalize": "cap"},
    "cap2": {"normalize": "cap", "max_norm": 2.0},
    "posterior": {"weighting": "posterior"},
    "cap1/prompt": {"max_per_prompt": 1},
    "mix": {"random_share": 0.4},
    "all": {"normalize": "unit", "weighting": "posterior", "max_per_prompt": 2, "random_share": 0.25},
    "prior": {"prior_strength": 3.0},
}


def _strategy(name):
    """A registered name, ``"<Design> <option>"`` or ``"PoolLeverage past_aware"``."""
    if name in STRATEGIES:
        return STRATEGIES[name]()
    if name == "PoolLeverage past_aware":
        return PoolLeverage(past_aware=True)
    cls, option = name.split(" ", 1)
    return {"DOptimal": DOptimal, "VOptimal": VOptimal}[cls](**OPTIONS[option])


def _select(strategy, seed, D, **kwargs):
    """The picks of ``strategy`` seeded in its constructor; the deprecated ``select(...,
    random_state=)`` must pick the same rows (overriding another constructor seed)."""
    picks = strategy.set_params(random_state=seed).select(D, **kwargs).tolist()
    with pytest.warns(DeprecationWarning, match=r"select\(random_state=\.\.\.\) is deprecated"):
        old = strategy.set_params(random_state=seed + 1).select(D, random_state=seed, **kwargs)
    assert old.tolist() == picks
    return picks


# (strategy, scenario, seed) -> rows picked, recorded before the strategies were refactored.
PINNED = {
    ("dopt", "cold", 0): [36, 9, 66, 29, 45, 51, 87, 14, 71, 30, 56, 35],
    ("dopt", "warm", 0): [64, 14, 88, 35, 55, 76, 66, 17, 29, 51, 70, 45],
    ("dopt", "cold", 5): [36, 9, 66, 29, 45, 51, 87, 14, 71, 30, 56, 35],
    ("dopt", "warm", 5): [64, 14, 88, 35, 55, 76, 66, 17, 29, 51, 70, 45],
    ("k-center", "cold", 0): [44, 66, 64, 87, 29, 30, 14, 82, 41, 36, 56, 51],
    ("k-center", "warm", 0): [14, 36, 66, 9, 56, 64, 31, 29, 71, 35, 87, 55],
    ("k-center", "cold", 5): [64, 35, 9, 56, 30, 71, 14, 29, 55, 36, 82, 6],
    ("k-center", "warm", 5): [14, 36, 66, 9, 56, 64, 31, 29, 71, 35, 87, 55],
    ("max-difference", "cold", 0): [2, 14, 54, 42, 67, 31, 46, 44, 79, 89, 8, 27],
    ("max-difference", "warm", 0): [9, 30, 63, 82, 18, 87, 31, 46, 36, 2, 71, 83],
    ("max-difference", "cold", 5): [40, 46, 41, 36, 53, 21, 11, 73, 35, 29, 49, 55],
    ("max-difference", "warm", 5): [9, 30, 63, 82, 18, 87, 31, 46, 36, 2, 71, 83],
    ("pool-leverage", "cold", 0): [36, 56, 35, 9, 87, 66, 14, 30, 29, 71, 63, 45],
    ("pool-leverage", "warm", 0): [55, 35, 64, 14, 66, 29, 76, 17, 88, 20, 51, 45],
    ("pool-leverage", "cold", 5): [36, 56, 35, 9, 87, 66, 14, 30, 29, 71, 63, 45],
    ("pool-leverage", "warm", 5): [55, 35, 64, 14, 66, 29, 76, 17, 88, 20, 51, 45],
    ("random", "cold", 0): [2, 14, 54, 42, 67, 31, 46, 44, 79, 89, 8, 27],
    ("random", "warm", 0): [30, 2, 70, 48, 9, 47, 45, 15, 87, 58, 33, 85],
    ("random", "cold", 5): [40, 46, 41, 36, 53, 21, 11, 73, 35, 29, 49, 55],
    ("random", "warm", 5): [50, 31, 12, 36, 25, 19, 42, 14, 45, 59, 26, 22],
    ("uncertainty", "cold", 0): [2, 14, 54, 42, 67, 31, 46, 44, 79, 89, 8, 27],
    ("uncertainty", "warm", 0): [39, 26, 77, 24, 13, 6, 65, 53, 34, 54, 19, 58],
    ("uncertainty", "cold", 5): [40, 46, 41, 36, 53, 21, 11, 73, 35, 29, 49, 55],
    ("uncertainty", "warm", 5): [39, 26, 77, 24, 13, 6, 65, 53, 34, 54, 19, 58],
    ("vopt", "cold", 0): [20, 63, 9, 17, 70, 51, 35, 45, 66, 71, 87, 14],
    ("vopt", "warm", 0): [76, 20, 89, 66, 35, 55, 17, 64, 51, 88, 45, 44],
    ("vopt", "cold", 5): [20, 63, 9, 17, 70, 51, 35, 45, 66, 71, 87, 14],
    ("vopt", "warm", 5): [76, 20, 89, 66, 35, 55, 17, 64, 51, 88, 45, 44],
    ("DOptimal unit", "warm", 0): [58, 28, 34, 55, 59, 73, 33, 26, 10, 13, 6, 39],
    ("DOptimal unit", "warm", 5): [58, 28, 34, 55, 59, 73, 33, 26, 10, 13, 6, 39],
    ("DOptimal cap", "warm", 0): [76, 34, 33, 55, 64, 89, 17, 44, 27, 28, 80, 42],
    ("DOptimal cap", "warm", 5): [76, 34, 33, 55, 64, 89, 17, 44, 27, 28, 80, 42],
    ("DOptimal cap2", "warm", 0): [58, 28, 34, 55, 39, 33, 42, 38, 80, 27, 25, 72],
    ("DOptimal cap2", "warm", 5): [58, 28, 34, 55, 39, 33, 42, 38, 80, 27, 25, 72],
    ("DOptimal posterior", "warm", 0): [14, 71, 31, 55, 66, 87, 45, 35, 51, 29, 56, 82],
    ("DOptimal posterior", "warm", 5): [14, 71, 31, 55, 66, 87, 45, 35, 51, 29, 56, 82],
    ("DOptimal cap1/prompt", "warm", 0): [64, 14, 88, 35, 55, 76, 66, 29, 51, 45, 20, 80],
    ("DOptimal cap1/prompt", "warm", 5): [64, 14, 88, 35, 55, 76, 66, 29, 51, 45, 20, 80],
    ("DOptimal mix", "warm", 0): [30, 2, 70, 48, 9, 14, 88, 29, 64, 55, 35, 76],
    ("DOptimal mix", "warm", 5): [50, 31, 12, 36, 25, 64, 55, 66, 35, 76, 14, 88],
    ("DOptimal all", "warm", 0): [30, 2, 70, 58, 28, 34, 55, 3, 64, 44, 47, 8],
    ("DOptimal all", "warm", 5): [50, 31, 12, 58, 28, 73, 13, 44, 34, 10, 59, 26],
    ("DOptimal prior", "warm", 0): [14, 64, 66, 35, 55, 76, 88, 29, 17, 49, 51, 45],
    ("DOptimal prior", "warm", 5): [14, 64, 66, 35, 55, 76, 88, 29, 17, 49, 51, 45],
    ("VOptimal unit", "warm", 0): [65, 53, 77, 12, 73, 58, 13, 10, 34, 38, 81, 47],
    ("VOptimal unit", "warm", 5): [65, 53, 77, 12, 73, 58, 13, 10, 34, 38, 81, 47],
    ("VOptimal cap", "warm", 0): [76, 20, 89, 17, 44, 80, 28, 78, 84, 32, 34, 55],
    ("VOptimal cap", "warm", 5): [76, 20, 89, 17, 44, 80, 28, 78, 84, 32, 34, 55],
    ("VOptimal cap2", "warm", 0): [76, 34, 77, 38, 80, 39, 42, 25, 53, 72, 48, 58],
    ("VOptimal cap2", "warm", 5): [76, 34, 77, 38, 80, 39, 42, 25, 53, 72, 48, 58],
    ("VOptimal posterior", "warm", 0): [76, 20, 36, 70, 66, 29, 9, 71, 45, 63, 35, 87],
    ("VOptimal posterior", "warm", 5): [76, 20, 36, 70, 66, 29, 9, 71, 45, 63, 35, 87],
    ("VOptimal cap1/prompt", "warm", 0): [76, 20, 89, 66, 35, 55, 17, 64, 51, 45, 79, 25],
    ("VOptimal cap1/prompt", "warm", 5): [76, 20, 89, 66, 35, 55, 17, 64, 51, 45, 79, 25],
    ("VOptimal mix", "warm", 0): [30, 2, 70, 48, 9, 76, 20, 35, 17, 55, 66, 64],
    ("VOptimal mix", "warm", 5): [50, 31, 12, 36, 25, 20, 76, 55, 66, 35, 45, 17],
    ("VOptimal all", "warm", 0): [30, 2, 70, 26, 24, 38, 64, 8, 12, 53, 65, 33],
    ("VOptimal all", "warm", 5): [50, 31, 12, 64, 58, 17, 38, 28, 80, 42, 10, 76],
    ("VOptimal prior", "warm", 0): [64, 14, 66, 33, 35, 17, 76, 55, 88, 51, 45, 70],
    ("VOptimal prior", "warm", 5): [64, 14, 66, 33, 35, 17, 76, 55, 88, 51, 45, 70],
    ("PoolLeverage past_aware", "warm", 0): [55, 64, 35, 14, 66, 29, 76, 17, 88, 20, 42, 45],
    ("PoolLeverage past_aware", "warm", 5): [55, 64, 35, 14, 66, 29, 76, 17, 88, 20, 42, 45],
    ("dopt", "tied", 0): [20, 8, 13, 19, 17],
    ("dopt", "tied", 5): [14, 18, 11, 20, 19],
    ("k-center", "tied", 0): [20, 8, 7, 13, 19],
    ("k-center", "tied", 5): [14, 18, 3, 1, 6],
    ("max-difference", "tied", 0): [11, 10, 22, 14, 20],
    ("max-difference", "tied", 5): [20, 2, 17, 18, 19],
    ("pool-leverage", "tied", 0): [11, 10, 22, 14, 20],
    ("pool-leverage", "tied", 5): [20, 2, 17, 18, 19],
    ("random", "tied", 0): [11, 10, 22, 14, 20],
    ("random", "tied", 5): [20, 2, 17, 18, 19],
    ("uncertainty", "tied", 0): [11, 10, 22, 14, 20],
    ("uncertainty", "tied", 5): [20, 2, 17, 18, 19],
    ("vopt", "tied", 0): [20, 8, 13, 19, 17],
    ("vopt", "tied", 5): [14, 18, 11, 20, 19],
}


@pytest.mark.parametrize(
    ("name", "scenario", "seed"), list(PINNED), ids=[" ".join(map(str, k)) for k in PINNED]
)
def test_every_strategy_picks_the_pinned_rows(name, scenario, seed):
    D, labelled, groups, head = _pool()
    strategy = _strategy(name)
    if scenario == "cold":  # no labels, no head
        picks = _select(strategy, seed, D, batch_size=12)
    elif scenario == "warm":  # labels, a head and the prompts
        picks = _select(strategy, seed, D, labelled=labelled, head=head, batch_size=12, groups=groups)
    else:  # "tied": eight copies of each of three directions
        tied = np.repeat(np.eye(3), 8, axis=0)
        picks = _select(strategy, seed, tied, labelled=2.0 * np.eye(3)[:1], batch_size=5)
    assert picks == PINNED[name, scenario, seed]


def test_every_registered_strategy_and_option_is_pinned():
    names = {name for name, _, _ in PINNED}
    assert set(STRATEGIES) <= names
    assert {f"{cls} {option}" for cls in ("DOptimal", "VOptimal") for option in OPTIONS} <= names
