"""Heads fitted from vectors on disk (``fit_indexed``) equal the in-memory fit."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.exceptions import DataError
from embrm.heads import BTLinear, ClassifierHead
from embrm.heads._streaming import VectorStream


def _within_prompt_pairs(golden: np.ndarray, groups: np.ndarray, per_prompt: int, seed: int = 0):
    """Row numbers of ``per_prompt`` random pairs inside each prompt, the better answer first."""
    rng = np.random.RandomState(seed)
    win, lose, pair_groups = [], [], []
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        a, b = rng.choice(rows, per_prompt), rng.choice(rows, per_prompt)
        keep = golden[a] != golden[b]
        a, b = a[keep], b[keep]
        better = golden[a] > golden[b]
        win.append(np.where(better, a, b))
        lose.append(np.where(better, b, a))
        pair_groups.append(np.full(a.size, g))
    return np.concatenate(win), np.concatenate(lose), np.concatenate(pair_groups)


@pytest.fixture(scope="module")
def on_disk(alpaca_embedded, tmp_path_factory):
    """The embedded alpaca answers as three float32 memory-mapped shards, and within-prompt pairs."""
    X = alpaca_embedded.X
    folder = tmp_path_factory.mktemp("shards")
    shards = []
    for i, rows in enumerate(np.array_split(np.arange(X.shape[0]), 3)):
        np.save(folder / f"{i}.npy", X[rows])
        shards.append(np.load(folder / f"{i}.npy", mmap_mode="r"))
    win, lose, groups = _within_prompt_pairs(alpaca_embedded.golden, alpaca_embedded.groups, 50)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, win.size)
    return X, shards, win, lose, groups, weight


def _close(streamed: np.ndarray, in_memory: np.ndarray) -> float:
    return float(np.max(np.abs(streamed - in_memory)) / np.max(np.abs(in_memory)))


def test_bt_linear_streamed_equals_in_memory(on_disk):
    X, shards, win, lose, _, weight = on_disk
    reference = BTLinear().fit(X[win], X[lose], weight)
    streamed = BTLinear().fit_indexed(shards, win, lose, weight, chunk_size=500)
    assert _close(streamed.coef_, reference.coef_) < 1e-4
    assert _close(streamed.feature_scale_, reference.feature_scale_) < 1e-9
    # Two passes per evaluation plus two for the standardisation: bounded by the iterations.
    assert 2 * streamed.n_iter_ <= streamed.n_passes_ <= 2 * (2 * streamed.n_iter_ + 10)
    assert streamed.score(X[win], X[lose]) == pytest.approx(reference.score(X[win], X[lose]), abs=1e-3)


@pytest.mark.parametrize("center_by_group", [True, False])
def test_classifier_streamed_equals_in_memory(on_disk, center_by_group):
    X, shards, win, lose, groups, weight = on_disk
    params = {"center_by_group": center_by_group, "random_state": 0}
    reference = ClassifierHead(**params).fit(X[win], X[lose], weight, groups=groups)
    streamed = ClassifierHead(**params).fit_indexed(shards, win, lose, weight, groups=groups, chunk_size=300)
    assert _close(streamed.coef_, reference.coef_) < 1e-4
    assert streamed.intercept_ == pytest.approx(
        reference.intercept_, abs=1e-4 * np.abs(reference.coef_).max()
    )
    assert streamed.temperature_ == pytest.approx(reference.temperature_, rel=1e-3)


def test_streamed_preconditioner_sample_reaches_the_same_optimum(on_disk):
    """With the Hessian estimated from a sample of pairs (the large-data path), the optimum
    is unchanged."""
    from embrm.heads._streaming import PairDifferences, fit_streamed_logistic

    X, shards, win, lose, _, weight = on_disk
    reference = BTLinear().fit(X[win], X[lose], weight)
    stream = VectorStream(shards, chunk_size=700)
    coef, _, _, _ = fit_streamed_logistic(
        stream,
        PairDifferences(win, lose, weight, stream.n_rows),
        BTLinear().alpha,
        standardize=True,
        fit_intercept=False,
        tol=1e-7,
        max_iter=1000,
        owner="test",
        preconditioner_rows=300,
    )
    assert _close(coef, reference.coef_) < 1e-4


def test_vector_stream_reads_float16_memmap_in_chunks(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1000, 8)).astype(np.float16)
    np.save(tmp_path / "x.npy", X)
    stream = VectorStream(np.load(tmp_path / "x.npy", mmap_mode="r"), chunk_size=128)
    u, c = rng.standard_normal(8), rng.standard_normal(1000)
    np.testing.assert_allclose(stream.matvec(u), X.astype(np.float64) @ u, rtol=1e-12)
    np.testing.assert_allclose(stream.rmatvec(c), c @ X.astype(np.float64), rtol=1e-12)
    rows = np.array([999, 3, 3, 500])
    np.testing.assert_array_equal(stream.take(rows), X[rows].astype(np.float64))
    assert stream.n_passes == 2


def test_fit_indexed_rejects_bad_indices():
    X = np.random.RandomState(0).standard_normal((20, 3))
    with pytest.raises(DataError, match="outside 0..19"):
        BTLinear().fit_indexed(X, np.array([0, 20]), np.array([1, 2]))
    with pytest.raises(DataError, match="integer row numbers"):
        BTLinear().fit_indexed(X, np.array([0.0, 1.0]), np.array([1, 2]))
    with pytest.raises(DataError, match="entry i of each is pair i"):
        BTLinear().fit_indexed(X, np.array([0, 1, 2]), np.array([1, 2]))
    with pytest.raises(DataError, match="same vector for both"):
        BTLinear().fit_indexed(X, np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="model='linear' only"):
        ClassifierHead(model="mlp").fit_indexed(X, np.arange(10), np.arange(10, 20))


def test_fit_indexed_from_cache_shards_equals_fit(hh_embedded, tmp_path):
    """Pairs as row numbers into the cache's own memory-mapped shards."""
    from embrm.embed import VectorCache

    X = np.concatenate([hh_embedded.X_win, hh_embedded.X_lose])
    keys = [i.to_bytes(16, "little") for i in range(X.shape[0])]
    cache = VectorCache(tmp_path, "toy", storage_dtype="float16")
    order = np.random.RandomState(0).permutation(X.shape[0])  # shards hold the rows shuffled
    for part in np.array_split(order, 4):
        cache.put([keys[i] for i in part], X[part])
    n = hh_embedded.X_win.shape[0]
    shards, rows = cache.locate(keys)
    assert len(shards) == 4 and shards[0].dtype == np.float16
    stored = np.concatenate(shards).astype(np.float32)
    reference = BTLinear().fit(stored[rows[:n]], stored[rows[n:]])
    streamed = BTLinear().fit_indexed(shards, rows[:n], rows[n:], chunk_size=100)
    assert _close(streamed.coef_, reference.coef_) < 1e-4
    with pytest.raises(KeyError, match="1 of 2 keys"):
        cache.locate([keys[0], b"\x01" * 16])
