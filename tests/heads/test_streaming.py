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
    from embrm.heads._linear import fit_streamed_logistic
    from embrm.heads._streaming import PairDifferences

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


def _uneven_pairs(labels: list, seed: int = 0):
    """Pairs over 40 vectors in groups of 1, 2, 5, 1, 9 and 3 pairs (shuffled), a group's pairs
    sharing a few responses; non-uniform weights."""
    rng = np.random.RandomState(seed)
    win, lose, groups = [], [], []
    for g, (label, size) in enumerate(zip(labels, [1, 2, 5, 1, 9, 3], strict=True)):
        pool = 6 * g + rng.choice(6, size=4, replace=False)  # 4 of this group's 6 responses
        a, b = rng.choice(4, size=(2, size))
        b = np.where(a == b, (b + 1) % 4, b)
        win.append(pool[a]), lose.append(pool[b]), groups.append(np.full(size, label))
    order = rng.permutation(sum(map(len, win)))
    win, lose, groups = (np.concatenate(x)[order] for x in (win, lose, groups))
    return win, lose, groups, rng.uniform(0.2, 3.0, win.size)


def _dense_response_rows(win, lose, weight, groups, n_vectors):
    """The classifier's rows as an explicit matrix A (rows = A Z), labels and weights."""
    n = win.size
    A = np.zeros((2 * n, n_vectors))
    A[np.arange(n), win] = 1.0
    A[n + np.arange(n), lose] = 1.0
    if groups is not None:
        row_groups = np.tile(groups, 2)
        for label in np.unique(groups):
            rows = np.flatnonzero(row_groups == label)
            if rows.size > 2:
                A[rows] -= A[rows].mean(axis=0)
    return A, np.r_[np.ones(n), -np.ones(n)], np.r_[weight, weight]


@pytest.mark.parametrize("labels", [None, [7, 3, 100, 0, 42, 5], ["e", "b", "f", "a", "d", "c"]])
@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("pair_block", [4, 1 << 19])
def test_response_rows_equal_the_dense_rows(labels, uniform, pair_block):
    """The pair-stored rows (blocks of pairs, int32 indices) compute what the explicit rows
    do: loss, gradient, standardisation moments and the preconditioner's sample."""
    from embrm.heads._streaming import ResponseRows

    win, lose, groups, weight = _uneven_pairs(labels or list(range(6)))
    groups = None if labels is None else groups
    weight = np.ones(win.size) if uniform else weight
    rng = np.random.RandomState(1)
    Z = rng.standard_normal((40, 4))
    stream = VectorStream(Z, chunk_size=5)
    rows = ResponseRows(win, lose, None if uniform else weight, groups, 40, pair_block=pair_block)
    assert rows.win.dtype == rows.lose.dtype == np.int32
    assert groups is None or rows.group.dtype == np.int32

    A, t, w = _dense_response_rows(win, lose, weight, groups, 40)
    s = w / w.sum()
    r, intercept = rng.standard_normal(40), 0.3
    m = A @ r + intercept
    q = -s * t / (1.0 + np.exp(t * m))
    loss, c, q_sum = rows.logistic(r, intercept)
    assert rows.total_weight == pytest.approx(w.sum(), rel=1e-15)
    assert loss == pytest.approx(np.sum(s * np.logaddexp(0.0, -t * m)), rel=1e-12)
    np.testing.assert_allclose(c, A.T @ q, rtol=1e-12, atol=1e-15)
    assert q_sum == pytest.approx(q.sum(), rel=1e-12)

    X = A @ Z
    mean, var = rows.moments(stream)
    np.testing.assert_allclose(mean, s @ X, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(var, s @ np.square(X - s @ X), rtol=1e-10)

    blocks = list(rows.sample_rows(stream, max_rows=1000))  # every row
    sampled = np.concatenate([block for block, _ in blocks])
    sampled_weight = np.concatenate([weight for _, weight in blocks])
    gram = (sampled * sampled_weight[:, None]).T @ sampled
    np.testing.assert_allclose(gram, (X * w[:, None]).T @ X, atol=1e-12)


def test_pair_differences_equal_the_dense_rows():
    from embrm.heads._streaming import PairDifferences

    win, lose, _, weight = _uneven_pairs(list(range(6)))
    rng = np.random.RandomState(2)
    Z = rng.standard_normal((40, 4))
    A = np.zeros((win.size, 40))
    A[np.arange(win.size), win] += 1.0
    A[np.arange(win.size), lose] -= 1.0
    s = weight / weight.sum()
    rows = PairDifferences(win.astype(np.int32), lose.astype(np.int32), weight, 40, pair_block=4)
    r = rng.standard_normal(40)
    m = A @ r
    loss, c, q_sum = rows.logistic(r, 0.0)
    q = -s / (1.0 + np.exp(m))
    assert loss == pytest.approx(np.sum(s * np.logaddexp(0.0, -m)), rel=1e-12)
    np.testing.assert_allclose(c, A.T @ q, rtol=1e-12, atol=1e-15)
    assert q_sum == pytest.approx(q.sum(), rel=1e-12)
    # Standardisation: both responses of each pair, each weighing half the pair.
    responses, halves = np.r_[win, lose], np.r_[s, s] / 2
    mean, var = rows.moments(VectorStream(Z, chunk_size=7))
    np.testing.assert_allclose(mean, halves @ Z[responses], rtol=1e-12)
    np.testing.assert_allclose(var, halves @ np.square(Z[responses] - mean), rtol=1e-10)


def test_check_indexed_pairs_keeps_int32_row_numbers():
    from embrm.heads._streaming import check_indexed_pairs

    win, lose = np.arange(10, dtype=np.int32), np.arange(10, 20, dtype=np.int32)
    _, w, l_, weight, _ = check_indexed_pairs(
        np.zeros((20, 3)), win, lose, None, None, chunk_size=4, min_pairs=2, owner="test"
    )
    assert w is win and l_ is lose and weight is None
    _, w, _, _, _ = check_indexed_pairs(
        np.zeros((20, 3)), win.astype(np.uint64), lose, None, None, chunk_size=4, min_pairs=2, owner="test"
    )
    assert w.dtype == np.intp


@pytest.mark.parametrize(
    "groups",
    [
        np.array([3, 0, 3, 7, 1, 0]),  # small non-negative ints: counted
        np.array([3, 0, 3, 700, 1, 0]),  # beyond twice the rows: sorted
        np.array([-2, 0, 5, -2]),
        np.array(["b", "a", "b", "c"]),
        np.array([0.5, 0.25, 0.5]),
    ],
)
def test_group_codes_are_the_inverse_of_unique(groups):
    from embrm._core.groups import group_codes

    codes, n_groups = group_codes(groups)
    labels, inverse = np.unique(groups, return_inverse=True)
    np.testing.assert_array_equal(codes, inverse)
    assert n_groups == labels.size
