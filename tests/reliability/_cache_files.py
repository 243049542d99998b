"""Helpers of the cache reliability tests: a private copy of the pristine cache's vectors,
its shard names, and an edit of the manifest's metadata."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from embrm.embed import VectorCache
from embrm.embed._cache import _META_KEY, MANIFEST


def copy_vectors(pristine, tmp_path: Path) -> tuple[Path, VectorCache]:
    """A copy of ``pristine``'s vectors (no models) under ``tmp_path / "cache"``, and its cache."""
    root = tmp_path / "cache"
    shutil.copytree(pristine.root / "vectors" / pristine.identity, root / "vectors" / pristine.identity)
    return root, VectorCache(root, pristine.identity)


def shard_names(path: Path) -> list[str]:
    """The vectors files (``shard-*.npy``, not the key files) in an identity's folder."""
    return sorted(p.name for p in path.glob("shard-*.npy") if not p.name.endswith(".keys.npy"))


def edit_manifest(path: Path, edit: Callable[[dict], None]) -> None:
    """Rewrite the manifest's metadata (shard table, dim) with ``edit(meta)``, its table kept."""
    table = pq.read_table(path / MANIFEST)
    meta = json.loads(table.schema.metadata[_META_KEY])
    edit(meta)
    pq.write_table(table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()}), path / MANIFEST)
