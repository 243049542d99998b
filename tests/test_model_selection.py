"""embrm.model_selection: cross-fitting by prompt, baselines, the attack rank."""

from __future__ import annotations

from functools import partial

import numpy as np
import polars as pl
import pytest

from embrm.data import PreferencePairs, ScoredResponses, group_train_test_split, within_prompt_pairs
from embrm.evaluate import pairwise_accuracy
from embrm.exceptions import DataError
from embrm.heads import BTLinear
from embrm.model_selection import attack_rank, baseline_rewards, cross_val_rewards, length_features
from embrm.testing import make_preference_pairs, make_scored_responses


@pytest.fixture(scope="module")
def scored():
    return make_scored_responses(n_prompts=30, n_responses=6, n_features=8, noise=0.1, random_state=0)


def test_every_row_is_scored_by_the_head_of_the_fold_that_held_its_prompt_out(scored):
    data, X = scored
    result = cross_val_rewards(BTLinear(alpha=1.0), data, X, cv=5, random_state=0)
    assert not np.isnan(result.reward).any()
    assert len(result.folds) == 5
    seen = np.concatenate([f.test_index for f in result.folds])
    assert np.array_equal(np.sort(seen), np.arange(len(data)))
    for fold in result.folds:
        # no prompt on both sides, and the fold's head gives exactly the stored rewards
        assert not np.intersect1d(data.groups[fold.train_index], data.groups[fold.test_index]).size
        np.testing.assert_array_equal(result.reward[fold.test_index], fold.head.reward(X[fold.test_index]))
        # noiseless pairs of the 24 training prompts: all 15 pairs of each (scores are distinct)
        assert fold.n_train_pairs == 15 * len(np.unique(data.groups[fold.train_index]))
        assert fold.label_error_rate == 0.0


def test_training_pairs_come_from_the_training_prompts_only(scored):
    data, X = scored
    seen_prompts = []

    def spy(train, random_state):
        seen_prompts.append(set(train.groups.tolist()))
        return within_prompt_pairs(train, random_state=random_state)

    result = cross_val_rewards(BTLinear(), data, X, cv=3, pairs=spy, random_state=1)
    for prompts, fold in zip(seen_prompts, result.folds, strict=True):
        assert prompts == set(data.groups[fold.train_index].tolist())
        assert not prompts & set(data.groups[fold.test_index].tolist())


def test_recovers_the_planted_order_on_held_out_prompts(scored):
    data, X = scored
    result = cross_val_rewards(BTLinear(alpha=1.0), data, X, cv=5, random_state=0)
    pairs = within_prompt_pairs(data, beta=None)
    r_win, r_lose = pairs.gather(result.reward)
    # golden = planted linear reward + per-prompt offset + noise 0.1: the order is learnable
    assert pairwise_accuracy(r_win, r_lose) > 0.9
    # and a constant reward is at chance
    assert pairwise_accuracy(*pairs.gather(baseline_rewards(data)["random"])) == 0.5


def test_same_seed_same_rewards_and_the_head_stays_unfitted(scored):
    data, X = scored
    head = BTLinear()
    builder = partial(within_prompt_pairs, pairs_per_prompt=5, beta=1.0)
    a = cross_val_rewards(head, data, X, pairs=builder, random_state=3).reward
    b = cross_val_rewards(head, data, X, pairs=builder, random_state=3).reward
    c = cross_val_rewards(head, data, X, pairs=builder, random_state=4).reward
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not hasattr(head, "coef_")


def test_one_explicit_split_scores_only_its_test_rows(scored):
    data, X = scored
    split = group_train_test_split(data.groups, test_size=0.2, random_state=0)
    result = cross_val_rewards(BTLinear(), data, X, cv=[split])
    assert np.isnan(result.reward[split[0]]).all()
    assert not np.isnan(result.reward[split[1]]).any()
    np.testing.assert_array_equal(result.held_out_mask, np.isin(np.arange(len(data)), split[1]))


