"""BTLinear's exact solution, BTMLP's gradients and training procedure, shared helpers."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest
from _row_reads import RowsRead
from scipy.optimize import approx_fprime
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from embrm._core.groups import grouped_validation_split
from embrm.exceptions import DataError
from embrm.heads import BTMLP, BTLinear, ClassifierHead
from embrm.heads._base import fit_temperature
from embrm.heads._linear import LINEAR_ALPHA, fit_bt_weights, fit_linear_logistic, minimize_preconditioned
from embrm.heads._mlp import MLPTrainer, mlp_backward, mlp_forward


def _sklearn_bt(delta: np.ndarray, alpha: float) -> np.ndarray:
    ref = LogisticRegression(C=1 / (2 * alpha), fit_intercept=False, tol=1e-12, max_iter=10_000)
    ref.fit(np.vstack([delta, -delta]), np.r_[np.ones(len(delta)), np.zeros(len(delta))])
    return ref.coef_[0]


@pytest.mark.parametrize("alpha", [0.1, 3.0])
def test_bt_linear_equals_sklearn_logistic_on_symmetrised_differences(pairs, alpha):
    head = BTLinear(alpha=alpha, standardize=False, tol=1e-10).fit(pairs.X_win, pairs.X_lose)
    delta = (pairs.X_win - pairs.X_lose).astype(np.float64)
    np.testing.assert_allclose(head.feature_scale_, 1.0)
    np.testing.assert_allclose(head.coef_, _sklearn_bt(delta, alpha), rtol=1e-4, atol=1e-6)


def test_bt_linear_standardised_equals_sklearn_on_features_divided_by_their_spread(pairs):
    X_win = pairs.X_win * np.linspace(0.01, 100.0, pairs.X_win.shape[1])
    X_lose = pairs.X_lose * np.linspace(0.01, 100.0, pairs.X_win.shape[1])
    head = BTLinear(alpha=3.0, tol=1e-10).fit(X_win, X_lose)
    responses = np.vstack([X_win, X_lose])
    np.testing.assert_allclose(head.feature_scale_, responses.std(axis=0), rtol=1e-10)
    w = _sklearn_bt((X_win - X_lose) / responses.std(axis=0), 3.0)
    np.testing.assert_allclose(head.coef_, w / responses.std(axis=0), rtol=1e-4, atol=1e-8)


def test_bt_linear_integer_weights_equal_duplicated_pairs(pairs):
    w = np.arange(len(pairs.X_win)) % 3
    keep = np.repeat(np.arange(len(w)), w)
    weighted = BTLinear(tol=1e-10).fit(pairs.X_win, pairs.X_lose, w)
    duplicated = BTLinear(tol=1e-10).fit(pairs.X_win[keep], pairs.X_lose[keep])
    np.testing.assert_allclose(weighted.coef_, duplicated.coef_, rtol=1e-6, atol=1e-8)


def test_bt_linear_reward_is_linear_and_predict_proba_is_bt(pairs):
    head = BTLinear().fit(pairs.X_win, pairs.X_lose)
    np.testing.assert_allclose(head.reward(pairs.X_win), pairs.X_win @ head.coef_)
    margin = (pairs.X_win - pairs.X_lose) @ head.coef_
    np.testing.assert_allclose(
        head.predict_proba(pairs.X_win, pairs.X_lose), 1 / (1 + np.exp(-margin)), rtol=1e-6
    )


def test_bt_linear_recovers_the_planted_direction_from_synthetic_pairs(pairs):
    head = BTLinear().fit(pairs.X_win, pairs.X_lose)
    cosine = head.coef_ @ pairs.coef / np.linalg.norm(head.coef_)
    assert cosine > 0.8


def test_bt_linear_warns_when_not_converged(pairs):
    message = r"^BTLinear did not converge in 1 L-BFGS iterations; increase max_iter or alpha\.$"
    with pytest.warns(ConvergenceWarning, match=message) as record:
        line = sys._getframe().f_lineno + 1
        BTLinear(alpha=1e-4, max_iter=1).fit(pairs.X_win, pairs.X_lose)
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutation testing adds frames outside embrm
        assert (record[0].filename, record[0].lineno) == (__file__, line)  # the caller's line


def test_the_solvers_warning_names_its_callers_line():
    def quadratic(t):
        return t @ t - t.sum(), 2 * t - 1

    with pytest.warns(ConvergenceWarning, match="^owner did not converge in 1 L-BFGS") as record:
        line = sys._getframe().f_lineno + 1
        minimize_preconditioned(quadratic, np.eye(3), tol=0.0, max_iter=1, owner="owner")
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutation testing adds frames outside embrm
        assert (record[0].filename, record[0].lineno) == (__file__, line)


def test_fit_bt_weights_stops_after_1000_iterations_and_names_its_owner():
    # Separable differences, a vanishing penalty and six decades of feature scales: the
    # optimum is far out and ill-conditioned, beyond 1,000 L-BFGS iterations.
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((200, 50)) * np.logspace(0, -6, 50)
    Z *= np.sign(Z.sum(axis=1))[:, None]
    message = r"^DRM\.fit did not converge in 1000 L-BFGS iterations; increase max_iter or alpha\.$"
    with pytest.warns(ConvergenceWarning, match=message):
        fit_bt_weights(Z, np.ones(200), 1e-6, "DRM.fit")
    with pytest.warns(ConvergenceWarning, match=r"^owner did not converge in 3 L-BFGS iterations"):
        fit_linear_logistic(Z, np.ones(200), 1e-6, fit_intercept=False, tol=1e-6, max_iter=3, owner="owner")


def test_a_stop_before_the_iteration_budget_does_not_warn():
    """The warning is about the budget: a run that L-BFGS ends early (here its first line
    search fails, the gradient pointing uphill) returns its start silently, after 0 iterations."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        theta, n_iter = minimize_preconditioned(
            lambda t: (0.5 * (t - 1) @ (t - 1), 1 - t), np.eye(2), tol=0.0, max_iter=50, owner="owner"
        )
    assert n_iter == 0
    np.testing.assert_array_equal(theta, [0.0, 0.0])


