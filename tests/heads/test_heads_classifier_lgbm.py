"""Classification heads: logit rewards, a fitted temperature, LightGBM raw margins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embrm.heads import ClassifierHead, LGBMHead


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
    head = ClassifierHead(kind="mlp", hidden_layer_sizes=(16,), random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    assert head.n_epochs_ == int(np.argmin(head.validation_loss_)) + 1
    assert not hasattr(head, "coef_")


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