def test_pairs_are_cross_fitted_by_their_groups():
    planted = make_preference_pairs(600, 16, n_groups=60, beta=None, random_state=0)
    frame = pl.DataFrame(
        {
            "prompt": [f"p{g}" for g in planted.groups],
            "chosen": ["a"] * 600,
            "rejected": ["b"] * 600,
            "group": planted.groups,
        }
    )
    pairs = PreferencePairs(frame)
    result = cross_val_rewards(
        BTLinear(alpha=1.0), pairs, (planted.X_win, planted.X_lose), cv=4, random_state=0
    )
    assert result.reward is None
    assert pairwise_accuracy(result.reward_win, result.reward_lose) > 0.9
    assert result.label_error_rate is None
    assert result.n_train_pairs == pytest.approx(450, abs=40)


def test_held_out_calls_each_folds_head_on_its_held_out_rows(scored):
    data, X = scored
    result = cross_val_rewards(BTLinear(), data, X, cv=5, random_state=0)
    np.testing.assert_array_equal(result.held_out("reward", X), result.reward)
    np.testing.assert_array_equal(result.fold_of(data.groups[result.folds[2].test_index]), 2)


def test_reward_held_out_uses_the_fold_that_held_the_prompt_out(scored):
    data, X = scored
    result = cross_val_rewards(BTLinear(), data, X, cv=5, random_state=0)
    other_groups = np.array([0, 7, 29])
    other_X = X[[1, 50, 175]]
    reward = result.reward_held_out(other_X, other_groups)
    for g, x, r in zip(other_groups, other_X, reward, strict=True):
        (fold,) = [f for f in result.folds if g in data.groups[f.test_index]]
        assert r == fold.head.reward(x[None])[0]


def test_bad_input_is_a_clear_error(scored):
    data, X = scored
    with pytest.raises(DataError, match="one row per response"):
        cross_val_rewards(BTLinear(), data, X[:-1])
    with pytest.raises(DataError, match="both sides"):
        cross_val_rewards(BTLinear(), data, X, cv=[(np.arange(10), np.arange(5, 20))])
    with pytest.raises(DataError, match="at least 2 folds"):
        cross_val_rewards(BTLinear(), data, X, cv=1)
    with pytest.raises(DataError, match="must be ScoredResponses or PreferencePairs"):
        cross_val_rewards(BTLinear(), X, X)


def _two_prompts() -> ScoredResponses:
    return ScoredResponses(
        pl.DataFrame(
            {
                "prompt_id": [0, 0, 0, 1, 1],
                "prompt": ["a"] * 3 + ["b"] * 2,
                "response": ["", "xy", "xyz", "x" * 9, "x"],
                "score": [0.0, 2.0, 1.0, 5.0, 6.0],
            }
        )
    )


def test_baselines_and_length_features():
    data = _two_prompts()
    base = baseline_rewards(data)
    assert base["longest"].tolist() == [0, 2, 3, 9, 1]
    assert base["oracle"].tolist() == [0, 2, 1, 5, 6]
    np.testing.assert_allclose(length_features(data)[:, 0], np.log1p([0, 2, 3, 9, 1]))


def test_attack_rank_counts_real_answers_below_the_attack_per_prompt():
    # prompt 0: attack 1.5 beats 1 of 3 answers, ties 1 (0.5) -> 0.5; prompt 1: beats both -> 1
    reward = np.array([1.0, 1.5, 3.0, 0.0, 0.1])
    groups = np.array([0, 0, 0, 1, 1])
    assert attack_rank(reward, groups, [9.0, 1.5], [1, 0]) == pytest.approx((0.5 + 1.0) / 2)
    assert attack_rank(reward, groups, [-1.0, -1.0], [0, 1]) == 0.0
    with pytest.raises(DataError, match="no attack answer"):
        attack_rank(reward, groups, [1.0], [0])
    with pytest.raises(DataError, match="one attack answer per prompt"):
        attack_rank(reward, groups, [1.0, 2.0, 3.0], [0, 1, 1])
