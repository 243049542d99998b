"""Order-consistent classification head: preferred response -> 1, other -> 0."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
from sklearn.utils import check_random_state

from embrm._core.groups import group_means, grouped_validation_split
from embrm._core.validation import BOOLEAN, POSITIVE_INT_TUPLE, RANDOM_STATE, Interval, Options
from embrm.heads._base import BaseHead, feature_scale, fit_temperature
from embrm.heads._docs import shared_docs
from embrm.heads._linear import LINEAR_ALPHA, IndexedLinearFit, fit_response_logistic, pointwise
from embrm.heads._mlp import (
    INPUT_SCALE_FLOOR,
    MLP_BATCH_SIZE,
    MLP_LEARNING_RATE,
    MLP_MAX_EPOCHS,
    MLP_PATIENCE,
    MLPTrainer,
    mlp_alpha,
    mlp_forward,
)
from embrm.heads._streaming import ResponseRows, RowMap, VectorStream, compact_index


def within_group_offsets(
    X_win: np.ndarray, X_lose: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each response minus the mean of the responses of its group's pairs; groups of a single
    pair are left as they are.

    A pointwise linear classifier on these offsets compares each response with the others
    of its prompt only; its weights, applied to the raw embeddings, rank the responses of a
    prompt in the same order (the prompt's mean shifts all of them alike). A single pair's
    offsets are plus and minus half its difference, on which the classifier would be
    Bradley-Terry: such groups (every pair of hh-harmless) keep their raw rows.
    """
    both = np.concatenate([X_win, X_lose])
    means, inverse = group_means(both, np.tile(groups, 2))
    means[np.bincount(inverse) == 2] = 0.0  # a single pair's two rows
    both -= means[inverse].astype(both.dtype)
    return both[: X_win.shape[0]], both[X_win.shape[0] :]


