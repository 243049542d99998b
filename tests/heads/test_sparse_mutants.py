"""The sparse-row checks and fit of embrm.heads._sparse, held to the dense checks they stand
beside: the same errors and defaults for dense input, exact messages for sparse input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from embrm._core.validation import check_embeddings, check_pairs
from embrm.embed import EmbeddingArray
from embrm.exceptions import DataError
from embrm.heads import BTLinear, ClassifierHead, feature_scale
from embrm.heads._sparse import check_pair_rows, check_rows, identical_rows, sparse_feature_scale


def _message(function, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - compared below, type and text
        function(*args, **kwargs)
    return type(caught.value), str(caught.value)


def test_dense_rows_get_exactly_the_dense_checks():
    X = EmbeddingArray(np.ones((2, 3), np.float32), encoder_id="enc-a")
    for kwargs in ({"name": "Y", "n_features": 4}, {"name": "Y", "encoder_id": "enc-b"}):
        assert _message(check_rows, X, **kwargs) == _message(check_embeddings, X, **kwargs)
    assert _message(check_rows, np.ones((2, 3)), n_features=4) == _message(
        check_embeddings, np.ones((2, 3)), name="X", n_features=4
    )


def test_dense_pairs_get_exactly_the_dense_checks():
    win, lose = np.ones((1, 3)), np.zeros((1, 3))
    for kwargs in (
        {"n_features": 4, "names": ("A", "B"), "estimator_name": "Head"},
        {"min_pairs": 2, "names": ("A", "B"), "estimator_name": "Head"},
    ):
        assert _message(check_pair_rows, win, lose, **kwargs) == _message(check_pairs, win, lose, **kwargs)
    assert _message(check_pair_rows, win, np.zeros((1, 2))) == _message(check_pairs, win, np.zeros((1, 2)))


def test_sparse_rows_are_refused_by_default_with_the_fix():
    assert _message(check_rows, sp.eye(2)) == (
        DataError,
        "This head takes dense embeddings, but X is a scipy sparse matrix: use BTLinear, which "
        "takes sparse rows (e.g. LexicalFeatures'), or pass X.toarray().",
    )
    assert _message(check_pair_rows, sp.eye(2), sp.eye(2)) == (
        DataError,
        "This head takes dense embeddings, but X_win is a scipy sparse matrix: use BTLinear, which "
        "takes sparse rows (e.g. LexicalFeatures'), or pass X_win.toarray().",
    )


def test_sparse_row_checks():
    X = check_rows(sp.csr_matrix(np.array([[1], [2]])), accept_sparse=True)  # one column is fine
    assert X.dtype == np.float64 and X.shape == (2, 1)
    assert _message(check_rows, sp.csr_matrix((2, 0)), accept_sparse=True) == (
        DataError, "X is empty (shape (2, 0))."
    )  # fmt: skip
    kind, text = _message(check_rows, sp.eye(2), n_features=3, accept_sparse=True)
    assert text == (
        "X has 2 features, but this head was trained on 3: transform with the fitted "
        "representation the head was trained on."
    )


def test_sparse_pair_checks_name_each_side():
    ok = sp.eye(2, format="csr")
    win, lose, weight = check_pair_rows(ok[:1], ok[1:], accept_sparse=True)  # one pair is enough
    assert weight.tolist() == [1.0]
    names = {"names": ("A", "B"), "accept_sparse": True}
    assert _message(check_pair_rows, ok, np.eye(2), **names)[1] == (
        "A and B must be both sparse or both dense; one of them is a scipy sparse matrix and the "
        "other is not."
    )
    nan = sp.csr_matrix(np.array([[np.nan, 1.0], [0.0, 1.0]]))
    assert _message(check_pair_rows, ok, nan, **names)[1] == (
        "B contains NaN or infinity; features must be finite."
    )
    assert _message(check_pair_rows, ok, sp.eye(3, 2, format="csr"), **names)[1] == (
        "A has shape (2, 2) but B has shape (3, 2): they must be row-aligned pairs (row i of each "
        "is one pair) of the same dimension."
    )
    wide = sp.csr_matrix(np.ones((1, 3)))
    assert _message(check_pair_rows, wide, wide * 0, min_pairs=2, estimator_name="Head", **names)[1] == (
        "Head needs at least 2 pairs; got 1."
    )


def test_identical_rows_dense_and_sparse():
    assert identical_rows(np.eye(2), np.eye(2))
    assert not identical_rows(np.eye(2), np.zeros((2, 2)))
    assert identical_rows(sp.eye(2, format="csr"), sp.eye(2, format="csr"))
    assert not identical_rows(sp.eye(2, format="csr"), sp.csr_matrix((2, 2)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_feature_scale_equals_the_dense_one(dtype):
    """Constant columns, a spread far below rounding of the largest, and ordinary ones: the
    same scales as :func:`embrm.heads.feature_scale` of the dense rows."""
    rng = np.random.RandomState(0)
    win, lose = rng.standard_normal((2, 30, 4))
    win[:, 0] = lose[:, 0] = 5.0  # constant
    win[:, 1] *= 1e3  # large spread
    win[:, 2] = lose[:, 2] = 1.0
    win[::2, 2] += 1e-14 if dtype == np.float64 else 1e-5  # below eps * sqrt(total variance)
    win, lose = win.astype(dtype), lose.astype(dtype)
    s = np.full(30, 1 / 30)
    expected = feature_scale(win, lose, s)
    got = sparse_feature_scale(sp.csr_matrix(win), sp.csr_matrix(lose), s)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert got[0] == got[2] == 1.0


def test_sparse_fit_stops_at_max_iter():
    rng = np.random.RandomState(0)
    win, lose = sp.csr_matrix(rng.standard_normal((60, 5))), sp.csr_matrix(rng.standard_normal((60, 5)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = BTLinear(alpha=1e-3, max_iter=1).fit(win, lose)
    assert head.n_iter_ == 1


def test_sparse_feature_scale_of_constant_and_empty_columns():
    """Every column constant (no spread at all) and a last column never stored: scale 1.0, as
    the dense scale gives."""
    X = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]]))
    assert X[:, 2].nnz == 0
    s = np.array([0.5, 0.5])
    np.testing.assert_array_equal(sparse_feature_scale(X, X, s), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(feature_scale(X.toarray(), X.toarray(), s), [1.0, 1.0, 1.0])


def test_a_fitted_dense_head_names_itself_when_given_sparse_rows():
    rng = np.random.RandomState(0)
    head = ClassifierHead(center_by_group=False, random_state=0).fit(*rng.standard_normal((2, 20, 3)))
    with pytest.raises(DataError) as caught:
        head.reward(sp.eye(2, 3, format="csr"))
    assert str(caught.value) == (
        "ClassifierHead takes dense embeddings, but X is a scipy sparse matrix: use BTLinear, which "
        "takes sparse rows (e.g. LexicalFeatures'), or pass X.toarray()."
    )
