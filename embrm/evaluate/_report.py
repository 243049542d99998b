"""Full evaluation reports as tidy tables: metric | value | ci_low | ci_high."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from embrm._core.groups import Groups
from embrm._core.validation import check_scored
from embrm.evaluate._bon import NValue, bon_components, check_n, gain_terms
from embrm.evaluate._bootstrap import bootstrap, check_bootstrap_params, ratio_of_sums
from embrm.evaluate._length import check_lengths, length_controlled_bon
from embrm.evaluate._metrics import (
    auc_statistic,
    check_n_bins,
    check_proba,
    check_reward_pairs,
    ece_statistic,
    pair_auc_inputs,
    pair_outcomes,
    symmetrize_pairs,
    within_group_stats,
)
from embrm.exceptions import DataError


def _table(
    names: list[str],
    point: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    counts: dict[str, float],
) -> pl.DataFrame:
    """Metric rows with intervals, then rows without (counts, shares); NaN becomes null."""
    nan = [np.nan] * len(counts)
    return pl.DataFrame(
        {
            "metric": names + list(counts),
            "value": np.concatenate([point, list(counts.values())]),
            "ci_low": np.concatenate([low, nan]),
            "ci_high": np.concatenate([high, nan]),
        }
    ).fill_nan(None)


def _default_ns(smallest: int) -> list[NValue]:
    """Powers of two up to the smallest group size, then "all"."""
    return [2**i for i in range(1, smallest.bit_length())] + ["all"]


def evaluate_rewards(
    reward: ArrayLike,
    golden: ArrayLike,
    groups: ArrayLike,
    *,
    n: NValue | Sequence[NValue] | None = None,
    length: ArrayLike | None = None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Evaluate rewards on scored response sets against a golden score.

    Parameters
    ----------
    reward, golden, groups : array-like of shape (n_rows,)
        Head reward, golden score and prompt id of each candidate. To report AlpacaEval
        judge preferences as a win rate in percent (the leaderboard's unit), pass
        ``golden=100 * judge_pref``.
    n : int, "all" or a sequence of them, optional
        Best-of-N sizes to report; default: 2, 4, 8, ... up to the smallest group, and
        "all".
    length : array-like of shape (n_rows,), optional
        Length of each candidate (characters, say). When given, the report adds
        length-controlled Best-of-N beside raw Best-of-N.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the prompts; 0 for no intervals.
    confidence : float, default=0.95
        Coverage of the percentile intervals.
    random_state : int, RandomState or None, default=None
        Seeds the bootstrap resampling over prompts; an int gives reproducible intervals.

    Returns
    -------
    report : polars.DataFrame
        Columns ``metric``, ``value``, ``ci_low``, ``ci_high``. Metrics, each averaged over
        prompts (every prompt weighing the same):

        - ``random``: mean golden score, the pick of a random candidate;
        - ``bon@N``, ``golden_bon@N``, ``normalised_gain@N``: as the columns of
          :func:`bon_curve` (exact expectations over random N-subsets);
        - ``bon_lc@N``, only with ``length``, after each ``bon@N``: the same exact Best-of-N
          with the length-controlled rewards of :func:`residualise_on_length` (the reward
          minus its within-prompt least-squares fit on log length); a reward that only sees
          length scores ``random`` there;
        - ``spearman``, ``kendall``: within-prompt rank correlation of reward and golden
          score, over prompts where neither is constant;
        - ``pairwise_accuracy``: among within-prompt pairs with different golden scores,
          the share the reward orders the same way (reward ties count one half), pooled;

        then counts, without intervals: ``n_groups``, ``n_candidates``,
        ``n_constant_groups`` (dropped from the rank correlations), ``n_pairs`` (pairs with
        different golden scores) and ``n_pair_ties`` (those tied in reward).

    Examples
    --------
    >>> from embrm.evaluate import evaluate_rewards
    >>> reward = [3.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    >>> golden = [1.0, 0.0, 0.5, 0.2, 0.1, 0.0]
    >>> report = evaluate_rewards(reward, golden, [0, 0, 0, 1, 1, 1], n_bootstrap=0)
    >>> report["metric"].to_list()[:5]
    ['random', 'bon@2', 'golden_bon@2', 'normalised_gain@2', 'bon@all']
    """
    r, g, grp = check_scored(reward, golden, groups)
    lengths = None if length is None else check_lengths(length, "length", r.size)
    check_bootstrap_params(n_bootstrap, confidence)
    if n is None:
        ns = _default_ns(grp.smallest()[0])
    else:
        ns = [n] if isinstance(n, str | int) else list(n)
    if not ns:
        raise DataError("'n' is empty: give at least one Best-of-N size, or None for the default sizes.")
    checked_ns = tuple(check_n(v, grp) for v in ns)
    bon, golden_bon, random = bon_components(r, g, grp, checked_ns)
    stats = within_group_stats(r, g, grp)
    kept = (~np.isnan(stats.spearman)).astype(np.float64)
    one = np.ones((grp.n_groups, 1))
    # Column blocks, in output order: random | per N: bon, [bon_lc,] golden_bon, gain | rank metrics.
    gain_num, gain_den = gain_terms(bon, golden_bon, random)
    ones = np.ones_like(bon)
    per_n = [(bon, ones), (golden_bon, ones), (gain_num, gain_den)]
    if lengths is not None:
        per_n.insert(1, (length_controlled_bon(r, g, lengths, grp, checked_ns), ones))
    per_n_num = np.stack([num for num, _ in per_n], axis=2).reshape(grp.n_groups, -1)
    per_n_den = np.stack([den for _, den in per_n], axis=2).reshape(grp.n_groups, -1)
    numerator = np.hstack(
        [
            random[:, :1],
            per_n_num,
            np.column_stack([np.nan_to_num(stats.spearman), np.nan_to_num(stats.kendall), stats.correct]),
        ]
    )
    denominator = np.hstack(
        [
            one,
            per_n_den,
            np.column_stack([kept, kept, stats.pairs]),
        ]
    )
    point, low, high = bootstrap(
        ratio_of_sums(numerator, denominator),
        grp.n_groups,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        random_state=random_state,
    )
    names = ["random"]
    for v in ns:
        names += [f"bon@{v}", *([f"bon_lc@{v}"] if lengths is not None else []), f"golden_bon@{v}"]
        names.append(f"normalised_gain@{v}")
    names += ["spearman", "kendall", "pairwise_accuracy"]
    counts = {
        "n_groups": grp.n_groups,
        "n_candidates": r.size,
        "n_constant_groups": grp.n_groups - kept.sum(),
        "n_pairs": stats.pairs.sum(),
        "n_pair_ties": stats.reward_ties.sum(),
    }
    return _table(names, point, low, high, counts)


