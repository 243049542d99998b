"""The vector cache's small contracts, each against a closed-form value: where the cache lives,
its keys, its records and manifest, its counts, and every message in full."""

from __future__ import annotations

import errno
import hashlib
import json
import re
import zlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from embrm.embed import VectorCache
from embrm.embed._cache import (
    MANIFEST,
    VerifyReport,
    _keys_name,
    _record_name,
    cache_write_error,
    cached_identities,
    check_cache_root,
    default_cache_dir,
    pair_keys,
    text_keys,
)
from embrm.exceptions import CacheWriteError, OutputWriteError


def _vectors(n, dim=4, seed=0):
    return np.random.RandomState(seed).normal(size=(n, dim)).astype(np.float32)


def _shards(cache):
    return sorted(p.name for p in cache.path.glob("shard-*.npy") if not p.name.endswith(".keys.npy"))


def test_default_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMBRM_CACHE_DIR", "~/vectors")
    assert default_cache_dir() == tmp_path / "home" / "vectors"
    monkeypatch.setenv("EMBRM_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "embrm"
    monkeypatch.delenv("EMBRM_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "embrm"


def test_a_cache_root_under_a_file_is_refused(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    assert check_cache_root(tmp_path / "new" / "cache") == tmp_path / "new" / "cache"
    for root in (file, file / "cache" / "deeper"):
        message = (f"The embedding cache folder {root} cannot be used: {file} is a file, not a folder. "
                   "Point EMBRM_CACHE_DIR / --cache-dir at a folder.")
        with pytest.raises(CacheWriteError, match=f"^{re.escape(message)}$"):
            check_cache_root(root)
        with pytest.raises(CacheWriteError, match=f"^{re.escape(message)}$"):
            cached_identities(root)


def test_the_write_error_names_the_reason_and_the_fix(tmp_path):
    tail = ("Nothing already cached was changed. Free disk space, fix the folder's permissions, or point "
            "EMBRM_CACHE_DIR / --cache-dir at a writable folder.")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert str(cache_write_error(tmp_path, full)) == (
        f"Cannot write to the embedding cache {tmp_path} (No space left on device). {tail}")
    wrapped = OutputWriteError("could not write the cache file")
    wrapped.__cause__ = OSError(errno.EACCES, "Permission denied")
    assert str(cache_write_error(tmp_path, wrapped)) == (
        f"Cannot write to the embedding cache {tmp_path} (Permission denied). {tail}")
    assert str(cache_write_error(tmp_path, OSError("odd"))) == (
        f"Cannot write to the embedding cache {tmp_path} (odd). {tail}")
    chained = OSError("outer")  # only the atomic writer's own error is looked through
    chained.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert str(cache_write_error(tmp_path, chained)) == (
        f"Cannot write to the embedding cache {tmp_path} (outer). {tail}")


def test_keys_are_blake2b_of_the_format_and_the_text():
    def digest(data: bytes) -> bytes:
        return hashlib.blake2b(data, digest_size=16).digest()

    assert text_keys(["héllo", ""], "raw") == [digest("raw\x00héllo".encode()), digest(b"raw\x00")]
    assert pair_keys(["ab"], ["c"], "pr-v1") == [digest(b"pr-v1\x002:ab\x00c")]
    assert pair_keys(["ab"], ["c"], "pr-v1") != pair_keys(["a"], ["bc"], "pr-v1")
    with pytest.raises(ValueError):
        pair_keys(["a", "b"], ["c"], "raw")


def test_storage_dtype_is_checked_and_used(tmp_path):
    with pytest.raises(ValueError, match=r"^storage_dtype must be one of \('float16', 'float32'\), "
                       r"got 'float64'\.$"):
        VectorCache(tmp_path, "m", storage_dtype="float64")
    cache = VectorCache(tmp_path, "m", storage_dtype="float16")
    vectors = _vectors(3)
    cache.put(text_keys(list("abc"), "raw"), vectors)
    (shard,) = _shards(cache)
    assert np.load(cache.path / shard).dtype == np.float16
    found, got = VectorCache(tmp_path, "m").get(text_keys(list("abc"), "raw"))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, vectors.astype(np.float16).astype(np.float32))


def test_an_empty_cache_counts_nothing(tmp_path):
    cache = VectorCache(tmp_path, "m")
    assert len(cache) == 0 and cache.dim is None
    found, got = cache.get(text_keys(["a", "b"], "raw"))
    assert found.tolist() == [False, False] and got.shape == (0, 0)
    assert cache.contains(text_keys(["a"], "raw")).tolist() == [False]
    assert cache.info() == {"identity": "m", "path": str(tmp_path / "vectors" / "m"), "vectors": 0,
                            "shards": 0, "dim": None, "bytes": 0}
    assert cached_identities(tmp_path) == []
    report = cache.verify()
    assert report == VerifyReport(0, 0) and report.ok and not report.repaired
    assert cache.verify(repair=True).repaired


def test_one_put_writes_a_shard_its_keys_its_record_and_the_manifest(tmp_path):
    cache = VectorCache(tmp_path, "m")
    keys = text_keys(["a", "b", "a", "c"], "raw")  # "a" twice: the first vector is kept
    vectors = _vectors(4)
    cache.put(keys, vectors)
    (name,) = _shards(cache)
    assert re.fullmatch(r"shard-[0-9a-f]{32}\.npy", name)
    stored = np.load(cache.path / name)
    np.testing.assert_array_equal(stored, vectors[[0, 1, 3]])
    key_rows = np.load(cache.path / _keys_name(name))
    assert key_rows.dtype == np.uint8 and [k.tobytes() for k in key_rows] == [keys[0], keys[1], keys[3]]
    files = {f: cache.path / f for f in (name, _keys_name(name))}
    record = json.loads((cache.path / _record_name(name)).read_text())
    expected = {
        "format": "embrm-shard-record", "version": 1, "name": name, "rows": 3, "dim": 4, "dtype": "float32",
        "size": files[name].stat().st_size, "crc32": zlib.crc32(files[name].read_bytes()),
        "keys_size": files[_keys_name(name)].stat().st_size,
        "keys_crc32": zlib.crc32(files[_keys_name(name)].read_bytes()),
    }
    assert record == {**expected, "record_crc32": zlib.crc32(json.dumps(expected, sort_keys=True).encode())}
    table = pq.read_table(cache.path / MANIFEST)
    meta = json.loads(table.schema.metadata[b"embrm"])
    assert meta == {"dim": 4, "shards": [{k: record[k] for k in ("name", "rows", "crc32", "keys_crc32")}]}
    assert table.column("row").to_pylist() == [0, 1, 2] and table.column("shard").to_pylist() == [0, 0, 0]
    assert len(cache) == 3 and cache.dim == 4
    cache.put(text_keys(["c", "d"], "raw"), _vectors(2, seed=1))  # only "d" is new: shard 1, row 0
    table = pq.read_table(cache.path / MANIFEST)
    assert table.column("shard").to_pylist() == [0, 0, 0, 1]
    assert table.column("row").to_pylist() == [0, 1, 2, 0]
    size = sum(p.stat().st_size for p in cache.path.iterdir())
    assert cache.info() == {"identity": "m", "path": str(cache.path), "vectors": 4, "shards": 2, "dim": 4,
                            "bytes": size}
    assert cache.contains(text_keys(["d", "e", "a"], "raw")).tolist() == [True, False, True]
    assert cached_identities(tmp_path) == ["m"]
    VectorCache(tmp_path, "b-model").put(text_keys(["x"], "raw"), _vectors(1))
    assert cached_identities(tmp_path) == ["b-model", "m"]


def test_gets_and_locates_in_query_order_across_shards(tmp_path):
    cache = VectorCache(tmp_path, "m")
    texts = [f"t{i}" for i in range(9)]
    vectors = _vectors(9)
    for part in (slice(0, 4), slice(4, 6), slice(6, 9)):
        cache.put(text_keys(texts[part], "raw"), vectors[part])
    order = [8, 0, 5, 4, 1, 7]
    query = text_keys([texts[i] for i in order], "raw")
    found, got = VectorCache(tmp_path, "m").get(query[:3] + text_keys(["none"], "raw") + query[3:])
    assert found.tolist() == [True] * 3 + [False] + [True] * 3
    np.testing.assert_array_equal(got, vectors[order])
    shards, rows = VectorCache(tmp_path, "m").locate(query)
    assert [s.shape[0] for s in shards] == [4, 2, 3]
    np.testing.assert_array_equal(np.vstack(shards)[rows], vectors[order])
    shards, rows = cache.locate([])
    assert shards == [] and rows.tolist() == []
    missing = text_keys(["none", "nope"], "raw")
    message = f"2 of 8 keys are not in the cache {cache.path}."
    with pytest.raises(KeyError, match=re.escape(message)):
        cache.locate(query + missing)


def test_keys_that_are_not_digests_and_vectors_of_another_dimension(tmp_path):
    cache = VectorCache(tmp_path, "m")
    cache.put(text_keys(["a"], "raw"), _vectors(1))
    with pytest.raises(ValueError, match=r"^Cache keys are 16-byte digests \(text_keys / pair_keys\)\.$"):
        cache.put([b"short"], _vectors(1))
    message = f"Vectors of dimension 3 cannot go into cache {cache.path} of dimension 4."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cache.put(text_keys(["b"], "raw"), _vectors(1, dim=3))
    assert len(cache) == 1 and len(_shards(cache)) == 1


def test_verify_report_ok_needs_every_list_empty():
    assert VerifyReport(1, 2).ok
    for field in ("corrupt", "orphans", "unverifiable", "invalid"):
        assert not VerifyReport(1, 2, **{field: ["x"]}).ok
    assert VerifyReport(1, 2, unrecorded=["x"]).ok  # an intact shard without a record file
    assert not VerifyReport(1, 2, manifest="missing").ok


def _two_shards(tmp_path):
    cache = VectorCache(tmp_path, "m")
    texts = [f"t{i}" for i in range(6)]
    vectors = _vectors(6)
    cache.put(text_keys(texts[:3], "raw"), vectors[:3])
    cache.put(text_keys(texts[3:], "raw"), vectors[3:])
    return cache, text_keys(texts, "raw"), vectors


def _edit_meta(cache, edit):
    table = pq.read_table(cache.path / MANIFEST)
    meta = json.loads(table.schema.metadata[b"embrm"])
    edit(meta)
    table = table.replace_schema_metadata({b"embrm": json.dumps(meta).encode()})
    pq.write_table(table, cache.path / MANIFEST)


def _hint(cache):
    return f"Run `embrm cache verify --repair --cache-dir {cache.root}`"


def _raises_exactly(error, message, call):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()


def test_manifest_problems_in_full(tmp_path):
    from embrm.exceptions import CacheCorruptError

    cache, keys, _ = _two_shards(tmp_path)
    file = cache.path / MANIFEST
    rebuild = "to rebuild it from the shards that match their commit records."
    good = file.read_bytes()
    damages = {
        "an entry is a list, not a table": lambda m: m["shards"].__setitem__(1, [1, 2]),
        "an entry names '../x.npy', which is not a shard file of this folder":
            lambda m: m["shards"][0].__setitem__("name", "../x.npy"),
        "the entry of {name} has rows=-1, not a whole number": lambda m: m["shards"][0].update(rows=-1),
        "the entry of {name} has rows=True, not a whole number": lambda m: m["shards"][0].update(rows=True),
        "the entry of {name} has crc32=-5, not a whole number": lambda m: m["shards"][0].update(crc32=-5),
        "its dimension is 0, not a positive whole number": lambda m: m.__setitem__("dim", 0),
        "its dimension is '4', not a positive whole number": lambda m: m.__setitem__("dim", "4"),
    }
    name = json.loads(pq.read_table(file).schema.metadata[b"embrm"])["shards"][0]["name"]
    for problem, edit in damages.items():
        file.write_bytes(good)
        _edit_meta(cache, edit)
        problem = problem.format(name=name)
        message = f"The cache manifest {file} is damaged: {problem}. {_hint(cache)} {rebuild}"
        _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
    file.write_bytes(good)
    _edit_meta(cache, lambda m: m["shards"][0].pop("crc32"))  # optional fields may be absent
    assert VectorCache(tmp_path, "m").contains(keys).all()
    file.write_bytes(good)
    _edit_meta(cache, lambda m: m.update(shards=[], dim=-1))
    message = f"The cache manifest {file} is damaged: its dimension is -1. {_hint(cache)} {rebuild}"
    _raises_exactly(CacheCorruptError, message, lambda: len(VectorCache(tmp_path, "m")))
    file.write_bytes(b"not parquet")
    unreadable = rf"^The cache manifest {re.escape(str(file))} cannot be read \(.+\)\. "
    with pytest.raises(CacheCorruptError, match=unreadable
                       + re.escape(f"{_hint(cache)} {rebuild}") + "$"):
        VectorCache(tmp_path, "m").get(keys)
    file.unlink()
    file.mkdir()
    message = (f"The cache manifest {file} cannot be read (it is a folder or another non-file). "
               f"{_hint(cache)} {rebuild}")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
    file.rmdir()
    import pyarrow as pa

    meta = {b"embrm": json.dumps({"dim": 4, "shards": []}).encode()}
    pq.write_table(pa.table({"key": [b"x"], "other": [1]}).replace_schema_metadata(meta), file)
    message = (f"The cache manifest {file} cannot be read (unexpected columns or shard table). "
               f"{_hint(cache)} {rebuild}")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
    file.unlink()
    message = (f"The cache manifest {file} is missing but shard files are there. {_hint(cache)} to rebuild "
               "it from the shards that match their commit records; the others are dropped and re-embedded.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))


def test_shard_problems_in_full(tmp_path):
    from embrm.exceptions import CacheCorruptError

    cache, keys, vectors = _two_shards(tmp_path)
    name = _shards(cache)[0]
    first = json.loads(pq.read_table(cache.path / MANIFEST).schema.metadata[b"embrm"])["shards"][0]["name"]
    file = cache.path / first
    good = file.read_bytes()

    def expect(problem, rows=3):
        message = (f"Cache shard {file} is {problem}; its {rows} vectors were not returned. "
                   f"{_hint(cache)} to drop it; those texts are re-embedded on next use and nothing else "
                   "is lost.")
        _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))

    file.write_bytes(good[:-4])  # the manifest's entry holds no size: its checksum tells
    expect("altered (checksum differs from its commit record)")
    file.write_bytes(good[:-4] + bytes(4))
    expect("altered (checksum differs from its commit record)")
    file.unlink()
    expect("missing")
    file.mkdir()
    expect("missing (or not a file)")
    file.rmdir()
    file.write_bytes(good)
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)
    assert name in _shards(cache)


