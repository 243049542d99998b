"""The linear heads' one fit: penalised logistic regression on (pairwise-difference) rows.

Every linear model embrm fits (:class:`~embrm.heads.BTLinear`, the ``"linear"``
:class:`~embrm.heads.ClassifierHead`, the linear base of :class:`~embrm.heads.LGBMHead`,
the Bradley-Terry weights of :class:`~embrm.heads.DRM`) minimises

    (sum_i s_i softplus(-t_i (w @ z_i + b)) + alpha / 2 ||w||^2) / sum(s)

with ``z_i`` a preferred-minus-other difference (Bradley-Terry, ``t_i = +1``, no ``b``) or a
single response (``t_i = +1`` preferred, ``-1`` other, with ``b``). Embeddings are strongly
anisotropic, which makes plain L-BFGS crawl, so L-BFGS runs in the coordinates where the
Hessian at zero is the identity (one Cholesky factor). The rows are either in memory
(:func:`fit_linear_logistic`) or streamed from vectors on disk
(:func:`fit_streamed_logistic`, with the rows of :mod:`embrm.heads._streaming`); both use
the same objective, preconditioner and solver settings, and one ``fit_indexed``
(:class:`IndexedLinearFit`) serves the heads that train from vectors on disk.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.exceptions import ConvergenceWarning

from embrm._core.stack import external_stacklevel
from embrm._core.validation import validate_params
from embrm.heads._base import fit_temperature, single_threaded
from embrm.heads._streaming import (
    DEFAULT_CHUNK_SIZE,
    PRECONDITIONER_ROWS,
    RowMap,
    VectorStream,
    check_indexed_pairs,
    stream_scale,
)

_Head = TypeVar("_Head", bound="IndexedLinearFit")

#: Default L2 penalty of the linear fits on standardised features: BTLinear, the logistic
#: ClassifierHead, LightGBM's linear base and DRM's Bradley-Terry head.
LINEAR_ALPHA = 1000.0
#: L-BFGS stops when the largest gradient entry (in the preconditioned coordinates) falls below it.
LINEAR_TOL = 1e-6
#: Most L-BFGS iterations of a linear fit.
LINEAR_MAX_ITER = 1000
#: Added to the Hessian's diagonal before its Cholesky factor, so a singular one factors.
CHOLESKY_JITTER = 1e-12


def minimize_preconditioned(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    hessian0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    owner: str,
) -> tuple[np.ndarray, int]:
    """Minimise ``fun(theta) -> (loss, gradient)`` by L-BFGS from ``theta = 0``.

    L-BFGS runs on ``v = C' theta``, where ``hessian0 = C C'`` (Cholesky), so that the
    problem looks isotropic when ``hessian0`` approximates the Hessian; it stops when the
    largest entry of the gradient in those coordinates falls below ``tol``. Warns
    (``ConvergenceWarning``, naming ``owner``) after ``max_iter`` iterations.

    Returns
    -------
    theta : ndarray of shape (k,)
    n_iter : int

    Example
    -------
    >>> import numpy as np
    >>> H = np.array([[4.0, 1.0], [1.0, 2.0]])
    >>> theta, _ = minimize_preconditioned(
    ...     lambda t: (0.5 * t @ H @ t - t.sum(), H @ t - 1.0), H, tol=1e-10, max_iter=50, owner="demo"
    ... )
    >>> np.allclose(theta, np.linalg.solve(H, np.ones(2)))
    True
    """
    k = hessian0.shape[0]
    chol = cholesky(hessian0 + CHOLESKY_JITTER * np.eye(k), lower=True)

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = fun(solve_triangular(chol, v, lower=True, trans="T"))
        return loss, solve_triangular(chol, grad, lower=True)

    result = minimize(
        objective,
        np.zeros(k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0},
    )
    if not result.success and result.nit >= max_iter:
        warnings.warn(
            f"{owner} did not converge in {max_iter} L-BFGS iterations; increase max_iter or alpha.",
            ConvergenceWarning,
            stacklevel=external_stacklevel(),
        )
    return solve_triangular(chol, result.x, lower=True, trans="T"), int(result.nit)


def hessian_at_zero(gram: np.ndarray, column: np.ndarray | None, total: float, a: float) -> np.ndarray:
    """The logistic objective's Hessian at zero: ``Z' S Z / 4 + a I`` with, for an
    intercept (``column`` given), the row and column ``Z' s / 4`` and the corner ``1 / 4``.

    ``gram`` is ``Z' S Z`` and ``column`` is ``Z' s`` over rows whose weights sum to
    ``total`` (both are divided by it); ``column`` is None without an intercept.

    Example
    -------
    >>> import numpy as np
    >>> hessian_at_zero(np.eye(2) * 4.0, np.array([4.0, 0.0]), 1.0, 0.5)
    array([[1.5 , 0.  , 1.  ],
           [0.  , 1.5 , 0.  ],
           [1.  , 0.  , 0.25]])
    """
    d = gram.shape[0]
    k = d + int(column is not None)
    hessian0 = np.empty((k, k))
    hessian0[:d, :d] = gram / (4.0 * total) + a * np.eye(d)
    if column is not None:
        hessian0[:d, d] = hessian0[d, :d] = column / (4.0 * total)
        hessian0[d, d] = 0.25
    return hessian0


def fit_linear_logistic(
    Z: np.ndarray,
    sample_weight: np.ndarray,
    alpha: float,
    *,
    fit_intercept: bool,
    y: np.ndarray | None = None,
    tol: float = LINEAR_TOL,
    max_iter: int = LINEAR_MAX_ITER,
    owner: str,
) -> tuple[np.ndarray, float, int]:
    """L2-regularised logistic regression on rows held in memory, by preconditioned L-BFGS.

    Minimises ``(sum_i s_i * softplus(-t_i * (w @ z_i + b)) + alpha / 2 * ||w||^2) / sum(s)``
    where ``t_i`` is ``+1`` for label 1 and ``-1`` for label 0 (all ``+1`` when ``y`` is
    None: the Bradley-Terry case where every row is a preferred-minus-other difference).
    The intercept ``b`` is not penalised. Each iteration costs two matrix-vector products
    with ``Z``.

    Returns
    -------
    coef, intercept, n_iter

    Example
    -------
    >>> import numpy as np
    >>> Z = np.array([[1.0, 0.0], [0.5, 0.5], [-0.2, 1.0]])
    >>> coef, intercept, _ = fit_linear_logistic(Z, np.ones(3), 1.0, fit_intercept=False, owner="demo")
    >>> bool(((Z @ coef) > 0).all()), intercept
    (True, 0.0)
    """
    n, d = Z.shape
    sign = np.ones(n) if y is None else np.where(y > 0, 1.0, -1.0)
    s = sample_weight / sample_weight.sum()
    a = alpha / sample_weight.sum()
    k = d + int(fit_intercept)
    # Precision is moot in a preconditioner: float32 halves the cost of the Gram matrix.
    Zs = Z.astype(np.float32) * np.sqrt(s).astype(np.float32)[:, None]
    hessian0 = hessian_at_zero(Zs.T @ Zs, Z.T @ s if fit_intercept else None, 1.0, a)
    del Zs

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:d]
        m = sign * (Z @ w + (theta[d] if fit_intercept else 0.0))
        loss = -np.dot(s, log_expit(m)) + 0.5 * a * np.dot(w, w)
        g = -s * sign * expit(-m)
        grad = np.empty(k)
        grad[:d] = Z.T @ g + a * w
        if fit_intercept:
            grad[d] = g.sum()
        return loss, grad

    theta, n_iter = minimize_preconditioned(
        loss_and_gradient, hessian0, tol=tol, max_iter=max_iter, owner=owner
    )
    intercept = float(theta[d]) if fit_intercept else 0.0
    return theta[:d].copy(), intercept, n_iter


def fit_bt_weights(delta: np.ndarray, sample_weight: np.ndarray, alpha: float, owner: str) -> np.ndarray:
    """Bradley-Terry weights on preferred-minus-other differences ``delta``: L2 logistic
    regression without intercept, with the default solver settings.

    Example
    -------
    >>> import numpy as np
    >>> delta = np.array([[1.0, 0.2], [0.8, -0.1], [0.3, 0.4]])
    >>> bool((delta @ fit_bt_weights(delta, np.ones(3), 1.0, "demo") > 0).all())
    True
    """
    return fit_linear_logistic(delta, sample_weight, alpha, fit_intercept=False, owner=owner)[0]


def pointwise(
    X_win: np.ndarray, X_lose: np.ndarray, sample_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, labels (+1 preferred, -1 other) and weights of the pointwise problem.

    Example
    -------
    >>> import numpy as np
    >>> rows, labels, weight = pointwise(np.ones((2, 3)), np.zeros((2, 3)), np.array([1.0, 2.0]))
    >>> rows.shape, labels.tolist(), weight.tolist()
    ((4, 3), [1.0, 1.0, -1.0, -1.0], [1.0, 2.0, 1.0, 2.0])
    """
    n = X_win.shape[0]
    return (
        np.concatenate([X_win, X_lose]),
        np.concatenate([np.ones(n), -np.ones(n)]),
        np.concatenate([sample_weight, sample_weight]),
    )


