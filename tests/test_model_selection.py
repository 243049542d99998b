"""embrm.model_selection: prompt-grouped splits, cross-fitting by prompt, baselines, the attack
rank, reports."""

from __future__ import annotations

from functools import partial

import numpy as np
import polars as pl
import pytest

from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs
from embrm.evaluate import evaluate_pairs, evaluate_rewards, pairwise_accuracy
from embrm.exceptions import DataError
from embrm.heads import BTLinear
from embrm.model_selection import (
    CrossValRewards,
    FoldFit,
    Report,
    attack_rank,
    baseline_rewards,
    cross_val_rewards,
    group_kfold,
    group_train_test_split,
    length_features,
)
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
    assert result.held_out_mask.dtype == bool


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
    assert base["golden"].tolist() == [0, 2, 1, 5, 6]
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


def test_heads_fitted_by_cross_fitting_record_the_encoder_of_their_arrays(scored):
    from embrm.embed._arrays import EmbeddingArray

    data, X = scored
    result = cross_val_rewards(BTLinear(), data, EmbeddingArray(X, "enc-x"), cv=3, random_state=0)
    assert {f.head.encoder_id_ for f in result.folds} == {"enc-x"}


class _RecordingHead(BTLinear):
    """BTLinear that keeps what each ``fit`` received."""

    def fit(self, X_win, X_lose, sample_weight=None, *, groups=None, **fit_params):
        self.seen_ = (np.array(X_win), np.array(X_lose), sample_weight, groups, fit_params)
        return super().fit(X_win, X_lose, sample_weight, groups=groups, **fit_params)


def test_each_fold_fits_on_its_own_pairs_seeded_s_plus_1000_k(scored):
    """Fold k's head gets the pairs of its training prompts built with ``random_state=s + 1000 k``,
    with their weights and groups, and the fit parameters given."""
    data, X = scored
    builder = partial(within_prompt_pairs, pairs_per_prompt=4, beta=2.0)
    result = cross_val_rewards(_RecordingHead(), data, X, cv=3, pairs=builder, random_state=7,
                               fit_params={"encoder_id": "enc-y"})
    for k, fold in enumerate(result.folds):
        train = builder(data.take(fold.train_index), random_state=7 + 1000 * k)
        X_win, X_lose, weight, groups, params = fold.head.seen_
        expected_win, expected_lose = train.gather(X[fold.train_index])
        np.testing.assert_array_equal(X_win, expected_win)
        np.testing.assert_array_equal(X_lose, expected_lose)
        np.testing.assert_array_equal(weight, train.sample_weight)
        np.testing.assert_array_equal(groups, train.groups)
        assert params == {"encoder_id": "enc-y"} and fold.head.encoder_id_ == "enc-y"
        assert fold.fold == k and fold.n_train_pairs == len(train)
        assert fold.label_error_rate == train.label_error_rate
    rates = [f.label_error_rate for f in result.folds]
    assert 0 < min(rates) and result.label_error_rate == pytest.approx(np.mean(rates))
    assert result.n_train_pairs == pytest.approx(np.mean([len(f.head.seen_[0]) for f in result.folds]))


def test_weighted_pairs_are_cross_fitted_with_their_weights():
    planted = make_preference_pairs(80, 4, n_groups=8, beta=None, random_state=0)
    weight = np.linspace(0.5, 2.0, 80)
    pairs = PreferencePairs(pl.DataFrame({"prompt": [f"p{g}" for g in planted.groups], "chosen": ["a"] * 80,
                                          "rejected": ["b"] * 80, "group": planted.groups, "weight": weight}))
    result = cross_val_rewards(_RecordingHead(), pairs, (planted.X_win, planted.X_lose), cv=2, random_state=0)
    for fold in result.folds:
        tr, te = fold.train_index, fold.test_index
        X_win, X_lose, seen_weight, groups, _ = fold.head.seen_
        np.testing.assert_array_equal(X_win, planted.X_win[tr])
        np.testing.assert_array_equal(X_lose, planted.X_lose[tr])
        np.testing.assert_array_equal(seen_weight, weight[tr])
        np.testing.assert_array_equal(groups, pairs.groups[tr])
        np.testing.assert_array_equal(result.reward_win[te], fold.head.reward(planted.X_win[te]))
        np.testing.assert_array_equal(result.reward_lose[te], fold.head.reward(planted.X_lose[te]))
    unweighted = PreferencePairs(pairs.frame.drop("weight"))
    result = cross_val_rewards(_RecordingHead(), unweighted, (planted.X_win, planted.X_lose), cv=2)
    assert all(f.head.seen_[2] is None for f in result.folds)