def test_inconsistent_manifests_and_locks_in_full(tmp_path, monkeypatch):
    import polars as pl

    import embrm.embed._cache as cache_module
    from embrm.exceptions import CacheCorruptError

    cache, keys, vectors = _two_shards(tmp_path)
    file = cache.path / MANIFEST
    good = file.read_bytes()
    names = [s["name"] for s in json.loads(pq.read_table(file).schema.metadata[b"embrm"])["shards"]]

    def rewrite_rows(edit):
        table = pq.read_table(file)
        frame = edit(pl.from_arrow(table))
        pq.write_table(frame.to_arrow().replace_schema_metadata(table.schema.metadata), file)

    rewrite_rows(lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(1))
                                          .otherwise(pl.col("row")).cast(pl.UInt32).alias("row")))
    message = (f"The cache manifest of {cache.path} points keys at rows of {names[0]} that hold other keys "
               f"(or do not exist); no vector was returned. {_hint(cache)} to rebuild it.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys[:1]))
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").locate(keys[:1]))
    rewrite_rows(lambda f: f.with_columns(pl.lit(9, dtype=pl.UInt32).alias("row")))
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys[:1]))
    file.write_bytes(good)
    rewrite_rows(lambda f: f.with_columns(pl.lit(7, dtype=pl.UInt32).alias("shard")))
    message = (f"The cache manifest of {cache.path} points at shard 7, which its shard table does not list. "
               f"{_hint(cache)}.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys[:1]))
    file.write_bytes(good)
    _edit_meta(cache, lambda m: m["shards"][1].update(rows=4))
    message = (f"The cache manifest's entry for shard {cache.path / names[1]} disagrees with the shard's "
               f"commit record {cache.path / _record_name(names[1])} (rows, checksums or dimension); its "
               f"vectors were not returned. {_hint(cache)} to rebuild the manifest from the commit records.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys[3:]))
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys[:3])[1], vectors[:3])  # shard 0 is fine
    file.write_bytes(good)
    _edit_meta(cache, lambda m: m.update(dim=5))
    message = (f"The cache manifest of {cache.path} gives the dimension 5, but its shards' commit records "
               f"give [4]: the manifest is damaged, and nothing was written. {_hint(cache)} to rebuild it.")
    _raises_exactly(CacheCorruptError, message,
                    lambda: VectorCache(tmp_path, "m").put(text_keys(["new"], "raw"), _vectors(1)))
    file.write_bytes(good)
    lock = cache.path / ".lock"
    lock.unlink()
    lock.mkdir()
    message = (f"The cache's lock file {lock} is a folder, so the cache cannot be locked. Remove that folder "
               f"(rmdir '{lock}') and run the command again; no data is kept there.")
    _raises_exactly(CacheCorruptError, message, lambda: cache.put(text_keys(["new"], "raw"), _vectors(1)))
    _raises_exactly(CacheCorruptError, message, lambda: cache.verify())
    lock.rmdir()
    real_save = np.save
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    message = (f"Cannot write to the embedding cache {cache.path} (No space). Nothing already cached was "
               "changed. Free disk space, fix the folder's permissions, or point EMBRM_CACHE_DIR / "
               "--cache-dir at a writable folder.")
    _raises_exactly(CacheWriteError, message, lambda: cache.put(text_keys(["new"], "raw"), _vectors(1)))
    monkeypatch.setattr(np, "save", real_save)
    (cache.path / names[0]).write_bytes(b"damaged")

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "_remove", full_disk)
    message = (f"Cannot write to the embedding cache {cache.path} (No space left on device); the repair "
               "stopped. Whatever it changed so far is consistent (every indexed shard matches its commit "
               "record). Free disk space or fix the folder's permissions and run `embrm cache verify "
               "--repair` again to finish it.")
    _raises_exactly(CacheWriteError, message, lambda: cache.verify(repair=True))