@shared_docs
class ClassifierHead(IndexedLinearFit, BaseHead):
    """Classify each response on its own (preferred = 1, other = 0); reward = the logit.

    Best-of-N and RL need only the order of rewards. A classifier's logit estimates a
    response's win rate against the opponents it met, which is monotone in the true reward
    when opponents are drawn alike for every response. The reward is the logit (margin),
    never the saturating probability. Within-prompt pairs draw each response's opponents
    from its own prompt only, so by default (``center_by_group=True``, with ``groups``)
    the logistic fit compares each response with the others of its prompt. Pairs are split
    by group into a training part and a validation split; the validation split fits
    ``temperature_`` so that ``predict_proba(a, b) = sigmoid((r(a) - r(b)) / temperature_)``
    is calibrated (and, for ``model="mlp"``, picks the early-stopping epoch).

    Parameters
    ----------
    model : {"linear", "mlp"}, default="linear"
        The reward's function class: linear (L2-regularised logistic regression), or a
        ReLU MLP trained like :class:`~embrm.heads.BTMLP` but with the pointwise logistic
        loss.
    alpha : float, default=1000.0
        L2 penalty of the linear fit (the ``"linear"`` model, and the ``"mlp"`` model's
        linear base) against the summed log-loss over the ``2 * n_pairs`` responses, on
        standardised features (as in :class:`~embrm.heads.BTLinear`). Noisy labels want a
        larger one (``docs/heads.md``).
    standardize : bool, default=True
        Divide each feature of the linear fit by its standard deviation over the training
        rows before the penalty applies, as in :class:`~embrm.heads.BTLinear` (the MLP
        always standardises its inputs).
    center_by_group : bool, default=True
        Fit the linear model on each response's offset from the mean of its group's
        responses (with ``groups`` given to :meth:`fit`; groups of a single pair stay as
        they are). Labels are balanced within every prompt, so on raw rows the classifier
        must also explain away how the prompts' responses differ from each other; on the
        offsets it compares each response with its prompt's others only. ``coef_`` applies
        to raw embeddings (a prompt's mean shifts the rewards of its responses alike), so
        :meth:`reward` needs no groups. ``False`` is the uncentred classifier of the
        classification papers (``docs/heads.md`` compares the two under label noise).
    linear_base : bool, default=True
        For the ``"mlp"`` model: first fit the linear model (with ``alpha``,
        ``standardize``, ``center_by_group``), then train the MLP on what it leaves (reward
        = linear margin + MLP output), as :class:`~embrm.heads.LGBMHead` boosts from a
        linear base.
    mlp_alpha : float or None, default=None
        L2 penalty of the ``"mlp"`` model's weights against the summed log-loss over the
        training responses, trained with :class:`~embrm.heads.BTMLP`'s optimiser settings
        (Adam lr 3e-4, batch 256, patience 10). None means 0.03 per training response.
    hidden_layer_sizes : tuple of int, default=(128,)
        Hidden layer widths of the ``"mlp"`` model (ignored by ``"linear"``).
    validation_fraction : float, default=0.1
        Share of groups kept back as the validation split, for the temperature (and early stopping).
    random_state : int, RandomState or None, default=None
        Seeds the split and, for ``"mlp"``, the initialisation and batch order.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Logistic weights in the input's units (the ``"mlp"`` model's linear base; zeros
        with ``linear_base=False``).
    feature_scale_ : ndarray of shape (n_features,)
        The standard deviations the features were divided by (ones with
        ``standardize=False`` or no linear fit).
    intercept_ : float
        Logistic intercept.
    coefs_ : list of ndarray
        MLP weights ``[W1, b1, ..., Wk, bk]`` (``model="mlp"``).
    input_mean_, input_scale_ : ndarray of shape (n_features,)
        Input standardisation (``model="mlp"``).
    mlp_alpha_ : float
        The MLP's penalty used (``model="mlp"``).
    n_epochs_ : int
        Restored epoch (``model="mlp"``).
    temperature_ : float
        Fitted on the validation split's reward differences.
    {fit_record}

    Examples
    --------
    >>> from embrm.heads import ClassifierHead
    >>> from embrm.testing import make_preference_pairs
    >>> data = make_preference_pairs(n_pairs=300, n_features=8, random_state=0)
    >>> head = ClassifierHead(alpha=1.0, random_state=0)
    >>> head = head.fit(data.X_win, data.X_lose, groups=data.groups)
    >>> head.score(data.X_win, data.X_lose) > 0.8
    True
    >>> float(head.predict_proba(data.X_win[:1], data.X_lose[:1])[0]) > 0.5
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "model": [Options(("linear", "mlp"))],
        "alpha": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "standardize": [BOOLEAN],
        "center_by_group": [BOOLEAN],
        "linear_base": [BOOLEAN],
        "mlp_alpha": [Interval(numbers.Real, 0.0, None), None],
        "hidden_layer_sizes": [POSITIVE_INT_TUPLE],
        "validation_fraction": [Interval(numbers.Real, 0.0, 1.0, closed="neither")],
        "random_state": [RANDOM_STATE],
    }
    _min_pairs: ClassVar[int] = 10
    _fit_intercept: ClassVar[bool] = True

    def __init__(
        self,
        model: str = "linear",
        alpha: float = LINEAR_ALPHA,
        standardize: bool = True,
        center_by_group: bool = True,
        linear_base: bool = True,
        mlp_alpha: float | None = None,
        hidden_layer_sizes: tuple[int, ...] = (128,),
        validation_fraction: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.model = model
        self.alpha = alpha
        self.standardize = standardize
        self.center_by_group = center_by_group
        self.linear_base = linear_base
        self.mlp_alpha = mlp_alpha
        self.hidden_layer_sizes = hidden_layer_sizes
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        rng = check_random_state(self.random_state)
        tr, va = grouped_validation_split(groups, X_win.shape[0], self.validation_fraction, rng, self._name)
        if self.model == "linear" or self.linear_base:
            self._fit_logistic(*self._linear_rows(X_win, X_lose, groups, tr), sample_weight[tr])
        else:
            self.coef_, self.intercept_ = np.zeros(X_win.shape[1]), 0.0
            self.feature_scale_ = np.ones(X_win.shape[1])
        if self.model == "mlp":
            self._fit_mlp(X_win, X_lose, sample_weight, groups, tr, va, rng)
        margin = self._reward(X_win[va]) - self._reward(X_lose[va])
        self.temperature_ = fit_temperature(margin, sample_weight[va])

    def _linear_rows(
        self, X_win: np.ndarray, X_lose: np.ndarray, groups: np.ndarray | None, pairs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``pairs`` the logistic fit sees: offsets from their group means with
        ``center_by_group`` and groups, else the rows as they are."""
        if self.center_by_group and groups is not None:
            return within_group_offsets(X_win[pairs], X_lose[pairs], groups[pairs])
        return X_win[pairs], X_lose[pairs]

    def _fit_logistic(self, X_win: np.ndarray, X_lose: np.ndarray, sample_weight: np.ndarray) -> None:
        self.feature_scale_ = np.ones(X_win.shape[1])
        if self.standardize:
            self.feature_scale_ = feature_scale(X_win, X_lose, sample_weight / sample_weight.sum())
        w, self.intercept_, self.n_iter_ = fit_response_logistic(
            X_win / self.feature_scale_, X_lose / self.feature_scale_, sample_weight, self.alpha, self._name
        )
        self.coef_ = w / self.feature_scale_

    def _fit_mlp(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
        tr: np.ndarray,
        va: np.ndarray,
        rng: np.random.RandomState,
    ) -> None:
        """Train the MLP, with ``linear_base`` on top of the linear margin taken on the rows
        the linear fit sees."""
        offsets = None
        if self.linear_base:
            offsets = tuple(
                np.concatenate(self._linear_rows(X_win, X_lose, groups, pairs)) @ self.coef_ + self.intercept_
                for pairs in (tr, va)
            )
        X_tr, y_tr, w_tr = pointwise(X_win[tr], X_lose[tr], sample_weight[tr])
        self.input_mean_ = X_tr.mean(axis=0).astype(np.float32)
        self.input_scale_ = (X_tr.std(axis=0) + INPUT_SCALE_FLOOR).astype(np.float32)
        X_va, y_va, w_va = pointwise(X_win[va], X_lose[va], sample_weight[va])
        self.mlp_alpha_ = mlp_alpha(self.mlp_alpha, X_tr.shape[0])
        trainer = MLPTrainer(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            alpha=self.mlp_alpha_,
            learning_rate=MLP_LEARNING_RATE,
            batch_size=MLP_BATCH_SIZE,
            max_epochs=MLP_MAX_EPOCHS,
            patience=MLP_PATIENCE,
        )
        self.coefs_, self.n_epochs_, self.validation_loss_ = trainer.train(
            trainer.init(X_win.shape[1], rng),
            (self._standardise(X_tr), y_tr.astype(np.float32), w_tr),
            (self._standardise(X_va), y_va.astype(np.float32), w_va),
            pairwise=False,
            rng=rng,
            offsets=offsets,
        )

    def _indexed_rows(
        self,
        stream: VectorStream,
        win: np.ndarray,
        lose: np.ndarray,
        sample_weight: np.ndarray | None,
        groups: np.ndarray | None,
    ) -> tuple[RowMap, np.ndarray]:
        """The validation split of :meth:`fit`; the training pairs' responses, centred by group
        with ``center_by_group`` and groups."""
        if self.model != "linear":
            raise ValueError(f"fit_indexed fits model='linear' only; this head has model={self.model!r}.")
        rng = check_random_state(self.random_state)
        tr, va = grouped_validation_split(groups, win.size, self.validation_fraction, rng, self._name)
        rows = ResponseRows(
            compact_index(win, stream.n_rows)[tr],  # the subset taken in the compact type
            compact_index(lose, stream.n_rows)[tr],
            None if sample_weight is None else sample_weight[tr],
            groups[tr] if self.center_by_group and groups is not None else None,
            stream.n_rows,
        )
        return rows, va

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _reward(self, X: np.ndarray) -> np.ndarray:
        linear = X @ self.coef_ + self.intercept_
        if self.model == "linear":
            return linear
        return linear + mlp_forward(self.coefs_, self._standardise(X))[0]