def test_fit_seconds_time_fit_alone(scored, monkeypatch):
    import types

    import embrm.model_selection as model_selection

    clock = iter([10.0, 10.25, 20.0, 20.75])  # fold 0 fits in 0.25 s, fold 1 in 0.75 s
    monkeypatch.setattr(model_selection, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    data, X = scored
    result = cross_val_rewards(BTLinear(), data, X, cv=2, random_state=0)
    assert [f.fit_seconds for f in result.folds] == [0.25, 0.75]
    assert result.fit_seconds == 0.5


def test_summaries_over_folds():
    def fold(rate, pairs):
        return FoldFit(0, np.arange(2), np.arange(2, 4), None, pairs, rate, 1.0)

    both = CrossValRewards(np.zeros(4), None, None, [fold(0.1, 10), fold(0.3, 30)], np.arange(4))
    assert both.label_error_rate == pytest.approx(0.2) and both.n_train_pairs == 20.0
    one_given = CrossValRewards(None, None, None, [fold(0.1, 10), fold(None, 30)], np.arange(4))
    assert one_given.label_error_rate is None


def test_rows_no_fold_held_out_are_nan_or_minus_one(scored):
    data, X = scored
    split = group_train_test_split(data.groups, test_size=0.2, random_state=0)
    result = cross_val_rewards(BTLinear(), data, X, cv=[split])
    held = result.held_out("reward", X)
    assert np.isnan(held[split[0]]).all()
    np.testing.assert_array_equal(held[split[1]], result.reward[split[1]])
    train_prompt, test_prompt = data.groups[split[0][0]], data.groups[split[1][0]]
    assert result.fold_of([train_prompt, test_prompt, 999]).tolist() == [-1, 0, -1]
    reward = result.reward_held_out(X[[0, 1]], [train_prompt, test_prompt])
    assert np.isnan(reward[0]) and reward[1] == result.folds[0].head.reward(X[[1]])[0]
    with pytest.raises(DataError, match=r"^X has 2 rows but groups has 3: pass one prompt id per row\.$"):
        result.reward_held_out(X[[0, 1]], [0, 1, 2])


def test_two_folds_and_numpy_seeds(scored):
    data, X = scored
    two = cross_val_rewards(BTLinear(), data, X, cv=2, random_state=3)
    assert len(two.folds) == 2 and not np.isnan(two.reward).any()
    # a numpy integer seeds as the int; a RandomState draws the base seed randint(2**30 - 1)
    same = cross_val_rewards(BTLinear(), data, X, cv=np.int64(2), random_state=np.int64(3))
    np.testing.assert_array_equal(same.reward, two.reward)
    drawn = int(np.random.RandomState(5).randint(2**30 - 1))
    np.testing.assert_array_equal(
        cross_val_rewards(BTLinear(), data, X, cv=2, random_state=np.random.RandomState(5)).reward,
        cross_val_rewards(BTLinear(), data, X, cv=2, random_state=drawn).reward)


def test_every_refusal_in_full(scored):
    data, X = scored
    pairs = make_preference_pairs(20, 4, n_groups=5, random_state=0)
    given = PreferencePairs(pl.DataFrame({"prompt": [f"p{g}" for g in pairs.groups], "chosen": ["a"] * 20,
                                          "rejected": ["b"] * 20, "group": pairs.groups}))
    n = len(data)
    cases = [
        ((data, X[:-1]), {}, rf"X must have one row per response of the scored set \({n}\), got shape "
         rf"\({n - 1}, 8\): embed it with data\.embed\(encoder\)\."),
        ((data, X[:, 0]), {}, rf"X must have one row per response of the scored set \({n}\), got shape "
         rf"\({n},\): embed it with data\.embed\(encoder\)\."),
        ((data, X), {"cv": 1}, r"cv must be at least 2 folds, got 1\."),
        ((data, X), {"cv": [(np.arange(10), np.arange(5, 20))]},
         r"A split puts 2 prompt\(s\) on both sides \(e\.g\. np\.int64\(0\)\): out-of-fold rewards would "
         r"leak\. "
         r"Split by prompt, e\.g\. with embrm\.model_selection\.group_kfold\."),
        ((X, X), {}, r"data must be ScoredResponses or PreferencePairs, got ndarray: build one with "
         r"embrm\.load_dataset or embrm\.data\.read_pairs / read_scored\."),
        ((given, (pairs.X_win, pairs.X_lose)), {"pairs": within_prompt_pairs},
         r"pairs= builds pairs from a scored set; data is already PreferencePairs\."),
        ((given, pairs.X_win), {}, r"For PreferencePairs, X must be the tuple \(X_win, X_lose\) of "
         r"data\.embed\(encoder\)\."),
        ((given, (pairs.X_win, pairs.X_lose, pairs.X_lose)), {}, r"For PreferencePairs, X must be the tuple"),
        ((given, (pairs.X_win, pairs.X_lose[:-1])), {},
         r"X_win and X_lose must have one row per pair \(20\); got 20 and 19\."),
        ((given, (pairs.X_win[:-1], pairs.X_lose)), {},
         r"X_win and X_lose must have one row per pair \(20\); got 19 and 20\."),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(DataError, match=f"^{message}"):
            cross_val_rewards(BTLinear(), *args, **kwargs)


def test_length_features_of_pairs_and_every_baseline():
    frame = pl.DataFrame({"prompt": ["q", "q"], "chosen": ["abc", ""], "rejected": ["", "x" * 7]})
    pairs = PreferencePairs(frame)
    chosen, rejected = length_features(pairs)
    np.testing.assert_allclose(chosen[:, 0], np.log1p([3, 0]))
    np.testing.assert_allclose(rejected[:, 0], np.log1p([0, 7]))
    base = baseline_rewards(_two_prompts())
    assert sorted(base) == ["golden", "longest", "random"]
    assert base["random"].tolist() == [0.0] * 5 and base["longest"].dtype == np.float64


def test_attack_rank_refusals_name_the_argument():
    reward, groups = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0])
    with pytest.raises(DataError, match=r"^groups_attack must hold one attack answer per prompt; a prompt id "
                       r"repeats\.$"):
        attack_rank(reward, groups, [1.0, 2.0, 3.0], [0, 1, 1])
    with pytest.raises(DataError, match=r"^Prompt np\.float64\(1\.0\) has real answers but no attack "
                       r"answer in groups_attack\.$"):
        attack_rank(reward, groups, [1.0], [0.0])
    with pytest.raises(DataError, match=r"^'groups_attack' has missing \(NaN\) prompt ids, first at row 1"):
        attack_rank(reward, groups, [1.0, 2.0], [0.0, np.nan])
    with pytest.raises(DataError, match=r"^'groups' has 3 rows but the first argument has 2"):
        attack_rank(reward[:2], groups, [1.0, 2.0], [0.0, 1.0])
    # an attack prompt with no real answers is ignored; a prompt id past every attack's is missing
    assert attack_rank(reward, groups, [2.5, 0.0, 9.0], [0.0, 1.0, 5.0]) == pytest.approx((1.0 + 0.0) / 2)
    with pytest.raises(DataError, match="no attack answer"):
        attack_rank(reward, np.array([0.0, 0.0, 7.0]), [2.5, 0.0], [0.0, 1.0])