def test_a_put_without_a_manifest_refuses_and_a_racing_mkdir_is_fine(tmp_path, monkeypatch):
    from pathlib import Path

    from embrm.exceptions import CacheCorruptError

    cache, keys, _ = _two_shards(tmp_path)
    (cache.path / MANIFEST).unlink()
    message = (f"The cache manifest {cache.path / MANIFEST} is missing but shard files are there. "
               f"{_hint(cache)} to rebuild it from the shards that match their commit records; the others "
               "are dropped and re-embedded.")
    _raises_exactly(CacheCorruptError, message, lambda: cache.put(text_keys(["new"], "raw"), _vectors(1)))
    # another process creates the folder between the check and the mkdir
    other = VectorCache(tmp_path, "other")
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == other.path else real_exists(self))
    other.path.mkdir(parents=True)
    other.put(text_keys(["a"], "raw"), _vectors(1))
    monkeypatch.undo()
    assert len(VectorCache(tmp_path, "other")) == 1


def test_a_first_put_interrupted_before_its_shard_leaves_an_empty_readable_cache(tmp_path, monkeypatch):
    """The empty manifest a first put writes before any shard file reads as an empty cache."""
    fresh = _cache_with_an_empty_manifest(tmp_path, monkeypatch)
    assert (fresh.path / MANIFEST).is_file() and len(fresh) == 0 and fresh.dim is None
    assert fresh.get(text_keys(["a"], "raw"))[0].tolist() == [False] and fresh.verify().ok


