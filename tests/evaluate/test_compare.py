"""Paired comparisons of two rewards: hand-computed cases, agreement with the reports, intervals."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm.evaluate import compare_pairs, compare_rewards, evaluate_pairs, evaluate_rewards
from embrm.exceptions import DataError


def as_dict(report: pl.DataFrame) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in report.iter_rows()}


def correlated_heads(n_groups, k, seed, own_noise=0.1):
    """Two heads that share most of their error, so their metrics move together by prompt."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), k)
    golden = rng.normal(size=groups.size)
    shared = golden + rng.normal(size=groups.size)
    reward = shared + own_noise * rng.normal(size=groups.size)
    baseline = shared + own_noise * rng.normal(size=groups.size)
    return reward, baseline, golden, groups


# Three prompts of three candidates; see the comments for the hand computations.
GROUPS = np.repeat([0, 1, 2], 3)
GOLDEN = np.array([3.0, 2, 1, 1, 0, 0, 0, 1, 2])
REWARD = np.array([3.0, 2, 1, 0, 0, 0, 1, 1, 2])  # right, constant, right but one tie
BASELINE = np.array([1.0, 2, 3, 1, 0, 0, 2, 1, 1])  # reversed, right, wrong but one tie


def test_hand_computed_differences():
    rows = as_dict(compare_rewards(REWARD, BASELINE, GOLDEN, GROUPS, n_bootstrap=0))
    assert list(rows) == ["bon@all", "pairwise_accuracy", "spearman", "p_better"]
    # bon@all per prompt: 3 - 1, 1/3 - 1 (ties averaged), 2 - 0.
    assert rows["bon@all"][0] == pytest.approx((2 - 2 / 3 + 2) / 3)
    # 8 pairs with distinct golden; correct: 3 + 2 * 1/2 + (1/2 + 2) = 6.5 against 0 + 2 + 1/2.
    assert rows["pairwise_accuracy"][0] == pytest.approx((6.5 - 2.5) / 8)
    # reward: mean of 1 and sqrt(3)/2 (prompt 1 constant, dropped); baseline: mean of
    # -1, 1, -sqrt(3)/2.
    assert rows["spearman"][0] == pytest.approx((1 + 3**0.5 / 2) / 2 + 3**0.5 / 6)
    assert all(row[1] is None and row[2] is None for row in rows.values())
    assert rows["p_better"][0] is None
    # bon@2 per prompt: 8/3 - 4/3, 1/3 - 2/3, 4.5/3 - 1.5/3.
    two = as_dict(compare_rewards(REWARD, BASELINE, GOLDEN, GROUPS, n=2, n_bootstrap=0))
    assert two["bon@2"][0] == pytest.approx((4 / 3 - 1 / 3 + 1) / 3)


def test_hand_computed_pair_difference():
    # Outcomes 1, 1/2, 0, 1 against 0, 0, 0, 1/2.
    report = compare_pairs(
        [1.0, 1, 0, 2], [0.0, 1, 1, 1], [0.0, 0, 0, 0], [1.0, 1, 1, 0], [0, 0, 1, 1], n_bootstrap=0
    )
    assert report["metric"].to_list() == ["pairwise_accuracy", "p_better"]
    assert report["value"][0] == pytest.approx((2.5 - 0.5) / 4)


def test_a_reward_against_itself_is_exactly_zero():
    reward, _, golden, groups = correlated_heads(40, 5, seed=0)
    rows = as_dict(compare_rewards(reward, reward, golden, groups, n=3, n_bootstrap=200))
    for name in ("bon@3", "pairwise_accuracy", "spearman"):
        assert rows[name] == (0.0, 0.0, 0.0)
    assert rows["p_better"] == (0.0, None, None)  # never strictly better
    win, lose = reward[:100], reward[100:]
    pairs = as_dict(compare_pairs(win, lose, win, lose, groups[:100], n_bootstrap=200))
    assert pairs["pairwise_accuracy"] == (0.0, 0.0, 0.0)


def test_difference_equals_the_difference_of_the_reports():
    reward, baseline, golden, groups = correlated_heads(50, 6, seed=1, own_noise=1.0)
    reward[groups == 3] = 1.0  # constant for one head only: its spearman drops that prompt
    for n in (4, "all"):
        rows = as_dict(compare_rewards(reward, baseline, golden, groups, n=n, n_bootstrap=0))
        a = as_dict(evaluate_rewards(reward, golden, groups, n=n, n_bootstrap=0))
        b = as_dict(evaluate_rewards(baseline, golden, groups, n=n, n_bootstrap=0))
        for name in (f"bon@{n}", "pairwise_accuracy", "spearman"):
            assert rows[name][0] == pytest.approx(a[name][0] - b[name][0], abs=1e-12)
    win, lose, base_win, base_lose = reward[:150], reward[150:], baseline[:150], baseline[150:]
    pair_groups = groups[:150] // 2
    diff = as_dict(compare_pairs(win, lose, base_win, base_lose, pair_groups, n_bootstrap=0))
    a = as_dict(evaluate_pairs(win, lose, pair_groups, n_bootstrap=0))["pairwise_accuracy"][0]
    b = as_dict(evaluate_pairs(base_win, base_lose, pair_groups, n_bootstrap=0))["pairwise_accuracy"][0]
    assert diff["pairwise_accuracy"][0] == pytest.approx(a - b, abs=1e-12)