def test_the_start_hessian_preconditioner_converges_in_a_few_iterations():
    # L-BFGS runs where the Hessian at the start, Z' S Z / 4 + a I (with the intercept's row
    # and column), is the identity: on a problem not far from quadratic, a few iterations.
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((300, 20)) * np.logspace(0, -2, 20) + 0.3
    y = (rng.rand(300) < 0.5).astype(float)
    weight = rng.uniform(0.5, 2.0, 300)
    *_, n_iter = fit_linear_logistic(
        Z, weight, 1.0, fit_intercept=True, y=y, tol=1e-10, max_iter=1000, owner="t"
    )
    assert n_iter <= 10
    signs = np.where(rng.rand(300) < 0.35, -1.0, 1.0)[:, None]
    delta = signs * (rng.standard_normal((300, 20)) * np.logspace(0, -2, 20) + 0.1)
    coef, intercept, n_iter = fit_linear_logistic(
        delta, weight, 1.0, fit_intercept=False, tol=1e-10, max_iter=1000, owner="t"
    )
    assert n_iter <= 12 and intercept == 0.0


def test_mlp_backward_matches_finite_differences():
    rng = np.random.RandomState(0)
    params = MLPTrainer((5, 4), 0.0, 1e-3, 8, 1, 1).init(3, rng)
    params = [p.astype(np.float64) + 0.1 * rng.standard_normal(p.shape) for p in params]
    X = rng.standard_normal((6, 3))
    g_out = rng.standard_normal(6)
    out, acts = mlp_forward(params, X)
    grads = mlp_backward(params, acts, g_out)
    for k, p in enumerate(params):

        def f(flat, k=k, p=p):
            trial = list(params)
            trial[k] = flat.reshape(p.shape)
            return float(g_out @ mlp_forward(trial, X)[0])

        numeric = approx_fprime(p.ravel(), f, 1e-6).reshape(p.shape)
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-4, atol=1e-6)