def _edit_rows(cache, edit):
    """Rewrite the manifest's (key, shard, row) table with ``edit(frame)``, its metadata kept."""
    import polars as pl

    table = pq.read_table(cache.path / MANIFEST)
    frame = edit(pl.from_arrow(table))
    pq.write_table(frame.to_arrow().replace_schema_metadata(table.schema.metadata), cache.path / MANIFEST)


def _meta(cache):
    return json.loads(pq.read_table(cache.path / MANIFEST).schema.metadata[b"embrm"])


def _files(cache):
    return sorted(p.name for p in cache.path.iterdir())


def test_a_put_of_no_keys_writes_nothing(tmp_path):
    cache = VectorCache(tmp_path, "m")
    cache.put([], np.empty((0, 4), np.float32))
    assert _files(cache) == [".lock"] and len(cache) == 0 and cache.dim is None
    cache, keys, vectors = _two_shards(tmp_path / "full")
    before = {name: (cache.path / name).read_bytes() for name in _files(cache)}
    cache.put([], np.empty((0, 4), np.float32))
    assert {name: (cache.path / name).read_bytes() for name in _files(cache)} == before
    np.testing.assert_array_equal(VectorCache(tmp_path / "full", "m").get(keys)[1], vectors)


def _nonblocking_locks(monkeypatch):
    """Every flock fails at once (BlockingIOError) instead of waiting for a lock held elsewhere."""
    import fcntl

    real_flock = fcntl.flock
    monkeypatch.setattr(fcntl, "flock", lambda file, operation: real_flock(file, operation | fcntl.LOCK_NB))


def test_a_put_never_waits_on_the_lock_it_holds(tmp_path, monkeypatch):
    """Under its own exclusive lock a put reads the manifest without taking a second lock
    (a second flock on the same file would wait for the first forever): with every lock
    non-blocking, the put still reaches the missing manifest's error."""

    from embrm.exceptions import CacheCorruptError

    cache, _, _ = _two_shards(tmp_path)
    (cache.path / MANIFEST).unlink()
    _nonblocking_locks(monkeypatch)
    message = (f"The cache manifest {cache.path / MANIFEST} is missing but shard files are there. "
               f"{_hint(cache)} to rebuild it from the shards that match their commit records; the others "
               "are dropped and re-embedded.")
    _raises_exactly(CacheCorruptError, message, lambda: cache.put(text_keys(["new"], "raw"), _vectors(1)))


def test_locate_names_the_shard_whose_rows_hold_other_keys(tmp_path):
    import polars as pl

    from embrm.exceptions import CacheCorruptError

    cache, keys, _ = _two_shards(tmp_path)
    second = _meta(cache)["shards"][1]["name"]
    _edit_rows(cache, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit(2))
                                               .otherwise(pl.col("row")).cast(pl.UInt32).alias("row")))
    message = (f"The cache manifest of {cache.path} points keys at rows of {second} that hold other keys "
               f"(or do not exist); no vector was returned. {_hint(cache)} to rebuild it.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").locate(keys[3:4]))


def test_a_put_on_a_full_disk_names_the_cache_folder(tmp_path, monkeypatch):
    cache = VectorCache(tmp_path, "m")
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    message = (f"Cannot write to the embedding cache {cache.path} (No space). Nothing already cached was "
               "changed. Free disk space, fix the folder's permissions, or point EMBRM_CACHE_DIR / "
               "--cache-dir at a writable folder.")
    _raises_exactly(CacheWriteError, message, lambda: cache.put(text_keys(["a"], "raw"), _vectors(1)))


def test_verify_reports_entries_that_name_no_shard_as_written_and_keeps_their_shards(tmp_path):
    cache, keys, vectors = _two_shards(tmp_path)
    names = [s["name"] for s in _meta(cache)["shards"]]
    _edit_meta(cache, lambda m: m["shards"].__setitem__(0, [1, 2]))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(
        2, 6, unrecorded=[], invalid=["[1, 2]"], manifest="inconsistent")
    _edit_meta(cache, lambda m: m["shards"].__setitem__(0, {"name": "../x.npy", "rows": 3}))
    report = VectorCache(tmp_path, "m").verify()
    # shard 0 lost its entry but not its files: judged by its record, it is intact, no orphan
    assert report == VerifyReport(2, 6, invalid=["'../x.npy'"], manifest="inconsistent")
    repaired = VectorCache(tmp_path, "m").verify(repair=True)
    assert repaired == VerifyReport(2, 6, invalid=["'../x.npy'"], manifest="inconsistent", repaired=True)
    assert sorted(s["name"] for s in _meta(cache)["shards"]) == sorted(names)
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)


def test_a_damaged_entry_of_a_shard_without_a_record_leaves_it_unverifiable(tmp_path):
    cache, keys, vectors = _two_shards(tmp_path)
    names = [s["name"] for s in _meta(cache)["shards"]]
    (cache.path / _record_name(names[0])).unlink()
    _edit_meta(cache, lambda m: m["shards"][0].update(rows=-1))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(
        2, 6, unverifiable=[names[0]], manifest="inconsistent")
    assert VectorCache(tmp_path, "m").verify(repair=True) == VerifyReport(
        1, 3, unverifiable=[names[0]], manifest="inconsistent", repaired=True)
    assert _shards(cache) == [names[1]]
    found, got = VectorCache(tmp_path, "m").get(keys)
    assert found.tolist() == [False] * 3 + [True] * 3
    np.testing.assert_array_equal(got, vectors[3:])


def test_a_shard_listed_twice_makes_the_manifest_inconsistent(tmp_path):
    cache, keys, vectors = _two_shards(tmp_path)
    _edit_meta(cache, lambda m: m["shards"].append(dict(m["shards"][0])))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(3, 6, manifest="inconsistent")
    assert VectorCache(tmp_path, "m").verify(repair=True) == VerifyReport(
        2, 6, manifest="inconsistent", repaired=True)
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6)
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)



def _cache_with_an_empty_manifest(tmp_path, monkeypatch) -> VectorCache:
    """A cache whose first put crashed before writing its shard: only the empty manifest."""

    def crash(self, name, content):
        raise KeyboardInterrupt

    monkeypatch.setattr(VectorCache, "_write_file", crash)
    with pytest.raises(KeyboardInterrupt):
        VectorCache(tmp_path, "m").put(text_keys(["a"], "raw"), _vectors(1))
    monkeypatch.undo()
    return VectorCache(tmp_path, "m")

def test_an_empty_manifest_with_a_negative_dimension_is_inconsistent(tmp_path, monkeypatch):
    cache = _cache_with_an_empty_manifest(tmp_path, monkeypatch)
    _edit_meta(cache, lambda m: m.update(dim=-1))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(0, 0, manifest="inconsistent")
    assert VectorCache(tmp_path, "m").verify(repair=True) == VerifyReport(
        0, 0, manifest="inconsistent", repaired=True)
    assert _meta(cache) == {"dim": None, "shards": []}
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(0, 0)


