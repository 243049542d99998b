"""A small real cache for the fault-injection tests: real texts, real MiniLM vectors.

``pristine_cache`` embeds 60 hh-rlhf texts with the shipped encoder into a scratch folder
in 5 shards of 12 vectors (never the shared cache); each test copies it before damaging it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

N_TEXTS = 60
SHARD_ROWS = 12


@dataclass
class PristineCache:
    """A scratch cache root, the texts it holds and their true vectors."""

    root: Path
    identity: str
    texts: list[str]
    vectors: np.ndarray

    def copy(self, dest: Path) -> Path:
        """A private copy of the cache root (models and vectors) at ``dest``."""
        shutil.copytree(self.root, dest, symlinks=True)
        return dest


@pytest.fixture(scope="session")
def pristine_cache(tmp_path_factory, data_dir, encoder) -> PristineCache:
    import embrm.embed._encoder as encoder_module
    from embrm import Encoder, load_dataset

    pairs = load_dataset("hh-harmless", data_dir).take(np.arange(N_TEXTS))
    texts = [t[:300] for t in pairs.frame["chosen"].to_list()]
    root = tmp_path_factory.mktemp("pristine")
    encoder.session  # noqa: B018 - export once per machine, into the shared cache
    shutil.copytree(encoder.model_dir, root / "models" / encoder.identity)
    chunk = encoder_module._CHUNK
    encoder_module._CHUNK = SHARD_ROWS
    try:
        fresh = Encoder(cache_dir=root, batch_size=SHARD_ROWS, num_threads=1, show_progress=False)
        vectors = np.array(fresh.encode(texts))
    finally:
        encoder_module._CHUNK = chunk
    return PristineCache(root, fresh.cache.identity, texts, vectors)
