"""The contract every reward head shares: fit on pairs, reward, score, predict_proba, save."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator
from threadpoolctl import ThreadpoolController

from embrm._core.stack import external_stacklevel
from embrm._core.validation import check_encoder_id, check_groups, validate_params
from embrm.evaluate import pair_outcomes
from embrm.exceptions import DataError, NotFittedError
from embrm.heads._sparse import check_pair_rows, check_rows, identical_rows

_controller: ThreadpoolController | None = None


@contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS/OpenMP to one thread: at 384-d, thread start-up costs more than it saves.

    Heads fit and score single-threaded (LightGBM takes its thread count explicitly). Run
    several fits in separate processes to use more cores. The thread-pool controller is
    built once (building it scans the loaded libraries, ~10 ms).
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1):
        yield


def _refuse_pipeline(owner: str) -> None:
    """Raise when called from a scikit-learn Pipeline: it would transform ``X_win`` only,
    while ``X_lose`` (in the ``y`` slot) reaches the head untransformed."""
    frame = sys._getframe(2)
    for _ in range(8):
        if frame is None:
            return
        if frame.f_globals.get("__name__") == "sklearn.pipeline":
            raise DataError(
                f"{owner} cannot be the last step of a scikit-learn Pipeline: the pipeline "
                "transforms X_win only, and X_lose (passed as y) would reach the head "
                "untransformed. Transform both arrays yourself before fit and score (heads "
                "standardise their features themselves with standardize=True)."
            )
        frame = frame.f_back


class BaseHead(BaseEstimator):
    """Base class of embrm's reward heads (not used directly).

    A head learns a scalar reward ``r(x)`` of an embedded response from preference pairs.
    Subclasses implement ``_fit`` and ``_reward``; this class validates input, records
    what the head was trained on (``n_features_in_``, ``encoder_id_``), and provides
    ``score`` (pairwise accuracy), ``predict_proba``, ``fit_pairs`` and ``save``.

    Heads follow scikit-learn's conventions: ``__init__`` only stores parameters, ``fit``
    returns ``self``, fitted state ends in ``_``. Because the losers sit in the ``y`` slot
    of ``fit(X_win, X_lose)`` and ``score(X_win, X_lose)``, scikit-learn's model selection
    (``cross_val_score``, ``GridSearchCV`` with ``GroupKFold``) works unchanged.
    """

    #: Allowed values of each constructor parameter (see ``embrm._core.validation``).
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    #: Fewest pairs ``fit`` accepts.
    _min_pairs: ClassVar[int] = 2
    #: Whether the head takes scipy sparse rows (others refuse them with a clear message).
    _accepts_sparse: ClassVar[bool] = False

    def fit(
        self,
        X_win: Any,
        X_lose: Any,
        sample_weight: Any = None,
        *,
        groups: Any = None,
        encoder_id: str | None = None,
    ) -> BaseHead:
        """Fit the head on preference pairs.

        Parameters
        ----------
        X_win : array-like of shape (n_pairs, n_features)
            Embeddings of the preferred response of each pair.
        X_lose : array-like of shape (n_pairs, n_features)
            Embeddings of the other response, row-aligned with ``X_win``.
        sample_weight : array-like of shape (n_pairs,), optional
            Non-negative weight of each pair (a margin, an annotator's confidence).
        groups : array-like of shape (n_pairs,), optional
            Group (prompt) id of each pair. Heads that hold out a validation slice (early
            stopping, temperature) split by group, so no prompt is on both sides; without
            groups every pair is its own group. The classification heads also compare each
            response with its group's others (``center_by_group``). Other heads ignore it.
        encoder_id : str, optional
            Identity of the encoder that produced the embeddings (``Encoder.identity``);
            recorded, saved with the head, and checked by :func:`embrm.heads.load`. Arrays
            returned by an ``Encoder`` carry it (``X.encoder_id``), so it is needed only
            for plain arrays; given together, the two must agree.

        Returns
        -------
        self : BaseHead
            The fitted head.
        """
        validate_params(self._parameter_constraints, self.get_params(deep=False), self._name)
        _refuse_pipeline(self._name)
        encoder_id = check_encoder_id((X_win, X_lose), encoder_id, ("X_win", "X_lose"))
        X_win, X_lose, sample_weight = check_pair_rows(
            X_win,
            X_lose,
            sample_weight,
            min_pairs=self._min_pairs,
            estimator_name=self._name,
            accept_sparse=self._accepts_sparse,
        )
        if identical_rows(X_win, X_lose):
            raise DataError(
                "Every pair has identical embeddings for both responses: there is a single "
                "class and no preference to learn."
            )
        groups = check_groups(groups, X_win.shape[0])
        if getattr(self, "center_by_group", False) and groups is None:
            warnings.warn(
                f"{self._name}(center_by_group=True) centres each response within its prompt, "
                "but fit got no groups, so nothing is centred. Pass groups= (the prompt id of "
                "each pair), or set center_by_group=False.",
                UserWarning,
                stacklevel=external_stacklevel(),
            )
        with single_threaded():
            self._fit(X_win, X_lose, sample_weight, groups)
        self.n_features_in_ = X_win.shape[1]
        self.encoder_id_ = encoder_id
        return self

    def fit_pairs(self, pairs: Any, encoder: Any, sample_weight: Any = None) -> BaseHead:
        """Embed a pairs object with ``encoder`` (through its cache) and fit on it.

        Parameters
        ----------
        pairs : embrm.data.PreferencePairs
            Anything with a polars frame at ``pairs.frame`` holding the columns
            ``prompt``, ``chosen`` and ``rejected``; an optional ``group`` column gives the
            groups (default: one per distinct prompt) and an optional ``weight`` column
            the sample weights.
        encoder : embrm.Encoder
            Provides ``encode_responses(prompts, responses)`` and ``identity``.
        sample_weight : array-like of shape (n_pairs,), optional
            Overrides the ``weight`` column.

        Returns
        -------
        self : BaseHead
            The fitted head, with ``encoder_id_`` set to ``encoder.identity``.
        """
        frame = pairs.frame
        missing = {"prompt", "chosen", "rejected"} - set(frame.columns)
        if missing:
            raise DataError(f"pairs.frame lacks the column(s) {sorted(missing)}.")
        prompts = frame["prompt"].to_list()
        n = len(prompts)
        both = encoder.encode_responses(
            prompts + prompts, frame["chosen"].to_list() + frame["rejected"].to_list()
        )
        if "group" in frame.columns:
            groups = frame["group"].to_numpy()
        else:
            groups = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)[1]
        if sample_weight is None and "weight" in frame.columns:
            sample_weight = frame["weight"].to_numpy()
        return self.fit(both[:n], both[n:], sample_weight, groups=groups, encoder_id=encoder.identity)

    def reward(self, X: Any) -> np.ndarray:
        """Reward of each embedded response.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings of responses (from the encoder the head was trained on).

        Returns
        -------
        reward : ndarray of shape (n_samples,)
            Higher is better. Only differences and order are meaningful.
        """
        X = self._check_X(X, "reward")
        with single_threaded():
            return np.asarray(self._reward(X), dtype=np.float64).reshape(-1)

    def score(self, X_win: Any, X_lose: Any, sample_weight: Any = None) -> float:
        """Pairwise accuracy: the share of pairs whose preferred response gets more reward.

        Ties count one half. This is scikit-learn's ``score`` (a metric, higher is better),
        so model selection tools can call it with the losers in the ``y`` slot.

        Parameters
        ----------
        X_win, X_lose : array-like of shape (n_pairs, n_features)
            Held-out pairs, preferred response first.
        sample_weight : array-like of shape (n_pairs,), optional
            Weight of each pair in the average.

        Returns
        -------
        accuracy : float
            In [0, 1].
        """
        self._check_fitted("score")
        _refuse_pipeline(self._name)
        X_win, X_lose, sample_weight = self._check_pairs(X_win, X_lose, sample_weight)
        hits = pair_outcomes(self.reward(X_win), self.reward(X_lose))
        return float(np.average(hits, weights=sample_weight))

    def predict_proba(self, X_a: Any, X_b: Any) -> np.ndarray:
        """Probability that response ``a`` is preferred over response ``b``, per pair.

        Bradley-Terry heads return ``sigmoid(r(a) - r(b))``, calibrated by their loss;
        other heads divide the reward difference by a fitted ``temperature_``.

        Parameters
        ----------
        X_a, X_b : array-like of shape (n_pairs, n_features)
            Row-aligned embeddings of the two responses of each pair.

        Returns
        -------
        proba : ndarray of shape (n_pairs,)
            P(a preferred over b).
        """
        self._check_fitted("predict_proba")
        X_a, X_b, _ = self._check_pairs(X_a, X_b, None, names=("X_a", "X_b"))
        margin = self.reward(X_a) - self.reward(X_b)
        return expit(margin / getattr(self, "temperature_", 1.0))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted head to ``path`` in embrm's portable format.

        The file is a ``.npz`` archive (a zip of ``.npy`` arrays) plus ``meta.json`` with
        the class, parameters, embrm version, ``encoder_id_`` and ``n_features_in_``. It
        holds no pickle. Read it back with :func:`embrm.heads.load`.
        """
        from embrm.heads._io import save_head

        self._check_fitted("save")
        save_head(self, path)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        raise NotImplementedError

    def _reward(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                f"This {self._name} instance is not fitted yet: call 'fit' with pairs of "
                f"embeddings before '{method}'."
            )

    def _check_X(self, X: Any, method: str, name: str = "X") -> np.ndarray:
        self._check_fitted(method)
        return check_rows(
            X,
            name=name,
            n_features=self.n_features_in_,
            encoder_id=self.encoder_id_,
            accept_sparse=self._accepts_sparse,
            owner=self._name,
        )

    def _check_pairs(
        self,
        X_a: Any,
        X_b: Any,
        sample_weight: Any,
        names: tuple[str, str] = ("X_win", "X_lose"),
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X_a = self._check_X(X_a, "score", names[0])
        X_b = self._check_X(X_b, "score", names[1])
        return check_pair_rows(X_a, X_b, sample_weight, names=names, accept_sparse=self._accepts_sparse)


def feature_scale(X_win: np.ndarray, X_lose: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Standard deviation of each feature over the responses of the pairs (weights ``s``,
    summing to 1), with 1.0 where the spread is rounding residue.

    A feature whose spread is below the input's precision relative to the whole vector's is
    rounding residue (a few coordinates of real embeddings are): dividing by its
    spread would blow the residue up to a full feature.
    """
    mean = 0.5 * (s @ X_win + s @ X_lose)
    var = 0.5 * (s @ np.square(X_win - mean) + s @ np.square(X_lose - mean))
    scale = np.sqrt(var)
    residue = scale <= np.finfo(X_win.dtype).eps * np.sqrt(var.sum())
    return np.where(residue, 1.0, scale)


def fit_temperature(margin: np.ndarray, sample_weight: np.ndarray) -> float:
    """The temperature T making ``sigmoid(margin / T)`` the best-fitting P(preferred wins).

    ``margin`` holds reward differences ``r(preferred) - r(other)`` on validation pairs.
    One parameter, fitted by weighted log-loss over log T in [-10, 10] (so separable
    margins give a sharp but finite temperature).
    """

    def loss(log_t: float) -> float:
        return -float(np.dot(sample_weight, log_expit(margin * np.exp(-log_t))))

    result = minimize_scalar(loss, bounds=(-10.0, 10.0), method="bounded")
    return float(np.exp(result.x))
