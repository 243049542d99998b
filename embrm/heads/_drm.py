"""Decomposed reward models: orthogonal preference directions, adapted from a few pairs."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
from scipy.special import log_expit, softmax

from embrm._core.validation import BOOLEAN, Interval, Options, check_pairs
from embrm.exceptions import DataError
from embrm.heads._base import (
    BaseHead,
    feature_scale,
    fit_temperature,
    single_threaded,
)
from embrm.heads._docs import shared_docs
from embrm.heads._linear import LINEAR_ALPHA, fit_bt_weights

#: With ``alpha=None`` DRM's penalty on its head weights is this times the summed pair
#: weight (the number of pairs when unweighted).
DRM_ALPHA_PER_PAIR = 0.005


@shared_docs
class DRM(BaseHead):
    """Decomposed reward model: PCA of preference differences gives one head per direction.

    Features are first divided by their standard deviation over the training responses
    (``standardize=True``): PCA is not scale-invariant, and a feature in other units than
    the embedding's coordinates (an appended log length, say) would otherwise dominate it.

    With ``Z`` the rows ``x_win - x_lose`` of the (standardised) training pairs and ``mu``
    their mean, the principal directions ``v_1..v_k`` of the centred ``Z`` are orthonormal,
    ordered by explained variance, and each is a bias-free head
    ``r_j(x) = v_j @ (x / feature_scale_)``. Each sign is oriented so the head orders most
    training pairs correctly. Centring removes the mean preference direction, which is most
    of what a Bradley-Terry head learns, so a head 0 puts it back (``first_head``): by
    default the Bradley-Terry direction itself (:class:`~embrm.heads.BTLinear`'s default
    fit on the same standardised pairs, unit norm), or ``mu / ||mu||``. A Bradley-Terry
    direction is closer to ``Cov(Z)^-1 mu`` than to ``mu``: it leans on directions of low
    variance, which the principal directions leave out.

    Head scores are z-scored (on the training responses after ``fit``, on the adaptation
    responses after :meth:`adapt`) and combined with ``weights_``. After ``fit`` the
    weights are an L2-regularised Bradley-Terry fit on the training pairs restricted to the
    heads (penalty ``alpha``). ``reward(X, weights=w)`` scores with any other weights
    (``w = [1, 0, ...]``: head 0 alone).

    :meth:`adapt` replaces the weights for a new user or task from a few labelled pairs,
    training-free by default (``softmax(-L_m / adapt_temperature)`` of each head's summed
    log-loss ``L_m`` on the adaptation pairs) or by L2-regularised logistic regression on
    head-score differences (penalty ``adapt_alpha``).

    Parameters
    ----------
    n_components : int, default=10
        Principal directions kept.
    standardize : bool, default=True
        Divide each feature by its standard deviation over the training responses before
        the PCA. ``False`` is the paper's PCA of the raw differences.
    alpha : float or None, default=None
        L2 penalty ``alpha / 2 * ||w||^2`` of the head weights ``fit`` learns (on the
        z-scored head scores) against the summed pair log-loss. None means 0.005 per unit
        of pair weight (``0.005 * n_pairs`` for unweighted pairs).
    first_head : {"bt", "mean"} or None, default="bt"
        Head 0: the unit Bradley-Terry direction (``BTLinear``'s default penalty on the
        standardised differences), the mean difference ``mu / ||mu||``, or none.
    both_signs : bool, default=False
        Also keep ``-v_j`` as a separate head (the reference code's "2k heads", which lets
        the softmax adaptation pick either sign).
    adaptation : {"softmax", "logistic"}, default="softmax"
        How :meth:`adapt` learns the weights.
    adapt_temperature : float, default=1.0
        ``T`` of the softmax adaptation (unrelated to the fitted ``temperature_``, which
        calibrates ``predict_proba``).
    adapt_alpha : float, default=1.0
        L2 penalty of the logistic adaptation (against the summed log-loss).

    Attributes
    ----------
    feature_scale_ : ndarray of shape (n_features,)
        What each feature is divided by before projecting: its standard deviation over the
        training responses, or 1 where that is below the input dtype's precision times the
        whole vector's spread (a constant feature, or rounding residue); all ones with
        ``standardize=False``.
    directions_ : ndarray of shape (n_heads, n_features)
        Unit-norm head directions in the standardised features ``x / feature_scale_``:
        ``[head 0,] v_1..v_k[, -v_1..-v_k]``.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Share of the centred (standardised) differences' variance along each ``v_j``.
    mean_direction_ : ndarray of shape (n_features,)
        ``mu``, the mean (standardised) preference difference.
    weights_ : ndarray of shape (n_heads,)
        The head weights :meth:`reward` uses by default: the Bradley-Terry fit on the
        training pairs after ``fit``, the adapted weights after :meth:`adapt`.
    alpha_ : float
        The penalty ``fit`` used (``alpha``, or its default for the pairs' total weight).
    head_mean_, head_scale_ : ndarray of shape (n_heads,)
        z-scoring of the head scores.
    temperature_ : float
        Fitted so ``predict_proba`` is calibrated (training pairs after ``fit``, adaptation
        pairs after ``adapt``).
    {fit_record}

    Examples
    --------
    >>> from embrm.heads import DRM
    >>> from embrm.testing import make_preference_pairs
    >>> data = make_preference_pairs(n_pairs=300, n_features=8, random_state=0)
    >>> head = DRM(n_components=3).fit(data.X_win, data.X_lose)
    >>> head.directions_.shape
    (4, 8)
    >>> head.reward_components(data.X_win[:2]).shape
    (2, 4)
    >>> head = head.adapt(data.X_win[:20], data.X_lose[:20])
    >>> round(float(head.weights_.sum()), 6)
    1.0
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(numbers.Integral, 1, None)],
        "standardize": [BOOLEAN],
        "alpha": [Interval(numbers.Real, 0.0, None, closed="neither"), None],
        "first_head": [Options(("bt", "mean")), None],
        "both_signs": [BOOLEAN],
        "adaptation": [Options(("softmax", "logistic"))],
        "adapt_temperature": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "adapt_alpha": [Interval(numbers.Real, 0.0, None, closed="neither")],
    }

    def __init__(
        self,
        n_components: int = 10,
        standardize: bool = True,
        alpha: float | None = None,
        first_head: str | None = "bt",
        both_signs: bool = False,
        adaptation: str = "softmax",
        adapt_temperature: float = 1.0,
        adapt_alpha: float = 1.0,
    ) -> None:
        self.n_components = n_components
        self.standardize = standardize
        self.alpha = alpha
        self.first_head = first_head
        self.both_signs = both_signs
        self.adaptation = adaptation
        self.adapt_temperature = adapt_temperature
        self.adapt_alpha = adapt_alpha

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        n, d = X_win.shape
        if self.n_components > min(d, n - 1):
            raise DataError(
                f"DRM with n_components={self.n_components} needs at most "
                f"min(n_features, n_pairs - 1) = {min(d, n - 1)} components; lower "
                "n_components or give more pairs."
            )
        s = sample_weight / sample_weight.sum()
        self.feature_scale_ = np.ones(d)
        if self.standardize:
            self.feature_scale_ = feature_scale(X_win, X_lose, s)
        Z = (X_win.astype(np.float64) - X_lose) / self.feature_scale_
        mu = s @ Z
        Zc = ((Z - mu) * np.sqrt(s)[:, None]).astype(np.float32)
        eigval, eigvec = np.linalg.eigh((Zc.T @ Zc).astype(np.float64))
        order = np.argsort(eigval)[::-1][: self.n_components]
        V = eigvec[:, order].T
        proj = Z @ V.T
        agree = s @ (np.sign(proj) + 1.0) / 2.0
        flip = (agree < 0.5) | ((agree == 0.5) & (V @ mu < 0))
        V[flip] *= -1.0
        heads = []
        if self.first_head is not None:
            first = (
                mu if self.first_head == "mean" else fit_bt_weights(Z, sample_weight, LINEAR_ALPHA, "DRM.fit")
            )
            norm = np.linalg.norm(first)
            if norm == 0:
                raise DataError(
                    f"DRM's first_head={self.first_head!r} is zero on these pairs (their preferred "
                    "and other responses do not differ on average); use first_head=None."
                )
            heads.append(first / norm)
        heads.extend(V)
        if self.both_signs:
            heads.extend(-V)
        self.directions_ = np.array(heads)
        self.explained_variance_ratio_ = np.clip(eigval[order], 0, None) / eigval.clip(0).sum()
        self.mean_direction_ = mu
        D = self._standardise_on(X_win, X_lose)
        self.alpha_ = DRM_ALPHA_PER_PAIR * sample_weight.sum() if self.alpha is None else float(self.alpha)
        self.weights_ = fit_bt_weights(D, sample_weight, self.alpha_, "DRM.fit")
        self.temperature_ = fit_temperature(D @ self.weights_, sample_weight)

    def adapt(self, X_win: Any, X_lose: Any, sample_weight: Any = None) -> DRM:
        """Learn the head weights for a new user or task from a few labelled pairs.

        Head scores are z-scored on the ``2 * n`` adaptation responses. With
        ``adaptation="softmax"`` (training-free, the paper's rule) each head's loss is the
        *sum* ``L_m = sum_i -log sigmoid(s_m(a_i) - s_m(b_i))`` and the weights are
        ``softmax(-L / adapt_temperature)``; with ``"logistic"`` they are an L2-regularised
        logistic regression on the head-score differences. Evaluate on pairs other than
        these.

        Parameters
        ----------
        X_win, X_lose : array-like of shape (n_pairs, n_features)
            The new user's or task's pairs, preferred response first.
        sample_weight : array-like of shape (n_pairs,), optional
            Weight of each pair.

        Returns
        -------
        self : DRM
            With ``weights_``, ``head_mean_``, ``head_scale_`` and ``temperature_`` replaced.
        """
        self._check_fitted("adapt")
        X_win, X_lose, sample_weight = check_pairs(
            X_win,
            X_lose,
            sample_weight,
            n_features=self.n_features_in_,
            encoder_id=self.encoder_id_,
            estimator_name="DRM.adapt",
        )
        with single_threaded():
            D = self._standardise_on(X_win, X_lose)
            if self.adaptation == "softmax":
                loss = -(sample_weight @ log_expit(D))
                self.weights_ = softmax(-loss / self.adapt_temperature)
            else:
                self.weights_ = fit_bt_weights(D, sample_weight, self.adapt_alpha, "DRM.adapt")
            self.temperature_ = fit_temperature(D @ self.weights_, sample_weight)
        return self

    def reward(self, X: Any, weights: Any = None) -> np.ndarray:
        """Weighted sum of the z-scored head scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        weights : array-like of shape (n_heads,), optional
            Head weights to use instead of ``weights_``.

        Returns
        -------
        reward : ndarray of shape (n_samples,)
        """
        if weights is None:
            return super().reward(X)
        X = self._check_X(X, "reward")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != self.weights_.shape:
            raise DataError(
                f"weights must have shape {self.weights_.shape}, one per head; got shape {weights.shape}."
            )
        with single_threaded():
            return self._components(X) @ weights

    def reward_components(self, X: Any) -> np.ndarray:
        """The z-scored score of every head (the columns :meth:`reward` combines).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_heads)
        """
        X = self._check_X(X, "reward_components")
        with single_threaded():
            return self._components(X)

    def _standardise_on(self, X_win: np.ndarray, X_lose: np.ndarray) -> np.ndarray:
        """Set the z-scoring from these responses; return the pairs' score differences."""
        raw_win, raw_lose = self._project(X_win), self._project(X_lose)
        raw = np.concatenate([raw_win, raw_lose])
        self.head_mean_ = raw.mean(axis=0)
        scale = raw.std(axis=0)
        self.head_scale_ = np.where(scale > 0, scale, 1.0)
        return (raw_win - raw_lose) / self.head_scale_

    def _project(self, X: np.ndarray) -> np.ndarray:
        return (X @ (self.directions_ / self.feature_scale_).T.astype(X.dtype)).astype(np.float64)

    def _components(self, X: np.ndarray) -> np.ndarray:
        return (self._project(X) - self.head_mean_) / self.head_scale_

    def _reward(self, X: np.ndarray) -> np.ndarray:
        return self._components(X) @ self.weights_