def test_a_pair_builder_without_a_label_error_rate(scored):
    data, X = scored

    def plain(train, random_state):
        pairs = within_prompt_pairs(train, random_state=random_state)
        return PreferencePairs(pairs.frame.drop("flipped"))  # a builder that does not measure it

    result = cross_val_rewards(BTLinear(), data, X, cv=2, pairs=plain, random_state=0)
    assert [f.label_error_rate for f in result.folds] == [None, None] and result.label_error_rate is None


def test_weights_of_built_pairs_reach_the_fit_and_five_folds_by_default(scored):
    data, X = scored

    def weighted(train, random_state):
        pairs = within_prompt_pairs(train, random_state=random_state)
        weight = np.linspace(0.5, 1.5, len(pairs))
        return PreferencePairs(pairs.frame.with_columns(pl.Series("weight", weight)))

    result = cross_val_rewards(_RecordingHead(), data, X, pairs=weighted, random_state=0)
    assert len(result.folds) == 5
    for fold in result.folds:
        np.testing.assert_array_equal(fold.head.seen_[2], np.linspace(0.5, 1.5, fold.n_train_pairs))


def test_attack_rank_needs_every_real_prompt_among_the_attacks():
    # prompt 0 lies below every attack prompt (1, 2): it has no attack answer
    with pytest.raises(DataError, match=r"^Prompt np\.int64\(0\) has real answers but no attack answer"):
        attack_rank([1.0, 2.0, 3.0], [0, 1, 2], [0.5, 0.5], [1, 2])


