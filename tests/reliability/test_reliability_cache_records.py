"""verify and repair decide from the shards' commit records, not from the manifest's metadata.

A damaged ``dim``, ``rows`` or ``crc32`` in the manifest, entries of the wrong type, a
manifest, shard or record replaced by a folder, a lock file that is a folder: every read
gives the true vectors or a clear ``CacheCorruptError``, ``verify`` says what is wrong, and a
repair restores every intact shard (deleting none of them).
"""

from __future__ import annotations

import errno
import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from _cache_files import copy_vectors, edit_manifest, shard_names

import embrm.embed._cache as cache_module
from embrm.cli import main
from embrm.embed import VectorCache
from embrm.embed._cache import MANIFEST, _keys_name, _record_name, text_keys
from embrm.exceptions import CacheCorruptError, CacheWriteError

N = 60


def _files(path):
    return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file() and p.name.startswith("shard-")}


def _read(root, pristine):
    return VectorCache(root, pristine.identity).get(text_keys(pristine.texts, "raw"))


def _assert_all_true(root, pristine):
    found, vectors = _read(root, pristine)
    assert found.all()
    np.testing.assert_array_equal(vectors, pristine.vectors)


def _set(key, value, shard=1):
    def edit(meta):
        if key == "dim":
            meta["dim"] = value
        else:
            meta["shards"][shard][key] = value

    return edit


DAMAGED_METADATA = {
    "dim-off": _set("dim", 385),
    "dim-null": _set("dim", None),
    "dim-string": _set("dim", "384"),
    "dim-a-list": _set("dim", [384]),
    "rows-off": _set("rows", 11),
    "rows-string": _set("rows", "12"),
    "crc32-off": _set("crc32", 12345),
    "keys-crc32-null": _set("keys_crc32", None),
    "entry-a-list": lambda meta: meta["shards"].__setitem__(1, list(meta["shards"][1].values())),
    "shards-a-table": lambda meta: meta.__setitem__("shards", {"0": meta["shards"][0]}),
}


@pytest.mark.parametrize("damage", list(DAMAGED_METADATA))
def test_damaged_manifest_metadata_is_caught_and_repaired_without_losing_a_shard(
    pristine_cache, tmp_path, damage
):
    root, cache = copy_vectors(pristine_cache, tmp_path)
    shards = _files(cache.path)
    edit_manifest(cache.path, DAMAGED_METADATA[damage])
    with pytest.raises(CacheCorruptError, match="embrm cache verify --repair"):
        _read(root, pristine_cache)  # never a raw ValueError / TypeError, never a wrong vector
    report = VectorCache(root, pristine_cache.identity).verify()
    assert not report.ok and report.manifest in ("inconsistent", "unreadable"), report
    assert report.corrupt == [] and report.unverifiable == []
    repaired = VectorCache(root, pristine_cache.identity).verify(repair=True)
    assert repaired.repaired and repaired.n_vectors == N and repaired.n_shards == 5
    assert _files(cache.path) == shards  # every intact shard kept, byte for byte
    assert VectorCache(root, pristine_cache.identity).verify().ok
    _assert_all_true(root, pristine_cache)


@pytest.mark.parametrize("damage", ["dim-off", "rows-off", "crc32-off"])
def test_verify_says_which_metadata_is_off(pristine_cache, tmp_path, damage, capsys):
    """The command line reports PROBLEMS (exit 1) and then repairs (exit 0)."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    edit_manifest(cache.path, DAMAGED_METADATA[damage])
    assert main(["cache", "verify", "--cache-dir", str(root)]) == 1
    assert "PROBLEMS" in capsys.readouterr().out
    assert main(["cache", "verify", "--repair", "--cache-dir", str(root)]) == 0
    assert main(["cache", "verify", "--cache-dir", str(root)]) == 0
    assert ": ok" in capsys.readouterr().out.splitlines()[-1]
    _assert_all_true(root, pristine_cache)


def test_manifest_replaced_by_a_folder_is_rebuilt(pristine_cache, tmp_path, capsys):
    root, cache = copy_vectors(pristine_cache, tmp_path)
    (cache.path / MANIFEST).unlink()
    (cache.path / MANIFEST).mkdir()
    (cache.path / MANIFEST / "part-0.parquet").write_bytes(b"not ours")
    with pytest.raises(CacheCorruptError, match="folder"):
        _read(root, pristine_cache)
    assert VectorCache(root, pristine_cache.identity).verify().manifest == "unreadable"
    assert main(["cache", "verify", "--repair", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "repaired" in out and "rebuilt from verified shards" in out and "disk space" not in out
    assert (cache.path / MANIFEST).is_file()
    _assert_all_true(root, pristine_cache)


@pytest.mark.parametrize("which", ["vectors", "keys", "record"])
def test_shard_file_replaced_by_a_folder(pristine_cache, tmp_path, which, capsys):
    """A vectors or keys file that is a folder: that shard is corrupt and dropped; a record
    file that is a folder: the shard is intact (the manifest vouches) and its record is
    written again."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    name = shard_names(cache.path)[3]
    file = cache.path / {"vectors": name, "keys": _keys_name(name), "record": _record_name(name)}[which]
    file.unlink()
    file.mkdir()
    (file / "inside").write_bytes(b"x")
    report = VectorCache(root, pristine_cache.identity).verify()
    assert main(["cache", "verify", "--repair", "--cache-dir", str(root)]) == 0
    assert "disk space" not in capsys.readouterr().out
    assert not file.is_dir()
    after = VectorCache(root, pristine_cache.identity)
    assert after.verify().ok
    found, vectors = after.get(text_keys(pristine_cache.texts, "raw"))
    if which == "record":
        assert report.ok and report.unrecorded == [name] and found.all()
    else:
        assert report.corrupt == [name] and found.sum() == N - 12
        assert name not in shard_names(cache.path)
    np.testing.assert_array_equal(vectors, pristine_cache.vectors[found])


