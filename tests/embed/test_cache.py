"""The vector cache: round trips, crash safety, corruption detection and repair."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.embed import VectorCache
from embrm.embed._cache import MANIFEST, text_keys
from embrm.exceptions import CacheCorruptError, CacheWriteError


def _vectors(n, dim=8, seed=0):
    return np.random.RandomState(seed).normal(size=(n, dim)).astype(np.float32)


def _filled(tmp_path, n_shards=3, rows=10, dtype="float32"):
    cache = VectorCache(tmp_path, "model-x", storage_dtype=dtype)
    keys = text_keys([f"t{i}" for i in range(n_shards * rows)], "raw")
    vecs = _vectors(n_shards * rows)
    for s in range(n_shards):
        cache.put(keys[s * rows : (s + 1) * rows], vecs[s * rows : (s + 1) * rows])
    return cache, keys, vecs


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_round_trip_in_query_order(tmp_path, dtype):
    cache, keys, vecs = _filled(tmp_path, dtype=dtype)
    order = np.random.RandomState(1).permutation(len(keys))
    query = [keys[i] for i in order] + text_keys(["unseen"], "raw")
    found, got = cache.get(query)
    assert found.tolist() == [True] * len(keys) + [False]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, vecs[order], rtol=1e-3 if dtype == "float16" else 0)
    fresh = VectorCache(tmp_path, "model-x")  # another process sees the same data
    assert len(fresh) == 30 and fresh.dim == 8


def test_keys_depend_on_format_and_text():
    assert text_keys(["a"], "raw") != text_keys(["a"], "pr-v2")
    assert text_keys(["a"], "raw") == text_keys(["a"], "raw")


def test_existing_keys_are_not_stored_twice(tmp_path):
    cache, keys, vecs = _filled(tmp_path, n_shards=1)
    cache.put(keys, vecs + 1)  # same keys: skipped, first vectors win
    assert len(cache) == 10 and cache.info()["shards"] == 1
    np.testing.assert_array_equal(cache.get(keys)[1], vecs)


def test_corrupt_shard_is_reported_never_returned_and_repaired(tmp_path):
    cache, keys, vecs = _filled(tmp_path)
    shard = sorted(cache.path.glob("shard-*[0-9a-f].npy"))[0]
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte in the vectors
    shard.write_bytes(bytes(data))
    fresh = VectorCache(tmp_path, "model-x")
    with pytest.raises(CacheCorruptError, match="embrm cache verify --repair"):
        fresh.get(keys)
    report = fresh.verify()
    assert report.corrupt == [shard.name] and not report.repaired
    fresh.verify(repair=True)
    assert fresh.verify().ok
    found, got = fresh.get(keys)
    assert found.sum() == 20  # only the bad shard's 10 vectors are gone
    np.testing.assert_array_equal(got, vecs[found])


def test_truncated_shard_is_detected(tmp_path):
    cache, keys, _ = _filled(tmp_path)
    shard = sorted(cache.path.glob("shard-*[0-9a-f].npy"))[-1]
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(CacheCorruptError, match="truncated"):
        VectorCache(tmp_path, "model-x").get(keys)


def test_lost_manifest_is_rebuilt_from_shards(tmp_path):
    cache, keys, vecs = _filled(tmp_path)
    (cache.path / MANIFEST).write_bytes(b"garbage")
    fresh = VectorCache(tmp_path, "model-x")
    with pytest.raises(CacheCorruptError, match="manifest"):
        fresh.get(keys)
    fresh.verify(repair=True)
    found, got = fresh.get(keys)
    assert found.all()
    np.testing.assert_array_equal(got, vecs)


def test_interrupted_write_leaves_earlier_chunks_and_an_orphan(tmp_path, monkeypatch):
    cache, keys, vecs = _filled(tmp_path, n_shards=2)
    # A crash after the shard file is written but before the manifest names it.
    monkeypatch.setattr(VectorCache, "_write_manifest", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        cache.put(text_keys(["late"], "raw"), _vectors(1))
    monkeypatch.undo()
    fresh = VectorCache(tmp_path, "model-x")
    assert fresh.get(keys)[0].all()
    report = fresh.verify(repair=True)
    assert len(report.orphans) == 3  # the vectors, their key file and their record
    assert fresh.verify().ok and len(fresh) == 20


def test_full_disk_is_a_clear_error_and_loses_nothing(tmp_path, monkeypatch):
    cache, keys, vecs = _filled(tmp_path, n_shards=1)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", no_space)
    with pytest.raises(CacheWriteError, match="No space left.*EMBRM_CACHE_DIR"):
        cache.put(text_keys(["new"], "raw"), _vectors(1))
    monkeypatch.undo()
    found, got = VectorCache(tmp_path, "model-x").get(keys)
    assert found.all()
    np.testing.assert_array_equal(got, vecs)


def test_dimension_mismatch(tmp_path):
    cache, _, _ = _filled(tmp_path, n_shards=1)
    with pytest.raises(ValueError, match="dimension 4 cannot go into cache"):
        cache.put(text_keys(["z"], "raw"), _vectors(1, dim=4))


def test_missing_manifest_is_rebuilt_not_emptied(tmp_path):
    cache, keys, vecs = _filled(tmp_path)
    (cache.path / MANIFEST).unlink()
    fresh = VectorCache(tmp_path, "model-x")
    report = fresh.verify(repair=True)
    assert report.orphans == [] and report.n_vectors == 30
    found, got = fresh.get(keys)
    assert found.all()
    np.testing.assert_array_equal(got, vecs)
