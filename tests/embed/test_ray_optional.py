"""Ray is optional: the core never imports it, and without it the Ray engine names the install."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from embrm import Encoder
from embrm.cli import main
from embrm.embed import VectorCache
from embrm.embed._distributed import import_vectors


def test_core_never_imports_ray():
    code = "import sys, embrm, embrm.embed, embrm.heads, embrm.cli; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_ray_the_error_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'embrm\[dist\]'"):
        Encoder(cache_dir=tmp_path, engine="ray")
    assert main(["embed", "hh-harmless", "--engine", "ray", "--cache-dir", str(tmp_path)]) == 2
    assert "pip install 'embrm[dist]'" in capsys.readouterr().err


def test_import_vectors_writes_shards_and_skips_cached_keys(tmp_path):
    cache = VectorCache(tmp_path, "toy")
    keys = np.arange(10 * 16, dtype=np.uint8).reshape(10, 16)
    vectors = np.random.RandomState(0).standard_normal((10, 3)).astype(np.float32)
    cache.put([k.tobytes() for k in keys[:4]], vectors[:4])
    batches = [(keys[:6], vectors[:6]), (keys[6:], vectors[6:])]
    assert import_vectors(cache, iter(batches), shard_size=3) == 10
    assert cache.info()["shards"] == 3  # the first shard, then one for each batch's new rows
    found, stored = cache.get([k.tobytes() for k in keys])
    assert found.all()
    np.testing.assert_array_equal(stored, vectors)
    np.testing.assert_array_equal(cache.contains([keys[0].tobytes(), b"\x00" * 16]), [True, False])
