"""Exact Best-of-N with a golden reward, from order statistics.

For a prompt with K candidates sorted by head reward (highest first), the candidate ranked
j-th (1-based) is the head's pick from a uniformly random N-subset exactly when it is in the
subset and the j − 1 candidates above it are not: probability C(K − j, N − 1) / C(K, N).
The expected golden score of the pick is the weighted sum of the sorted golden scores, and one
sort per prompt gives every N at once.

Ties in head reward. The pick among tied top candidates of a subset is uniform. Then every
member of a tie block (candidates with equal reward) is picked with the same probability, and
the block as a whole is picked with the probability the formula gives its positions under any
order inside it (the block is picked iff no higher candidate is drawn and some member is).
So we replace each candidate's golden score by the mean golden score of its tie block and
apply the formula unchanged. This is exact, not an approximation.
"""

from __future__ import annotations

from functools import lru_cache
from numbers import Integral
from typing import Literal

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from scipy.special import gammaln

from embrm._core.groups import Groups
from embrm._core.validation import check_scored
from embrm.evaluate._bootstrap import bootstrap, check_bootstrap_params, ratio_of_sums
from embrm.exceptions import DataError

NValue = int | Literal["all"]


@lru_cache(maxsize=64)
def _bon_weights(k: int, ns: tuple[int, ...]) -> np.ndarray:
    """Probability that the candidate ranked j-th of ``k`` is the pick among N.

    Returns
    -------
    weights : ndarray of shape (k, len(ns))
        ``weights[j - 1, i] = C(k - j, N - 1) / C(k, N)`` with ``N = ns[i]``, computed with
        log-gamma functions; each column sums to one.
    """
    j = np.arange(1, k + 1, dtype=np.float64)[:, None]
    n = np.asarray(ns, dtype=np.float64)[None, :]
    free = k - j - (n - 1)  # candidates below the pick that stay out of the subset
    possible = free >= 0
    free = np.where(possible, free, 0.0)
    log_w = (
        gammaln(k - j + 1)
        - gammaln(n)
        - gammaln(free + 1)
        - (gammaln(k + 1) - gammaln(n + 1) - gammaln(k - n + 1))
    )
    weights = np.where(possible, np.exp(log_w), 0.0)
    weights.flags.writeable = False
    return weights


def _tie_averaged_sorted_golden(reward: np.ndarray, golden: np.ndarray) -> np.ndarray:
    """Sort each row by reward (highest first); replace golden by its tie-block mean.

    Parameters
    ----------
    reward, golden : ndarray of shape (m, k)
        One row per group.

    Returns
    -------
    golden_sorted : ndarray of shape (m, k)
    """
    m, k = reward.shape
    order = np.argsort(-reward, axis=1, kind="stable")
    r = np.take_along_axis(reward, order, axis=1)
    g = np.take_along_axis(golden, order, axis=1)
    new_block = np.ones((m, k), dtype=bool)
    new_block[:, 1:] = r[:, 1:] != r[:, :-1]
    block = (np.cumsum(new_block, axis=1) - 1 + k * np.arange(m)[:, None]).ravel()
    sums = np.bincount(block, weights=g.ravel(), minlength=m * k)
    counts = np.bincount(block, minlength=m * k)
    return (sums[block] / counts[block]).reshape(m, k)


def _per_group_bon(
    reward: np.ndarray, golden: np.ndarray, groups: Groups, ns: tuple[int | None, ...]
) -> np.ndarray:
    """Exact expected golden score of the pick among N, per group.

    An N of None means each group's own size (``n="all"``).

    Returns
    -------
    values : ndarray of shape (n_groups, len(ns))
    """
    out = np.empty((groups.n_groups, len(ns)))
    for k, group_index, rows in groups.by_size:
        g = _tie_averaged_sorted_golden(reward[rows], golden[rows])
        out[group_index] = g @ _bon_weights(k, tuple(k if n is None else n for n in ns))
    return out


def check_n(n: object, groups: Groups) -> int | None:
    """Validate a Best-of-N size against the groups; return it, or None for "all"."""
    if isinstance(n, str) and n == "all":
        return None
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise DataError(f"'n' must be a positive integer or \"all\"; got {n!r}.")
    smallest, label = groups.smallest()
    if n > smallest:
        raise DataError(
            f"n={n} exceeds the size of group {label!r}, which has {smallest} "
            f"candidate(s): every group needs at least n candidates. Use n='all' "
            f"to pick among all of each group's candidates, or keep only groups "
            f"with at least {n} candidates."
        )
    return int(n)


def best_of_n(reward: ArrayLike, golden: ArrayLike, groups: ArrayLike, n: NValue) -> float:
    """Exact expected golden score of the head's pick among ``n`` random candidates.

    For each group (prompt), the expectation over all ``C(K, n)`` subsets of its ``K``
    candidates of the golden score of the subset's highest-reward candidate, computed
    exactly from order statistics; then averaged over groups, each group weighing the same.
    Ties in ``reward`` are broken uniformly at random (see the module notes).

    Parameters
    ----------
    reward : array-like of shape (n_rows,)
        The head's reward of each candidate.
    golden : array-like of shape (n_rows,)
        The golden score of each candidate.
    groups : array-like of shape (n_rows,)
        Prompt id of each candidate.
    n : int or "all"
        Number of candidates drawn per group. Every group needs at least ``n``;
        ``"all"`` picks among all of each group's candidates.

    Returns
    -------
    value : float
        The mean over groups of the expected golden score of the pick.

    Raises
    ------
    DataError
        On mismatched lengths, empty input, NaN or infinite scores, or an ``n`` that is not
        a positive integer or exceeds a group's size.

    Examples
    --------
    >>> from embrm.evaluate import best_of_n
    >>> reward = [3.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    >>> golden = [1.0, 0.0, 0.5, 0.2, 0.1, 0.0]
    >>> groups = [0, 0, 0, 1, 1, 1]
    >>> round(best_of_n(reward, golden, groups, n=1), 6)  # a random pick
    0.3
    >>> best_of_n(reward, golden, groups, n=3)  # the highest reward of each prompt
    0.5
    """
    r, g, grp = check_scored(reward, golden, groups)
    return float(_per_group_bon(r, g, grp, (check_n(n, grp),)).mean())


