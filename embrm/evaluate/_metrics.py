"""Pairwise accuracy, AUC, calibration and within-prompt rank correlation.

The private ``*_statistic`` factories express each metric as a function of one weight per
group (see :mod:`embrm.evaluate._bootstrap`); the public functions evaluate them at weights
of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from embrm._core.groups import Groups
from embrm._core.validation import check_labels, check_reward_pairs, check_scored, check_scores
from embrm.evaluate._bootstrap import Statistic
from embrm.exceptions import DataError

#: Upper bound on the entries of the (groups × k × k) pair blocks of Kendall's tau.
_PAIR_BLOCK_ENTRIES = 1 << 20


# --------------------------------------------------------------------------- pairs


def pair_outcomes(win: np.ndarray, lose: np.ndarray) -> np.ndarray:
    """Per pair: 1 if the preferred response has the higher reward, 0.5 on a tie, else 0."""
    return (win > lose) + 0.5 * (win == lose)


def pairwise_accuracy(reward_win: ArrayLike, reward_lose: ArrayLike) -> float:
    """Share of pairs whose preferred response gets the higher reward; ties count one half.

    Parameters
    ----------
    reward_win, reward_lose : array-like of shape (n_pairs,)
        Rewards of the preferred and of the rejected response of each pair.

    Returns
    -------
    accuracy : float
        ``mean(1[win > lose] + 0.5 * 1[win == lose])``. :func:`evaluate_pairs` reports the
        number of ties beside it.

    Examples
    --------
    >>> from embrm.evaluate import pairwise_accuracy
    >>> pairwise_accuracy([2.0, 1.0, 0.5], [1.0, 1.0, 0.7])  # right, tie, wrong
    0.5
    """
    return float(pair_outcomes(*check_reward_pairs(reward_win, reward_lose)).mean())


def auc_statistic(scores: np.ndarray, labels: np.ndarray, codes: np.ndarray) -> Statistic:
    """ROC AUC of ``scores`` for binary ``labels``, rows weighted by their group's weight.

    AUC = sum over positive i, negative j of w_i w_j (1[s_i > s_j] + 1/2 1[s_i = s_j]),
    divided by (sum of positive weights)(sum of negative weights). One sort serves every
    resample.
    """
    order = np.argsort(scores, kind="stable")
    s, pos, row_codes = scores[order], labels[order].astype(bool), codes[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # one block per distinct score

    def statistic(weights: np.ndarray) -> np.ndarray:
        w = weights[:, row_codes]
        w_pos = np.add.reduceat(np.where(pos, w, 0.0), starts, axis=1)
        w_neg = np.add.reduceat(np.where(pos, 0.0, w), starts, axis=1)
        below = np.cumsum(w_neg, axis=1) - w_neg
        won = (w_pos * (below + 0.5 * w_neg)).sum(axis=1)
        return (won / (w_pos.sum(axis=1) * w_neg.sum(axis=1)))[:, None]

    return statistic


def pair_auc_inputs(win: np.ndarray, lose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of each pair shown in both orders: margins ±(win − lose), 1 then 0."""
    margin = win - lose
    return np.concatenate([margin, -margin]), np.repeat([1.0, 0.0], margin.size)


def pair_auc(reward_win: ArrayLike, reward_lose: ArrayLike) -> float:
    """ROC AUC of the reward margin, each pair shown in both orders.

    Each pair gives a positive example with score ``win − lose`` and a negative one with
    score ``lose − win``. The AUC is then P(m_i > −m_j) + ½ P(m_i = −m_j) over two pairs i, j
    drawn independently: 1/2 for a reward that ignores the responses, 1 for one that orders
    every pair correctly, and, unlike accuracy, higher when confident margins are more often
    right than small ones. It equals the AUC of ``predict_proba`` for any head whose
    probability is an increasing function of the margin (Bradley-Terry: σ(margin)).

    Parameters
    ----------
    reward_win, reward_lose : array-like of shape (n_pairs,)

    Returns
    -------
    auc : float

    Examples
    --------
    >>> from embrm.evaluate import pair_auc
    >>> round(pair_auc([2.0, 1.0, 0.5], [1.0, 1.0, 0.7]), 4)
    0.6111
    """
    scores, labels = pair_auc_inputs(*check_reward_pairs(reward_win, reward_lose))
    return float(auc_statistic(scores, labels, np.zeros(scores.size, dtype=np.intp))(np.ones((1, 1)))[0, 0])


# --------------------------------------------------------------------------- calibration


def check_proba(values: ArrayLike, name: str, n: int | None = None) -> np.ndarray:
    """Validate probabilities: finite, in [0, 1], one per row."""
    prob = check_scores(values, name, n)
    if prob.min() < 0 or prob.max() > 1:
        row = int(np.flatnonzero((prob < 0) | (prob > 1))[0])
        raise DataError(
            f"'{name}' must hold probabilities in [0, 1]; row {row} is "
            f"{float(prob[row])!r}. Pass predict_proba output, not rewards or logits."
        )
    return prob


