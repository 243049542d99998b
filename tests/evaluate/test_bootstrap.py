"""The bootstrap over prompts against direct computations: resample counts, blocks, intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from embrm.evaluate._bootstrap import (
    _BLOCK_ENTRIES,
    bootstrap,
    bootstrap_samples,
    check_bootstrap_params,
    percentile_interval,
    ratio_of_sums,
)
from embrm.exceptions import DataError


def _recording(statistic):
    """``statistic`` that also records every weight matrix it is given."""
    seen: list[np.ndarray] = []

    def wrapped(weights):
        seen.append(weights.copy())
        return statistic(weights)

    return wrapped, seen


def test_resamples_are_multinomial_counts_of_the_seeded_draws():
    n_groups, n_bootstrap = 7, 40
    statistic, seen = _recording(lambda w: w)
    point, samples = bootstrap_samples(statistic, n_groups, n_bootstrap=n_bootstrap, random_state=3)
    np.testing.assert_array_equal(point, np.ones(n_groups))
    assert seen[0].shape == (1, n_groups) and len(seen) == 2  # the data, then one block
    draws = np.random.RandomState(3).randint(0, n_groups, size=(n_bootstrap, n_groups))
    expected = np.array([np.bincount(row, minlength=n_groups) for row in draws], dtype=np.float64)
    assert samples.dtype == np.float64 and seen[1].dtype == np.float64
    np.testing.assert_array_equal(samples, expected)
    np.testing.assert_array_equal(samples.sum(axis=1), np.full(n_bootstrap, n_groups))
    rng = np.random.RandomState(3)
    _, again = bootstrap_samples(lambda w: w, n_groups, n_bootstrap=n_bootstrap, random_state=rng)
    np.testing.assert_array_equal(again, expected)  # a RandomState is used as it is


def test_blocks_hold_at_most_the_bound_and_give_the_unblocked_counts():
    n_groups = 2048  # blocks of 2^21 // 2048 = 1024 resamples
    statistic, seen = _recording(lambda w: w[:, :3])
    _, samples = bootstrap_samples(statistic, n_groups, n_bootstrap=2500, random_state=0)
    assert [w.shape[0] for w in seen[1:]] == [1024, 1024, 452]
    counts = np.random.RandomState(0).randint(0, n_groups, size=(2500, n_groups))
    expected = np.stack([(counts == g).sum(axis=1) for g in range(3)], axis=1)
    np.testing.assert_array_equal(samples, expected)


def test_more_groups_than_the_bound_take_one_resample_per_block():
    n_groups = _BLOCK_ENTRIES + 1
    statistic, seen = _recording(lambda w: w.sum(axis=1, keepdims=True))
    _, samples = bootstrap_samples(statistic, n_groups, n_bootstrap=2, random_state=0)
    assert [w.shape for w in seen[1:]] == [(1, n_groups), (1, n_groups)]
    np.testing.assert_array_equal(samples, [[n_groups], [n_groups]])


def test_no_resamples_give_an_empty_matrix_and_nan_intervals():
    point, samples = bootstrap_samples(lambda w: w[:, :2] * 2.0, 5, n_bootstrap=0, random_state=0)
    np.testing.assert_array_equal(point, [2.0, 2.0])
    assert samples.shape == (0, 2)
    point, low, high = bootstrap(lambda w: w[:, :2] * 2.0, 5, n_bootstrap=0, confidence=0.9, random_state=0)
    assert np.isnan(low).all() and np.isnan(high).all() and low.shape == (2,)
    low[0] = 1.0
    assert np.isnan(high[0])  # two arrays, not one array twice


def test_undefined_resamples_raise_no_warning():
    def statistic(weights):  # 1 / 0 and 0 / 0 where group 0 is not drawn
        return np.stack([1.0 / weights[:, 0], (weights[:, 1] - weights[:, 1]) / weights[:, 0]], axis=1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, samples = bootstrap_samples(statistic, 3, n_bootstrap=100, random_state=0)
        low, high = percentile_interval(np.full((4, 2), np.nan), 0.9)  # all-NaN columns
    assert np.isinf(samples[:, 0]).any() and np.isnan(samples[:, 1]).any()
    assert np.isnan(low).all() and np.isnan(high).all()


def test_percentile_interval_is_the_linear_quantile_per_column_without_nans():
    samples = np.stack([np.arange(101.0), 10.0 * np.arange(101.0)], axis=1)
    low, high = percentile_interval(samples, 0.9)
    np.testing.assert_allclose(low, [5.0, 50.0])
    np.testing.assert_allclose(high, [95.0, 950.0])
    with_nans = np.vstack([samples, np.full((50, 2), np.nan)])
    np.testing.assert_allclose(np.vstack(percentile_interval(with_nans, 0.9)), [[5.0, 50.0], [95.0, 950.0]])
    one = percentile_interval(samples[:1], 0.5)  # a single resample: both ends are it
    np.testing.assert_array_equal(np.vstack(one), [[0.0, 0.0], [0.0, 0.0]])


def test_bootstrap_returns_the_point_and_the_interval_of_the_samples():
    numerator = np.arange(1.0, 9.0)[:, None] * np.array([1.0, 2.0])
    statistic = ratio_of_sums(numerator, np.ones((8, 2)))
    point, low, high = bootstrap(statistic, 8, n_bootstrap=300, confidence=0.8, random_state=5)
    np.testing.assert_allclose(point, [4.5, 9.0])
    _, samples = bootstrap_samples(statistic, 8, n_bootstrap=300, random_state=5)
    expected = np.quantile(samples, [0.1, 0.9], axis=0)
    np.testing.assert_allclose(np.vstack([low, high]), expected)


def test_ratio_of_sums_closed_form():
    numerator = np.array([[1.0, 0.0], [2.0, 3.0], [3.0, 0.0]])
    denominator = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    statistic = ratio_of_sums(numerator, denominator)
    weights = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = statistic(weights)
    np.testing.assert_allclose(values[:, 0], [6.0 / 4.0, 5.0 / 4.0])
    assert values[0, 1] == 3.0 and np.isnan(values[1, 1])  # 0 / 0 where no row qualifies
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inf = ratio_of_sums(np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]]))(np.array([[1.0, 0.0]]))
    assert inf.tolist() == [[np.inf]]  # x / 0, no warning either


def test_check_bootstrap_params():
    check_bootstrap_params(0, 0.95)
    check_bootstrap_params(np.int64(5), np.float32(0.5))
    n_message = r"^'n_bootstrap' must be an integer >= 0 \(0 disables confidence intervals\); got "
    for bad in (-1, True, 2.0, "10"):
        with pytest.raises(DataError, match=n_message + rf"{bad!r}\.$"):
            check_bootstrap_params(bad, 0.95)
    confidence_message = r"^'confidence' must be a float in the open range \(0, 1\), e\.g\. 0\.95; got "
    for bad in (0, 0.0, 1.0, 95, True, "0.9"):
        with pytest.raises(DataError, match=confidence_message + rf"{bad!r}\.$"):
            check_bootstrap_params(10, bad)
