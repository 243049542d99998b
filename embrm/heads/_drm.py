"""Decomposed reward models: orthogonal preference directions, adapted from a few pairs."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
from scipy.special import log_expit, softmax

from embrm._validation import BOOLEAN, Interval, Options, check_pairs
from embrm.exceptions import DataError
from embrm.heads._base import (
    BaseHead,
    feature_scale,
    fit_temperature,
    single_threaded,
    upgrade_unstandardised,
)
from embrm.heads._bt import LINEAR_ALPHA, fit_bt_weights


class DRM(BaseHead):
    """Decomposed reward model: PCA of preference differences gives one head per direction.

    Features are first divided by their standard deviation over the training responses
    (``standardize=True``): PCA is not scale-invariant, and a feature in other units than
    the embedding's coordinates would otherwise dominate it (on AlpacaEval an appended
    ``log_chars``, ~25x the spread of a MiniLM coordinate, was 76 % of the differences'
    variance and 94 % of the mean head).

    With ``Z`` the rows ``x_win - x_lose`` of the (standardised) training pairs and ``mu``
    their mean, the principal directions ``v_1..v_k`` of the centred ``Z`` are orthonormal,
    ordered by explained variance, and each is a bias-free head
    ``r_j(x) = v_j @ (x / feature_scale_)``. Each sign is oriented so the head orders most
    training pairs correctly. Centring removes the mean preference direction, which is most
    of what a Bradley-Terry head learns, so a head 0 puts it back (``first_head``): by
    default the Bradley-Terry direction itself (:class:`~embrm.heads.BTLinear`'s default
    fit on the same standardised pairs, unit norm), or ``mu / ||mu||``. A Bradley-Terry
    direction is closer to ``Cov(Z)^-1 mu`` than to ``mu``: it leans on directions of low
    variance, which the principal directions leave out, so no weighting of ``mu`` and
    ``v_1..v_k`` recovers it.

    Head scores are z-scored (on the training responses after ``fit``, on the adaptation
    responses after :meth:`adapt`) and combined with ``weights_``. After ``fit`` the
    weights are an L2-regularised Bradley-Terry fit on the training pairs restricted to the
    heads (penalty ``weight_decay``): the best combination of its own directions the training data
    support. ``reward(X, weights=w)`` scores with any other weights (``w = [1, 0, ...]``:
    head 0 alone).

    :meth:`adapt` replaces the weights for a new user or task from a few labelled pairs,
    training-free by default (``softmax(-L_m / temperature)`` of each head's summed
    log-loss ``L_m`` on the adaptation pairs, as in the paper) or by L2-regularised logistic
    regression on head-score differences (penalty ``adapt_alpha``).

    Parameters
    ----------
    n_components : int, default=10
        Principal directions kept.
    standardize : bool, default=True
        Divide each feature by its standard deviation over the training responses before
        the PCA. ``False`` is the paper's PCA of the raw differences.
    weight_decay : float, default=0.005
        L2 penalty ``weight_decay / 2 * ||w||^2`` of the head weights ``fit`` learns (on
        the z-scored head scores) added to the weighted *mean* pair log-loss, i.e.
        ``weight_decay * n_pairs`` against the summed loss. With the Bradley-Terry head 0,
        the best summed penalty grows with the training set; per pair, 0.005 was the best
        of {0.0005, 0.002, 0.005, 0.01, 0.02} on both hh-harmless (1.8k training pairs per
        fold, 0.620) and AlpacaEval (32k, 0.7016) in 5-fold CV
        (``benchmarks/linear_penalty.py``). The previous default, a summed 10 (0.0003 per
        pair on AlpacaEval), was chosen with the mean head.
    first_head : {"bt", "mean"} or None, default="bt"
        Head 0: the unit Bradley-Terry direction (L2 penalty 1000 on the standardised
        differences, as :class:`~embrm.heads.BTLinear`), the mean difference
        ``mu / ||mu||`` (ALGORITHMS.md's head 0), or none. With ``"mean"`` the fitted
        reward stays below a Bradley-Terry head: 5-fold by prompt, 0.6974 (with the
        previous summed penalty 10) against 0.7016 for ``"bt"`` on AlpacaEval
        (``benchmarks/train_heads.py``, 32k pairs; BTLinear 0.7014) and 0.610 against 0.620
        on hh-harmless (``experiments/hh_harmless.py``, 2,307 pairs; BTLinear 0.607).
    both_signs : bool, default=False
        Also keep ``-v_j`` as a separate head (the reference code's "2k heads", which lets
        the softmax adaptation pick either sign).
    adaptation : {"softmax", "logistic"}, default="softmax"
        How :meth:`adapt` learns the weights.
    temperature : float, default=1.0
        ``T`` of the softmax adaptation.
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
    head_mean_, head_scale_ : ndarray of shape (n_heads,)
        z-scoring of the head scores.
    temperature_ : float
        Fitted so ``predict_proba`` is calibrated (training pairs after ``fit``, adaptation
        pairs after ``adapt``).
    n_features_in_ : int
    encoder_id_ : str or None
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(numbers.Integral, 1, None)],
        "standardize": [BOOLEAN],
        "weight_decay": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "first_head": [Options(("bt", "mean")), None],
        "both_signs": [BOOLEAN],
        "adaptation": [Options(("softmax", "logistic"))],
        "temperature": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "adapt_alpha": [Interval(numbers.Real, 0.0, None, closed="neither")],
    }

    def __init__(
        self,
        n_components: int = 10,
        standardize: bool = True,
        weight_decay: float = 0.005,
        first_head: str | None = "bt",
        both_signs: bool = False,
        adaptation: str = "softmax",
        temperature: float = 1.0,
        adapt_alpha: float = 1.0,
    ) -> None:
        self.n_components = n_components
        self.standardize = standardize
        self.weight_decay = weight_decay
        self.first_head = first_head
        self.both_signs = both_signs
        self.adaptation = adaptation
        self.temperature = temperature
        self.adapt_alpha = adapt_alpha

    @classmethod
    def _upgrade_saved(cls, params: dict[str, Any], state: dict[str, Any]) -> tuple[dict, dict]:
        """A DRM saved before features were standardised (raw features) or with
        ``mean_head`` (head 0 was ``mu`` or none): refits with the same heads, its directions
        and weights kept (fitted or not, e.g. an ensemble's unfitted ``base``). A summed
        ``alpha`` is dropped (the training-set size that would turn it into
        ``weight_decay`` was not saved): a refit uses the default ``weight_decay``."""
        params = {key: value for key, value in params.items() if key != "alpha"}
        if "first_head" not in params:
            params["first_head"] = "mean" if params.pop("mean_head", True) else None
        return upgrade_unstandardised(params, state, "directions_")

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
        alpha = self.weight_decay * sample_weight.sum()
        self.weights_ = fit_bt_weights(D, sample_weight, alpha, "DRM.fit")
        self.temperature_ = fit_temperature(D @ self.weights_, sample_weight)

    def adapt(self, X_win: Any, X_lose: Any, sample_weight: Any = None) -> DRM:
        """Learn the head weights for a new user or task from a few labelled pairs.

        Head scores are z-scored on the ``2 * n`` adaptation responses. With
        ``adaptation="softmax"`` (training-free, the paper's rule) each head's loss is the
        *sum* ``L_m = sum_i -log sigmoid(s_m(a_i) - s_m(b_i))`` and the weights are
        ``softmax(-L / temperature)``; with ``"logistic"`` they are an L2-regularised
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
                self.weights_ = softmax(-loss / self.temperature)
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