def test_bt_mlp_restores_the_best_epoch(pairs):
    head = BTMLP(hidden_layer_sizes=(32,), batch_size=32, max_epochs=500, patience=3, random_state=0).fit(
        pairs.X_win, pairs.X_lose, groups=pairs.groups
    )
    losses = head.validation_loss_
    assert head.n_epochs_ == int(np.argmin(losses)) + 1
    # Stopped by patience (3 epochs after the best), long before max_epochs, and kept the
    # best, not the last, epoch.
    assert len(losses) == head.n_epochs_ + 3 < 500
    assert losses[-1] > losses[head.n_epochs_ - 1]


def test_bt_mlp_reference_config():
    ref = BTMLP.reference(random_state=1)
    assert ref.get_params() == {
        "hidden_layer_sizes": (1024, 512),
        "alpha": 0.0,
        "learning_rate": 1e-3,
        "batch_size": 10240,
        "max_epochs": 30,
        "patience": 3,
        "validation_fraction": 0.2,
        "random_state": 1,
    }


def test_bt_mlp_learns_a_nonlinear_reward():
    # r(x) = |x_0|: no linear head can order these pairs, an MLP can.
    rng = np.random.RandomState(0)
    A, B = rng.standard_normal((2, 3000, 8)).astype(np.float32)
    a_wins = np.abs(A[:, 0]) > np.abs(B[:, 0])
    Xw, Xl = np.where(a_wins[:, None], A, B), np.where(a_wins[:, None], B, A)
    tr, te = slice(0, 2500), slice(2500, None)
    mlp = BTMLP(hidden_layer_sizes=(32,), random_state=0).fit(Xw[tr], Xl[tr])
    lin = BTLinear().fit(Xw[tr], Xl[tr])
    assert mlp.score(Xw[te], Xl[te]) > 0.9
    assert lin.score(Xw[te], Xl[te]) < 0.6


def test_grouped_holdout_keeps_groups_on_one_side():
    groups = np.repeat(np.arange(20), 5)
    tr, va = grouped_validation_split(groups, 100, 0.2, np.random.RandomState(0), "X")
    assert len(va) == 20 and len(tr) == 80
    assert not set(groups[tr]) & set(groups[va])
    assert np.array_equal(np.sort(np.r_[tr, va]), np.arange(100))


def test_grouped_holdout_needs_two_groups():
    with pytest.raises(ValueError, match="at least 2 groups"):
        grouped_validation_split(np.zeros(10), 10, 0.2, np.random.RandomState(0), "BTMLP")


def test_fit_temperature_recovers_a_known_scale():
    rng = np.random.RandomState(0)
    m = rng.standard_normal(20_000) * 3
    labels = rng.rand(m.size) < 1 / (1 + np.exp(-m / 2.5))
    margin = np.where(labels, m, -m)  # margin of preferred over other
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_temperature(margin, np.ones(m.size)) == pytest.approx(2.5, rel=0.05)


def _classifier_mlp(alpha: float, **kw) -> ClassifierHead:
    return ClassifierHead(model="mlp", mlp_alpha=alpha, **kw)


@pytest.mark.parametrize("make_head", [BTMLP, _classifier_mlp], ids=["bt", "clf"])
def test_mlp_penalty_shrinks_the_weights(pairs, make_head):
    def weight_norm(alpha):
        head = make_head(alpha=alpha, hidden_layer_sizes=(16,), random_state=0)
        head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
        return sum(float(np.sum(W**2)) for W in head.coefs_[0::2])

    # 41 -> 7 (BT) and 36 -> 7 (classifier) on these pairs.
    assert weight_norm(1.0 * 700) < 0.5 * weight_norm(0.0)


