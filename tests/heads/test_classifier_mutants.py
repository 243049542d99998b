"""ClassifierHead against a fit by hand: the held-out split, centring, standardisation, the
logistic fit, the temperature, the MLP's documented settings and the streamed fit."""

from __future__ import annotations

import numpy as np
import pytest
from _row_reads import RowsRead
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from embrm._core.groups import grouped_validation_split
from embrm.exceptions import DataError
from embrm.heads import ClassifierHead, _classifier
from embrm.heads._base import feature_scale, fit_temperature


def _grouped_pairs(seed=0, n_groups=30, per_group=4, d=5):
    """Pairs inside prompts (groups of 4 pairs, and two groups of a single pair)."""
    rng = np.random.RandomState(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    groups = np.concatenate([groups, [n_groups, n_groups + 1]])
    shift = 2.0 * rng.standard_normal((n_groups + 2, d))
    X_a = shift[groups] + rng.standard_normal((groups.size, d))
    X_b = shift[groups] + rng.standard_normal((groups.size, d))
    a_wins = X_a @ np.arange(1.0, d + 1) > X_b @ np.arange(1.0, d + 1)
    X_win, X_lose = np.where(a_wins[:, None], X_a, X_b), np.where(a_wins[:, None], X_b, X_a)
    X_win[::7], X_lose[::7] = X_lose[::7].copy(), X_win[::7].copy()  # some label noise
    weight = rng.uniform(0.5, 2.0, groups.size)
    return X_win, X_lose, groups, weight


def _by_hand(X_win, X_lose, groups, weight, alpha, seed, centred=True, standardize=True):
    tr, va = grouped_validation_split(groups, len(groups), 0.1, np.random.RandomState(seed), "ClassifierHead")
    W, L = X_win[tr], X_lose[tr]
    if centred:
        both = np.vstack([W, L])
        both_groups = np.concatenate([groups[tr], groups[tr]])
        means = {g: both[both_groups == g].mean(axis=0) for g in np.unique(both_groups)}
        sizes = {g: np.sum(both_groups == g) for g in means}
        offset = np.array([means[g] if sizes[g] > 2 else np.zeros(W.shape[1]) for g in groups[tr]])
        W, L = W - offset, L - offset
    s = weight[tr] / weight[tr].sum()
    scale = feature_scale(W, L, s) if standardize else np.ones(W.shape[1])
    ref = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000)
    ref.fit(
        np.vstack([W, L]) / scale, np.r_[np.ones(len(tr)), np.zeros(len(tr))], np.r_[weight[tr], weight[tr]]
    )
    coef, intercept = ref.coef_[0] / scale, ref.intercept_[0]
    margin = (X_win[va] - X_lose[va]) @ coef
    return coef, intercept, scale, fit_temperature(margin, weight[va])


@pytest.mark.parametrize(("centred", "standardize"), [(True, True), (False, True), (True, False)])
def test_linear_fit_equals_the_fit_by_hand(centred, standardize):
    X_win, X_lose, groups, weight = _grouped_pairs()
    head = ClassifierHead(alpha=2.0, center_by_group=centred, standardize=standardize, random_state=3)
    head.fit(X_win, X_lose, weight, groups=groups)
    coef, intercept, scale, temperature = _by_hand(
        X_win, X_lose, groups, weight, 2.0, 3, centred=centred, standardize=standardize
    )
    np.testing.assert_allclose(head.feature_scale_, scale, rtol=1e-10)
    np.testing.assert_allclose(head.coef_, coef, rtol=1e-4, atol=1e-6)
    assert head.intercept_ == pytest.approx(intercept, rel=1e-4, abs=1e-6)
    assert head.temperature_ == pytest.approx(temperature, rel=1e-3)
    assert isinstance(head.n_iter_, int) and head.n_iter_ >= 1
    np.testing.assert_allclose(head.reward(X_win), X_win @ head.coef_ + head.intercept_, rtol=1e-12)


def test_defaults():
    head = ClassifierHead()
    assert head.get_params() == {
        "model": "linear",
        "alpha": 1000.0,
        "standardize": True,
        "center_by_group": True,
        "linear_base": True,
        "mlp_alpha": None,
        "hidden_layer_sizes": (128,),
        "validation_fraction": 0.1,
        "random_state": None,
    }


