"""Length-controlled rewards and Best-of-N: closed-form cases and the real AlpacaEval set."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm.evaluate import best_of_n, evaluate_rewards, residualise_on_length
from embrm.exceptions import DataError


def as_dict(report: pl.DataFrame) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in report.iter_rows()}


def length_biased_sets(n_groups: int, k: int, seed: int):
    """Scored sets whose golden score grows with log length, plus noise."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), k)
    length = rng.integers(0, 3000, size=groups.size)
    golden = np.log1p(length) + rng.normal(size=groups.size)
    return length, golden, groups


def test_residuals_match_the_hand_computed_within_prompt_fit():
    # log1p(length) = 0, 1, 2 in prompt 0 and 0, 2 in prompt 1: deviations -1, 0, 1 and -1, 1;
    # reward deviations -2, -1, 3 and 0, 0; slope = (2 + 3) / (2 + 2) = 1.25.
    length = np.expm1([0.0, 1.0, 2.0, 0.0, 2.0])
    residual = residualise_on_length([0.0, 1.0, 5.0, 1.0, 1.0], length, [0, 0, 0, 1, 1])
    assert residual == pytest.approx([-0.75, -1.0, 1.75, 1.25, -1.25], abs=1e-12)


def test_equal_lengths_leave_the_rewards_centred_within_prompts():
    residual = residualise_on_length([4.0, 1.0, 1.0, 7.0], [9, 9, 3, 3], ["a", "a", "b", "b"])
    assert residual.tolist() == [1.5, -1.5, -3.0, 3.0]


def test_a_reward_linear_in_log_length_is_a_random_pick_once_length_controlled():
    length, golden, groups = length_biased_sets(40, 8, seed=0)
    offset = np.random.default_rng(1).normal(size=40)[groups]  # each prompt its own level
    reward = 0.7 * np.log1p(length) + 3.0 + offset
    assert not residualise_on_length(reward, length, groups).any()  # exactly zero, not rounding noise
    rows = as_dict(evaluate_rewards(reward, golden, groups, length=length, n_bootstrap=200, random_state=0))
    for n in (2, 4, 8, "all"):
        assert rows[f"bon_lc@{n}"] == pytest.approx(rows["random"])  # value and interval
        assert rows[f"bon@{n}"][0] > rows["random"][0] + 0.3  # raw BoN: length pays on this judge
    assert rows["bon@8"][0] == pytest.approx(best_of_n(reward, golden, groups, 8))


def test_a_reward_uncorrelated_with_length_within_prompts_keeps_its_best_of_n():
    length, golden, groups = length_biased_sets(30, 6, seed=2)
    reward = golden + np.random.default_rng(3).normal(size=golden.size)
    # Remove the pooled within-prompt slope by hand: what is left has none to remove.
    log_length = np.log1p(length)
    x = log_length - (np.bincount(groups, log_length) / 6)[groups]
    y = reward - (np.bincount(groups, reward) / 6)[groups]
    reward = reward - (x @ y) / (x @ x) * log_length
    rows = as_dict(evaluate_rewards(reward, golden, groups, length=length, n_bootstrap=0))
    for n in (2, 4, "all"):
        assert rows[f"bon_lc@{n}"][0] == pytest.approx(rows[f"bon@{n}"][0], rel=1e-12)
    # A slope per prompt would fit each prompt's chance trend and change the picks.
    per_prompt = np.concatenate(
        [y[g] - np.polyval(np.polyfit(x[g], y[g], 1), x[g]) for g in np.split(np.arange(180), 30)]
    )
    assert abs(best_of_n(per_prompt, golden, groups, "all") - rows["bon@all"][0]) > 0.05


def test_the_length_rows_leave_every_other_row_as_it_was():
    length, golden, groups = length_biased_sets(50, 5, seed=4)
    reward = golden + np.random.default_rng(5).normal(size=golden.size)
    plain = evaluate_rewards(reward, golden, groups, n_bootstrap=100, random_state=3)
    with_length = evaluate_rewards(reward, golden, groups, length=length, n_bootstrap=100, random_state=3)
    assert with_length["metric"].to_list()[:6] == [
        "random",
        "bon@2",
        "bon_lc@2",
        "golden_bon@2",
        "normalised_gain@2",
        "bon@4",
    ]
    assert with_length.filter(~pl.col("metric").str.starts_with("bon_lc@")).equals(plain)
    lc = as_dict(with_length)
    assert lc["random"][0] < lc["bon_lc@all"][0] < lc["bon@all"][0]  # some quality beyond length


def test_bad_lengths_are_named():
    with pytest.raises(DataError, match=r"'length' must hold response lengths .* row 1 is -3.0"):
        residualise_on_length([1.0, 2.0], [4, -3], [0, 0])
    with pytest.raises(DataError, match="'length' has 1 rows but the first argument has 2"):
        evaluate_rewards([1.0, 2.0], [0.0, 1.0], [0, 0], length=[4], n_bootstrap=0)
    with pytest.raises(DataError, match="'length' has 1 NaN or infinite"):
        residualise_on_length([1.0, 2.0], [4, np.nan], [0, 0])


def test_alpacaeval_length_controlled_best_of_n_of_the_length_reward_is_random(data_dir):
    """On the real AlpacaEval set, length as reward gains over random only through length."""
    columns = ["prompt_id", "response", "judge_pref"]
    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet", columns=columns)
    frame = frame.filter(pl.col("prompt_id") < 200)
    length = frame["response"].str.len_chars().to_numpy()
    golden = 100 * frame["judge_pref"].to_numpy()
    groups = frame["prompt_id"].to_numpy()
    rows = as_dict(evaluate_rewards(np.log1p(length), golden, groups, n="all", length=length, n_bootstrap=0))
    assert rows["bon_lc@all"][0] == pytest.approx(rows["random"][0])
    assert rows["bon@all"][0] > rows["random"][0] + 5  # in win-rate points