def bon_components(
    reward: np.ndarray, golden: np.ndarray, groups: Groups, ns: tuple[int | None, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group picked, golden-picked and random values, each of shape (n_groups, m).

    The golden pick is Best-of-N with the golden score as reward (the ceiling); the random baseline is the
    group's mean golden score (the same formula with a constant reward, for every N).
    """
    bon = _per_group_bon(reward, golden, groups, ns)
    golden_bon = _per_group_bon(golden, golden, groups, ns)
    random = np.broadcast_to(groups.mean(golden)[:, None], bon.shape)
    return bon, golden_bon, random


def gain_terms(bon: np.ndarray, golden_bon: np.ndarray, random: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group numerator (bon − random) and denominator (golden_bon − random) of the gain.

    At N = 1, or in a group with a constant golden score, both are zero in exact arithmetic
    but rounding noise here. Differences below 1e-10 of the largest score are set to zero
    so that the gain is undefined (0/0, reported as null) instead of a ratio of noise.
    """
    tol = 1e-10 * max(np.abs(golden_bon).max(), np.abs(random).max())
    num, den = bon - random, golden_bon - random
    num[np.abs(num) <= tol] = 0.0
    den[np.abs(den) <= tol] = 0.0
    return num, den


def bon_curve(
    reward: ArrayLike,
    golden: ArrayLike,
    groups: ArrayLike,
    *,
    n_max: int | None = None,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Exact Best-of-N curve for N = 1 .. ``n_max``, one sort per group.

    Parameters
    ----------
    reward, golden, groups : array-like of shape (n_rows,)
        As in :func:`best_of_n`.
    n_max : int, optional
        Largest N; default and upper limit: the smallest group's size.
    n_bootstrap : int, default=0
        Bootstrap resamples of the groups for confidence intervals; 0 for none.
    confidence : float, default=0.95
        Coverage of the percentile intervals.
    random_state : int, RandomState or None, default=None
        Seeds the bootstrap resampling over prompts; an int gives reproducible intervals.

    Returns
    -------
    curve : polars.DataFrame
        One row per N, columns ``n``; ``bon`` (expected golden score of the pick, as
        :func:`best_of_n`); ``random`` (mean golden score: the pick of a random candidate);
        ``golden_bon`` (expected best golden score among N, the same formula with
        ``reward=golden``); ``normalised_gain`` = (bon − random) / (golden_bon − random), both
        sides averaged over groups first, null at N = 1 where it is 0/0; ``kl`` =
        log N − (N − 1)/N, the usual Best-of-N KL bound for plotting against. With
        ``n_bootstrap > 0`` also ``bon_ci_low``, ``bon_ci_high``,
        ``normalised_gain_ci_low``, ``normalised_gain_ci_high``.

    Examples
    --------
    >>> from embrm.evaluate import bon_curve
    >>> curve = bon_curve([3.0, 1.0, 2.0, 0.0, 1.0, 2.0], [1.0, 0.0, 0.5, 0.2, 0.1, 0.0], [0, 0, 0, 1, 1, 1])
    >>> curve["n"].to_list(), curve.columns
    ([1, 2, 3], ['n', 'bon', 'random', 'golden_bon', 'normalised_gain', 'kl'])
    """
    r, g, grp = check_scored(reward, golden, groups)
    check_bootstrap_params(n_bootstrap, confidence)
    if n_max is None:
        n_max = grp.smallest()[0]
    elif check_n(n_max, grp) is None:
        raise DataError("'n_max' must be a positive integer; \"all\" is not a single size.")
    ns = tuple(range(1, int(n_max) + 1))
    bon, golden_bon, random = bon_components(r, g, grp, ns)
    m = len(ns)
    ones = np.ones_like(bon)
    gain_num, gain_den = gain_terms(bon, golden_bon, random)
    point, low, high = bootstrap(
        ratio_of_sums(
            np.hstack([bon, golden_bon, random, gain_num]), np.hstack([ones, ones, ones, gain_den])
        ),
        grp.n_groups,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        random_state=random_state,
    )
    n_arr = np.asarray(ns, dtype=np.float64)
    columns = {
        "n": np.asarray(ns, dtype=np.int64),
        "bon": point[:m],
        "random": point[2 * m : 3 * m],
        "golden_bon": point[m : 2 * m],
        "normalised_gain": point[3 * m :],
        "kl": np.log(n_arr) - (n_arr - 1) / n_arr,
    }
    if n_bootstrap:
        columns |= {
            "bon_ci_low": low[:m],
            "bon_ci_high": high[:m],
            "normalised_gain_ci_low": low[3 * m :],
            "normalised_gain_ci_high": high[3 * m :],
        }
    return pl.DataFrame(columns).fill_nan(None)
