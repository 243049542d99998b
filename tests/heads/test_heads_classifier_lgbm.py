"""Classification heads: logit rewards, a fitted temperature, LightGBM raw margins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embrm.heads import BTLinear, ClassifierHead, LGBMHead
from embrm.heads._mlp import mlp_forward


def test_logistic_reward_is_the_logit_not_a_probability(pairs):
    # A light penalty for 400 pairs: the default (tuned on thousands) keeps logits near 0.
    head = ClassifierHead(alpha=10.0, random_state=0).fit(pairs.X_win, pairs.X_lose)
    r = head.reward(pairs.X_win)
    np.testing.assert_allclose(r, pairs.X_win @ head.coef_ + head.intercept_)
    assert r.min() < 0 < 1 < r.max()


def test_temperature_calibrates_predict_proba(pairs, test_pairs):
    head = ClassifierHead(random_state=0).fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    p = head.predict_proba(test_pairs.X_win, test_pairs.X_lose)
    # Mean predicted P(preferred) close to the observed accuracy of the preferred side.
    assert p.mean() == pytest.approx(head.score(test_pairs.X_win, test_pairs.X_lose), abs=0.08)
    margin = head.reward(test_pairs.X_win) - head.reward(test_pairs.X_lose)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-margin / head.temperature_)))


def test_mlp_kind_uses_the_validation_slice_for_early_stopping(pairs):
    head = ClassifierHead(model="mlp", hidden_layer_sizes=(16,), random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    assert head.n_epochs_ == int(np.argmin(head.validation_loss_)) + 1


@pytest.mark.parametrize("linear_base", [True, False])
def test_mlp_model_trains_on_top_of_the_linear_model(pairs, linear_base):
    head = ClassifierHead(
        model="mlp", hidden_layer_sizes=(16,), center_by_group=True, linear_base=linear_base, random_state=0
    )
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    logistic = ClassifierHead(center_by_group=True, random_state=0)
    logistic.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    if linear_base:  # the same split, so the same fit
        np.testing.assert_allclose(head.coef_, logistic.coef_, rtol=1e-6, atol=1e-10)
        assert head.intercept_ == pytest.approx(logistic.intercept_, rel=1e-6)
    else:
        np.testing.assert_array_equal(head.coef_, 0.0)
    mlp = mlp_forward(head.coefs_, head._standardise(pairs.X_win))[0]
    np.testing.assert_allclose(
        head.reward(pairs.X_win), pairs.X_win @ head.coef_ + head.intercept_ + mlp, rtol=1e-5
    )


@pytest.mark.parametrize("linear_base", [True, False])
@pytest.mark.parametrize("objective", ["binary", "pairwise"])
def test_lgbm_reward_is_the_raw_margin(pairs, objective, linear_base):
    head = LGBMHead(objective=objective, n_estimators=30, linear_base=linear_base, random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    raw = head.booster_.predict(pairs.X_win, raw_score=True)
    linear = pairs.X_win @ head.linear_coef_ + head.linear_intercept_
    np.testing.assert_allclose(head.reward(pairs.X_win), linear + raw)
    assert np.any(head.linear_coef_ != 0) == linear_base
    assert head.booster_.num_trees() == head.best_iteration_ <= 30
    # A margin, not a probability: it takes negative values.
    assert head.reward(pairs.X_lose).min() < 0


@pytest.mark.parametrize("objective", ["binary", "pairwise"])
def test_lgbm_boosting_from_a_linear_base_beats_trees_alone_on_a_linear_reward(objective, wide_split):
    # 64-d Gaussian responses, Bradley-Terry labels from a linear reward: axis-aligned trees
    # approximate it poorly, a linear base gets it and the trees refine. Seeds 0-3: +0.012 to
    # +0.087 over trees alone.
    train, test = wide_split
    boosted = LGBMHead(objective=objective, random_state=0).fit(
        train.X_win, train.X_lose, groups=train.groups
    )
    trees = LGBMHead(objective=objective, linear_base=False, random_state=0)
    trees.fit(train.X_win, train.X_lose, groups=train.groups)
    assert boosted.score(test.X_win, test.X_lose) > trees.score(test.X_win, test.X_lose) + 0.01
    # The trees keep what the linear base alone gets.
    base_win, base_lose = (X @ boosted.linear_coef_ for X in (test.X_win, test.X_lose))
    base = np.mean(base_win > base_lose)
    assert boosted.score(test.X_win, test.X_lose) > base - 0.01


def test_lgbm_threads_are_explicit(pairs):
    head = LGBMHead(n_estimators=5, n_jobs=1, random_state=0).fit(pairs.X_win, pairs.X_lose)
    assert "[num_threads: 1]" in head.booster_.model_to_string()


def test_lgbm_min_child_samples_is_a_count_or_a_share_of_the_rows(pairs):
    head = LGBMHead(min_child_samples=0.2, n_estimators=5, random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    leaves = _leaf_counts(head.booster_.dump_model()["tree_info"][0]["tree_structure"])
    n_rows = sum(leaves)  # the distinct training responses
    assert f"[min_data_in_leaf: {math.ceil(0.2 * n_rows)}]" in head.booster_.model_to_string()
    assert min(leaves) >= 0.2 * n_rows
    head = LGBMHead(min_child_samples=7, n_estimators=5, random_state=0).fit(pairs.X_win, pairs.X_lose)
    assert "[min_data_in_leaf: 7]" in head.booster_.model_to_string()
    with pytest.raises(ValueError, match="'min_child_samples' parameter of LGBMHead must be an int"):
        LGBMHead(min_child_samples=1.5).fit(pairs.X_win, pairs.X_lose)


def _leaf_counts(node):
    if "leaf_count" in node:
        return [node["leaf_count"]]
    return _leaf_counts(node["left_child"]) + _leaf_counts(node["right_child"])


def test_logistic_standardised_equals_the_raw_fit_on_features_divided_by_their_spread(pairs):
    scale = np.linspace(0.01, 100.0, pairs.X_win.shape[1])
    X_win, X_lose = pairs.X_win * scale, pairs.X_lose * scale
    head = ClassifierHead(alpha=3.0, random_state=0).fit(X_win, X_lose)
    # The spread over the training part's responses (the held-out slice fits the temperature).
    np.testing.assert_allclose(head.feature_scale_, np.vstack([X_win, X_lose]).std(axis=0), rtol=0.05)
    spread = head.feature_scale_
    raw = ClassifierHead(alpha=3.0, standardize=False, random_state=0).fit(X_win / spread, X_lose / spread)
    np.testing.assert_allclose(raw.feature_scale_, 1.0)
    np.testing.assert_allclose(head.coef_, raw.coef_ / spread, rtol=1e-5, atol=1e-8)
    assert head.intercept_ == pytest.approx(raw.intercept_, rel=1e-5)


def _prompt_shifted_pairs(n_groups, seed):
    """16-d responses, 8 per prompt; each prompt shifts its responses, 4x as far along the
    reward direction u = e_0 as along the others; 10 Bradley-Terry pairs per prompt."""
    rng = np.random.RandomState(seed)
    d, k = 16, 8
    u = np.eye(d)[0]
    shift = rng.standard_normal((n_groups, d))
    shift[:, 0] *= 4.0
    X = np.repeat(shift, k, axis=0) + rng.standard_normal((n_groups * k, d))
    first = np.repeat(np.arange(n_groups) * k, 10)
    a, b = first + rng.randint(k, size=first.size), first + rng.randint(k, size=first.size)
    a, b = a[a != b], b[a != b]
    a_wins = rng.rand(a.size) < 1 / (1 + np.exp(-2 * (X[a] - X[b]) @ u))
    win, lose = np.where(a_wins, a, b), np.where(a_wins, b, a)
    return X[win], X[lose], win // k, u


@pytest.mark.parametrize("seed", [0, 1])
def test_logistic_centred_by_group_ranks_within_prompts_like_bradley_terry(seed):
    # Responses of a prompt share a shift that carries the reward direction, and every
    # prompt has as many wins as losses: on raw rows the classifier must explain the shifts
    # away (seeds 0-3: cosine with u 0.42-0.59, accuracy 0.59-0.67). On each response's
    # offset from its prompt's mean it recovers u (0.99) and ranks like BTLinear (within 0.012).
    X_win, X_lose, groups, u = _prompt_shifted_pairs(200, seed)
    T_win, T_lose, _, _ = _prompt_shifted_pairs(200, seed + 100)
    centred = ClassifierHead(alpha=1.0, center_by_group=True, random_state=0).fit(
        X_win, X_lose, groups=groups
    )
    raw = ClassifierHead(alpha=1.0, center_by_group=False, random_state=0).fit(X_win, X_lose, groups=groups)
    bt = BTLinear(alpha=1.0).fit(X_win, X_lose)
    assert centred.coef_ @ u / np.linalg.norm(centred.coef_) > 0.97
    assert raw.coef_ @ u / np.linalg.norm(raw.coef_) < 0.8
    assert centred.score(T_win, T_lose) > raw.score(T_win, T_lose) + 0.1
    assert centred.score(T_win, T_lose) == pytest.approx(bt.score(T_win, T_lose), abs=0.01)


@pytest.mark.parametrize(
    ("default", "uncentred"),
    [
        (ClassifierHead(random_state=0), ClassifierHead(center_by_group=False, random_state=0)),
        (
            ClassifierHead(model="mlp", hidden_layer_sizes=(16,), random_state=0),
            ClassifierHead(
                model="mlp",
                hidden_layer_sizes=(16,),
                center_by_group=False,
                linear_base=False,
                random_state=0,
            ),
        ),
        (
            LGBMHead(n_estimators=200, random_state=0),
            LGBMHead(n_estimators=200, center_by_group=False, random_state=0),
        ),
    ],
    ids=["linear", "mlp", "lgbm"],
)
def test_classification_heads_compare_within_prompts_by_default(default, uncentred):
    # Given groups, every classification head's default fit is centred within prompts
    # (seeds 0-2: accuracy 0.80-0.83 by default, 0.56-0.67 uncentred).
    X_win, X_lose, groups, _ = _prompt_shifted_pairs(200, 0)
    T_win, T_lose, _, _ = _prompt_shifted_pairs(200, 100)
    default.fit(X_win, X_lose, groups=groups)
    uncentred.fit(X_win, X_lose, groups=groups)
    assert default.score(T_win, T_lose) > 0.8
    assert default.score(T_win, T_lose) > uncentred.score(T_win, T_lose) + 0.1


def test_logistic_centred_by_group_equals_the_raw_fit_on_offsets_from_group_means(pairs):
    # Validation takes whole groups, so the training part's group means are the full data's.
    both = np.vstack([pairs.X_win, pairs.X_lose])
    both_groups = np.concatenate([pairs.groups, pairs.groups])
    means = np.array([both[both_groups == g].mean(axis=0) for g in range(both_groups.max() + 1)])
    head = ClassifierHead(alpha=3.0, center_by_group=True, random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    by_hand = ClassifierHead(alpha=3.0, center_by_group=False, random_state=0).fit(
        pairs.X_win - means[pairs.groups], pairs.X_lose - means[pairs.groups], groups=pairs.groups
    )
    np.testing.assert_allclose(head.coef_, by_hand.coef_, rtol=1e-5, atol=1e-8)
    assert head.temperature_ == pytest.approx(by_hand.temperature_, rel=1e-5)


@pytest.mark.parametrize("centred", [False, True])
def test_lgbm_binary_base_is_the_logistic_classifier(pairs, centred):
    lgbm = LGBMHead(n_estimators=5, center_by_group=centred, random_state=0)
    lgbm.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    logistic = ClassifierHead(center_by_group=centred, random_state=0)
    logistic.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    np.testing.assert_allclose(lgbm.linear_coef_, logistic.coef_, rtol=1e-6, atol=1e-10)
    assert lgbm.linear_intercept_ == pytest.approx(logistic.intercept_, rel=1e-6)


def test_logistic_leaves_groups_of_one_pair_uncentred(pairs):
    # Offsets within a single pair are +-half its difference, on which the classifier would
    # be Bradley-Terry: one pair per prompt (hh-harmless) fits as without centring.
    singletons = np.arange(pairs.X_win.shape[0])
    head = ClassifierHead(alpha=3.0, center_by_group=True, random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=singletons)
    raw = ClassifierHead(alpha=3.0, center_by_group=False, random_state=0)
    raw.fit(pairs.X_win, pairs.X_lose, groups=singletons)
    np.testing.assert_array_equal(head.coef_, raw.coef_)
