"""Report tables and their bootstrap intervals over prompts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm.evaluate import (
    best_of_n,
    bon_curve,
    evaluate_pairs,
    evaluate_rewards,
    expected_calibration_error,
    pair_auc,
    pairwise_accuracy,
    rank_correlation,
    symmetrize_pairs,
)
from embrm.exceptions import DataError


def scored_sets(n_groups, k, seed, noise=1.0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), k)
    golden = rng.normal(size=groups.size)
    return golden + noise * rng.normal(size=groups.size), golden, groups


def as_dict(report: pl.DataFrame) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in report.iter_rows()}


def test_evaluate_rewards_agrees_with_the_single_metrics():
    reward, golden, groups = scored_sets(60, 8, seed=0)
    reward[groups == 7] = 0.0  # one constant prompt
    rows = as_dict(evaluate_rewards(reward, golden, groups, n_bootstrap=200))
    assert list(rows)[:4] == ["random", "bon@2", "golden_bon@2", "normalised_gain@2"]
    assert {"bon@4", "bon@8", "bon@all", "n_pair_ties"} <= set(rows)
    curve = bon_curve(reward, golden, groups)
    for n in (2, 4, 8):
        assert rows[f"bon@{n}"][0] == pytest.approx(best_of_n(reward, golden, groups, n))
        assert rows[f"golden_bon@{n}"][0] == pytest.approx(curve["golden_bon"][n - 1])
        assert rows[f"normalised_gain@{n}"][0] == pytest.approx(curve["normalised_gain"][n - 1])
    assert rows["bon@all"][0] == pytest.approx(rows["bon@8"][0])
    assert rows["random"][0] == pytest.approx(golden.reshape(60, 8).mean())
    for method in ("spearman", "kendall"):
        table = rank_correlation(reward, golden, groups, method=method)
        assert rows[method][0] == pytest.approx(table["correlation"].mean())
    assert rows["n_constant_groups"] == (1.0, None, None)
    assert rows["n_groups"][0] == 60 and rows["n_candidates"][0] == 480
    assert rows["n_pairs"][0] == 60 * 28 and rows["n_pair_ties"][0] == 28
    assert 0.5 < rows["pairwise_accuracy"][0] < 1.0


def test_evaluate_rewards_custom_n_and_errors():
    reward, golden, groups = scored_sets(10, 5, seed=1)
    report = evaluate_rewards(reward, golden, groups, n=[3], n_bootstrap=0)
    assert report["metric"].to_list()[:4] == ["random", "bon@3", "golden_bon@3", "normalised_gain@3"]
    assert report["ci_low"].null_count() == report.height  # no bootstrap, no intervals
    single = evaluate_rewards(reward, golden, groups, n="all", n_bootstrap=0)
    assert single["metric"].to_list()[1] == "bon@all"
    assert single["value"][1] == pytest.approx(best_of_n(reward, golden, groups, "all"))
    with pytest.raises(DataError, match="n=6 exceeds the size of group 0"):
        evaluate_rewards(reward, golden, groups, n=[6])
    with pytest.raises(DataError, match="'n' is empty"):
        evaluate_rewards(reward, golden, groups, n=[])
    with pytest.raises(DataError, match="'confidence' must be a float in the open range"):
        evaluate_rewards(reward, golden, groups, confidence=95)


def test_interval_contains_estimate_and_is_seeded():
    reward, golden, groups = scored_sets(100, 6, seed=2)
    a = evaluate_rewards(reward, golden, groups, random_state=7)
    metrics = a.filter(pl.col("ci_low").is_not_null())
    assert metrics.height == 3 * 3 + 4  # random, (bon, golden_bon, gain) x {2, 4, all}, 3 rank
    assert (metrics["ci_low"] <= metrics["value"]).all()
    assert (metrics["value"] <= metrics["ci_high"]).all()
    assert (metrics["ci_low"] < metrics["ci_high"]).all()
    assert a.equals(evaluate_rewards(reward, golden, groups, random_state=7))
    other = evaluate_rewards(reward, golden, groups, random_state=8)
    assert not np.allclose(other["ci_low"].drop_nulls(), metrics["ci_low"])


def test_interval_width_matches_the_standard_error_and_shrinks_with_groups():
    widths = []
    for n_groups in (100, 1600):
        reward, golden, groups = scored_sets(n_groups, 4, seed=3)
        rows = as_dict(evaluate_rewards(reward, golden, groups, n=[1], n_bootstrap=2000))
        low, high = rows["random"][1:]
        se = golden.reshape(n_groups, 4).mean(axis=1).std(ddof=1) / np.sqrt(n_groups)
        assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # 16 x the groups: about 4 x narrower


def test_bon_curve_intervals():
    reward, golden, groups = scored_sets(80, 6, seed=4)
    curve = bon_curve(reward, golden, groups, n_bootstrap=300, random_state=0)
    assert curve.columns[-4:] == [
        "bon_ci_low",
        "bon_ci_high",
        "normalised_gain_ci_low",
        "normalised_gain_ci_high",
    ]
    assert (curve["bon_ci_low"] <= curve["bon"]).all()
    assert (curve["bon"] <= curve["bon_ci_high"]).all()
    assert curve["normalised_gain_ci_low"][0] is None  # undefined at N = 1
    assert curve.equals(bon_curve(reward, golden, groups, n_bootstrap=300, random_state=0))


def test_evaluate_pairs_agrees_with_the_single_metrics():
    rng = np.random.default_rng(5)
    win = rng.normal(size=400) + 0.5
    lose = rng.normal(size=400)
    lose[:10] = win[:10]  # ten ties
    proba = 1 / (1 + np.exp(-(win - lose)))
    groups = np.repeat(np.arange(100), 4)
    rows = as_dict(evaluate_pairs(win, lose, groups, proba=proba, n_bootstrap=300))
    assert list(rows) == ["pairwise_accuracy", "auc", "ece", "n_pairs", "n_ties", "n_groups"]
    assert rows["pairwise_accuracy"][0] == pytest.approx(pairwise_accuracy(win, lose))
    assert rows["auc"][0] == pytest.approx(pair_auc(win, lose))
    assert rows["ece"][0] == pytest.approx(expected_calibration_error(*symmetrize_pairs(proba)))
    assert (rows["n_pairs"][0], rows["n_ties"][0], rows["n_groups"][0]) == (400, 10, 100)
    for name in ("pairwise_accuracy", "auc", "ece"):
        value, low, high = rows[name]
        assert low <= value <= high
    no_proba = evaluate_pairs(win, lose, n_bootstrap=0)
    assert no_proba["metric"].to_list() == ["pairwise_accuracy", "auc", "n_pairs", "n_ties", "n_groups"]
    assert no_proba["value"][-1] == 400  # each pair its own group


def test_pair_intervals_resample_prompts_not_pairs():
    # Pairs of a prompt share their outcome: resampling prompts must see 50 units, not 400.
    outcome = np.repeat(np.random.default_rng(6).integers(0, 2, 50), 8).astype(float)
    groups = np.repeat(np.arange(50), 8)
    by_prompt = as_dict(evaluate_pairs(outcome, 0.5 * np.ones(400), groups))["pairwise_accuracy"]
    by_pair = as_dict(evaluate_pairs(outcome, 0.5 * np.ones(400)))["pairwise_accuracy"]
    assert by_prompt[2] - by_prompt[1] > 2 * (by_pair[2] - by_pair[1])


def test_evaluate_pairs_bad_input():
    with pytest.raises(DataError, match="'proba' has 1 rows"):
        evaluate_pairs([1.0, 2.0], [0.0, 1.0], proba=[0.5])
    with pytest.raises(DataError, match="'proba' must hold probabilities"):
        evaluate_pairs([1.0, 2.0], [0.0, 1.0], proba=[0.5, 2.0])
    with pytest.raises(DataError, match="'groups' has 3 rows"):
        evaluate_pairs([1.0, 2.0], [0.0, 1.0], groups=[0, 1, 2])


def test_alpacaeval_length_reward_hacks_the_length_biased_judge(data_dir):
    """On the real 805 x 51 AlpacaEval set, response length as reward beats random.

    The judge is known to favour length, so length is a positive (hackable) reward.
    """
    columns = ["prompt_id", "response", "judge_pref"]
    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet", columns=columns)
    reward = frame["response"].str.len_chars().cast(pl.Float64).to_numpy()
    golden = 100 * frame["judge_pref"].to_numpy()  # win rate against the reference, in %
    groups = frame["prompt_id"].to_numpy()
    rows = as_dict(evaluate_rewards(reward, golden, groups, n=[4, "all"], n_bootstrap=200, random_state=0))
    assert rows["n_groups"][0] == 805 and rows["n_candidates"][0] == 41055
    assert rows["bon@4"][1] > rows["random"][2]  # the intervals do not overlap
    assert rows["spearman"][1] > 0.4  # measured: 0.56 [0.55, 0.58]
    assert rows["golden_bon@all"][0] > rows["bon@all"][0]
