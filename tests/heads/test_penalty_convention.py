"""One penalty convention: every head's ``alpha`` is an L2 penalty against the summed loss.

Heads whose good penalty grows with the data (the MLPs, DRM's head weights) default to
``alpha=None``, a fixed penalty per training row; the tests pin that default to the explicit
summed value it stands for, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from embrm.heads import BTMLP, DRM, BTLinear, ClassifierHead


def _doubled(pairs):
    return np.concatenate([pairs.X_win] * 2), np.concatenate([pairs.X_lose] * 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda alpha: BTLinear(alpha=alpha),
        lambda alpha: ClassifierHead(alpha=alpha, center_by_group=False, random_state=0),
    ],
    ids=["bt-linear", "classifier"],
)
def test_linear_alpha_is_against_the_summed_loss(pairs, make):
    # Every pair twice doubles the summed loss: the same fit as the original pairs at alpha / 2.
    # (The classifier's held-out slice is drawn per pair: give it groups that keep the copies
    # of a pair together, so both fits train on the same pairs.)
    X_win2, X_lose2 = _doubled(pairs)
    ids = np.arange(len(pairs.X_win))
    once = make(5.0).fit(pairs.X_win, pairs.X_lose, groups=ids)
    twice = make(10.0).fit(X_win2, X_lose2, groups=np.concatenate([ids, ids]))
    np.testing.assert_allclose(twice.coef_, once.coef_, rtol=1e-4, atol=1e-6)
    other = make(10.0).fit(pairs.X_win, pairs.X_lose, groups=ids)
    assert np.abs(other.coef_ - once.coef_).max() > 1e-3  # the penalty matters here


def test_drm_alpha_is_against_the_summed_loss(pairs):
    # first_head="mean": head 0 does not itself depend on a penalty.
    X_win2, X_lose2 = _doubled(pairs)
    once = DRM(n_components=3, first_head="mean", alpha=5.0).fit(pairs.X_win, pairs.X_lose)
    twice = DRM(n_components=3, first_head="mean", alpha=10.0).fit(X_win2, X_lose2)
    # A component's sign may come out either way (eigenvectors); the rewards may not.
    np.testing.assert_allclose(np.abs(twice.weights_), np.abs(once.weights_), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(twice.reward(pairs.X_win), once.reward(pairs.X_win), rtol=1e-4, atol=1e-6)
    other = DRM(n_components=3, first_head="mean", alpha=10.0).fit(pairs.X_win, pairs.X_lose)
    assert np.abs(other.weights_ - once.weights_).max() > 1e-3  # the penalty matters here


def test_drm_default_alpha_is_0_005_per_pair(pairs):
    default = DRM(n_components=3).fit(pairs.X_win, pairs.X_lose)
    assert default.alpha_ == 0.005 * len(pairs.X_win)
    explicit = DRM(n_components=3, alpha=0.005 * len(pairs.X_win)).fit(pairs.X_win, pairs.X_lose)
    np.testing.assert_array_equal(default.reward(pairs.X_win), explicit.reward(pairs.X_win))
    weight = np.linspace(0.5, 1.5, len(pairs.X_win))
    assert DRM(n_components=3).fit(pairs.X_win, pairs.X_lose, weight).alpha_ == pytest.approx(
        0.005 * weight.sum()
    )


def test_bt_mlp_default_alpha_is_0_03_per_training_pair(pairs):
    kw = dict(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)
    default = BTMLP(**kw).fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    n_train = default.alpha_ / 0.03
    # 40 groups, 10 % of them (4) held out: about 360 of the 400 pairs train.
    assert n_train == round(n_train) and 300 < n_train < 400
    explicit = BTMLP(alpha=default.alpha_, **kw).fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    np.testing.assert_array_equal(default.reward(pairs.X_win), explicit.reward(pairs.X_win))
    assert BTMLP.reference().alpha == 0.0


def test_classifier_mlp_default_alpha_is_0_03_per_training_response(pairs):
    kw = dict(model="mlp", hidden_layer_sizes=(8,), random_state=0)
    default = ClassifierHead(**kw).fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    n_rows = default.mlp_alpha_ / 0.03
    assert n_rows == round(n_rows) and n_rows % 2 == 0 and 600 < n_rows < 800  # two per pair
    explicit = ClassifierHead(mlp_alpha=default.mlp_alpha_, **kw)
    explicit.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    np.testing.assert_array_equal(default.reward(pairs.X_win), explicit.reward(pairs.X_win))