def test_paired_interval_is_narrower_than_the_unpaired_one():
    reward, baseline, golden, groups = correlated_heads(200, 8, seed=2)
    paired = as_dict(compare_rewards(reward, baseline, golden, groups, n=4, n_bootstrap=400))
    a = as_dict(evaluate_rewards(reward, golden, groups, n=4, n_bootstrap=400, random_state=1))
    b = as_dict(evaluate_rewards(baseline, golden, groups, n=4, n_bootstrap=400, random_state=2))
    for name in ("bon@4", "pairwise_accuracy", "spearman"):
        value, low, high = paired[name]
        assert low <= value <= high
        # Independent intervals of each reward: the difference's width adds in quadrature.
        unpaired = np.hypot(a[name][2] - a[name][1], b[name][2] - b[name][1])
        assert high - low < unpaired / 3
    # p_better is the share of resamples with a positive first difference (bon@4): it sits
    # on the same side of one half as that difference's percentile interval.
    p_better, (_, low, high) = paired["p_better"][0], paired["bon@4"]
    if low > 0:
        assert p_better >= 0.975
    elif high < 0:
        assert p_better <= 0.025
    else:
        assert 0.02 <= p_better <= 0.98


def test_p_better_follows_a_clearly_better_head_and_is_seeded():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(60), 6)
    golden = rng.normal(size=groups.size)
    good, noise = golden + 0.3 * rng.normal(size=groups.size), rng.normal(size=groups.size)
    ahead = compare_rewards(good, noise, golden, groups, n_bootstrap=300, random_state=5)
    rows = as_dict(ahead)
    assert rows["bon@all"][1] > 0 and rows["p_better"][0] == 1.0
    assert as_dict(compare_rewards(noise, good, golden, groups, n_bootstrap=300))["p_better"][0] == 0.0
    assert ahead.equals(compare_rewards(good, noise, golden, groups, n_bootstrap=300, random_state=5))
    other = compare_rewards(good, noise, golden, groups, n_bootstrap=300, random_state=6)
    assert other["ci_low"][0] != ahead["ci_low"][0]


def test_bad_input():
    with pytest.raises(DataError, match="'baseline' has 8 rows but the first argument has 9"):
        compare_rewards(REWARD, BASELINE[:8], GOLDEN, GROUPS)
    nan = BASELINE.copy()
    nan[4] = np.nan
    with pytest.raises(DataError, match="'baseline' has 1 NaN or infinite value.*row 4"):
        compare_rewards(REWARD, nan, GOLDEN, GROUPS)
    with pytest.raises(DataError, match="n=4 exceeds the size of group 0"):
        compare_rewards(REWARD, BASELINE, GOLDEN, GROUPS, n=4)
    with pytest.raises(DataError, match="single prompt .* needs at least 2"):
        compare_rewards(REWARD[:3], BASELINE[:3], GOLDEN[:3], GROUPS[:3])
    single = compare_rewards(REWARD[:3], BASELINE[:3], GOLDEN[:3], GROUPS[:3], n_bootstrap=0)
    assert single["value"][0] == pytest.approx(2.0)  # no bootstrap: one prompt is enough
    with pytest.raises(DataError, match="'baseline_lose' has 1 rows but the first argument has 2"):
        compare_pairs([1.0, 2.0], [0.0, 1.0], [1.0, 2.0], [0.0], [0, 1])
    with pytest.raises(DataError, match="'baseline_win' has 1 NaN"):
        compare_pairs([1.0, 2.0], [0.0, 1.0], [1.0, np.inf], [0.0, 1.0], [0, 1])
    with pytest.raises(DataError, match="'groups' has 3 rows"):
        compare_pairs([1.0, 2.0], [0.0, 1.0], [1.0, 2.0], [0.0, 1.0], [0, 1, 2])
    with pytest.raises(DataError, match="single prompt"):
        compare_pairs([1.0, 2.0], [0.0, 1.0], [1.0, 2.0], [0.0, 1.0], ["p", "p"])