def test_cross_fitted_pairs_keep_their_groups_folds_and_float_rewards():
    planted = make_preference_pairs(80, 4, n_groups=8, beta=None, random_state=0)
    pairs = PreferencePairs(pl.DataFrame({"prompt": [f"p{g}" for g in planted.groups], "chosen": ["a"] * 80,
                                          "rejected": ["b"] * 80, "group": planted.groups}))
    X = (planted.X_win, planted.X_lose)
    result = cross_val_rewards(BTLinear(), pairs, X, cv=4, random_state=3)
    np.testing.assert_array_equal(result.groups, pairs.groups)
    assert result.held_out_mask.all() and [f.fold for f in result.folds] == [0, 1, 2, 3]
    assert result.reward_win.dtype == result.reward_lose.dtype == np.float64
    again = cross_val_rewards(BTLinear(), pairs, X, cv=4, random_state=3)
    for a, b in zip(result.folds, again.folds, strict=True):
        np.testing.assert_array_equal(a.test_index, b.test_index)
    split = group_train_test_split(pairs.groups, test_size=0.25, random_state=0)
    partial = cross_val_rewards(BTLinear(), pairs, X, cv=[split])
    assert np.isnan(partial.reward_win[split[0]]).all() and np.isnan(partial.reward_lose[split[0]]).all()


# -- prompt-grouped splits ----------------------------------------------------------------------
def test_group_kfold_deals_every_prompt_into_exactly_one_balanced_fold():
    groups = np.repeat(np.arange(50), 7)
    seen = np.zeros(len(groups), dtype=int)
    folds = list(group_kfold(groups, n_splits=5, random_state=0))
    assert len(folds) == 5 and len(list(group_kfold(groups, random_state=0))) == 5  # five by default
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(groups)))
        assert len(np.unique(groups[test])) == 10  # 50 prompts dealt round-robin: 10 per fold
        seen[test] += 1
    assert (seen == 1).all()
    # the shuffle is seeded: same seed, same folds; another seed, other folds
    again = list(group_kfold(groups, n_splits=5, random_state=0))
    other = list(group_kfold(groups, n_splits=5, random_state=1))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))
    small = np.array([0, 0, 1, 1, 2, 2])
    assert [small[te].tolist() for _, te in group_kfold(small, 3, random_state=0)] == [[2, 2], [1, 1], [0, 0]]


def test_group_kfold_takes_as_many_folds_as_prompts_and_no_more():
    folds = group_kfold(["b", "a", "c"], n_splits=3, random_state=0)
    assert [te.tolist() for _, te in folds] == [[2], [0], [1]]
    ((train, test),) = group_kfold(np.array([7]), n_splits=1)
    assert train.tolist() == [] and test.tolist() == [0]
    with pytest.raises(DataError, match=r"^Cannot split 3 distinct prompts into 5 parts: each part needs at "
                       r"least one prompt\.$"):
        list(group_kfold(np.arange(3), n_splits=5))
    for bad, shape in ((np.zeros((4, 2)), r"\(4, 2\)"), (np.array([]), r"\(0,\)")):
        with pytest.raises(DataError, match=rf"^groups must be a non-empty 1-d array, got shape {shape}\.$"):
            list(group_kfold(bad, n_splits=2))


def test_group_train_test_split_holds_out_a_share_of_prompts():
    groups = np.repeat(np.arange(50), 7)
    train, test = group_train_test_split(groups, test_size=0.2, random_state=0)
    assert not set(groups[train]) & set(groups[test])
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(groups)))
    assert len(np.unique(groups[test])) == 10
    assert len(np.unique(groups[group_train_test_split(groups, random_state=0)[1]])) == 10  # 0.2 by default
    assert len(np.unique(groups[group_train_test_split(groups, 0.5, random_state=0)[1]])) == 25
    # the same draw as before the split moved here: numpy's choice of round(0.2 * 10) test prompts
    ten = np.repeat(np.arange(10), 3)
    expected = np.random.RandomState(4).choice(10, size=2, replace=False)
    np.testing.assert_array_equal(group_train_test_split(ten, 0.2, random_state=4)[1],
                                  np.flatnonzero(np.isin(ten, expected)))
    # at least one prompt on each side
    assert [len(part) for part in group_train_test_split([0, 1], 0.01, random_state=0)] == [1, 1]
    assert [len(part) for part in group_train_test_split([0, 1, 2], 0.99, random_state=0)] == [1, 2]
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(DataError, match=rf"^test_size must be in \(0, 1\), got {bad}\.$"):
            group_train_test_split(groups, test_size=bad)
    with pytest.raises(DataError, match=r"^Cannot split 1 distinct prompts into 2 parts"):
        group_train_test_split([3, 3, 3])


