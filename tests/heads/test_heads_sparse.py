"""Heads on scipy sparse rows: BTLinear fits and scores them as it does dense ones; the other
heads refuse them with a message that says what to do."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embrm.exceptions import DataError, EncoderMismatchError
from embrm.heads import BTMLP, BTLinear, ClassifierHead, feature_scale, load
from embrm.heads._sparse import check_rows, sparse_feature_scale
from embrm.testing import make_preference_pairs


@pytest.fixture(scope="module")
def pairs():
    data = make_preference_pairs(n_pairs=200, n_features=6, random_state=0)
    rng = np.random.RandomState(1)
    X_win, X_lose = data.X_win.copy(), data.X_lose.copy()
    X_win[rng.rand(*X_win.shape) < 0.4] = 0.0  # sparse for real: many explicit zeros dropped
    X_lose[rng.rand(*X_lose.shape) < 0.4] = 0.0
    return X_win, X_lose, rng.uniform(0.5, 2.0, 200)


@pytest.mark.parametrize("standardize", [False, True])
def test_sparse_fit_equals_dense_fit(pairs, standardize):
    X_win, X_lose, weight = pairs
    dense = BTLinear(alpha=3.0, standardize=standardize, tol=1e-10).fit(X_win, X_lose, weight)
    sparse = BTLinear(alpha=3.0, standardize=standardize, tol=1e-10).fit(
        sp.csr_matrix(X_win), sp.csr_matrix(X_lose), weight
    )
    assert np.abs(dense.coef_).max() > 0.5  # a real fit, not the zero vector
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-6)
    np.testing.assert_allclose(sparse.feature_scale_, dense.feature_scale_, rtol=1e-7)
    np.testing.assert_allclose(sparse.reward(sp.csr_matrix(X_win)), dense.reward(X_win), atol=1e-6)
    assert sparse.score(sp.csr_matrix(X_win), sp.csr_matrix(X_lose)) == dense.score(X_win, X_lose)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X_win), sp.csr_matrix(X_lose)),
        dense.predict_proba(X_win, X_lose),
        atol=1e-6,
    )


def test_sparse_scale_equals_dense_scale(pairs):
    X_win, X_lose, weight = pairs
    s = weight / weight.sum()
    X_lose = X_lose.copy()
    X_lose[:, 2] = X_win[:, 2] = 0.0  # a constant column: scale 1
    got = sparse_feature_scale(sp.csr_matrix(X_win), sp.csr_matrix(X_lose), s)
    np.testing.assert_allclose(got, feature_scale(X_win, X_lose, s), rtol=1e-7)
    assert got[2] == 1.0


def test_sparse_head_saves_and_loads(pairs, tmp_path):
    X_win, X_lose, _ = pairs
    head = BTLinear(alpha=1.0, standardize=False).fit(sp.csr_matrix(X_win), sp.csr_matrix(X_lose))
    head.save(tmp_path / "head.npz")
    loaded = load(tmp_path / "head.npz")
    np.testing.assert_array_equal(loaded.reward(sp.csr_matrix(X_lose)), head.reward(sp.csr_matrix(X_lose)))


@pytest.mark.parametrize("head", [BTMLP(), ClassifierHead()], ids=["bt-mlp", "classifier"])
def test_dense_only_heads_refuse_sparse_rows(pairs, head):
    X_win, X_lose, _ = pairs
    with pytest.raises(DataError, match=r"takes dense embeddings.*BTLinear.*X_win.toarray\(\)"):
        head.fit(sp.csr_matrix(X_win), sp.csr_matrix(X_lose))


def test_sparse_input_checks(pairs):
    X_win, X_lose, _ = pairs
    S_win, S_lose = sp.csr_matrix(X_win), sp.csr_matrix(X_lose)
    with pytest.raises(DataError, match="both sparse or both dense"):
        BTLinear().fit(S_win, X_lose)
    with pytest.raises(DataError, match="both sparse or both dense"):
        BTLinear().fit(X_win, S_lose)
    with pytest.raises(DataError, match="identical embeddings"):
        BTLinear().fit(S_win, S_win.copy())
    with pytest.raises(DataError, match="shape"):
        BTLinear().fit(S_win, S_lose[:10])
    with pytest.raises(DataError, match="at least 2 pairs"):
        BTLinear().fit(S_win[:1], S_lose[:1])
    bad = S_win.copy()
    bad.data[0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        BTLinear().fit(bad, S_lose)
    with pytest.raises(DataError, match="empty"):
        BTLinear().fit(sp.csr_matrix((0, 6)), sp.csr_matrix((0, 6)))
    head = BTLinear().fit(S_win, S_lose)
    with pytest.raises(EncoderMismatchError, match="5 features.*trained on 6"):
        head.reward(S_win[:, :5])
    assert head.n_features_in_ == 6


def test_integer_and_float32_rows():
    integer = sp.csr_matrix(np.array([[1, 0], [0, 2]], dtype=np.int64))
    assert check_rows(integer, accept_sparse=True).dtype == np.float64
    single = sp.csr_matrix(np.eye(2, dtype=np.float32))
    assert check_rows(single, accept_sparse=True).dtype == np.float32
    win = sp.csr_matrix(np.array([[2.0, 0.0], [1.0, 0.0]]))  # float64 beats float32
    head = BTLinear(alpha=1.0).fit(win, single[:, ::-1])
    assert head.coef_[0] > 0 > head.coef_[1]
