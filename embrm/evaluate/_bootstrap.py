"""Percentile bootstrap over prompts, vectorised through group weights.

Every statistic in :mod:`embrm.evaluate` is written as a function of one weight per group
(how many times the group was drawn). The point estimate is that function at weights of
one; a bootstrap resample is the same function at multinomial counts. Per-group quantities
are thus computed once, and each resample costs one matrix product, not a recomputation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from embrm.exceptions import DataError

#: Upper bound on the entries of one block of resample counts (rows × groups).
_BLOCK_ENTRIES = 1 << 21

Statistic = Callable[[np.ndarray], np.ndarray]


def check_bootstrap_params(n_bootstrap: int, confidence: float) -> None:
    """Raise DataError for a negative resample count or a confidence outside (0, 1)."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, Integral) or n_bootstrap < 0:
        raise DataError(
            f"'n_bootstrap' must be an integer >= 0 (0 disables confidence intervals); got {n_bootstrap!r}."
        )
    if isinstance(confidence, bool) or not isinstance(confidence, Real) or not (0 < confidence < 1):
        raise DataError(
            f"'confidence' must be a float in the open range (0, 1), e.g. 0.95; got {confidence!r}."
        )


def _resample_counts(n_groups: int, n_bootstrap: int, rng: np.random.RandomState) -> Iterator[np.ndarray]:
    """Yield blocks of shape (b, n_groups): how often each group is drawn per resample."""
    block = max(1, _BLOCK_ENTRIES // n_groups)
    for start in range(0, n_bootstrap, block):
        b = min(block, n_bootstrap - start)
        draws = rng.randint(0, n_groups, size=(b, n_groups))
        draws += np.arange(b)[:, None] * n_groups
        yield np.bincount(draws.ravel(), minlength=b * n_groups).reshape(b, n_groups).astype(np.float64)


def bootstrap_samples(
    statistic: Statistic,
    n_groups: int,
    *,
    n_bootstrap: int,
    random_state: int | np.random.RandomState | None,
) -> tuple[np.ndarray, np.ndarray]:
    """A vector of group-weighted statistics on the data and on each bootstrap resample.

    Parameters
    ----------
    statistic : callable
        Maps group weights of shape (b, n_groups) to statistics of shape (b, m).
    n_groups : int
        Number of groups (prompts) to resample.
    n_bootstrap : int
        Number of resamples; may be 0.
    random_state : int, RandomState or None
        Seed of the resampling; the same seed gives the same resamples for every statistic
        over the same number of groups.

    Returns
    -------
    point : ndarray of shape (m,)
        The statistic on the data (all weights one).
    samples : ndarray of shape (n_bootstrap, m)
        The statistic on each resample; NaN where it is undefined (e.g. a 0/0 ratio).
    """
    point = statistic(np.ones((1, n_groups)))[0]
    rng = check_random_state(random_state)
    with np.errstate(divide="ignore", invalid="ignore"):
        blocks = [statistic(c) for c in _resample_counts(n_groups, n_bootstrap, rng)]
    return point, np.concatenate(blocks) if blocks else np.empty((0, point.size))


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Ends of the percentile interval of each column of ``samples``, NaNs left out.

    Returns NaN ends for a column with no defined resample, and for no resamples at all.
    """
    if samples.shape[0] == 0:
        nan = np.full(samples.shape[1], np.nan)
        return nan, nan.copy()
    alpha = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN ends
        low, high = np.nanquantile(samples, [alpha, 1.0 - alpha], axis=0)
    return low, high


def bootstrap(
    statistic: Statistic,
    n_groups: int,
    *,
    n_bootstrap: int,
    confidence: float,
    random_state: int | np.random.RandomState | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimates and percentile intervals of a vector of group-weighted statistics.

    Parameters
    ----------
    statistic, n_groups, n_bootstrap, random_state
        As in :func:`bootstrap_samples`; ``n_bootstrap=0`` gives NaN intervals.
    confidence : float
        Coverage of the percentile interval, e.g. 0.95.

    Returns
    -------
    point, low, high : ndarray of shape (m,)
        The statistic on the data, and the interval's ends. Resamples on which a
        statistic is undefined (NaN, e.g. a 0/0 ratio) are left out of its interval.
    """
    point, samples = bootstrap_samples(
        statistic, n_groups, n_bootstrap=n_bootstrap, random_state=random_state
    )
    return point, *percentile_interval(samples, confidence)


def ratio_of_sums(numerator: np.ndarray, denominator: np.ndarray) -> Statistic:
    """Statistic ``sum_g w_g num_g / sum_g w_g den_g`` for per-group arrays (n_groups, m).

    A mean over groups is the case ``denominator = 1``; a mean over the groups that
    qualify is ``denominator = 1[qualifies]``; a pooled rate is counts over counts.
    """

    def statistic(weights: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (weights @ numerator) / (weights @ denominator)

    return statistic