def test_rows_at_the_first_shard_index_past_the_table_make_the_manifest_inconsistent(tmp_path):
    import polars as pl

    cache, keys, vectors = _two_shards(tmp_path)
    _edit_rows(cache, lambda f: f.with_columns(pl.when(pl.col("shard") == 1).then(pl.lit(2))
                                               .otherwise(pl.col("shard")).cast(pl.UInt32).alias("shard")))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, manifest="inconsistent")
    VectorCache(tmp_path, "m").verify(repair=True)
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6)
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)


def test_a_row_one_past_a_shards_end_makes_the_manifest_inconsistent(tmp_path):
    import polars as pl

    from embrm.exceptions import CacheCorruptError

    cache, keys, vectors = _two_shards(tmp_path)  # 3 rows a shard: row 3 does not exist
    _edit_rows(cache, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(3))
                                               .otherwise(pl.col("row")).cast(pl.UInt32).alias("row")))
    name = _meta(cache)["shards"][0]["name"]
    message = (f"The cache manifest of {cache.path} points keys at rows of {name} that hold other keys "
               f"(or do not exist); no vector was returned. {_hint(cache)} to rebuild it.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys[:1]))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, manifest="inconsistent")
    VectorCache(tmp_path, "m").verify(repair=True)
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6)
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)


def test_a_rebuilt_manifest_holds_each_records_entry_exactly(tmp_path):
    cache, keys, vectors = _two_shards(tmp_path)
    before = _meta(cache)
    (cache.path / MANIFEST).unlink()
    assert VectorCache(tmp_path, "m").verify(repair=True) == VerifyReport(
        2, 6, manifest="missing", repaired=True)
    names = sorted(s["name"] for s in before["shards"])  # a rebuild lists the shards on disk by name
    records = [json.loads((cache.path / _record_name(name)).read_text()) for name in names]
    entries = [{k: r[k] for k in ("name", "rows", "crc32", "keys_crc32")} for r in records]
    assert _meta(cache) == {"dim": 4, "shards": entries}
    assert sorted(before["shards"], key=lambda s: s["name"]) == entries
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)


def test_a_rebuild_indexes_a_key_held_by_two_shards_once(tmp_path):
    """Two shards holding one text (e.g. a second writer after a lost manifest): the rebuilt
    manifest points that key at one of them and counts it once."""
    import shutil

    texts, vectors = ["t0", "t1", "t2"], _vectors(3)
    cache = VectorCache(tmp_path / "a", "m")
    cache.put(text_keys(texts[:2], "raw"), vectors[:2])
    other = VectorCache(tmp_path / "b", "m")
    other.put(text_keys(texts[1:], "raw"), vectors[1:])
    for name in _shards(other):
        for file in (name, _keys_name(name), _record_name(name)):
            shutil.copy(other.path / file, cache.path / file)
    (cache.path / MANIFEST).unlink()
    report = VectorCache(tmp_path / "a", "m").verify(repair=True)
    assert report == VerifyReport(2, 3, manifest="missing", repaired=True)
    assert len(VectorCache(tmp_path / "a", "m")) == 3
    table = pq.read_table(cache.path / MANIFEST)
    assert sorted(table.column("key").to_pylist()) == sorted(text_keys(texts, "raw"))
    np.testing.assert_array_equal(VectorCache(tmp_path / "a", "m").get(text_keys(texts, "raw"))[1], vectors)


def test_a_record_and_manifest_that_give_another_dimension_than_the_shard_make_it_corrupt(tmp_path):
    """A record file of the right checksums but another dimension (its own checksum
    recomputed, as a tool that rewrote it would), the manifest agreeing with it, does not
    vouch for its shard: the shard's file is measured against the record's dimension."""
    from embrm.embed._cache import _record_checksum

    cache, keys, vectors = _two_shards(tmp_path)
    name = _meta(cache)["shards"][0]["name"]
    file = cache.path / _record_name(name)
    record = json.loads(file.read_text())
    record["dim"] = 5
    record["record_crc32"] = _record_checksum(record)
    file.write_text(json.dumps(record))
    _edit_meta(cache, lambda m: m.update(dim=5))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, corrupt=[name], manifest="inconsistent")
    assert VectorCache(tmp_path, "m").verify(repair=True) == VerifyReport(
        1, 3, corrupt=[name], manifest="inconsistent", repaired=True)
    found, got = VectorCache(tmp_path, "m").get(keys)
    assert found.tolist() == [False] * 3 + [True] * 3 and VectorCache(tmp_path, "m").dim == 4
    np.testing.assert_array_equal(got, vectors[3:])


def test_an_entry_that_disagrees_with_its_record_in_any_field_is_refused(tmp_path):
    from embrm.exceptions import CacheCorruptError

    cache, keys, vectors = _two_shards(tmp_path)
    file = cache.path / MANIFEST
    good = file.read_bytes()
    name = _meta(cache)["shards"][1]["name"]
    record = json.loads((cache.path / _record_name(name)).read_text())
    message = (f"The cache manifest's entry for shard {cache.path / name} disagrees with the shard's "
               f"commit record {cache.path / _record_name(name)} (rows, checksums or dimension); its "
               f"vectors were not returned. {_hint(cache)} to rebuild the manifest from the commit records.")
    for field in ("rows", "crc32", "keys_crc32", "size", "keys_size"):
        file.write_bytes(good)
        _edit_meta(cache, lambda m, field=field: m["shards"][1].update({field: record[field] + 1}))
        _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys[3:]))
        assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, manifest="inconsistent"), field
    file.write_bytes(good)
    _edit_meta(cache, lambda m: m["shards"][1].update(size=record["size"], keys_size=record["keys_size"]))
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)  # agreeing: read
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6)


def test_the_manifest_is_written_zstd_compressed(tmp_path):
    cache = VectorCache(tmp_path, "m")
    cache.put(text_keys(["a", "b"], "raw"), _vectors(2))
    metadata = pq.ParquetFile(cache.path / MANIFEST).metadata
    codecs = {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)}
    assert codecs == {"ZSTD"}


def test_a_shard_is_checksummed_again_only_when_its_files_entry_or_dimension_change(tmp_path, monkeypatch):
    import embrm.embed._cache as cache_module

    cache, keys, vectors = _two_shards(tmp_path)
    calls = []
    real = cache_module._file_checksum
    monkeypatch.setattr(cache_module, "_file_checksum", lambda path: calls.append(path.name) or real(path))
    reader = VectorCache(tmp_path, "m")
    counts = []
    for _ in range(2):
        np.testing.assert_array_equal(reader.get(keys)[1], vectors)
        counts.append(len(calls))
    _edit_meta(cache, lambda m: m["shards"][0].pop("keys_crc32"))  # shard 0's entry changed
    for _ in range(2):
        np.testing.assert_array_equal(reader.get(keys)[1], vectors)
        counts.append(len(calls))
    assert counts == [4, 4, 5, 5]  # each shard's two files once; then shard 0's vectors file again


