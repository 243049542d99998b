"""Gradient-boosted trees (LightGBM) as a reward head."""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
from sklearn.utils import check_random_state

from embrm._core.groups import grouped_validation_split
from embrm._core.validation import BOOLEAN, RANDOM_STATE, Interval, Options
from embrm.evaluate import pair_outcomes
from embrm.heads._base import BaseHead, feature_scale, fit_temperature
from embrm.heads._classifier import within_group_offsets
from embrm.heads._docs import shared_docs
from embrm.heads._linear import LINEAR_ALPHA, fit_bt_weights, fit_response_logistic, pointwise


def win_rate_rows(
    X_win: np.ndarray, X_lose: np.ndarray, sample_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pointwise problem with each distinct response once: the index of its first row in
    ``concatenate([X_win, X_lose])``, its win rate and its weight.

    A response that appears in k pairs is k pointwise rows with labels 1 (won) or 0 (lost);
    their summed log-loss equals the cross-entropy of one row with label = its weighted win
    rate and weight = its summed pair weight. Within-prompt pair sets repeat each response
    many times, so this shrinks LightGBM's data by that factor at no change in the loss.
    """
    X, y, w = pointwise(X_win, X_lose, sample_weight)
    rows = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1])))
    _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
    weight = np.bincount(inverse, weights=w)
    wins = np.bincount(inverse, weights=w * (y > 0))
    return first, wins / np.maximum(weight, 1e-300), weight


@shared_docs
class LGBMHead(BaseHead):
    """LightGBM reward head; reward = the raw margin (``raw_score=True``), never a probability.

    ``objective="binary"`` is the order-consistent classification head (preferred = 1,
    other = 0, each response on its own), fitted as cross-entropy on each distinct
    response's win rate (the same loss, with repeated responses merged: see
    :func:`win_rate_rows`). ``objective="pairwise"`` ranks the two responses
    of each pair (LightGBM ``lambdarank`` with one query per pair, a RankNet-style pairwise
    logistic loss). Boosting stops early on the pairwise accuracy of a validation split
    by group, which also fits ``temperature_`` for ``predict_proba``.

    Defaults are strongly regularised, unlike LightGBM's own (learning rate 0.1, 31
    leaves, 20 rows per leaf, all features, no penalty): each response meets only a few
    others, so its win rate is a noisy target, and the preference signal is spread over
    hundreds of dense coordinates that one axis-aligned split captures little of.

    By default (``linear_base=True``) boosting starts from the margin of an L2-regularised
    linear model fitted first on the same training pairs, and the trees fit what it leaves:
    reward = linear margin + trees. The base is the default linear head of the same loss
    (standardised features, ``alpha=1000``): the linear
    :class:`~embrm.heads.ClassifierHead` for ``"binary"``, :class:`~embrm.heads.BTLinear`
    for ``"pairwise"``.

    Parameters
    ----------
    objective : {"binary", "pairwise"}, default="binary"
        Pointwise classification or pairwise ranking.
    n_estimators : int, default=3000
        Most boosting rounds.
    learning_rate : float, default=0.02
    num_leaves : int, default=15
    min_child_samples : int or float, default=0.01
        Fewest training rows in a leaf (LightGBM's ``min_data_in_leaf``): an int is a
        count, a float in (0, 1) a share of the rows, rounded up (as scikit-learn's
        ``min_samples_leaf``), so the default regularises a few hundred pairs as much as
        40k. Rows are the distinct responses with ``objective="binary"``, the pair sides
        with ``"pairwise"``.
    colsample_bytree : float, default=0.5
        Share of the features each tree may split on (LightGBM's ``feature_fraction``).
    reg_lambda : float, default=10.0
        L2 penalty on the leaf values (LightGBM's ``lambda_l2``).
    extra_trees : bool, default=True
        Split each feature at one random threshold instead of the best one (LightGBM's
        ``extra_trees``).
    linear_base : bool, default=True
        Boost from the margin of a linear model fitted first (see above) instead of zero.
    center_by_group : bool, default=True
        Fit the ``"binary"`` base on each response's offset from its prompt's mean, as
        :class:`~embrm.heads.ClassifierHead`'s ``center_by_group`` (with ``groups``); the
        trees start from its margins on those offsets.
    early_stopping_rounds : int, default=200
        Stop when the validation split's pairwise accuracy has not improved for this many rounds.
    validation_fraction : float, default=0.1
        Share of groups kept back as the validation split, for early stopping and the temperature.
    n_jobs : int, default=1
        LightGBM threads (``num_threads``), always passed explicitly (LightGBM's own
        default takes every core, which oversubscribes when fits run in parallel).
    random_state : int, RandomState or None, default=None
        Seeds the validation split and LightGBM.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The trees up to the best iteration.
    linear_coef_ : ndarray of shape (n_features,)
        Weights of the linear base (zeros with ``linear_base=False``).
    linear_intercept_ : float
        Its intercept (0 for ``"pairwise"`` and with ``linear_base=False``).
    best_iteration_ : int
        Boosting rounds kept.
    temperature_ : float
        Fitted on the validation split's margin differences.
    {fit_record}

    Examples
    --------
    >>> from embrm.heads import LGBMHead
    >>> from embrm.testing import make_preference_pairs
    >>> data = make_preference_pairs(n_pairs=300, n_features=8, random_state=0)
    >>> head = LGBMHead(n_estimators=20, random_state=0)
    >>> head = head.fit(data.X_win, data.X_lose, groups=data.groups)
    >>> head.score(data.X_win, data.X_lose) > 0.8
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "objective": [Options(("binary", "pairwise"))],
        "n_estimators": [Interval(numbers.Integral, 1, None)],
        "learning_rate": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "num_leaves": [Interval(numbers.Integral, 2, None)],
        "min_child_samples": [
            Interval(numbers.Integral, 1, None),
            Interval(numbers.Real, 0.0, 1.0, closed="neither"),
        ],
        "colsample_bytree": [Interval(numbers.Real, 0.0, 1.0, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0.0, None, closed="left")],
        "extra_trees": [BOOLEAN],
        "linear_base": [BOOLEAN],
        "center_by_group": [BOOLEAN],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None)],
        "validation_fraction": [Interval(numbers.Real, 0.0, 1.0, closed="neither")],
        "n_jobs": [Interval(numbers.Integral, 1, None)],
        "random_state": [RANDOM_STATE],
    }
    _min_pairs: ClassVar[int] = 10

    def __init__(
        self,
        objective: str = "binary",
        n_estimators: int = 3000,
        learning_rate: float = 0.02,
        num_leaves: int = 15,
        min_child_samples: float = 0.01,
        colsample_bytree: float = 0.5,
        reg_lambda: float = 10.0,
        extra_trees: bool = True,
        linear_base: bool = True,
        center_by_group: bool = True,
        early_stopping_rounds: int = 200,
        validation_fraction: float = 0.1,
        n_jobs: int = 1,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.extra_trees = extra_trees
        self.linear_base = linear_base
        self.center_by_group = center_by_group
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit_linear_base(self, X_win: np.ndarray, X_lose: np.ndarray, sample_weight: np.ndarray) -> None:
        """``linear_coef_`` and ``linear_intercept_``: the margin boosting starts from."""
        self.linear_coef_, self.linear_intercept_ = np.zeros(X_win.shape[1]), 0.0
        if not self.linear_base:
            return
        scale = feature_scale(X_win, X_lose, sample_weight / sample_weight.sum())
        if self.objective == "binary":
            w, self.linear_intercept_, _ = fit_response_logistic(
                X_win / scale, X_lose / scale, sample_weight, LINEAR_ALPHA, self._name
            )
        else:
            w = fit_bt_weights(
                (X_win.astype(np.float64) - X_lose) / scale, sample_weight, LINEAR_ALPHA, self._name
            )
        self.linear_coef_ = w / scale

    def _linear_margin(self, X: np.ndarray) -> np.ndarray:
        return X @ self.linear_coef_ + self.linear_intercept_

    def _train_rows(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        base_win: np.ndarray,
        base_lose: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """LightGBM's training rows: features, label, weight, query sizes (or None) and the
        margin boosting starts from, the linear base's on the rows it was fitted on
        (``base_win``, ``base_lose``)."""
        if self.objective == "binary":
            rows, win_rate, weight = win_rate_rows(X_win, X_lose, sample_weight)
            margin = self._linear_margin(np.concatenate([base_win, base_lose]))[rows]
            return np.concatenate([X_win, X_lose])[rows], win_rate, weight, None, margin
        n = X_win.shape[0]
        X = np.empty((2 * n, X_win.shape[1]), dtype=X_win.dtype)
        X[0::2], X[1::2] = X_win, X_lose
        return X, np.tile([1.0, 0.0], n), np.repeat(sample_weight, 2), np.full(n, 2), self._linear_margin(X)

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        rng = check_random_state(self.random_state)
        tr, va = grouped_validation_split(groups, X_win.shape[0], self.validation_fraction, rng, self._name)
        params: dict[str, Any] = {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "extra_trees": self.extra_trees,
            "num_threads": self.n_jobs,
            "seed": int(rng.randint(np.iinfo(np.int32).max)),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        params["objective"] = "cross_entropy" if self.objective == "binary" else "lambdarank"
        params["metric"] = "None"
        n_va = int(va.size)
        valid_X = np.concatenate([X_win[va], X_lose[va]])
        valid_w = sample_weight[va]

        def pair_accuracy(preds: np.ndarray, _: lgb.Dataset) -> tuple[str, float, bool]:
            margin = preds[:n_va] - preds[n_va:]
            return (
                "pair_accuracy",
                float(np.dot(valid_w, pair_outcomes(margin, 0.0)) / valid_w.sum()),
                True,
            )

        # With center_by_group the binary base is fitted on each response's offset from its
        # prompt's mean; at prediction its margin on the raw rows differs by a constant per
        # prompt, which leaves the order within a prompt as it is.
        base_win, base_lose = X_win[tr], X_lose[tr]
        if self.objective == "binary" and self.center_by_group and groups is not None:
            base_win, base_lose = within_group_offsets(base_win, base_lose, groups[tr])
        self._fit_linear_base(base_win, base_lose, sample_weight[tr])
        X, label, weight, query, init_score = self._train_rows(
            X_win[tr], X_lose[tr], sample_weight[tr], base_win, base_lose
        )
        min_rows = self.min_child_samples
        if not isinstance(min_rows, numbers.Integral):
            min_rows = max(1, math.ceil(min_rows * X.shape[0]))
        params["min_data_in_leaf"] = int(min_rows)
        train = lgb.Dataset(X, label=label, weight=weight, group=query, init_score=init_score, params=params)
        valid = lgb.Dataset(
            valid_X,
            label=np.zeros(2 * n_va),
            init_score=self._linear_margin(valid_X),
            reference=train,
            params=params,
        )
        booster = lgb.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[valid],
            feval=pair_accuracy,
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = booster.best_iteration or booster.current_iteration()
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))
        margin = self._reward(X_win[va]) - self._reward(X_lose[va])
        self.temperature_ = fit_temperature(margin, sample_weight[va])

    def _reward(self, X: np.ndarray) -> np.ndarray:
        return self._linear_margin(X) + self.booster_.predict(X, raw_score=True, num_threads=self.n_jobs)