class _RecordingTrainer(_classifier.MLPTrainer):
    calls: list = []

    def __init__(self, **kwargs):
        _RecordingTrainer.calls.append(("init", kwargs))
        super().__init__(**kwargs)

    def train(self, params, train, valid, **kwargs):
        _RecordingTrainer.calls.append(("train", train, valid, kwargs))
        return super().train(params, train, valid, **kwargs)


@pytest.mark.parametrize("linear_base", [True, False])
def test_mlp_is_trained_with_the_documented_settings_on_standardised_responses(monkeypatch, linear_base):
    monkeypatch.setattr(_classifier, "MLPTrainer", _RecordingTrainer)
    _RecordingTrainer.calls = []
    X_win, X_lose, groups, weight = _grouped_pairs(seed=1)
    head = ClassifierHead(model="mlp", hidden_layer_sizes=[6], linear_base=linear_base, random_state=2)
    head.fit(X_win, X_lose, weight, groups=groups)
    tr, va = grouped_validation_split(groups, len(groups), 0.1, np.random.RandomState(2), "ClassifierHead")
    (_, settings), (_, train, valid, kwargs) = _RecordingTrainer.calls
    assert settings == {
        "hidden_layer_sizes": (6,),
        "alpha": 0.03 * 2 * len(tr),
        "learning_rate": 3e-4,
        "batch_size": 256,
        "max_epochs": 1000,
        "patience": 10,
    }
    assert head.mlp_alpha_ == pytest.approx(0.03 * 2 * len(tr))
    X_tr = np.vstack([X_win[tr], X_lose[tr]])
    np.testing.assert_allclose(head.input_mean_, X_tr.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(head.input_scale_, X_tr.std(axis=0) + 1e-6, rtol=1e-6)
    assert head.input_mean_.dtype == head.input_scale_.dtype == np.float32
    for (X, y, w), rows in ((train, tr), (valid, va)):
        raw = np.vstack([X_win[rows], X_lose[rows]])
        np.testing.assert_allclose(
            X, (raw - X_tr.mean(axis=0)) / (X_tr.std(axis=0) + 1e-6), rtol=1e-4, atol=1e-5
        )
        assert X.dtype == np.float32 and y.dtype == np.float32
        np.testing.assert_array_equal(y, np.r_[np.ones(len(rows)), -np.ones(len(rows))])
        np.testing.assert_array_equal(w, np.r_[weight[rows], weight[rows]])
    assert kwargs["pairwise"] is False
    if linear_base:
        linear = ClassifierHead(random_state=2).fit(X_win, X_lose, weight, groups=groups)
        for offset, rows in zip(kwargs["offsets"], (tr, va), strict=True):
            rows_both = np.vstack([X_win[rows], X_lose[rows]])
            both_groups = np.concatenate([groups[rows], groups[rows]])
            means = np.array([rows_both[both_groups == g].mean(axis=0) for g in both_groups])
            means[[np.sum(both_groups == g) == 2 for g in both_groups]] = 0.0
            np.testing.assert_allclose(
                offset, (rows_both - means) @ linear.coef_ + linear.intercept_, rtol=1e-6
            )
    else:
        assert kwargs["offsets"] is None
        np.testing.assert_array_equal(head.coef_, np.zeros(5))
        np.testing.assert_array_equal(head.feature_scale_, np.ones(5))
        assert head.intercept_ == 0.0
    margin = head.reward(X_win[va]) - head.reward(X_lose[va])
    assert head.temperature_ == pytest.approx(fit_temperature(margin, weight[va]), rel=1e-6)


def test_fit_indexed_equals_fit():
    X_win, X_lose, groups, weight = _grouped_pairs(seed=4)
    vectors = np.vstack([X_win, X_lose]).astype(np.float32)
    n = len(groups)
    win, lose = np.arange(n), n + np.arange(n)
    for center_by_group in (True, False):
        for w in (None, weight):
            head = ClassifierHead(alpha=2.0, center_by_group=center_by_group, random_state=5)
            streamed = head.fit_indexed(vectors, win, lose, w, groups=groups, chunk_size=16, encoder_id="e")
            in_memory = ClassifierHead(alpha=2.0, center_by_group=center_by_group, random_state=5).fit(
                vectors[win].astype(np.float64), vectors[lose].astype(np.float64), w, groups=groups
            )
            np.testing.assert_allclose(streamed.coef_, in_memory.coef_, rtol=1e-4, atol=1e-6)
            assert streamed.intercept_ == pytest.approx(in_memory.intercept_, rel=1e-4, abs=1e-6)
            assert streamed.temperature_ == pytest.approx(in_memory.temperature_, rel=1e-3)
            assert (streamed.n_features_in_, streamed.encoder_id_) == (5, "e")
            assert streamed.n_passes_ >= 2 * streamed.n_iter_
    recording = RowsRead(vectors)
    ClassifierHead(alpha=2.0, random_state=5).fit_indexed(recording, win, lose, groups=groups, chunk_size=16)
    assert max(recording.reads) == 16  # rows are read 16 at a time
    with pytest.raises(
        ValueError, match=r"^fit_indexed fits model='linear' only; this head has model='mlp'\.$"
    ):
        ClassifierHead(model="mlp").fit_indexed(vectors, win, lose, groups=groups)


def test_fits_that_do_not_converge_in_1000_iterations_say_so():
    # Separable rows, a vanishing penalty and six decades of feature scales (see heads.bt).
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((200, 50)) * np.logspace(0, -6, 50)
    Z *= np.sign(Z.sum(axis=1))[:, None]
    head = ClassifierHead(alpha=1e-6, standardize=False, center_by_group=False, random_state=0)
    message = r"^ClassifierHead did not converge in 1000 L-BFGS iterations; increase max_iter or alpha\.$"
    with pytest.warns(ConvergenceWarning, match=message):
        head.fit(Z, -Z)
    with pytest.warns(ConvergenceWarning, match=message):
        head.fit_indexed(np.vstack([Z, -Z]), np.arange(200), 200 + np.arange(200))


def test_errors_name_the_head():
    X_win, X_lose, groups, _ = _grouped_pairs(seed=6)
    vectors = np.vstack([X_win, X_lose])
    win, lose = np.arange(len(groups)), len(groups) + np.arange(len(groups))
    one_group = (
        r"^ClassifierHead keeps a validation split by group and needs pairs from at least 2 groups "
        r"\(prompts\); got 1\.$"
    )
    with pytest.raises(DataError, match=one_group):
        ClassifierHead().fit(X_win, X_lose, groups=np.zeros(len(groups)))
    with pytest.raises(DataError, match=one_group):
        ClassifierHead().fit_indexed(vectors, win, lose, groups=np.zeros(len(groups)))
    with pytest.raises(DataError, match=r"^ClassifierHead needs at least 10 pairs; got 9\.$"):
        ClassifierHead().fit_indexed(vectors, win[:9], lose[:9])
    with pytest.raises(ValueError, match=r"^The 'alpha' parameter of ClassifierHead must be"):
        ClassifierHead(alpha=-1.0).fit_indexed(vectors, win, lose)


def test_fit_indexed_without_groups_holds_out_single_pairs():
    X_win, X_lose, _, _ = _grouped_pairs(seed=7)
    vectors = np.vstack([X_win, X_lose])
    n = len(X_win)
    streamed = ClassifierHead(alpha=2.0, random_state=1).fit_indexed(vectors, np.arange(n), n + np.arange(n))
    in_memory = ClassifierHead(alpha=2.0, center_by_group=False, random_state=1).fit(X_win, X_lose)
    np.testing.assert_allclose(streamed.coef_, in_memory.coef_, rtol=1e-4, atol=1e-6)
    assert streamed.temperature_ == pytest.approx(in_memory.temperature_, rel=1e-3)


def test_the_linear_model_ignores_linear_base_and_the_mlp_reads_mlp_alpha():
    X_win, X_lose, groups, weight = _grouped_pairs(seed=8)
    plain = ClassifierHead(alpha=2.0, random_state=0).fit(X_win, X_lose, weight, groups=groups)
    no_base = ClassifierHead(alpha=2.0, linear_base=False, random_state=0).fit(
        X_win, X_lose, weight, groups=groups
    )
    np.testing.assert_array_equal(no_base.coef_, plain.coef_)
    assert no_base.temperature_ == plain.temperature_
    head = ClassifierHead(model="mlp", mlp_alpha=5.0, hidden_layer_sizes=(4,), random_state=0)
    assert head.get_params()["mlp_alpha"] == 5.0
    assert head.fit(X_win, X_lose, groups=groups).mlp_alpha_ == 5.0