def fit_response_logistic(
    X_win: np.ndarray, X_lose: np.ndarray, sample_weight: np.ndarray, alpha: float, owner: str
) -> tuple[np.ndarray, float, int]:
    """L2 logistic regression of each response on its own (preferred 1, other 0), with
    intercept, with the default solver settings: coef, intercept and iterations.

    Example
    -------
    >>> import numpy as np
    >>> X_win, X_lose = np.array([[1.0, 0.0], [0.9, 0.3]]), np.array([[0.0, 1.0], [0.1, 0.8]])
    >>> coef, intercept, _ = fit_response_logistic(X_win, X_lose, np.ones(2), 1.0, "demo")
    >>> bool((X_win @ coef > X_lose @ coef).all())
    True
    """
    X, y, w = pointwise(X_win.astype(np.float64), X_lose, sample_weight)
    return fit_linear_logistic(X, w, alpha, fit_intercept=True, y=y, owner=owner)


def fit_streamed_logistic(
    stream: VectorStream,
    rows: RowMap,
    alpha: float,
    *,
    standardize: bool,
    fit_intercept: bool,
    tol: float = LINEAR_TOL,
    max_iter: int = LINEAR_MAX_ITER,
    owner: str,
    preconditioner_rows: int = PRECONDITIONER_ROWS,
) -> tuple[np.ndarray, float, int, np.ndarray]:
    """L2 logistic regression on the rows ``A Z`` of vectors read from ``stream``, without
    building them.

    Minimises the objective of :func:`fit_linear_logistic` over features divided by their
    spread (with ``standardize``), as the in-memory heads do, in the coordinates where the
    Hessian at zero (estimated from up to ``preconditioner_rows`` rows) is the identity.

    Returns
    -------
    coef : ndarray of shape (n_features,)
        Weights in the input's units (divided by the feature scale).
    intercept : float
    n_iter : int
        L-BFGS iterations.
    feature_scale : ndarray of shape (n_features,)

    Example
    -------
    >>> import numpy as np
    >>> from embrm.heads._streaming import PairDifferences
    >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> stream = VectorStream(vectors)
    >>> rows = PairDifferences(np.array([0, 0, 2]), np.array([1, 2, 1]), None, 3)
    >>> coef, *_ = fit_streamed_logistic(
    ...     stream, rows, 1.0, standardize=False, fit_intercept=False, owner="demo"
    ... )
    >>> bool(coef[0] > coef[1])
    True
    """
    d = stream.n_features
    scale = np.ones(d)
    if standardize:
        scale = stream_scale(rows.moments(stream)[1], stream.dtype)
    a = alpha / rows.total_weight
    k = d + int(fit_intercept)

    # The Hessian at zero from the sampled rows, block by block.
    gram, column, sample_total = np.zeros((d, d)), np.zeros(d), 0.0
    for block, weight in rows.sample_rows(stream, preconditioner_rows):
        block /= scale
        # Precision is moot in a preconditioner: float32 halves the cost of the Gram matrix.
        Zs = block.astype(np.float32) * np.sqrt(weight).astype(np.float32)[:, None]
        gram += Zs.T @ Zs
        column += weight @ block
        sample_total += weight.sum()
    hessian0 = hessian_at_zero(gram, column if fit_intercept else None, sample_total, a)

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:d]
        loss, c, q_sum = rows.logistic(stream.matvec(w / scale), theta[d] if fit_intercept else 0.0)
        grad = np.empty(k)
        grad[:d] = stream.rmatvec(c) / scale + a * w
        if fit_intercept:
            grad[d] = q_sum
        return loss + 0.5 * a * np.dot(w, w), grad

    theta, n_iter = minimize_preconditioned(
        loss_and_gradient, hessian0, tol=tol, max_iter=max_iter, owner=owner
    )
    intercept = float(theta[d]) if fit_intercept else 0.0
    return theta[:d] / scale, intercept, n_iter, scale


