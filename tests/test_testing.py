"""embrm.testing: the planted data makers and the head contract check, which must fail on
heads that break the contract."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.heads import BTMLP, DRM, HEADS, BTLinear, ClassifierHead, Ensemble, LGBMHead
from embrm.testing import check_head, make_preference_pairs, make_scored_responses

# Small settings (400 pairs): each head with its default family and fast options.
SMALL_HEADS = {
    "bt-linear": BTLinear(alpha=10.0),
    "bt-mlp": BTMLP(
        hidden_layer_sizes=(16,), weight_decay=0.01, batch_size=32, max_epochs=30, random_state=0
    ),
    "classifier": ClassifierHead(random_state=0),
    "classifier-mlp": ClassifierHead(kind="mlp", weight_decay=0.01, hidden_layer_sizes=(16,), random_state=0),
    "lgbm": LGBMHead(n_estimators=20, random_state=0),
    "lgbm-pairwise": LGBMHead(objective="pairwise", n_estimators=20, random_state=0),
    "ensemble": Ensemble(BTLinear(alpha=10.0), n_members=3, random_state=0),
    "drm": DRM(n_components=5),
}


def test_every_registered_head_is_checked():
    assert {type(h) for h in SMALL_HEADS.values()} == set(HEADS.values())


@pytest.mark.parametrize("name", list(SMALL_HEADS))
def test_every_head_keeps_the_contract(name):
    check_head(SMALL_HEADS[name])


class _Unseeded(BTLinear):
    def _reward(self, X):
        return super()._reward(X) + np.random.rand(len(X)) * 1e-9


class _Constant(BTLinear):
    def _reward(self, X):
        return np.zeros(len(X))


class _Backwards(BTLinear):
    def _reward(self, X):
        return -super()._reward(X)


@pytest.mark.parametrize(
    ("head", "check"),
    [(_Unseeded(), "deterministic"), (_Constant(), "reward"), (_Backwards(), "recovers a planted reward")],
)
def test_check_head_fails_a_head_that_breaks_the_contract(head, check):
    with pytest.raises(AssertionError, match=f"fails '{check}'"):
        check_head(head)


def test_planted_pairs_have_the_asked_noise_and_groups():
    clean = make_preference_pairs(2000, 16, beta=None, random_state=0)
    assert clean.label_error_rate == 0.0
    noisy = make_preference_pairs(2000, 16, n_groups=7, beta=1.0, random_state=0)
    # beta=1 on unit-variance rewards: P(error) = E[sigmoid(-|margin|)], about 0.3
    assert 0.2 < noisy.label_error_rate < 0.4
    assert set(noisy.groups.tolist()) == set(range(7))
    assert np.linalg.norm(noisy.coef) == pytest.approx(1.0)


def test_planted_pairs_over_given_rows_use_those_rows():
    X = np.random.RandomState(0).standard_normal((50, 4))
    pairs = make_preference_pairs(100, X=X, random_state=0)
    rows = {tuple(r) for r in X}
    assert all(tuple(r) in rows for r in pairs.X_win)
    assert not (pairs.X_win == pairs.X_lose).all(axis=1).any()


def test_scored_responses_carry_a_planted_order():
    data, X = make_scored_responses(n_prompts=4, n_responses=5, random_state=0)
    assert len(data) == 20 and X.shape == (20, 16)
    assert data.groups.tolist() == np.repeat(np.arange(4), 5).tolist()
