"""Sparse rows for the heads that take them: validation, and the Bradley-Terry fit on sparse
pairwise differences.

Sparse rows (``scipy.sparse``, e.g. the tf-idf features of
:class:`embrm.embed.LexicalFeatures`) reach a head through the same checks as dense
embeddings: :func:`check_rows` and :func:`check_pair_rows` pass dense input on to
:mod:`embrm._core.validation` and check sparse input themselves, refusing it for a head that
does not take it. :func:`fit_sparse_bt` solves :class:`~embrm.heads.BTLinear`'s problem on
sparse differences with scikit-learn's ``LogisticRegression``, never building a dense matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from embrm._core.validation import check_embeddings, check_pairs, check_sample_weight
from embrm.exceptions import DataError, EncoderMismatchError


def check_rows(
    X: Any,
    *,
    name: str = "X",
    n_features: int | None = None,
    encoder_id: str | None = None,
    accept_sparse: bool = False,
    owner: str = "This head",
) -> Any:
    """``X`` checked as rows of features: dense input as :func:`check_embeddings` does, sparse
    input (where ``accept_sparse``) as a finite float CSR matrix of ``n_features`` columns.

    Example
    -------
    >>> import scipy.sparse as sp
    >>> check_rows(sp.eye(2), accept_sparse=True).format
    'csr'
    """
    if not sp.issparse(X):
        return check_embeddings(X, name=name, n_features=n_features, encoder_id=encoder_id)
    if not accept_sparse:
        raise DataError(
            f"{owner} takes dense embeddings, but {name} is a scipy sparse matrix: use BTLinear, "
            f"which takes sparse rows (e.g. LexicalFeatures'), or pass {name}.toarray()."
        )
    X = sp.csr_matrix(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {X.shape}).")
    if n_features is not None and X.shape[1] != n_features:
        raise EncoderMismatchError(
            f"{name} has {X.shape[1]} features, but this head was trained on {n_features}: "
            "transform with the fitted representation the head was trained on."
        )
    if not np.isfinite(X.data).all():
        raise DataError(f"{name} contains NaN or infinity; features must be finite.")
    return X


def check_pair_rows(
    X_win: Any,
    X_lose: Any,
    sample_weight: Any = None,
    *,
    n_features: int | None = None,
    min_pairs: int = 1,
    estimator_name: str = "This head",
    names: tuple[str, str] = ("X_win", "X_lose"),
    accept_sparse: bool = False,
) -> tuple[Any, Any, np.ndarray]:
    """Row-aligned pairs as :func:`check_pairs` checks them, sparse (both sides, where
    ``accept_sparse``) or dense.

    Example
    -------
    >>> import scipy.sparse as sp
    >>> X_win, X_lose, weight = check_pair_rows(sp.eye(2), sp.eye(2), accept_sparse=True)
    >>> weight.tolist()
    [1.0, 1.0]
    """
    if not (sp.issparse(X_win) or sp.issparse(X_lose)):
        return check_pairs(
            X_win, X_lose, sample_weight, n_features=n_features, min_pairs=min_pairs,
            estimator_name=estimator_name, names=names,
        )  # fmt: skip
    if not (sp.issparse(X_win) and sp.issparse(X_lose)):
        raise DataError(
            f"{names[0]} and {names[1]} must be both sparse or both dense; one of them is a scipy "
            "sparse matrix and the other is not."
        )
    check = {"n_features": n_features, "accept_sparse": accept_sparse, "owner": estimator_name}
    X_win = check_rows(X_win, name=names[0], **check)
    X_lose = check_rows(X_lose, name=names[1], **check)
    if X_win.shape != X_lose.shape:
        raise DataError(
            f"{names[0]} has shape {X_win.shape} but {names[1]} has shape {X_lose.shape}: "
            "they must be row-aligned pairs (row i of each is one pair) of the same dimension."
        )
    if X_win.shape[0] < min_pairs:
        raise DataError(f"{estimator_name} needs at least {min_pairs} pairs; got {X_win.shape[0]}.")
    return X_win, X_lose, check_sample_weight(sample_weight, X_win.shape[0])


def identical_rows(X_win: Any, X_lose: Any) -> bool:
    """Whether the two sides are equal everywhere (sparse or dense).

    Example
    -------
    >>> import scipy.sparse as sp
    >>> identical_rows(sp.eye(2, format="csr"), sp.eye(2, format="csr"))
    True
    """
    if sp.issparse(X_win):
        return (X_win != X_lose).nnz == 0
    return bool(np.array_equal(X_win, X_lose))


def sparse_feature_scale(X_win: sp.csr_matrix, X_lose: sp.csr_matrix, s: np.ndarray) -> np.ndarray:
    """:func:`embrm.heads.feature_scale` of sparse rows, without densifying them.

    The standard deviation of each feature over the responses of the pairs (weights ``s``
    summing to 1), with 1.0 where the spread is rounding residue.

    Example
    -------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[2.0, 0.0], [0.0, 0.0]]))
    >>> sparse_feature_scale(X, X[::-1], np.array([0.5, 0.5])).tolist()
    [1.0, 1.0]
    """
    rows = sp.vstack([X_win, X_lose]).tocoo()
    weight = 0.5 * np.concatenate([s, s])
    d = rows.shape[1]
    mean = np.asarray(weight @ rows.tocsr()).ravel()
    # sum_i w_i (x_ij - m_j)^2 over the stored entries, plus m_j^2 times the weight of the rest:
    # centred, so a large mean does not swamp a small spread (as E[x^2] - m^2 would)
    w = weight[rows.row]
    stored = np.bincount(rows.col, weights=w * np.square(rows.data - mean[rows.col]), minlength=d)
    rest = weight.sum() - np.bincount(rows.col, weights=w, minlength=d)
    var = stored + np.maximum(rest, 0.0) * np.square(mean)
    scale = np.sqrt(var)
    residue = scale <= np.finfo(X_win.dtype).eps * np.sqrt(var.sum())
    return np.where(residue, 1.0, scale)


def fit_sparse_bt(
    X_win: sp.csr_matrix,
    X_lose: sp.csr_matrix,
    sample_weight: np.ndarray,
    alpha: float,
    *,
    standardize: bool,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """:class:`~embrm.heads.BTLinear`'s fit on sparse rows: the same objective, solved by
    scikit-learn's ``LogisticRegression`` (L-BFGS) on the sparse differences.

    Minimises ``sum_i s_i softplus(-w @ z_i) + alpha / 2 ||w||^2`` over ``z_i = (x_win_i -
    x_lose_i) / scale`` (``scale`` the feature spread with ``standardize``, else ones). Every
    other difference enters with its sign flipped and label 0, which is the same loss and
    gives scikit-learn the two classes it needs; ``C = 1 / alpha``, no intercept.

    Returns
    -------
    coef : ndarray of shape (n_features,)
        ``w / scale``, the reward direction in the input's units.
    feature_scale : ndarray of shape (n_features,)
    n_iter : int

    Example
    -------
    >>> import scipy.sparse as sp
    >>> X_win = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.5], [0.8, 0.0]]))
    >>> X_lose = sp.csr_matrix(np.array([[0.0, 0.2], [0.0, 0.0], [0.0, 1.0]]))
    >>> coef, _, _ = fit_sparse_bt(X_win, X_lose, np.ones(3), 1.0, standardize=False, tol=1e-8, max_iter=100)
    >>> bool(coef[0] > 0)
    True
    """
    scale = np.ones(X_win.shape[1])
    if standardize:
        scale = sparse_feature_scale(X_win, X_lose, sample_weight / sample_weight.sum())
    n = X_win.shape[0]
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    delta = sp.diags(sign) @ (X_win.astype(np.float64) - X_lose) @ sp.diags(1.0 / scale)
    model = LogisticRegression(C=1.0 / alpha, fit_intercept=False, tol=tol, max_iter=max_iter)
    model.fit(delta.tocsr(), (sign > 0).astype(int), sample_weight=sample_weight)
    return model.coef_.ravel() / scale, scale, int(model.n_iter_[0])
