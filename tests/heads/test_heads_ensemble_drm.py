"""Ensemble aggregates and disagreement; DRM directions, orientation and adaptation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.special import expit, softmax

from embrm.exceptions import DataError, EncoderMismatchError, NotFittedError
from embrm.heads import DRM, BTLinear, ClassifierHead, Ensemble, load


@pytest.fixture(scope="module")
def ensemble(pairs):
    return Ensemble(BTLinear(), n_members=4, random_state=0).fit(pairs.X_win, pairs.X_lose)


def test_members_are_standardised_on_their_training_responses(ensemble, pairs):
    R = ensemble.member_rewards(np.concatenate([pairs.X_win, pairs.X_lose]))
    # Bootstrap members saw ~63% of the pairs: close to, not exactly, mean 0 / std 1.
    np.testing.assert_allclose(R.mean(axis=0), 0, atol=0.15)
    np.testing.assert_allclose(R.std(axis=0), 1, atol=0.15)
    raw = np.column_stack([m.reward(pairs.X_win) for m in ensemble.members_])
    np.testing.assert_allclose(
        ensemble.member_rewards(pairs.X_win),
        (raw - ensemble.member_mean_) / ensemble.member_scale_,
    )


def test_members_differ(ensemble):
    coefs = np.array([m.coef_ for m in ensemble.members_])
    assert len({tuple(c) for c in coefs}) == 4


@pytest.mark.parametrize(
    "aggregate, rule",
    [
        ("mean", lambda R: R.mean(axis=1)),
        ("min", lambda R: R.min(axis=1)),
        ("uwo", lambda R: R.mean(axis=1) - 0.5 * R.var(axis=1)),
    ],
)
def test_aggregates_follow_their_definitions(ensemble, test_pairs, aggregate, rule):
    head = copy.deepcopy(ensemble).set_params(aggregate=aggregate)  # the fixture stays as it is
    R = head.member_rewards(test_pairs.X_win)
    np.testing.assert_allclose(head.reward(test_pairs.X_win), rule(R))
    np.testing.assert_allclose(head.uncertainty(test_pairs.X_win), R.var(axis=1))


def test_grouped_uncertainty_is_the_variance_of_within_group_centred_member_rewards(ensemble, test_pairs):
    X = test_pairs.X_win[:9]
    groups = np.array(["a", "a", "a", "b", "b", "c", "c", "c", "alone"])
    R = ensemble.member_rewards(X)
    expected = np.empty(len(X))
    for g in ("a", "b", "c", "alone"):
        rows = np.flatnonzero(groups == g)
        expected[rows] = (R[rows] - R[rows].mean(axis=0)).var(axis=1)
    got = ensemble.uncertainty(X, groups=groups)
    np.testing.assert_allclose(got, expected)
    assert got[-1] == 0.0  # alone in its group
    assert got[:8].min() > 0
    # Other groups do not change a group's values.
    shifted = ensemble.uncertainty(X[[3, 4]], groups=[1, 1])
    np.testing.assert_allclose(shifted, got[[3, 4]])


def test_grouped_uncertainty_rejects_misaligned_groups(ensemble, test_pairs):
    with pytest.raises(DataError, match=r"groups must have shape \(3,\), one group id .* per response"):
        ensemble.uncertainty(test_pairs.X_win[:3], groups=[0, 1])


def test_score_uses_every_member(ensemble, test_pairs):
    before = ensemble.reward(test_pairs.X_win)
    for k in range(len(ensemble.members_)):
        edited = copy.deepcopy(ensemble)  # the fixture stays as it is
        edited.members_[k].coef_ = -edited.members_[k].coef_
        assert not np.allclose(edited.reward(test_pairs.X_win), before)
    np.testing.assert_array_equal(ensemble.reward(test_pairs.X_win), before)


def test_predict_proba_averages_member_probabilities(ensemble, test_pairs):
    expected = np.mean(
        [m.predict_proba(test_pairs.X_win, test_pairs.X_lose) for m in ensemble.members_],
        axis=0,
    )
    np.testing.assert_allclose(ensemble.predict_proba(test_pairs.X_win, test_pairs.X_lose), expected)


def test_nested_params_reach_the_members(pairs):
    head = Ensemble(ClassifierHead(), n_members=2, random_state=0)
    head.set_params(base__alpha=7.0)
    head.fit(pairs.X_win, pairs.X_lose)
    assert [m.alpha for m in head.members_] == [7.0, 7.0]
    # Each member gets its own seed.
    assert len({m.random_state for m in head.members_}) == 2


class _RecordingBTLinear(BTLinear):
    """BTLinear that records the pairs and weights it was fitted on."""

    def _fit(self, X_win, X_lose, sample_weight, groups):
        self.fitted_rows_ = X_win.copy()
        self.fitted_weight_ = sample_weight.copy()
        super()._fit(X_win, X_lose, sample_weight, groups)


def _row_ids(pairs, rows):
    """Index in ``pairs.X_win`` of each of ``rows``."""
    lookup = {row.tobytes(): i for i, row in enumerate(pairs.X_win)}
    return np.array([lookup[row.tobytes()] for row in rows])


def test_subsample_resampling_uses_80_percent(pairs):
    head = Ensemble(_RecordingBTLinear(), n_members=2, resample="subsample", random_state=0)
    head.fit(pairs.X_win, pairs.X_lose)
    n = len(pairs.X_win)
    ids = [_row_ids(pairs, m.fitted_rows_) for m in head.members_]
    for member, rows in zip(head.members_, ids, strict=True):
        # 320 of the 400 pairs, each once, with its own weight (1).
        assert rows.size == round(0.8 * n) == np.unique(rows).size
        np.testing.assert_array_equal(member.fitted_weight_, 1.0)
    assert not np.array_equal(ids[0], ids[1])  # each member draws its own subsample


def test_bootstrap_resampling_draws_n_pairs_with_replacement(pairs):
    head = Ensemble(_RecordingBTLinear(), n_members=2, resample="bootstrap", random_state=0)
    head.fit(pairs.X_win, pairs.X_lose)
    n = len(pairs.X_win)
    for member in head.members_:
        # n draws as counts on the distinct pairs drawn (about 1 - 1/e = 63 % of them).
        assert member.fitted_weight_.sum() == n
        assert member.fitted_weight_.max() > 1
        assert 0.55 * n < member.fitted_rows_.shape[0] < 0.7 * n


def test_drm_directions_are_orthonormal_and_ordered(pairs):
    # standardize=False: the paper's PCA of the raw differences.
    head = DRM(n_components=6, standardize=False, first_head="mean").fit(pairs.X_win, pairs.X_lose)
    np.testing.assert_array_equal(head.feature_scale_, 1.0)
    V = head.directions_[1:]
    np.testing.assert_allclose(V @ V.T, np.eye(6), atol=1e-10)
    evr = head.explained_variance_ratio_
    assert np.all(np.diff(evr) <= 0) and 0 < evr.sum() <= 1
    delta = pairs.X_win.astype(np.float64) - pairs.X_lose
    mu = delta.mean(axis=0)
    np.testing.assert_allclose(head.directions_[0], mu / np.linalg.norm(mu))
    # Matches a plain SVD of the centred differences, up to sign.
    _, s, Vt = np.linalg.svd(delta - mu, full_matrices=False)
    np.testing.assert_allclose(np.abs(V @ Vt[:6].T), np.eye(6), atol=1e-4)
    np.testing.assert_allclose(evr, s[:6] ** 2 / (s**2).sum(), rtol=1e-5)


def test_drm_first_head_is_the_unit_bradley_terry_direction(pairs):
    # In the standardised features the PCA works in: BTLinear's default fit, unit norm.
    head = DRM(n_components=4).fit(pairs.X_win, pairs.X_lose)
    bt = BTLinear().fit(pairs.X_win, pairs.X_lose)
    np.testing.assert_allclose(head.feature_scale_, bt.feature_scale_)
    w = bt.coef_ * bt.feature_scale_
    np.testing.assert_allclose(head.directions_[0], w / np.linalg.norm(w), rtol=1e-6, atol=1e-9)
    assert head.directions_.shape == (5, pairs.X_win.shape[1])


def test_drm_heads_are_oriented_by_the_training_preferences(pairs):
    head = DRM(n_components=8, first_head=None).fit(pairs.X_win, pairs.X_lose)
    proj = (pairs.X_win - pairs.X_lose) / head.feature_scale_ @ head.directions_.T
    assert np.all((proj > 0).mean(axis=0) >= 0.5)


def test_drm_both_signs_doubles_the_components(pairs):
    head = DRM(n_components=3, both_signs=True).fit(pairs.X_win, pairs.X_lose)
    assert head.directions_.shape == (7, pairs.X_win.shape[1])
    np.testing.assert_allclose(head.directions_[4:], -head.directions_[1:4])


def test_drm_standardize_is_the_pca_of_standardised_features(pairs, test_pairs):
    scaled = np.concatenate([pairs.X_win, pairs.X_lose]).std(axis=0)
    # A feature in other units (like an appended log length) must not change the heads.
    units = np.ones(pairs.X_win.shape[1])
    units[0] = 300.0
    head = DRM(n_components=4).fit(pairs.X_win * units, pairs.X_lose * units)
    np.testing.assert_allclose(head.feature_scale_, scaled * units, rtol=1e-5)
    plain = DRM(n_components=4, standardize=False).fit(pairs.X_win / scaled, pairs.X_lose / scaled)
    np.testing.assert_allclose(np.sum(head.directions_ * plain.directions_, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(
        head.reward(test_pairs.X_win * units), plain.reward(test_pairs.X_win / scaled), rtol=1e-4, atol=1e-5
    )


def test_drm_leaves_rounding_residue_unscaled(pairs, test_pairs):
    # Standardising a feature of pure rounding residue would make it count like any other.
    rng = np.random.RandomState(0)
    add = lambda X: np.column_stack([X, 1e-30 * rng.standard_normal(len(X))]).astype(np.float32)  # noqa: E731
    head = DRM(n_components=4).fit(add(pairs.X_win), add(pairs.X_lose))
    assert head.feature_scale_[-1] == 1.0
    plain = DRM(n_components=4).fit(pairs.X_win, pairs.X_lose)
    np.testing.assert_allclose(
        head.reward(add(test_pairs.X_win)), plain.reward(test_pairs.X_win), rtol=1e-4, atol=1e-5
    )


def test_drm_default_weights_are_a_bt_fit_on_its_heads(pairs, test_pairs):
    head = DRM(n_components=4).fit(pairs.X_win, pairs.X_lose)
    comps = head.reward_components(test_pairs.X_win)
    # The default penalty is 0.005 per pair against the summed loss.
    assert head.alpha_ == 0.005 * len(pairs.X_win)
    restricted = BTLinear(alpha=head.alpha_).fit(
        head.reward_components(pairs.X_win), head.reward_components(pairs.X_lose)
    )
    np.testing.assert_allclose(head.weights_, restricted.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(head.reward(test_pairs.X_win), comps @ head.weights_)
    w = np.arange(5.0)
    np.testing.assert_allclose(head.reward(test_pairs.X_win, weights=w), comps @ w)
    with pytest.raises(DataError, match=r"weights must have shape \(5,\)"):
        head.reward(test_pairs.X_win, weights=[1.0])


def test_drm_softmax_adaptation_is_the_papers_rule(pairs, test_pairs):
    head = DRM(n_components=4).fit(pairs.X_win, pairs.X_lose)
    Xa, Xb = test_pairs.X_win[:10], test_pairs.X_lose[:10]
    head.adapt(Xa, Xb)
    directions = head.directions_ / head.feature_scale_
    raw = np.concatenate([Xa, Xb]) @ directions.T
    z = lambda X: (X @ directions.T - raw.mean(0)) / raw.std(0)  # noqa: E731
    D = z(Xa) - z(Xb)
    L = -np.log(expit(D)).sum(axis=0)  # a SUM over the adaptation pairs
    np.testing.assert_allclose(head.weights_, softmax(-L), rtol=1e-5)
    np.testing.assert_allclose(head.reward(Xa), z(Xa) @ softmax(-L), rtol=1e-5, atol=1e-6)
    # Twice the pairs, twice the loss: the softmax sharpens (a mean would not change).
    head.adapt(np.concatenate([Xa, Xa]), np.concatenate([Xb, Xb]))
    np.testing.assert_allclose(head.weights_, softmax(-2 * L), rtol=1e-5)


def test_drm_adaptation_finds_a_new_users_direction(pairs):
    # Train on the population's preference; a new user prefers the second direction.
    head = DRM(n_components=6).fit(pairs.X_win, pairs.X_lose)
    user = head.directions_[2] / head.feature_scale_
    rng = np.random.RandomState(3)
    A, B = pairs.X_win[rng.permutation(400)], pairs.X_lose[rng.permutation(400)]
    a_wins = (A - B) @ user > 0
    Uw, Ul = np.where(a_wins[:, None], A, B), np.where(a_wins[:, None], B, A)
    before = head.score(Uw[20:], Ul[20:])
    head.set_params(adaptation="softmax").adapt(Uw[:20], Ul[:20])
    assert np.argmax(head.weights_) == 2
    assert head.score(Uw[20:], Ul[20:]) > 0.9 > before + 0.15
    head.set_params(adaptation="logistic").adapt(Uw[:20], Ul[:20])
    assert head.score(Uw[20:], Ul[20:]) > before + 0.1


def test_drm_adapt_checks_its_input(pairs, tmp_path):
    head = DRM(n_components=3)
    with pytest.raises(NotFittedError, match="not fitted yet.*'adapt'"):
        head.adapt(pairs.X_win, pairs.X_lose)
    head.fit(pairs.X_win, pairs.X_lose, encoder_id="enc")
    with pytest.raises(EncoderMismatchError, match="has 5 features.*32-d"):
        head.adapt(pairs.X_win[:, :5], pairs.X_lose[:, :5])
    head.adapt(pairs.X_win[:8], pairs.X_lose[:8])
    head.save(tmp_path / "drm.npz")
    np.testing.assert_array_equal(load(tmp_path / "drm.npz").weights_, head.weights_)


def test_drm_too_many_components_is_a_clear_error(pairs):
    with pytest.raises(DataError, match="n_components=40 needs at most .* = 32"):
        DRM(n_components=40).fit(pairs.X_win, pairs.X_lose)