def test_a_repair_that_cannot_remove_a_file_names_the_systems_reason(tmp_path, monkeypatch):
    import embrm.embed._cache as cache_module
    from embrm.exceptions import OutputWriteError

    cache, _, _ = _two_shards(tmp_path)
    (cache.path / _meta(cache)["shards"][0]["name"]).write_bytes(b"damaged")
    tail = ("; the repair stopped. Whatever it changed so far is consistent (every indexed shard matches its "
            "commit record). Free disk space or fix the folder's permissions and run `embrm cache verify "
            "--repair` again to finish it.")
    chained = OSError("outer")  # only the atomic writer's own error is looked through
    chained.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    wrapped = OutputWriteError("could not write the cache file")
    wrapped.__cause__ = OSError(errno.EACCES, "Permission denied")
    for error, reason in ((chained, "outer"), (wrapped, "Permission denied")):
        monkeypatch.setattr(cache_module, "_remove", lambda path, error=error: (_ for _ in ()).throw(error))
        message = f"Cannot write to the embedding cache {cache.path} ({reason}){tail}"
        _raises_exactly(CacheWriteError, message, lambda: VectorCache(tmp_path, "m").verify(repair=True))


def test_verify_shares_the_lock_with_readers(tmp_path, monkeypatch):
    """A verify without repair takes the shared lock: it runs while another reader holds it
    (with every lock non-blocking, an exclusive lock would fail here)."""
    import fcntl

    cache, _, _ = _two_shards(tmp_path)
    with open(cache.path / ".lock", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        _nonblocking_locks(monkeypatch)
        assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6)
        monkeypatch.undo()
        fcntl.flock(held, fcntl.LOCK_UN)


def _legacy_case(folder, keys_crc32=True, swap_rows=False, drop_keys_file=False):
    """Two shards; the first has no record file (its manifest entry is its commit record)."""
    import polars as pl

    cache, _, _ = _two_shards(folder)
    name = _meta(cache)["shards"][0]["name"]
    (cache.path / _record_name(name)).unlink()
    if not keys_crc32:
        _edit_meta(cache, lambda m: m["shards"][0].pop("keys_crc32"))
    if swap_rows:  # the manifest points the shard's first two keys at each other's rows
        first = (pl.col("shard") == 0) & (pl.col("row") < 2)
        _edit_rows(cache, lambda f: f.with_columns(
            pl.when(first).then(1 - pl.col("row")).otherwise(pl.col("row")).cast(pl.UInt32).alias("row")))
    if drop_keys_file:
        (cache.path / _keys_name(name)).unlink()
    return VectorCache(folder, "m").verify(), name


def test_verify_checks_the_keys_of_a_shard_without_a_record_or_a_keys_checksum(tmp_path):
    report, name = _legacy_case(tmp_path / "1", keys_crc32=False)
    assert report == VerifyReport(2, 6, unrecorded=[name])
    report, name = _legacy_case(tmp_path / "2", keys_crc32=False, swap_rows=True)
    assert report == VerifyReport(2, 6, corrupt=[name])
    report, name = _legacy_case(tmp_path / "3", swap_rows=True)  # keys checksummed: the manifest is off
    assert report == VerifyReport(2, 6, unrecorded=[name], manifest="inconsistent")
    report, name = _legacy_case(tmp_path / "4", keys_crc32=False, drop_keys_file=True)
    assert report == VerifyReport(2, 6, corrupt=[name])


def _manifest_by_hand(cache, names, dim):
    """A manifest indexing every key of shards ``names`` (entries from their records)."""
    import polars as pl

    frames, entries = [], []
    for index, name in enumerate(names):
        keys = np.load(cache.path / _keys_name(name))
        frames.append(pl.DataFrame({
            "key": pl.Series([k.tobytes() for k in keys], dtype=pl.Binary),
            "shard": pl.Series([index] * len(keys), dtype=pl.UInt32),
            "row": pl.Series(range(len(keys)), dtype=pl.UInt32),
        }))
        record = json.loads((cache.path / _record_name(name)).read_text())
        entries.append({k: record[k] for k in ("name", "rows", "crc32", "keys_crc32")})
    meta = {b"embrm": json.dumps({"dim": dim, "shards": entries}).encode()}
    pq.write_table(pl.concat(frames).to_arrow().replace_schema_metadata(meta), cache.path / MANIFEST)


def _copy_shards(source, cache):
    import shutil

    for name in _shards(source):
        for file in (name, _keys_name(name), _record_name(name)):
            shutil.copy(source.path / file, cache.path / file)
    return _shards(source)


def test_shards_of_another_dimension_than_the_manifests_are_corrupt(tmp_path):
    """The manifest's dimension wins while an intact shard has it, even one with fewer vectors
    (here 1, below a 2-dimensional shard without a record file and with more vectors)."""
    from embrm.exceptions import CacheCorruptError

    cache = VectorCache(tmp_path / "a", "m")
    cache.put(text_keys(["a0", "a1", "a2"], "raw"), _vectors(3, dim=1))
    other = VectorCache(tmp_path / "b", "m")
    other.put(text_keys([f"b{i}" for i in range(5)], "raw"), _vectors(5, dim=2, seed=1))
    (mine,), (wide,) = _shards(cache), _copy_shards(other, cache)
    _manifest_by_hand(cache, [mine, wide], dim=1)
    (cache.path / _record_name(wide)).unlink()
    message = (f"Cache shard {cache.path / wide} is of another shape or type than its commit record; its 5 "
               f"vectors were not returned. {_hint(cache)} to drop it; those texts are re-embedded on next "
               "use and nothing else is lost.")
    _raises_exactly(CacheCorruptError, message,
                    lambda: VectorCache(tmp_path / "a", "m").get(text_keys(["b0"], "raw")))
    assert VectorCache(tmp_path / "a", "m").verify() == VerifyReport(2, 8, corrupt=[wide])
    assert VectorCache(tmp_path / "a", "m").verify(repair=True) == VerifyReport(
        1, 3, corrupt=[wide], repaired=True)
    assert _shards(cache) == [mine] and VectorCache(tmp_path / "a", "m").dim == 1