def evaluate_pairs(
    reward_win: ArrayLike,
    reward_lose: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    proba: ArrayLike | None = None,
    n_bins: int = 10,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Evaluate rewards (and optionally ``predict_proba``) on held-out preference pairs.

    Parameters
    ----------
    reward_win, reward_lose : array-like of shape (n_pairs,)
        Rewards of the preferred and of the rejected response of each pair.
    groups : array-like of shape (n_pairs,), optional
        Prompt id of each pair; the bootstrap resamples prompts. Default: each pair is its
        own group.
    proba : array-like of shape (n_pairs,), optional
        Predicted probability that the preferred response wins (``predict_proba(X_win,
        X_lose)``), for calibration; each pair is shown in both orders (see
        :func:`symmetrize_pairs`).
    n_bins : int, default=10
        Equal-width bins of the expected calibration error.
    n_bootstrap, confidence, random_state
        As in :func:`evaluate_rewards`.

    Returns
    -------
    report : polars.DataFrame
        Columns ``metric``, ``value``, ``ci_low``, ``ci_high``. Metrics: ``pairwise_accuracy``
        (ties count one half), ``auc`` (of the reward margin, see :func:`pair_auc`),
        ``ece`` when ``proba`` is given; then counts without intervals: ``n_pairs``,
        ``n_ties`` (pairs with equal rewards), ``n_groups``.

    Examples
    --------
    >>> from embrm.evaluate import evaluate_pairs
    >>> report = evaluate_pairs([2.0, 1.0, 0.5], [1.0, 1.0, 0.7], n_bootstrap=0)
    >>> dict(zip(report["metric"], report["value"].round(4)))  # doctest: +NORMALIZE_WHITESPACE
    {'pairwise_accuracy': 0.5, 'auc': 0.6111, 'n_pairs': 3.0, 'n_ties': 1.0, 'n_groups': 3.0}
    """
    win, lose = check_reward_pairs(reward_win, reward_lose)
    check_bootstrap_params(n_bootstrap, confidence)
    check_n_bins(n_bins)
    if groups is None:
        codes, n_groups = np.arange(win.size), win.size
    else:
        grp = Groups.from_labels(groups, win.size)
        codes, n_groups = grp.codes, grp.n_groups
    outcomes = pair_outcomes(win, lose)
    accuracy = ratio_of_sums(
        np.bincount(codes, weights=outcomes, minlength=n_groups)[:, None],
        np.bincount(codes, minlength=n_groups).astype(np.float64)[:, None],
    )
    statistics = [accuracy, auc_statistic(*pair_auc_inputs(win, lose), np.tile(codes, 2))]
    names = ["pairwise_accuracy", "auc"]
    if proba is not None:
        y_true, y_prob = symmetrize_pairs(check_proba(proba, "proba", win.size))
        statistics.append(ece_statistic(y_true, y_prob, np.tile(codes, 2), n_groups, n_bins))
        names.append("ece")
    point, low, high = bootstrap(
        lambda w: np.hstack([s(w) for s in statistics]),
        n_groups,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        random_state=random_state,
    )
    counts = {"n_pairs": win.size, "n_ties": float((win == lose).sum()), "n_groups": n_groups}
    return _table(names, point, low, high, counts)
