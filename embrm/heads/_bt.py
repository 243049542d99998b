"""Linear Bradley-Terry reward head."""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.exceptions import ConvergenceWarning

from embrm._validation import BOOLEAN, Interval
from embrm.heads._base import BaseHead, feature_scale


def fit_linear_logistic(
    Z: np.ndarray,
    sample_weight: np.ndarray,
    alpha: float,
    *,
    fit_intercept: bool,
    y: np.ndarray | None = None,
    tol: float,
    max_iter: int,
    owner: str,
) -> tuple[np.ndarray, float, int]:
    """L2-regularised logistic regression by preconditioned L-BFGS.

    Minimises ``(sum_i s_i * softplus(-t_i * (w @ z_i + b)) + alpha / 2 * ||w||^2) / sum(s)``
    where ``t_i`` is ``+1`` for label 1 and ``-1`` for label 0 (all ``+1`` when ``y`` is
    None: the Bradley-Terry case where every row is a preferred-minus-other difference).
    The intercept ``b`` is not penalised.

    Embeddings are strongly anisotropic, which makes plain L-BFGS crawl. We optimise in
    coordinates where the Hessian at the start (``Z' S Z / 4 + alpha I``) is the identity
    (one d x d Cholesky factor), which cuts iterations several-fold; each iteration costs
    two matrix-vector products with ``Z``.

    Returns
    -------
    coef, intercept, n_iter
    """
    n, d = Z.shape
    sign = np.ones(n) if y is None else np.where(y > 0, 1.0, -1.0)
    s = sample_weight / sample_weight.sum()
    a = alpha / sample_weight.sum()
    k = d + int(fit_intercept)
    # Precision is moot in a preconditioner: float32 halves the cost of the Gram matrix.
    Zs = Z.astype(np.float32) * np.sqrt(s).astype(np.float32)[:, None]
    hessian0 = np.empty((k, k))
    hessian0[:d, :d] = Zs.T @ Zs / 4.0 + a * np.eye(d)
    if fit_intercept:
        hessian0[:d, d] = hessian0[d, :d] = Z.T @ s / 4.0
        hessian0[d, d] = 0.25
    del Zs
    chol = cholesky(hessian0 + 1e-12 * np.eye(k), lower=True)

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        theta = solve_triangular(chol, v, lower=True, trans="T")
        w = theta[:d]
        m = sign * (Z @ w + (theta[d] if fit_intercept else 0.0))
        loss = -np.dot(s, log_expit(m)) + 0.5 * a * np.dot(w, w)
        g = -s * sign * expit(-m)
        grad = np.empty(k)
        grad[:d] = Z.T @ g + a * w
        if fit_intercept:
            grad[d] = g.sum()
        return loss, solve_triangular(chol, grad, lower=True)

    result = minimize(
        objective,
        np.zeros(k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0},
    )
    theta = solve_triangular(chol, result.x, lower=True, trans="T")
    if not result.success and result.nit >= max_iter:
        warnings.warn(
            f"{owner} did not converge in {max_iter} L-BFGS iterations; increase max_iter or alpha.",
            ConvergenceWarning,
            stacklevel=3,
        )
    intercept = float(theta[d]) if fit_intercept else 0.0
    return theta[:d].copy(), intercept, int(result.nit)


#: Default L2 penalty of the linear fits on standardised features: BTLinear, the logistic
#: ClassifierHead, LightGBM's linear base and DRM's Bradley-Terry head.
LINEAR_ALPHA = 1000.0


def fit_bt_weights(delta: np.ndarray, sample_weight: np.ndarray, alpha: float, owner: str) -> np.ndarray:
    """Bradley-Terry weights on preferred-minus-other differences ``delta``: L2 logistic
    regression without intercept (tolerance 1e-6, at most 1,000 iterations)."""
    return fit_linear_logistic(
        delta, sample_weight, alpha, fit_intercept=False, tol=1e-6, max_iter=1000, owner=owner
    )[0]


class BTLinear(BaseHead):
    """L2-regularised linear Bradley-Terry reward: ``r(x) = coef_ @ x``.

    Maximises ``sum_i s_i log sigmoid(w @ (z_win_i - z_lose_i)) - alpha / 2 * ||w||^2``
    over standardised features ``z = x / feature_scale_``, a convex problem solved exactly
    by L-BFGS; ``coef_ = w / feature_scale_`` is the reward direction in the input's units.
    There is no intercept: it cancels in differences. With ``standardize=False`` this equals
    scikit-learn's ``LogisticRegression(C=1 / (2 * alpha), fit_intercept=False)`` on the
    symmetrised differences (each pair both ways), without building them.

    Parameters
    ----------
    alpha : float, default=1000.0
        L2 penalty on ``w`` against the summed pair log-loss (embrm's penalty convention,
        see ``docs/glossary.md``): the same ``alpha`` regularises relatively less as pairs
        are added. Tune it per task with grouped cross-validation (``docs/heads.md``).
    standardize : bool, default=True
        Divide each feature by its standard deviation over the training responses before
        the penalty applies (features whose spread is rounding residue are left as they
        are), so one penalty treats every feature alike, including appended scalar
        features such as log length.
    tol : float, default=1e-6
        L-BFGS stops when the largest gradient entry of the weight-normalised objective
        falls below ``tol``.
    max_iter : int, default=1000
        Most L-BFGS iterations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        The reward direction in the input's units (not unit norm: its length sets the BT
        scale).
    feature_scale_ : ndarray of shape (n_features,)
        The standard deviations the features were divided by (ones with
        ``standardize=False``).
    n_iter_ : int
        L-BFGS iterations used.
    n_features_in_ : int
        Embedding dimension seen in ``fit``.
    encoder_id_ : str or None
        Encoder identity given to ``fit``.

    Examples
    --------
    >>> from embrm.heads import BTLinear
    >>> from embrm.testing import make_preference_pairs
    >>> data = make_preference_pairs(n_pairs=300, n_features=8, random_state=0)
    >>> head = BTLinear(alpha=1.0).fit(data.X_win, data.X_lose)
    >>> head.reward(data.X_win[:3]).shape
    (3,)
    >>> head.score(data.X_win, data.X_lose) > 0.8
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "alpha": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "standardize": [BOOLEAN],
        "tol": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None)],
    }

    def __init__(
        self, alpha: float = LINEAR_ALPHA, standardize: bool = True, tol: float = 1e-6, max_iter: int = 1000
    ) -> None:
        self.alpha = alpha
        self.standardize = standardize
        self.tol = tol
        self.max_iter = max_iter

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        self.feature_scale_ = np.ones(X_win.shape[1])
        if self.standardize:
            self.feature_scale_ = feature_scale(X_win, X_lose, sample_weight / sample_weight.sum())
        delta = (X_win.astype(np.float64) - X_lose) / self.feature_scale_
        w, _, self.n_iter_ = fit_linear_logistic(
            delta,
            sample_weight,
            self.alpha,
            fit_intercept=False,
            tol=self.tol,
            max_iter=self.max_iter,
            owner=self._name,
        )
        self.coef_ = w / self.feature_scale_

    def _reward(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_
