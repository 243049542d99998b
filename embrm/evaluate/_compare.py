"""Paired comparison of two rewards on the same responses, bootstrapped over prompts.

Each metric of :func:`evaluate_rewards` (or :func:`evaluate_pairs`) is a ratio of sums of
per-prompt quantities. The difference of two such ratios is again a function of one weight
per prompt, so a single bootstrap, drawing the same prompts for both rewards, gives the
interval of the difference itself. It is narrower than the two separate intervals suggest
whenever the rewards agree on which prompts are easy.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from embrm._core.groups import Groups
from embrm._core.validation import check_scored, check_scores
from embrm.evaluate._bon import NValue, _per_group_bon, check_n
from embrm.evaluate._bootstrap import (
    Statistic,
    bootstrap_samples,
    check_bootstrap_params,
    percentile_interval,
    ratio_of_sums,
)
from embrm.evaluate._metrics import check_reward_pairs, pair_outcomes, within_group_stats
from embrm.evaluate._report import _table
from embrm.exceptions import DataError


def _check_paired_bootstrap(n_bootstrap: int, confidence: float, groups: Groups) -> None:
    """Validate the bootstrap parameters; a bootstrap over prompts needs two or more."""
    check_bootstrap_params(n_bootstrap, confidence)
    if n_bootstrap and groups.n_groups < 2:
        raise DataError(
            f"'groups' holds a single prompt ({groups.labels[0]!r}): the paired "
            "bootstrap resamples prompts and needs at least 2. Pass prompt ids "
            "that tell prompts apart, or n_bootstrap=0 for the difference alone."
        )


def _difference(num: np.ndarray, den: np.ndarray, num_base: np.ndarray, den_base: np.ndarray) -> Statistic:
    """Statistic ``ratio_of_sums(num, den) − ratio_of_sums(num_base, den_base)``."""
    ratio, ratio_base = ratio_of_sums(num, den), ratio_of_sums(num_base, den_base)
    return lambda weights: ratio(weights) - ratio_base(weights)


def _paired_table(
    names: list[str],
    statistic: Statistic,
    n_groups: int,
    *,
    n_bootstrap: int,
    confidence: float,
    random_state: int | np.random.RandomState | None,
) -> pl.DataFrame:
    """Differences with percentile intervals, then ``p_better`` of the first difference."""
    point, samples = bootstrap_samples(
        statistic, n_groups, n_bootstrap=n_bootstrap, random_state=random_state
    )
    low, high = percentile_interval(samples, confidence)
    p_better = float((samples[:, 0] > 0).mean()) if n_bootstrap else np.nan
    return _table(names, point, low, high, {"p_better": p_better})


def compare_rewards(
    reward: ArrayLike,
    baseline: ArrayLike,
    golden: ArrayLike,
    groups: ArrayLike,
    *,
    n: NValue = "all",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Compare two rewards on the same scored response sets, paired over prompts.

    Parameters
    ----------
    reward : array-like of shape (n_rows,)
        Reward of each candidate under the model being tested.
    baseline : array-like of shape (n_rows,)
        Reward of the same candidates, in the same row order, under the baseline.
    golden, groups : array-like of shape (n_rows,)
        Golden score and prompt id of each candidate.
    n : int or "all", default="all"
        Best-of-N size, as in :func:`best_of_n`.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the prompts, the same prompts for both rewards; 0 for no
        intervals.
    confidence : float, default=0.95
        Coverage of the percentile intervals.
    random_state : int, RandomState or None, default=None
        Seeds the bootstrap resampling over prompts; an int gives reproducible intervals.

    Returns
    -------
    report : polars.DataFrame
        Columns ``metric``, ``value``, ``ci_low``, ``ci_high``; each value is the metric of
        ``reward`` minus that of ``baseline``, as :func:`evaluate_rewards` defines it, and
        its interval is the one of the difference. Rows: ``bon@{n}`` (exact Best-of-N),
        ``pairwise_accuracy`` (pooled within-prompt pairs with different golden scores,
        reward ties one half), ``spearman`` (mean within-prompt correlation, each reward
        over its own non-constant prompts; null if either has none); then ``p_better``
        without interval: the share of resamples in which the ``bon@{n}`` difference is
        above zero (null when ``n_bootstrap=0``).

    Raises
    ------
    DataError
        On mismatched lengths, empty input, NaN or infinite scores, a bad ``n``, or a
        bootstrap over a single prompt.

    Examples
    --------
    >>> from embrm.evaluate import compare_rewards
    >>> golden = [1.0, 0.0, 0.5, 0.2, 0.1, 0.0]
    >>> report = compare_rewards([3.0, 1.0, 2.0, 0.0, 1.0, 2.0], golden, golden, [0, 0, 0, 1, 1, 1],
    ...                          n_bootstrap=100, random_state=0)
    >>> report["metric"].to_list()
    ['bon@all', 'pairwise_accuracy', 'spearman', 'p_better']
    """
    r, g, grp = check_scored(reward, golden, groups)
    b = check_scores(baseline, "baseline", r.size)
    ns = (check_n(n, grp),)
    _check_paired_bootstrap(n_bootstrap, confidence, grp)

    def terms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-prompt numerators and denominators of bon, pairwise accuracy, spearman."""
        stats = within_group_stats(values, g, grp)
        kept = (~np.isnan(stats.spearman)).astype(np.float64)
        num = np.column_stack(
            [_per_group_bon(values, g, grp, ns)[:, 0], stats.correct, np.nan_to_num(stats.spearman)]
        )
        return num, np.column_stack([np.ones(grp.n_groups), stats.pairs, kept])

    return _paired_table(
        [f"bon@{n}", "pairwise_accuracy", "spearman"],
        _difference(*terms(r), *terms(b)),
        grp.n_groups,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        random_state=random_state,
    )


def compare_pairs(
    reward_win: ArrayLike,
    reward_lose: ArrayLike,
    baseline_win: ArrayLike,
    baseline_lose: ArrayLike,
    groups: ArrayLike,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Compare the pairwise accuracy of two rewards on the same pairs, paired over prompts.

    Parameters
    ----------
    reward_win, reward_lose : array-like of shape (n_pairs,)
        Rewards of the preferred and of the rejected response under the model being tested.
    baseline_win, baseline_lose : array-like of shape (n_pairs,)
        Rewards of the same responses, in the same row order, under the baseline.
    groups : array-like of shape (n_pairs,)
        Prompt id of each pair; the bootstrap resamples prompts, the same for both rewards.
        Pass ``np.arange(n_pairs)`` if every pair has its own prompt.
    n_bootstrap, confidence, random_state
        As in :func:`compare_rewards`.

    Returns
    -------
    report : polars.DataFrame
        Columns ``metric``, ``value``, ``ci_low``, ``ci_high``. Rows: ``pairwise_accuracy``, the
        accuracy of ``reward`` minus that of ``baseline`` (ties count one half, as in
        :func:`evaluate_pairs`), with the interval of the difference; then ``p_better``
        without interval: the share of resamples in which that difference is above zero
        (null when ``n_bootstrap=0``).

    Raises
    ------
    DataError
        On mismatched lengths, empty input, NaN or infinite rewards, or a bootstrap over a
        single prompt.

    Examples
    --------
    >>> from embrm.evaluate import compare_pairs
    >>> report = compare_pairs([2.0, 1.0, 0.5], [1.0, 1.0, 0.7], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0],
    ...                        [0, 1, 2], n_bootstrap=0)
    >>> round(report["value"][0], 4)  # 0.5 - 2/3
    -0.1667
    """
    win, lose = check_reward_pairs(reward_win, reward_lose)
    base_win = check_scores(baseline_win, "baseline_win", win.size)
    base_lose = check_scores(baseline_lose, "baseline_lose", win.size)
    grp = Groups.from_labels(groups, win.size)
    _check_paired_bootstrap(n_bootstrap, confidence, grp)

    def correct(w: np.ndarray, lo: np.ndarray) -> np.ndarray:
        return np.bincount(grp.codes, weights=pair_outcomes(w, lo), minlength=grp.n_groups)[:, None]

    count = grp.sizes.astype(np.float64)[:, None]
    return _paired_table(
        ["pairwise_accuracy"],
        _difference(correct(win, lose), count, correct(base_win, base_lose), count),
        grp.n_groups,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        random_state=random_state,
    )