def check_probabilities(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate binary labels and probabilities of the positive class."""
    prob = check_proba(y_prob, "y_prob")
    return check_labels(y_true, "y_true", prob.size), prob


def check_n_bins(n_bins: int) -> None:
    """Raise DataError unless ``n_bins`` is an integer >= 1."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise DataError(f"'n_bins' must be an integer >= 1; got {n_bins!r}.")


def _bin_index(prob: np.ndarray, n_bins: int) -> np.ndarray:
    """Uniform bins [i/n_bins, (i+1)/n_bins); the last bin also holds 1.0."""
    return np.minimum((prob * n_bins).astype(np.intp), n_bins - 1)


def ece_statistic(
    y_true: np.ndarray, y_prob: np.ndarray, codes: np.ndarray, n_groups: int, n_bins: int
) -> Statistic:
    """ECE = sum over bins of |sum_{i in bin} w_i (y_i − p_i)| / sum_i w_i, group-weighted."""
    cells = codes * n_bins + _bin_index(y_prob, n_bins)
    gap = np.bincount(cells, weights=y_true - y_prob, minlength=n_groups * n_bins)
    gap = gap.reshape(n_groups, n_bins)
    size = np.bincount(codes, minlength=n_groups).astype(np.float64)

    def statistic(weights: np.ndarray) -> np.ndarray:
        return (np.abs(weights @ gap).sum(axis=1) / (weights @ size))[:, None]

    return statistic


def expected_calibration_error(y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 10) -> float:
    """Expected calibration error over ``n_bins`` equal-width bins of [0, 1].

    ECE = Σ_b (n_b / n) |frac_positive_b − mean_prob_b|, the count-weighted gap between
    the observed frequency of the positive class and the mean predicted probability.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels (0/1 or booleans).
    y_prob : array-like of shape (n,)
        Predicted probability of label 1. For pairs, see :func:`symmetrize_pairs`.
    n_bins : int, default=10
        Number of equal-width bins; bin i is [i/n_bins, (i+1)/n_bins), the last one closed.

    Returns
    -------
    ece : float

    Examples
    --------
    >>> from embrm.evaluate import expected_calibration_error
    >>> expected_calibration_error([1, 0, 1, 1], [0.9, 0.2, 0.7, 0.6], n_bins=5)
    0.25
    """
    check_n_bins(n_bins)
    y, p = check_probabilities(y_true, y_prob)
    codes = np.zeros(p.size, dtype=np.intp)
    return float(ece_statistic(y, p, codes, 1, n_bins)(np.ones((1, 1)))[0, 0])


def reliability_table(y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 10) -> pl.DataFrame:
    """Reliability table: per probability bin, the mean prediction and the observed rate.

    Parameters
    ----------
    y_true, y_prob, n_bins
        As in :func:`expected_calibration_error`.

    Returns
    -------
    table : polars.DataFrame
        One row per bin with columns ``bin``, ``bin_low``, ``bin_high``, ``count``,
        ``mean_prob``, ``frac_positive`` and ``gap`` = frac_positive − mean_prob (the last
        three null for empty bins). The ECE is ``sum(count * |gap|) / sum(count)``.

    Examples
    --------
    >>> from embrm.evaluate import reliability_table
    >>> reliability_table([1, 0, 1, 1], [0.9, 0.2, 0.7, 0.6], n_bins=5).columns
    ['bin', 'bin_low', 'bin_high', 'count', 'mean_prob', 'frac_positive', 'gap']
    """
    check_n_bins(n_bins)
    y, p = check_probabilities(y_true, y_prob)
    b = _bin_index(p, n_bins)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_prob = np.bincount(b, weights=p, minlength=n_bins) / count
        frac_positive = np.bincount(b, weights=y, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pl.DataFrame(
        {
            "bin": np.arange(n_bins),
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "count": count,
            "mean_prob": mean_prob,
            "frac_positive": frac_positive,
            "gap": frac_positive - mean_prob,
        }
    ).fill_nan(None)


def symmetrize_pairs(proba_win: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities for calibrating ``P(preferred ≻ rejected)`` on pairs.

    Pairs are stored preferred-first, so every label would be 1: every bin of a reliability
    table would observe a frequency of 1, and a wrong answer (a low ``p``) would never meet
    the confident answers it should be binned with. Each pair is shown in both orders
    instead: ``(p, 1)`` and ``(1 − p, 0)``. This assumes ``predict_proba(b, a) =
    1 − predict_proba(a, b)``, true of Bradley-Terry heads; for a head without that symmetry,
    call ``predict_proba`` on both orders and pass labels and probabilities yourself.

    Parameters
    ----------
    proba_win : array-like of shape (n_pairs,)
        Predicted probability that the preferred response wins.

    Returns
    -------
    y_true, y_prob : ndarray of shape (2 * n_pairs,)

    Examples
    --------
    >>> from embrm.evaluate import symmetrize_pairs
    >>> y_true, y_prob = symmetrize_pairs([0.8, 0.3])
    >>> y_true.tolist(), y_prob.tolist()
    ([1.0, 1.0, 0.0, 0.0], [0.8, 0.3, 0.2, 0.7])
    """
    p = check_proba(proba_win, "proba_win")
    return np.repeat([1.0, 0.0], p.size), np.concatenate([p, 1.0 - p])


# --------------------------------------------------------------------------- rank correlation


@dataclass(frozen=True)
class WithinGroupStats:
    """Per-group rank statistics between reward and golden score (arrays of n_groups).

    ``spearman`` and ``kendall`` are NaN where either score is constant in the group.
    ``correct`` counts, among the group's pairs with different golden scores, those the
    reward orders the same way, ties in reward counting one half; ``pairs`` counts those
    pairs and ``reward_ties`` the ones tied in reward.
    """

    spearman: np.ndarray
    kendall: np.ndarray
    correct: np.ndarray
    pairs: np.ndarray
    reward_ties: np.ndarray


def within_group_stats(reward: np.ndarray, golden: np.ndarray, groups: Groups) -> WithinGroupStats:
    """Spearman, Kendall tau-b and pair counts within each group, vectorised by group size."""
    g_count = groups.n_groups
    spearman, kendall = np.full(g_count, np.nan), np.full(g_count, np.nan)
    correct, pairs, reward_ties = np.zeros(g_count), np.zeros(g_count), np.zeros(g_count)
    for k, group_index, rows in groups.by_size:
        r, g = reward[rows], golden[rows]
        # Spearman: Pearson correlation of average ranks.
        rr, rg = rankdata(r, axis=1), rankdata(g, axis=1)
        rr -= rr.mean(axis=1, keepdims=True)
        rg -= rg.mean(axis=1, keepdims=True)
        denom = np.sqrt((rr**2).sum(axis=1) * (rg**2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            spearman[group_index] = np.where(denom > 0, (rr * rg).sum(axis=1) / denom, np.nan)
        # Kendall tau-b and pairwise counts, over blocks of groups to bound memory.
        step = max(1, _PAIR_BLOCK_ENTRIES // (k * k))
        for lo in range(0, group_index.size, step):
            sl = slice(lo, lo + step)
            dr = np.sign(r[sl, :, None] - r[sl, None, :])
            dg = np.sign(g[sl, :, None] - g[sl, None, :])
            # Full k × k matrices count each unordered pair twice, plus k diagonal ties.
            both = (dr * dg).sum(axis=(1, 2)) / 2
            n0 = k * (k - 1) / 2
            ties_r = ((dr == 0).sum(axis=(1, 2)) - k) / 2
            ties_g = ((dg == 0).sum(axis=(1, 2)) - k) / 2
            ties_r_only = ((dr == 0) & (dg != 0)).sum(axis=(1, 2)) / 2
            idx = group_index[sl]
            with np.errstate(invalid="ignore", divide="ignore"):
                kendall[idx] = both / np.sqrt((n0 - ties_r) * (n0 - ties_g))
            pairs[idx] = n0 - ties_g
            reward_ties[idx] = ties_r_only
            # concordant = (both + (pairs − reward ties)) / 2 among pairs with distinct golden
            correct[idx] = (both + pairs[idx] - ties_r_only) / 2 + 0.5 * ties_r_only
    constant = np.isnan(spearman)
    kendall[constant] = np.nan
    return WithinGroupStats(spearman, kendall, correct, pairs, reward_ties)


def rank_correlation(
    reward: ArrayLike,
    golden: ArrayLike,
    groups: ArrayLike,
    *,
    method: Literal["spearman", "kendall"] = "spearman",
) -> pl.DataFrame:
    """Rank correlation between reward and golden score within each group (prompt).

    Parameters
    ----------
    reward, golden, groups : array-like of shape (n_rows,)
        Head reward, golden score and prompt id of each candidate.
    method : {"spearman", "kendall"}, default="spearman"
        Spearman's rho (average ranks for ties) or Kendall's tau-b; both match
        ``scipy.stats.spearmanr`` / ``kendalltau`` on each group.

    Returns
    -------
    table : polars.DataFrame
        One row per group: ``group``, ``size`` and ``correlation``, null where the reward or
        the golden score is constant in the group (undefined). The usual summary is
        ``table["correlation"].mean()`` (nulls dropped) and
        ``table["correlation"].null_count()`` (groups dropped).

    Examples
    --------
    >>> from embrm.evaluate import rank_correlation
    >>> reward = [3.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    >>> golden = [1.0, 0.0, 0.5, 0.2, 0.1, 0.0]
    >>> rank_correlation(reward, golden, [0, 0, 0, 1, 1, 1])["correlation"].to_list()
    [1.0, -1.0]
    """
    if method not in ("spearman", "kendall"):
        raise DataError(f"'method' must be 'spearman' or 'kendall'; got {method!r}.")
    r, g, grp = check_scored(reward, golden, groups)
    stats = within_group_stats(r, g, grp)
    return pl.DataFrame(
        {
            "group": grp.labels,
            "size": grp.sizes,
            "correlation": getattr(stats, method),
        }
    ).fill_nan(None)