def test_a_lost_manifest_is_rebuilt_in_the_dimension_of_most_vectors(tmp_path):
    """Two 2-dimensional shards of 2 vectors each outnumber one 3-dimensional shard of 3."""
    cache = VectorCache(tmp_path / "a", "m")
    cache.put(text_keys(["a0", "a1"], "raw"), _vectors(2, dim=2))
    cache.put(text_keys(["a2", "a3"], "raw"), _vectors(2, dim=2, seed=1))
    other = VectorCache(tmp_path / "b", "m")
    other.put(text_keys(["b0", "b1", "b2"], "raw"), _vectors(3, dim=3, seed=2))
    (wide,) = _copy_shards(other, cache)
    (cache.path / MANIFEST).unlink()
    assert VectorCache(tmp_path / "a", "m").verify() == VerifyReport(0, 0, corrupt=[wide], manifest="missing")
    assert VectorCache(tmp_path / "a", "m").verify(repair=True) == VerifyReport(
        2, 4, corrupt=[wide], manifest="missing", repaired=True)
    assert VectorCache(tmp_path / "a", "m").dim == 2 and wide not in _shards(cache)


def test_a_record_file_that_is_not_a_well_formed_record_is_ignored(tmp_path):
    """A record file with one field wrong (or a link, or failing its own checksum) is no commit
    record: the shard is judged by its manifest entry (intact here, so only 'unrecorded').
    Records written before the record's own checksum existed have none: only their fields
    guard them, and an intact one is used."""
    from embrm.embed._cache import _record_checksum

    cache, _, _ = _two_shards(tmp_path)
    name = _meta(cache)["shards"][0]["name"]
    file = cache.path / _record_name(name)
    good = json.loads(file.read_text())
    legacy = {k: v for k, v in good.items() if k != "record_crc32"}
    damages = {
        "format": {"format": "other"}, "name": {"name": "shard-other.npy"}, "dtype": {"dtype": 5},
        "dim": {"dim": 0}, "rows": {"rows": "3"}, "size": {"size": -1}, "crc32": {"crc32": None},
        "keys_size": {"keys_size": 1.5}, "keys_crc32": {"keys_crc32": -2},
    }
    for field, change in damages.items():
        file.write_text(json.dumps({**legacy, **change}))
        assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, unrecorded=[name]), field
    for record in ([legacy], {**good, "record_crc32": good["record_crc32"] + 1}):
        file.write_text(json.dumps(record))
        assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, unrecorded=[name]), record
    file.write_text(json.dumps(legacy))  # a record without its own checksum, intact: used
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6)
    assert _record_checksum(good) == good["record_crc32"]
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(good))
    file.unlink()
    file.symlink_to(outside)  # never followed
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(2, 6, unrecorded=[name])


def _one_shard(folder):
    cache = VectorCache(folder, "m")
    keys, vectors = text_keys(["a", "b", "c"], "raw"), _vectors(3)
    cache.put(keys, vectors)
    return cache, keys, vectors, _shards(cache)[0]


def test_a_shard_whose_record_describes_arrays_no_cache_holds_is_corrupt(tmp_path):
    """Files replaced by other arrays and a record rewritten to match their checksums (the
    manifest agreeing): the arrays themselves must still be what the record and a cache
    shard say (2-d float16/float32 rows of the record's count, uint8 keys of 16 bytes a row)."""
    from embrm.embed._cache import _make_record, _record_checksum

    floats = np.zeros((3, 4), np.float32)
    lies = {  # name: (vectors, keys, record fields changed after the checksums)
        "rows": (floats, None, {"rows": 4}),
        "dtype": (floats, None, {"dtype": "float16"}),
        "float64": (np.zeros((3, 4)), None, {}),
        "three-d": (np.zeros((3, 4, 4), np.float32), None, {"dim": 4}),
        "short keys": (floats, np.zeros((3, 8), np.uint8), {}),
        "int8 keys": (floats, np.zeros((3, 16), np.int8), {}),
    }
    for lie, (vectors, keys, change) in lies.items():
        cache, _, _, name = _one_shard(tmp_path / lie)
        np.save(cache.path / name, vectors)
        if keys is not None:
            np.save(cache.path / _keys_name(name), keys)
        record = _make_record(cache.path, name, vectors.shape[0], vectors.shape[1], str(vectors.dtype))
        record = {**record, **change}
        record["record_crc32"] = _record_checksum(record)
        (cache.path / _record_name(name)).write_text(json.dumps(record))
        _edit_meta(cache, lambda m, r=record: m.update(
            dim=r["dim"], shards=[{k: r[k] for k in ("name", "rows", "crc32", "keys_crc32")}]))
        assert VectorCache(tmp_path / lie, "m").verify() == VerifyReport(1, 3, corrupt=[name]), lie