# -- reports ------------------------------------------------------------------------------------
def _table(metric, value, low, high):
    return pl.DataFrame({"metric": metric, "value": value, "ci_low": low, "ci_high": high},
                        schema={"metric": pl.String, "value": pl.Float64, "ci_low": pl.Float64,
                                "ci_high": pl.Float64})


def test_report_reads_each_metric_by_name():
    frame = _table(["pairwise_accuracy", "auc", "p_better", "n_pairs"], [0.75, 0.8, None, 12.0],
                   [0.5, 0.6, None, None], [0.9, 1.0, None, None])
    report = Report(frame)
    assert report.metrics == ["pairwise_accuracy", "auc", "p_better", "n_pairs"]
    assert report.value("pairwise_accuracy") == 0.75 and report.value("n_pairs") == 12.0
    assert report.value("p_better") is None
    assert report.interval("auc") == (0.6, 1.0) and report.interval("n_pairs") is None
    assert report.to_frame() is frame
    assert repr(report) == "Report(metrics=['pairwise_accuracy', 'auc', 'p_better', 'n_pairs'])"
    with pytest.raises(DataError, match=r"^The report has no metric 'bon@4'; it has \['pairwise_accuracy', "
                       r"'auc', 'p_better', 'n_pairs'\]\.$"):
        report.value("bon@4")
    with pytest.raises(DataError, match="no metric 'ece'"):
        report.interval("ece")
    # an interval needs both ends
    half = Report(_table(["a", "b"], [1.0, 2.0], [0.5, None], [None, 2.5]))
    assert half.interval("a") is None and half.interval("b") is None


def test_report_to_dict_is_one_flat_row():
    report = Report(_table(["auc", "n_pairs"], [0.8, 12.0], [0.6, None], [1.0, None]))
    assert report.to_dict() == {"auc": 0.8, "auc_ci_low": 0.6, "auc_ci_high": 1.0, "n_pairs": 12.0}
    assert report.to_dict(prefix="hh_") == {"hh_auc": 0.8, "hh_auc_ci_low": 0.6, "hh_auc_ci_high": 1.0,
                                            "hh_n_pairs": 12.0}
    assert report.to_dict(intervals=False) == {"auc": 0.8, "n_pairs": 12.0}


def test_report_of_every_evaluate_table():
    reward, golden = [3.0, 1.0, 2.0, 0.0, 1.0, 2.0], [1.0, 0.0, 0.5, 0.2, 0.1, 0.0]
    groups = [0, 0, 0, 1, 1, 1]
    frame = evaluate_rewards(reward, golden, groups, n=[2], n_bootstrap=20, random_state=0)
    report = Report(frame)
    assert report.metrics == frame["metric"].to_list()
    for metric, value, low, high in frame.iter_rows():
        assert report.value(metric) == value
        assert report.interval(metric) == (None if low is None else (low, high))
    assert report.value("n_groups") == 2.0 and report.interval("bon@2") is not None
    pairs = Report(evaluate_pairs([2.0, 1.0, 0.5], [1.0, 1.0, 0.7], n_bootstrap=0))
    assert pairs.value("pairwise_accuracy") == 0.5 and pairs.interval("pairwise_accuracy") is None


def test_report_refuses_what_is_not_one_report_table():
    with pytest.raises(DataError, match=r"^Report reads a polars table, got dict: pass the return value of "
                       r"an embrm\.evaluate function, e\.g\. Report\(evaluate_rewards\(\.\.\.\)\)\.$"):
        Report({"metric": ["auc"]})
    with pytest.raises(DataError, match=r"^The report table lacks the column\(s\) \['ci_low', 'ci_high'\]: "
                       r"Report reads the metric \| value \| ci_low \| ci_high tables of embrm\.evaluate\.$"):
        Report(pl.DataFrame({"metric": ["auc"], "value": [0.5]}))
    with pytest.raises(DataError, match=r"^The report table holds metric 'auc' more than once: one row per "
                       r"metric \(report different sets separately, or name the metrics apart\)\.$"):
        Report(_table(["n", "auc", "bon@2", "auc", "bon@2"], [1.0] * 5, [None] * 5, [None] * 5))