def test_fit_linear_logistic_with_labels_and_weights_equals_sklearn():
    # 0/1 labels, unequal weights and an unpenalised intercept: sklearn's C is 1 / alpha.
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((300, 4)) * np.array([3.0, 1.0, 0.3, 0.1])
    y = (Z @ np.array([1.0, -2.0, 3.0, 0.0]) + 0.5 + rng.logistic(size=300) > 0).astype(float)
    weight = rng.uniform(0.2, 3.0, 300)
    coef, intercept, n_iter = fit_linear_logistic(
        Z, weight, 2.0, fit_intercept=True, y=y, tol=1e-10, max_iter=1000, owner="test"
    )
    ref = LogisticRegression(C=1 / 2.0, tol=1e-12, max_iter=10_000).fit(Z, y, sample_weight=weight)
    np.testing.assert_allclose(coef, ref.coef_[0], rtol=1e-5, atol=1e-7)
    assert intercept == pytest.approx(ref.intercept_[0], rel=1e-5)
    assert isinstance(n_iter, int) and 1 <= n_iter < 100
    # Without y every row is a preferred-minus-other difference: label 1, both ways symmetric.
    w_bt = fit_bt_weights(Z, weight, 2.0, "test")
    ref = LogisticRegression(C=1 / 2.0, fit_intercept=False, tol=1e-12, max_iter=10_000)
    ref.fit(np.vstack([Z, -Z]), np.r_[np.ones(300), np.zeros(300)], sample_weight=np.r_[weight, weight] / 2)
    np.testing.assert_allclose(w_bt, ref.coef_[0], rtol=1e-4, atol=1e-6)


def test_bt_linear_default_penalty_and_tolerance():
    head = BTLinear()
    assert (head.alpha, head.standardize, head.tol, head.max_iter) == (LINEAR_ALPHA, True, 1e-6, 1000)
    assert LINEAR_ALPHA == 1000.0


def test_bt_linear_fit_indexed_equals_fit():
    rng = np.random.RandomState(6)
    vectors = (rng.standard_normal((50, 4)) * np.array([3.0, 1.0, 0.3, 0.1])).astype(np.float32)
    a, b = rng.randint(0, 50, size=(2, 300))
    a, b = a[a != b], b[a != b]
    reward = vectors @ np.array([1.0, -1.0, 2.0, 0.5])
    better = reward[a] + rng.logistic(size=a.size) > reward[b]
    win, lose = np.where(better, a, b), np.where(better, b, a)
    weight = rng.uniform(0.5, 2.0, win.size)
    for standardize in (True, False):
        for w in (None, weight):
            head = BTLinear(alpha=2.0, standardize=standardize, tol=1e-9, max_iter=500)
            streamed = head.fit_indexed(vectors, win, lose, w, chunk_size=16, encoder_id="e")
            assert streamed is head
            in_memory = BTLinear(alpha=2.0, standardize=standardize, tol=1e-9).fit(
                vectors[win].astype(np.float64), vectors[lose].astype(np.float64), w
            )
            np.testing.assert_allclose(streamed.coef_, in_memory.coef_, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(streamed.feature_scale_, in_memory.feature_scale_, rtol=1e-6)
            assert (streamed.n_features_in_, streamed.encoder_id_) == (4, "e")
            assert 2 * streamed.n_iter_ <= streamed.n_passes_
    recording = RowsRead(vectors)
    BTLinear(alpha=2.0).fit_indexed(recording, win, lose, chunk_size=16)
    assert max(recording.reads) == 16  # rows are read 16 at a time
    recording = RowsRead(vectors)
    BTLinear(alpha=2.0).fit_indexed(recording, win, lose)
    assert max(recording.reads) == 50  # the default chunk holds every row
    with pytest.warns(ConvergenceWarning, match="^BTLinear did not converge in 1 L-BFGS iterations"):
        BTLinear(alpha=1e-4, max_iter=1).fit_indexed(vectors, win, lose)
    with pytest.raises(ValueError, match="The 'alpha' parameter of BTLinear"):
        BTLinear(alpha=-1.0).fit_indexed(vectors, win, lose)
    with pytest.raises(DataError, match="BTLinear needs at least 2 pairs; got 1"):
        BTLinear().fit_indexed(vectors, win[:1], lose[:1])
