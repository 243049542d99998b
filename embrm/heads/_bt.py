"""Linear Bradley-Terry reward head."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from embrm._core.validation import BOOLEAN, Interval
from embrm.heads._base import BaseHead, feature_scale
from embrm.heads._docs import shared_docs
from embrm.heads._linear import (
    LINEAR_ALPHA,
    LINEAR_MAX_ITER,
    LINEAR_TOL,
    IndexedLinearFit,
    fit_linear_logistic,
)
from embrm.heads._sparse import fit_sparse_bt
from embrm.heads._streaming import PairDifferences, RowMap, VectorStream


@shared_docs
class BTLinear(IndexedLinearFit, BaseHead):
    """L2-regularised linear Bradley-Terry reward: ``r(x) = coef_ @ x``.

    Maximises ``sum_i s_i log sigmoid(w @ (z_win_i - z_lose_i)) - alpha / 2 * ||w||^2``
    over standardised features ``z = x / feature_scale_``, a convex problem solved exactly
    by L-BFGS; ``coef_ = w / feature_scale_`` is the reward direction in the input's units.
    There is no intercept: it cancels in differences. With ``standardize=False`` this equals
    scikit-learn's ``LogisticRegression(C=1 / (2 * alpha), fit_intercept=False)`` on the
    symmetrised differences (each pair both ways), without building them.

    ``X_win`` and ``X_lose`` may be scipy sparse matrices (e.g. the tf-idf rows of
    :class:`embrm.embed.LexicalFeatures`): the same problem is then solved by scikit-learn's
    ``LogisticRegression`` on the sparse differences, and ``reward`` takes sparse rows too.
    On tf-idf rows, ``standardize=False`` leaves rare n-grams at their own (small) spread.

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
    {fit_record}

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

    _accepts_sparse: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "alpha": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "standardize": [BOOLEAN],
        "tol": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None)],
    }

    def __init__(
        self,
        alpha: float = LINEAR_ALPHA,
        standardize: bool = True,
        tol: float = LINEAR_TOL,
        max_iter: int = LINEAR_MAX_ITER,
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
        if sp.issparse(X_win):
            self.coef_, self.feature_scale_, self.n_iter_ = fit_sparse_bt(
                X_win, X_lose, sample_weight, self.alpha,
                standardize=self.standardize, tol=self.tol, max_iter=self.max_iter,
            )  # fmt: skip
            return
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

    def _solver_settings(self) -> tuple[float, int]:
        return self.tol, self.max_iter

    def _indexed_rows(
        self,
        stream: VectorStream,
        win: np.ndarray,
        lose: np.ndarray,
        sample_weight: np.ndarray | None,
        groups: np.ndarray | None,
    ) -> tuple[RowMap, None]:
        return PairDifferences(win, lose, sample_weight, stream.n_rows), None

    def _reward(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_
