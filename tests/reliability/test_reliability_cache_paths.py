"""The cache never reads or removes a path outside its identity folder.

A manifest (copied from elsewhere, or in a shared ``EMBRM_CACHE_DIR``) may name a shard by an
absolute path, by ``../..``, or as another identity's shard; ``cache verify --repair`` must
report such an entry and drop it from the manifest, and every file outside the folder must
keep its bytes.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _cache_files import copy_vectors, edit_manifest, shard_names

from embrm.cli import main
from embrm.embed import VectorCache
from embrm.embed._cache import text_keys
from embrm.exceptions import CacheCorruptError


def _victim_files(folder, stem):
    """A victim's three files (as a shard's siblings would be named), each with its bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / f"{stem}.npy": b"victim vectors", folder / f"{stem}.keys.npy": b"victim keys"}
    files[folder / f"{stem}.record.json"] = b'{"victim": true}'
    for file, data in files.items():
        file.write_bytes(data)
    return files


def _bad_name(kind, tmp_path, root, pristine):
    """A manifest entry's name, and the files outside the identity folder it points at."""
    if kind == "absolute":
        files = _victim_files(tmp_path / "outside", "victim")
        return str(tmp_path / "outside" / "victim.npy"), files
    if kind == "dotdot":
        files = _victim_files(tmp_path / "outside", "victim")
        return "../../../outside/victim.npy", files
    # another identity's real shard, beside this one under the same root
    other = root / "vectors" / "other-identity"
    shutil.copytree(pristine.root / "vectors" / pristine.identity, other)
    name = shard_names(other)[0]
    files = {p: p.read_bytes() for p in other.iterdir()}
    return f"../other-identity/{name}", files


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "other-identity"])
def test_repair_never_touches_a_file_a_manifest_entry_points_outside(pristine_cache, tmp_path, kind, capsys):
    root, cache = copy_vectors(pristine_cache, tmp_path)
    bad, outside = _bad_name(kind, tmp_path, root, pristine_cache)
    before = sorted(p.name for p in cache.path.iterdir())
    kept = shard_names(cache.path)[1]
    edit_manifest(cache.path, lambda meta: meta["shards"].append({"name": bad, "rows": 12, "crc32": 1}))

    with pytest.raises(CacheCorruptError, match="not a shard file of this folder"):
        VectorCache(root, pristine_cache.identity).get(text_keys(pristine_cache.texts, "raw"))
    report = VectorCache(root, pristine_cache.identity).verify()
    assert not report.ok and report.manifest == "inconsistent"
    assert report.invalid == [repr(bad)] and report.corrupt == [] and report.orphans == []

    assert main(["cache", "verify", "--repair", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"invalid manifest entry (never read or removed): {bad!r}" in out
    for file, data in outside.items():  # every file outside the folder keeps its bytes
        assert file.read_bytes() == data
    assert sorted(p.name for p in cache.path.iterdir()) == before  # nothing of ours lost
    after = VectorCache(root, pristine_cache.identity)
    assert after.verify().ok and kept in shard_names(cache.path)
    found, vectors = after.get(text_keys(pristine_cache.texts, "raw"))
    assert found.all()
    np.testing.assert_array_equal(vectors, pristine_cache.vectors)


def test_an_entry_renamed_to_an_outside_path_is_dropped_and_the_outside_file_kept(pristine_cache, tmp_path):
    """The shard's own entry renamed to an outside path: the outside file is never read or
    removed; the shard, matching its own record file, is indexed again."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    outside = _victim_files(tmp_path / "outside", "victim")
    before = sorted(p.name for p in cache.path.iterdir())
    name = shard_names(cache.path)[2]
    target = str(tmp_path / "outside" / "victim.npy")

    def rename(meta):
        meta["shards"][[s["name"] for s in meta["shards"]].index(name)]["name"] = target

    edit_manifest(cache.path, rename)
    report = cache.verify(repair=True)
    assert report.invalid == [repr(target)] and report.repaired and report.orphans == []
    for file, data in outside.items():
        assert file.read_bytes() == data
    assert sorted(p.name for p in cache.path.iterdir()) == before
    found, vectors = VectorCache(root, pristine_cache.identity).get(text_keys(pristine_cache.texts, "raw"))
    assert found.all()
    np.testing.assert_array_equal(vectors, pristine_cache.vectors)


def test_a_shard_that_is_a_link_is_never_followed(pristine_cache, tmp_path):
    """A shard file replaced by a symbolic link to a file outside: refused on read, and a
    repair removes the link, never its target."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    name = shard_names(cache.path)[0]
    outside = tmp_path / "outside.npy"
    shutil.copy(cache.path / name, outside)  # the same bytes: the checksums would match
    data = outside.read_bytes()
    (cache.path / name).unlink()
    (cache.path / name).symlink_to(outside)
    with pytest.raises(CacheCorruptError, match="symbolic link"):
        VectorCache(root, pristine_cache.identity).get(text_keys(pristine_cache.texts, "raw"))
    assert cache.verify().corrupt == [name]
    cache.verify(repair=True)
    assert not (cache.path / name).is_symlink() and outside.read_bytes() == data
    found, vectors = VectorCache(root, pristine_cache.identity).get(text_keys(pristine_cache.texts, "raw"))
    assert found.sum() == 48
    np.testing.assert_array_equal(vectors, pristine_cache.vectors[found])