def test_a_repair_that_fails_midway_says_so_and_the_next_one_finishes(pristine_cache, tmp_path, monkeypatch):
    """After the manifest is rewritten a failing removal must not claim that nothing changed."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    name = shard_names(cache.path)[0]
    (cache.path / name).write_bytes(b"damaged")

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "_remove", full_disk)
    with pytest.raises(CacheWriteError, match="repair stopped") as caught:
        cache.verify(repair=True)
    assert "Nothing already cached was changed" not in str(caught.value)
    monkeypatch.undo()
    found, vectors = _read(root, pristine_cache)  # the rewritten manifest no longer lists it
    assert found.sum() == N - 12
    np.testing.assert_array_equal(vectors, pristine_cache.vectors[found])
    assert cache.verify(repair=True).orphans  # the damaged files, now unindexed, go
    assert cache.verify().ok and name not in shard_names(cache.path)


def test_locate_checks_row_keys_as_get_does(pristine_cache, tmp_path):
    """Two texts' manifest rows swapped: locate refuses instead of pointing a fit at the other
    text's vector; with the manifest intact its rows give the true vectors."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    keys = text_keys(pristine_cache.texts, "raw")
    shards, rows = cache.locate(keys)
    np.testing.assert_array_equal(np.vstack(shards)[rows], pristine_cache.vectors)

    table = pq.read_table(cache.path / MANIFEST)
    frame = pl.from_arrow(table)
    a, b = 3, 40  # in different shards
    swapped = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == a)
        .then(pl.lit(frame["key"][b]))
        .when(pl.int_range(pl.len()) == b)
        .then(pl.lit(frame["key"][a]))
        .otherwise(pl.col("key"))
        .alias("key")
    )
    pq.write_table(swapped.to_arrow().replace_schema_metadata(table.schema.metadata), cache.path / MANIFEST)
    fresh = VectorCache(root, pristine_cache.identity)
    with pytest.raises(CacheCorruptError, match="hold other keys"):
        fresh.locate(keys)
    with pytest.raises(CacheCorruptError, match="hold other keys"):
        fresh.locate([keys[i] for i in range(N) if i != a])  # one swapped key is enough
    assert fresh.verify().manifest == "inconsistent"
    fresh.verify(repair=True)
    shards, rows = VectorCache(root, pristine_cache.identity).locate(keys)
    np.testing.assert_array_equal(np.vstack(shards)[rows], pristine_cache.vectors)


def test_a_record_damaged_into_other_valid_numbers_does_not_cost_its_shard(pristine_cache, tmp_path):
    """One bit flipped in a digit of a record's checksum still parses; the record's own
    checksum shows it is damaged, so the intact shard is kept (vouched for by the manifest)
    and its record written again, instead of the shard being dropped."""
    root, cache = copy_vectors(pristine_cache, tmp_path)
    name = shard_names(cache.path)[2]
    record_file = cache.path / _record_name(name)
    record = json.loads(record_file.read_text())
    digits = str(record["crc32"])
    record_file.write_text(record_file.read_text().replace(digits, digits[:-1] + str(int(digits[-1]) ^ 1)))
    assert json.loads(record_file.read_text())["crc32"] != record["crc32"]  # still well formed
    report = cache.verify()
    assert report.ok and report.unrecorded == [name] and report.corrupt == []
    _assert_all_true(root, pristine_cache)
    cache.verify(repair=True)
    assert json.loads(record_file.read_text()) == record
    assert VectorCache(root, pristine_cache.identity).verify().ok
    _assert_all_true(root, pristine_cache)