def test_shards_are_memory_mapped_and_an_entry_without_a_checksum_is_refused(tmp_path):
    from embrm.exceptions import CacheCorruptError

    cache, keys, vectors, name = _one_shard(tmp_path)
    shards, rows = VectorCache(tmp_path, "m").locate(keys)
    assert isinstance(shards[0], np.memmap) and rows.tolist() == [0, 1, 2]
    (cache.path / _record_name(name)).unlink()  # the entry is the shard's only commit record
    _edit_meta(cache, lambda m: m["shards"][0].pop("crc32"))
    message = (f"Cache shard {cache.path / name} is without a checksum in its commit record; its 3 vectors "
               f"were not returned. {_hint(cache)} to drop it; those texts are re-embedded on next use and "
               "nothing else is lost.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))


def test_a_key_file_that_is_a_link_is_never_followed(tmp_path):
    from embrm.exceptions import CacheCorruptError

    cache, keys, _, name = _one_shard(tmp_path)
    keys_file = cache.path / _keys_name(name)
    outside = tmp_path / "outside.npy"
    outside.write_bytes(keys_file.read_bytes())  # the same bytes: the checksums would match
    keys_file.unlink()
    keys_file.symlink_to(outside)
    message = (f"Cache shard {cache.path / name} is a symbolic link (the cache never follows links out of "
               f"its folder); its 3 vectors were not returned. {_hint(cache)} to drop it; those texts are "
               "re-embedded on next use and nothing else is lost.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(1, 3, corrupt=[name])


def test_a_get_of_no_keys_and_the_found_mask_type(tmp_path):
    cache, keys, vectors, _ = _one_shard(tmp_path)
    found, got = VectorCache(tmp_path, "m").get([])
    assert found.dtype == bool and found.shape == (0,) and got.dtype == np.float32 and got.shape == (0, 4)
    found, got = VectorCache(tmp_path, "m").get(keys[1:] + text_keys(["new"], "raw"))
    assert found.dtype == bool and found.tolist() == [True, True, False]
    np.testing.assert_array_equal(got, vectors[1:])


def test_a_reader_reads_the_manifest_again_only_when_it_changed(tmp_path, monkeypatch):
    cache, keys, _, _ = _one_shard(tmp_path)
    reads = []
    real = VectorCache._read_manifest
    monkeypatch.setattr(VectorCache, "_read_manifest", lambda me, file: reads.append(me) or real(me, file))
    reader = VectorCache(tmp_path, "m")
    counts = []
    for _ in range(2):
        assert reader.contains(keys).all()
        counts.append(reads.count(reader))
    cache.put(text_keys(["d"], "raw"), _vectors(1, seed=3))  # another instance changes the manifest
    for _ in range(2):
        assert reader.contains(text_keys(["d"], "raw")).tolist() == [True]
        counts.append(reads.count(reader))
    assert counts == [1, 1, 2, 2]


def test_a_reader_of_a_cache_without_its_manifest_shares_the_lock(tmp_path, monkeypatch):
    """Without a manifest but with shards, a reader waits for a shared lock (a first put may be
    committing), so other readers holding it do not stop it."""
    import fcntl

    from embrm.exceptions import CacheCorruptError

    cache, keys, _, _ = _one_shard(tmp_path)
    (cache.path / MANIFEST).unlink()
    message = (f"The cache manifest {cache.path / MANIFEST} is missing but shard files are there. "
               f"{_hint(cache)} to rebuild it from the shards that match their commit records; the others "
               "are dropped and re-embedded.")
    with open(cache.path / ".lock", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        _nonblocking_locks(monkeypatch)
        _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
        monkeypatch.undo()
        fcntl.flock(held, fcntl.LOCK_UN)


def test_an_empty_manifest_may_keep_a_positive_dimension_only(tmp_path, monkeypatch):
    from embrm.exceptions import CacheCorruptError

    cache = _cache_with_an_empty_manifest(tmp_path, monkeypatch)
    _edit_meta(cache, lambda m: m.update(dim=1))
    assert len(VectorCache(tmp_path, "m")) == 0 and VectorCache(tmp_path, "m").dim == 1
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(0, 0)
    _edit_meta(cache, lambda m: m.update(dim=0))
    message = (f"The cache manifest {cache.path / MANIFEST} is damaged: its dimension is 0. {_hint(cache)} "
               "to rebuild it from the shards that match their commit records.")
    _raises_exactly(CacheCorruptError, message, lambda: len(VectorCache(tmp_path, "m")))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(0, 0, manifest="inconsistent")


def test_an_entry_with_sizes_names_a_truncated_file_of_a_shard_without_a_record(tmp_path):
    """A manifest entry may hold the files' sizes (as a record does); without a record file it is
    the commit record, and a file of another size is reported as such, before its checksum."""
    from embrm.exceptions import CacheCorruptError

    for which in ("vectors", "keys"):
        cache, keys, _, name = _one_shard(tmp_path / which)
        record = json.loads((cache.path / _record_name(name)).read_text())
        (cache.path / _record_name(name)).unlink()
        _edit_meta(cache, lambda m, r=record: m["shards"][0].update(size=r["size"], keys_size=r["keys_size"]))
        file = cache.path / (name if which == "vectors" else _keys_name(name))
        file.write_bytes(file.read_bytes() + bytes(16))
        message = (f"Cache shard {cache.path / name} is truncated or extended (size differs from its commit "
                   f"record); its 3 vectors were not returned. {_hint(cache)} to drop it; those texts are "
                   "re-embedded on next use and nothing else is lost.")
        reader = VectorCache(tmp_path / which, "m")
        _raises_exactly(CacheCorruptError, message, lambda r=reader, k=keys: r.get(k))


def test_an_entry_without_the_vectors_checksum_is_rebuilt_from_the_shards_record(tmp_path):
    """The checksum is optional in a manifest entry, but no read can check a shard without it:
    with a record file beside the shard, verify calls the manifest inconsistent and a repair
    writes the entry from the record (so the shard is read again, not left unreadable)."""
    from embrm.exceptions import CacheCorruptError

    cache, keys, vectors, name = _one_shard(tmp_path)
    _edit_meta(cache, lambda m: m["shards"][0].pop("crc32"))
    message = (f"The cache manifest's entry for shard {cache.path / name} disagrees with the shard's "
               f"commit record {cache.path / _record_name(name)} (rows, checksums or dimension); its "
               f"vectors were not returned. {_hint(cache)} to rebuild the manifest from the commit records.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(1, 3, manifest="inconsistent")
    assert VectorCache(tmp_path, "m").verify(repair=True) == VerifyReport(
        1, 3, manifest="inconsistent", repaired=True)
    np.testing.assert_array_equal(VectorCache(tmp_path, "m").get(keys)[1], vectors)
    assert VectorCache(tmp_path, "m").verify() == VerifyReport(1, 3)


def test_a_put_writes_files_of_fixed_names_and_checksums_span_blocks(tmp_path):
    """The file names are a format: an older cache's record files must keep their meaning. The
    CRC-32 runs over the whole file, across the 4 MiB blocks it is read in."""
    from embrm.embed._cache import _file_checksum

    cache, _, _, name = _one_shard(tmp_path)
    stem = name[: -len(".npy")]
    assert _files(cache) == sorted([".lock", MANIFEST, name, f"{stem}.keys.npy", f"{stem}.record.json"])
    big = tmp_path / "big.bin"
    data = np.random.RandomState(0).bytes(5 << 20)
    big.write_bytes(data)
    assert _file_checksum(big) == zlib.crc32(data)


def test_a_reader_of_a_cache_without_its_manifest_waits_for_a_writer(tmp_path, monkeypatch):
    """Shards but no manifest: a first put may be committing, so a reader asks for the shared
    lock before it calls the manifest missing (with every lock non-blocking, the held
    exclusive lock makes that request fail at once)."""
    import fcntl

    cache, keys, _, _ = _one_shard(tmp_path)
    (cache.path / MANIFEST).unlink()
    with open(cache.path / ".lock", "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _nonblocking_locks(monkeypatch)
        with pytest.raises(BlockingIOError):
            VectorCache(tmp_path, "m").get(keys)
        monkeypatch.undo()
        fcntl.flock(held, fcntl.LOCK_UN)


def test_a_shard_table_that_is_not_a_list_makes_the_manifest_unreadable(tmp_path):
    from embrm.exceptions import CacheCorruptError

    cache, keys, _, _ = _one_shard(tmp_path)
    _edit_meta(cache, lambda m: m.update(shards={}))
    message = (f"The cache manifest {cache.path / MANIFEST} cannot be read (unexpected columns or shard "
               f"table). {_hint(cache)} to rebuild it from the shards that match their commit records.")
    _raises_exactly(CacheCorruptError, message, lambda: VectorCache(tmp_path, "m").get(keys))
    assert VectorCache(tmp_path, "m").verify().manifest == "unreadable"
