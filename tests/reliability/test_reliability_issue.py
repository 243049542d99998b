"""The cases reported in the reliability issue, one test each."""

from __future__ import annotations

import numpy as np

from embrm import Encoder
from embrm.cli import main
from embrm.embed import VectorCache
from embrm.embed._cache import MANIFEST, text_keys


def _flip(path, offset, n=4):
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + n):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


def _shards(path):
    return sorted(p for p in path.glob("shard-*.npy") if not p.name.endswith(".keys.npy"))


def test_repair_after_flip_and_lost_manifest_never_returns_wrong_vectors(pristine_cache, tmp_path, capsys):
    root = pristine_cache.copy(tmp_path / "cache")
    cache = VectorCache(root, pristine_cache.identity)
    _flip(_shards(cache.path)[2], 5000)
    (cache.path / MANIFEST).unlink()
    assert main(["cache", "verify", "--repair", "--cache-dir", str(root)]) == 0
    capsys.readouterr()
    keys = text_keys(pristine_cache.texts, "raw")
    found, vectors = VectorCache(root, pristine_cache.identity).get(keys)
    assert found.sum() == len(keys) - 12  # the damaged shard's 12 vectors are dropped
    np.testing.assert_array_equal(vectors, pristine_cache.vectors[found])
    encoder = Encoder(cache_dir=root, num_threads=1, show_progress=False)
    again = encoder.encode(pristine_cache.texts)  # the dropped texts are embedded again
    assert encoder.last_stats == {"texts": 60, "cached": 48, "new": 12}
    np.testing.assert_allclose(again, pristine_cache.vectors, atol=1e-5)
