"""Rank correlation, pairwise accuracy, AUC and calibration against independent references."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import roc_auc_score

from embrm._core.groups import Groups
from embrm.evaluate import (
    expected_calibration_error,
    pair_auc,
    pairwise_accuracy,
    rank_correlation,
    reliability_table,
    symmetrize_pairs,
)
from embrm.evaluate._metrics import within_group_stats
from embrm.exceptions import DataError


@pytest.fixture
def tied_sets():
    """Groups of sizes 2..9 with integer scores (many ties) and two constant groups."""
    rng = np.random.default_rng(0)
    sizes = [2, 3, 5, 9, 9, 4, 6, 7, 5]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    reward = rng.integers(0, 4, groups.size).astype(float)
    golden = reward + rng.integers(-2, 3, groups.size)
    reward[groups == 3] = 1.5  # constant reward
    golden[groups == 5] = -1.0  # constant golden
    return reward, golden, groups


@pytest.mark.parametrize(("method", "reference"), [("spearman", spearmanr), ("kendall", kendalltau)])
def test_rank_correlation_matches_scipy_per_group(tied_sets, method, reference):
    reward, golden, groups = tied_sets
    table = rank_correlation(reward, golden, groups, method=method)
    assert table["group"].to_list() == list(range(9))
    assert table["size"].to_list() == [2, 3, 5, 9, 9, 4, 6, 7, 5]
    for label, value in zip(table["group"], table["correlation"], strict=True):
        r, g = reward[groups == label], golden[groups == label]
        if np.ptp(r) == 0 or np.ptp(g) == 0:
            assert value is None
        else:
            assert value == pytest.approx(reference(r, g)[0], abs=1e-12)
    assert table["correlation"].null_count() == 2


def test_within_group_pair_counts_match_enumeration(tied_sets):
    reward, golden, groups = tied_sets
    stats = within_group_stats(reward, golden, Groups.from_labels(groups, reward.size))
    for label in range(9):
        r, g = reward[groups == label], golden[groups == label]
        correct = pairs = ties = 0
        for i, j in itertools.combinations(range(r.size), 2):
            if g[i] == g[j]:
                continue
            pairs += 1
            if r[i] == r[j]:
                ties += 1
                correct += 0.5
            else:
                correct += (r[i] > r[j]) == (g[i] > g[j])
        assert (stats.correct[label], stats.pairs[label], stats.reward_ties[label]) == (correct, pairs, ties)


def test_kendall_blocks_bound_memory(monkeypatch):
    import embrm.evaluate._metrics as metrics

    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(10), 30)
    reward, golden = rng.normal(size=300), rng.normal(size=300)
    full = rank_correlation(reward, golden, groups, method="kendall")
    monkeypatch.setattr(metrics, "_PAIR_BLOCK_ENTRIES", 30 * 30 * 3)  # 3 groups per block
    blocked = rank_correlation(reward, golden, groups, method="kendall")
    np.testing.assert_allclose(blocked["correlation"], full["correlation"], atol=1e-15)


def test_rank_correlation_rejects_unknown_method():
    with pytest.raises(DataError, match="'method' must be 'spearman' or 'kendall'"):
        rank_correlation([1.0, 2.0], [1.0, 2.0], [0, 0], method="pearson")


def test_pairwise_accuracy_counts_ties_as_half():
    assert pairwise_accuracy([2.0, 1.0, 1.0, 5.0], [1.0, 1.0, 3.0, 4.0]) == pytest.approx(
        (1 + 0.5 + 0 + 1) / 4
    )
    assert pairwise_accuracy([0.0] * 5, [0.0] * 5) == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_pair_auc_matches_sklearn_on_both_orders(seed):
    rng = np.random.default_rng(seed)
    win = rng.normal(size=300).round(1)  # rounding creates tied margins
    lose = rng.normal(size=300).round(1) - 0.3
    margin = win - lose
    expected = roc_auc_score(np.r_[np.ones(300), np.zeros(300)], np.r_[margin, -margin])
    assert pair_auc(win, lose) == pytest.approx(expected, abs=1e-12)


def test_pair_auc_limits():
    win = np.array([3.0, 2.0, 5.0])
    assert pair_auc(win, win - 1) == 1.0
    assert pair_auc(win, win + 1) == 0.0
    assert pair_auc(win, win) == 0.5


def test_ece_of_calibrated_and_overconfident_predictors():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.01
    overconfident = np.clip(0.5 + 2.0 * (p - 0.5), 0.0, 1.0)  # same ranking, pushed out
    assert expected_calibration_error(y, overconfident) > 0.1
    assert expected_calibration_error(y, np.full(p.size, 0.5)) == pytest.approx(abs(y.mean() - 0.5))


def test_reliability_table_hand_example_and_ece_identity():
    y = [0, 1, 1, 1, 0]
    p = [0.05, 0.15, 0.95, 1.0, 0.5]
    table = reliability_table(y, p, n_bins=4)
    assert table["count"].to_list() == [2, 0, 1, 2]  # 1.0 falls in the last bin
    assert table["mean_prob"].to_list()[0] == pytest.approx(0.1)
    assert table["frac_positive"].to_list() == [0.5, None, 0.0, 1.0]
    assert table["gap"][3] == pytest.approx(1.0 - 0.975)
    ece = (0.4 * 2 + 0.5 * 1 + 0.025 * 2) / 5
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(ece)
    t = table.drop_nulls()
    assert (t["count"] * t["gap"].abs()).sum() / t["count"].sum() == pytest.approx(ece)


def test_symmetrize_pairs():
    y, p = symmetrize_pairs([0.9, 0.6])
    np.testing.assert_array_equal(y, [1, 1, 0, 0])
    np.testing.assert_allclose(p, [0.9, 0.6, 0.1, 0.4])
    # Overconfident: 0.99 for the winner on 7 pairs of 10, 0.01 on the other 3. Shown in
    # both orders, the top bin holds 7 true and 3 false answers of 0.99.
    table = reliability_table(*symmetrize_pairs([0.99] * 7 + [0.01] * 3))
    assert table["frac_positive"][9] == pytest.approx(0.7)
    assert table["frac_positive"][0] == pytest.approx(0.3)
    assert expected_calibration_error(*symmetrize_pairs([0.99] * 7 + [0.01] * 3)) == (pytest.approx(0.29))


@pytest.mark.parametrize(
    ("y_true", "y_prob", "match"),
    [
        ([0, 1], [0.2, 1.3], "'y_prob' must hold probabilities in \\[0, 1\\]; row 1"),
        ([0, 2], [0.2, 0.3], r"'y_true' must hold binary labels 0/1 \(or booleans\); row 1 is 2\.0\.$"),
        ([0, 1, 1], [0.2, 0.3], "'y_true' has 3 rows"),
        ([0, 1], [0.2, np.nan], "'y_prob' has 1 NaN"),
        # The row named is the first out of range, not the first at an end of [0, 1].
        ([0, 1], [0.0, 1.3], r"^'y_prob' must hold probabilities in \[0, 1\]; row 1 is 1\.3\."),
        ([0, 1], [1.0, -0.2], r"; row 1 is -0\.2\. Pass predict_proba output"),
    ],
)
def test_calibration_bad_input(y_true, y_prob, match):
    with pytest.raises(DataError, match=match):
        expected_calibration_error(y_true, y_prob)


def test_bad_pairs_and_bins():
    with pytest.raises(DataError, match="'reward_lose' has 1 rows but the first argument has 2"):
        pairwise_accuracy([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="'n_bins' must be an integer >= 1"):
        reliability_table([1], [0.5], n_bins=0)
    with pytest.raises(DataError, match="'proba_win' must hold probabilities"):
        symmetrize_pairs([0.5, -0.1])


def test_singleton_groups_have_no_correlation():
    table = rank_correlation([1.0, 2.0, 3.0, 5.0], [0.0, 1.0, 3.0, 2.0], ["a", "a", "a", "b"])
    assert table["correlation"].to_list() == [pytest.approx(1.0), None]


@pytest.mark.parametrize("n_bins", [True, 2.5, "10", -1])
def test_n_bins_must_be_a_positive_integer(n_bins):
    with pytest.raises(DataError, match=r"^'n_bins' must be an integer >= 1; got "):
        expected_calibration_error([0, 1], [0.2, 0.7], n_bins=n_bins)


def test_one_bin_is_the_gap_of_the_means():
    y, p = [1, 0, 1, 1], [0.9, 0.2, 0.7, 0.6]
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(abs(0.75 - 0.6))
    table = reliability_table(y, p, n_bins=1)
    assert table.rows() == [(0, 0.0, 1.0, 4, pytest.approx(0.6), 0.75, pytest.approx(0.15))]


def test_reliability_table_with_empty_bins_at_the_top():
    # No probability above 0.5: the top bins are empty but present, null, without a warning.
    y, p = [0, 1, 1], [0.1, 0.3, 0.45]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = reliability_table(y, p, n_bins=5)
    assert table.columns == ["bin", "bin_low", "bin_high", "count", "mean_prob", "frac_positive", "gap"]
    assert table["bin"].to_list() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(table["bin_low"], [0.0, 0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(table["bin_high"], [0.2, 0.4, 0.6, 0.8, 1.0])
    assert table["count"].to_list() == [1, 1, 1, 0, 0]
    assert table["mean_prob"].to_list()[:3] == pytest.approx([0.1, 0.3, 0.45])
    assert table["frac_positive"].to_list() == [0.0, 1.0, 1.0, None, None]
    assert table["gap"].null_count() == 2


def test_constant_groups_give_null_correlations_without_warnings(tied_sets):
    reward, golden, groups = tied_sets
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("spearman", "kendall"):
            table = rank_correlation(reward, golden, groups, method=method)
            assert table["correlation"].null_count() == 2