class IndexedLinearFit:
    """Mixin giving a linear head its ``fit_indexed``: the fit from vectors on disk.

    The head says which rows it trains on (``_indexed_rows``: Bradley-Terry differences,
    or single responses, perhaps centred by group, after a validation split) and whether it
    fits an intercept; the solver settings come from ``_solver_settings``.
    """

    #: Whether the head's linear model has an (unpenalised) intercept.
    _fit_intercept: ClassVar[bool] = False

    def _solver_settings(self) -> tuple[float, int]:
        """``(tol, max_iter)`` of the head's L-BFGS."""
        return LINEAR_TOL, LINEAR_MAX_ITER

    def _indexed_rows(
        self,
        stream: VectorStream,
        win: np.ndarray,
        lose: np.ndarray,
        sample_weight: np.ndarray | None,
        groups: np.ndarray | None,
    ) -> tuple[RowMap, np.ndarray | None]:
        """The training rows, and the validation pairs that fit ``temperature_`` (None: no
        temperature)."""
        raise NotImplementedError

    def fit_indexed(
        self: _Head,
        vectors: Any,
        win_index: Any,
        lose_index: Any,
        sample_weight: Any = None,
        *,
        groups: Any = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        encoder_id: str | None = None,
    ) -> _Head:
        """Fit on pairs given as row numbers into vectors that may not fit in memory.

        Solves the same problem as :meth:`fit` (same objective, penalty, standardisation
        and solver; for :class:`~embrm.heads.ClassifierHead` also the same validation split,
        centring by group and ``temperature_``) with pair ``i`` being
        ``vectors[win_index[i]]`` preferred over ``vectors[lose_index[i]]``. The vectors are
        read chunk by chunk, two sequential passes per L-BFGS evaluation (standardising
        centred rows adds one pass that reads the rows of whole groups together); no
        matrix of pairs is ever built, so memory is about ``chunk_size * n_features * 8``
        bytes plus a few numbers per pair and per vector.

        Parameters
        ----------
        vectors : array-like of shape (n_vectors, n_features), or a sequence of them
            Typically a ``numpy.memmap`` (float16 or float32) or the memory-mapped shards
            of the embedding cache (read as stacked in order).
        win_index, lose_index : array-like of int, shape (n_pairs,)
            Row of the preferred and of the other response of each pair.
        sample_weight : array-like of shape (n_pairs,), optional
            Non-negative weight of each pair.
        groups : array-like of shape (n_pairs,), optional
            Group (prompt) id of each pair, as in :meth:`fit` (heads that neither hold out
            nor centre ignore it).
        chunk_size : int, default=16384
            Rows of ``vectors`` read at a time.
        encoder_id : str, optional
            Identity of the encoder that produced the vectors.

        Returns
        -------
        self
            Fitted as by :meth:`fit`, with ``n_passes_`` (passes over ``vectors``) set.

        Example
        -------
        >>> import numpy as np
        >>> from embrm.heads import BTLinear, ClassifierHead
        >>> rng = np.random.default_rng(0)
        >>> vectors = rng.normal(size=(60, 4)).astype(np.float32)
        >>> reward = vectors @ np.array([1.0, -1.0, 0.0, 0.5])
        >>> a = rng.integers(0, 60, 600)
        >>> b = 10 * (a // 10) + rng.integers(0, 10, 600)  # the same prompt's responses
        >>> win, lose = np.where(reward[a] > reward[b], a, b), np.where(reward[a] > reward[b], b, a)
        >>> head = BTLinear(alpha=1.0).fit_indexed(vectors, win, lose, chunk_size=16)
        >>> head.score(vectors[win], vectors[lose]) > 0.9
        True
        >>> head = ClassifierHead(alpha=1.0, random_state=0)
        >>> head = head.fit_indexed(vectors, win, lose, groups=a // 10, chunk_size=16)
        >>> head.score(vectors[win], vectors[lose]) > 0.9
        True
        """
        name = type(self).__name__
        validate_params(self._parameter_constraints, self.get_params(deep=False), name)  # type: ignore[attr-defined]
        stream, win, lose, sample_weight, groups = check_indexed_pairs(
            vectors, win_index, lose_index, sample_weight, groups,
            chunk_size=chunk_size, min_pairs=self._min_pairs, owner=name,  # type: ignore[attr-defined]
        )  # fmt: skip
        rows, validation = self._indexed_rows(stream, win, lose, sample_weight, groups)
        tol, max_iter = self._solver_settings()
        with single_threaded():
            self.coef_, intercept, self.n_iter_, self.feature_scale_ = fit_streamed_logistic(
                stream,
                rows,
                self.alpha,  # type: ignore[attr-defined]
                standardize=self.standardize,  # type: ignore[attr-defined]
                fit_intercept=self._fit_intercept,
                tol=tol,
                max_iter=max_iter,
                owner=name,
            )
            if self._fit_intercept:
                self.intercept_ = intercept
            if validation is not None:
                reward = stream.matvec(self.coef_)
        if validation is not None:
            weight = np.ones(validation.size) if sample_weight is None else sample_weight[validation]
            self.temperature_ = fit_temperature(reward[win[validation]] - reward[lose[validation]], weight)
        self.n_passes_ = stream.n_passes
        self.n_features_in_ = stream.n_features
        self.encoder_id_ = encoder_id
        return self
