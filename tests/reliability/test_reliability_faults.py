"""Fault injection on a small real cache: every damage x every operation gives the true
vector or a clear error, never another vector.

Damage: bytes flipped (in a file's header and in its body), the file truncated, or deleted,
for each kind of cache file (vectors, keys, commit record, manifest); a manifest that reads
fine but points keys at other rows, or that vouches for damaged bytes; a lock held by
another writer or reader, and a lock file that is a folder; a crash at each write step of
``put`` and of ``verify(repair=True)``. Operations: read, verify (its verdict: ok or which
problem, for which shard), verify with repair then read again.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from embrm.cli import main
from embrm.embed import VectorCache
from embrm.embed._cache import _META_KEY, LOCK, MANIFEST, _file_checksum, _keys_name, _record_name, text_keys
from embrm.exceptions import CacheCorruptError, CacheWriteError

SHARD_ROWS = 12  # rows per shard of the pristine cache (tests/reliability/conftest.py)

FILE_KINDS = ("vectors", "keys", "record", "manifest")
DAMAGES = ("flip-head", "flip-body", "truncate", "delete")


class Crash(BaseException):
    """A process dying at a write step (not an error any code catches)."""


def _shard_names(path):
    return sorted(p.name for p in path.glob("shard-*.npy") if not p.name.endswith(".keys.npy"))


def _file_of(path, kind, shard=1):
    name = _shard_names(path)[shard]
    return (
        path
        / {
            "vectors": name,
            "keys": _keys_name(name),
            "record": _record_name(name),
            "manifest": MANIFEST,
            "lock": LOCK,
        }[kind]
    )


def damage(file, how, rng=None):
    """Damage ``file`` in place: ``flip-head``, ``flip-body``, ``truncate`` or ``delete``."""
    if how == "delete":
        file.unlink(missing_ok=True)
        return
    data = bytearray(file.read_bytes()) if file.exists() else bytearray()
    if how == "truncate":
        file.write_bytes(bytes(data[: len(data) // 2]))
        return
    if not data:
        data = bytearray(b"\x00" * 8)
    if how == "flip-head":
        offset = min(8, len(data) - 1)
    elif how == "flip-body":
        offset = len(data) // 2
    else:
        offset = int(rng.randint(len(data)))
    for i in range(offset, min(offset + 4, len(data))):
        data[i] ^= 0xA5
    file.write_bytes(bytes(data))


def _copy(pristine, tmp_path):
    root = tmp_path / "cache"
    src = pristine.root / "vectors" / pristine.identity
    shutil.copytree(src, root / "vectors" / pristine.identity)
    return root, VectorCache(root, pristine.identity)


def assert_true_or_clear_error(root, pristine, extra=None):
    """Read every key in a new cache object: the true vector, or a CacheCorruptError that
    says how to repair. Returns how many keys were found (-1 on an error)."""
    keys = text_keys(pristine.texts, "raw")
    truth = pristine.vectors
    if extra is not None:
        keys, truth = keys + extra[0], np.vstack([truth, extra[1]])
    try:
        found, vectors = VectorCache(root, pristine.identity).get(keys)
    except CacheCorruptError as exc:
        assert "embrm cache verify --repair" in str(exc)
        return -1
    if found.any():
        np.testing.assert_array_equal(vectors, truth[found])
    return int(found.sum())


def _verify_then_repair_then_read(root, pristine, extra=None, reports=None):
    """verify, repair, verify again (must be ok), then read; ``reports`` (a list) receives
    the repair's report."""
    cache = VectorCache(root, pristine.identity)
    before = cache.verify()
    after = cache.verify(repair=True)
    assert after.repaired
    if reports is not None:
        reports.append(after)
    again = VectorCache(root, pristine.identity).verify()
    assert again.ok and not again.unrecorded, again
    n = assert_true_or_clear_error(root, pristine, extra)
    assert n >= 0  # after a repair every read succeeds
    return before, n


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("how", DAMAGES)
def test_damage_then_read_verify_repair(pristine_cache, tmp_path, kind, how):
    root, cache = _copy(pristine_cache, tmp_path)
    name = _shard_names(cache.path)[1]
    manifest_before = pq.read_table(cache.path / MANIFEST)
    damage(_file_of(cache.path, kind), how)
    n_read = assert_true_or_clear_error(root, pristine_cache)
    reports = []
    before, n_repaired = _verify_then_repair_then_read(root, pristine_cache, reports=reports)
    (after,) = reports
    n_all = len(pristine_cache.texts)
    assert not (before.orphans or before.unverifiable or before.invalid)
    if kind in ("vectors", "keys"):
        # the damaged shard, and only it, is reported corrupt; the manifest is fine
        assert n_read == -1
        assert not before.ok and before.corrupt == [name] and before.manifest == "ok"
        assert after.corrupt == [name] and name not in _shard_names(cache.path)
        assert n_repaired == n_all - SHARD_ROWS  # only the damaged shard is dropped
    elif kind == "record":
        # the data is intact (the manifest's entry vouches): readable, the record rewritten
        assert n_read == n_all and before.ok and before.unrecorded == [name] and not before.corrupt
        assert after.unrecorded == [name] and n_repaired == n_all
    elif how == "flip-body" and before.ok:
        # the flipped bytes carry nothing the cache reads (column statistics, padding): the
        # table and shard table read back exactly as written
        assert n_read == n_all and before.manifest == "ok"
        damaged = pq.read_table(cache.path / MANIFEST)
        assert damaged.equals(manifest_before)
        assert damaged.schema.metadata == manifest_before.schema.metadata
        assert n_repaired == n_all
    else:  # the manifest: reads refuse, verify names its state, repair rebuilds it
        assert n_read == -1 and not before.ok and not before.corrupt
        assert before.manifest == ("missing" if how == "delete" else "unreadable")
        assert after.manifest == before.manifest and after.n_vectors == n_all
        assert n_repaired == n_all  # rebuilt from the shards' key files and records


def _hold_lock(path, mode):
    """Another writer (``LOCK_EX``) or reader (``LOCK_SH``) holding the cache's lock: a
    separate open file, so the lock conflicts with this process's own."""
    fh = open(path / LOCK, "ab")  # noqa: SIM115 - closed by the caller
    fcntl.flock(fh, mode)
    return fh


def _run_in_thread(action):
    result = {}

    def run():
        try:
            result["value"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize(
    "holder, operation",
    [
        pytest.param(fcntl.LOCK_EX, "verify", id="writer-holds-verify-waits"),
        pytest.param(fcntl.LOCK_EX, "put", id="writer-holds-put-waits"),
        pytest.param(fcntl.LOCK_SH, "repair", id="reader-holds-repair-waits"),
    ],
)
def test_a_held_lock_makes_writers_and_verify_wait(pristine_cache, tmp_path, holder, operation):
    """While another process holds the lock, verify (shared) waits for a writer, and a put or
    a repair (exclusive) waits for any holder; each finishes correctly once it is released."""
    root, cache = _copy(pristine_cache, tmp_path)
    keys, vectors = _new_vectors(5)
    held = _hold_lock(cache.path, holder)
    action = {
        "verify": cache.verify,
        "put": lambda: cache.put(keys, vectors),
        "repair": lambda: cache.verify(repair=True),
    }[operation]
    thread, result = _run_in_thread(action)
    time.sleep(0.5)
    assert thread.is_alive(), "the operation did not wait for the lock"
    assert len(VectorCache(root, pristine_cache.identity)) == len(pristine_cache.texts)  # not written yet
    fcntl.flock(held, fcntl.LOCK_UN)
    held.close()
    thread.join(30)
    assert not thread.is_alive() and "error" not in result, result
    if operation != "put":
        assert result["value"].ok
    extra = (keys, vectors) if operation == "put" else None
    n = assert_true_or_clear_error(root, pristine_cache, extra)
    assert n == len(pristine_cache.texts) + (5 if operation == "put" else 0)


def test_a_lock_file_that_is_a_folder(pristine_cache, tmp_path, capsys):
    """No lock can be taken on a folder: verify, repair and put say so and how to fix it
    (the command line too, without a traceback); reads take no lock and still give the true
    vectors."""
    root, cache = _copy(pristine_cache, tmp_path)
    (cache.path / LOCK).unlink(missing_ok=True)
    (cache.path / LOCK).mkdir()
    for action in (cache.verify, lambda: cache.verify(repair=True), lambda: cache.put(*_new_vectors(1))):
        with pytest.raises(CacheCorruptError, match=r"lock file .* is a folder.*rmdir"):
            action()
    assert assert_true_or_clear_error(root, pristine_cache) == len(pristine_cache.texts)
    assert main(["cache", "verify", "--repair", "--cache-dir", str(root)]) != 0
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err
    (cache.path / LOCK).rmdir()
    assert cache.verify().ok


def test_readable_manifest_pointing_at_other_rows(pristine_cache, tmp_path):
    """A manifest that parses but maps keys to other rows: reads refuse, repair rebuilds."""
    root, cache = _copy(pristine_cache, tmp_path)
    table = pq.read_table(cache.path / MANIFEST)
    frame = pl.from_arrow(table)
    swapped = frame.with_columns(pl.col("row").reverse().over("shard"))
    pq.write_table(swapped.to_arrow().replace_schema_metadata(table.schema.metadata), cache.path / MANIFEST)
    assert assert_true_or_clear_error(root, pristine_cache) == -1
    before, n = _verify_then_repair_then_read(root, pristine_cache)
    assert before.manifest == "inconsistent" and n == len(pristine_cache.texts)


@pytest.mark.parametrize("kind", ["vectors", "keys"])
def test_shard_table_from_an_old_repair_does_not_vouch_for_a_damaged_shard(pristine_cache, tmp_path, kind):
    """A manifest whose checksums were computed from damaged bytes (as an unsafe rebuild
    would) is outvoted by the shard's own record file: reads refuse the shard (never its
    damaged vectors or keys), verify reports it corrupt, and a repair drops it instead of
    recording the damage as correct."""
    root, cache = _copy(pristine_cache, tmp_path)
    name = _shard_names(cache.path)[1]
    damage(_file_of(cache.path, kind), "flip-body")
    table = pq.read_table(cache.path / MANIFEST)
    meta = json.loads(table.schema.metadata[_META_KEY])
    (entry,) = [s for s in meta["shards"] if s["name"] == name]
    entry["crc32"] = _file_checksum(cache.path / name)  # the manifest vouches for the damage
    entry["keys_crc32"] = _file_checksum(cache.path / _keys_name(name))
    vouching = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    pq.write_table(vouching, cache.path / MANIFEST)

    assert assert_true_or_clear_error(root, pristine_cache) == -1
    reports = []
    before, n = _verify_then_repair_then_read(root, pristine_cache, reports=reports)
    assert before.corrupt == [name] and not before.unrecorded and reports[0].corrupt == [name]
    assert n == len(pristine_cache.texts) - SHARD_ROWS and name not in _shard_names(cache.path)


def _put_steps(monkeypatch, crash_at):
    """Make the ``crash_at``-th call of os.fsync / os.replace / os.unlink raise Crash."""
    calls = {"n": 0}
    originals = {name: getattr(os, name) for name in ("fsync", "replace", "unlink")}

    def make(name):
        def step(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == crash_at:
                raise Crash(name)
            return originals[name](*args, **kwargs)

        return step

    for name in originals:
        monkeypatch.setattr(os, name, make(name))
    return calls


def _new_vectors(n):
    rng = np.random.RandomState(7)
    v = rng.normal(size=(n, 384)).astype(np.float32)
    return text_keys([f"new text {i}" for i in range(n)], "raw"), v / np.linalg.norm(v, axis=1, keepdims=True)


def _count_put_steps(pristine, tmp_path, monkeypatch):
    root, cache = _copy(pristine, tmp_path / "count")
    calls = _put_steps(monkeypatch, crash_at=-1)
    cache.put(*_new_vectors(5))
    monkeypatch.undo()
    return calls["n"]


def test_crash_at_every_step_of_a_write(pristine_cache, tmp_path, monkeypatch):
    n_steps = _count_put_steps(pristine_cache, tmp_path, monkeypatch)
    assert n_steps >= 8  # keys, vectors, record and manifest: each fsynced and renamed
    keys, vectors = _new_vectors(5)
    for k in range(1, n_steps + 1):
        root, cache = _copy(pristine_cache, tmp_path / f"crash{k}")
        _put_steps(monkeypatch, crash_at=k)
        with pytest.raises(Crash):
            cache.put(keys, vectors)
        monkeypatch.undo()
        n_read = assert_true_or_clear_error(root, pristine_cache, (keys, vectors))
        assert n_read in (60, 65), (k, n_read)  # the old vectors always, the new ones atomically
        _, n = _verify_then_repair_then_read(root, pristine_cache, (keys, vectors))
        assert n == n_read


def test_crash_at_every_step_of_a_repair(pristine_cache, tmp_path, monkeypatch):
    """A repair interrupted anywhere leaves a cache the next repair finishes."""
    for k in range(1, 40):
        root, cache = _copy(pristine_cache, tmp_path / f"crash{k}")
        damage(_file_of(cache.path, "vectors", shard=0), "flip-body")
        (cache.path / MANIFEST).unlink()
        (cache.path / "shard-0000.npy").write_bytes(b"stray")  # an unindexed file
        calls = _put_steps(monkeypatch, crash_at=k)
        try:
            cache.verify(repair=True)
            finished = True
        except Crash:
            finished = False
        monkeypatch.undo()
        assert_true_or_clear_error(root, pristine_cache)
        _, n = _verify_then_repair_then_read(root, pristine_cache)
        assert n == len(pristine_cache.texts) - SHARD_ROWS
        if finished:
            assert calls["n"] < k
            break
    else:
        pytest.fail("the repair never finished in 40 steps")


def test_stray_temporary_files_are_removed(pristine_cache, tmp_path):
    root, cache = _copy(pristine_cache, tmp_path)
    for name in (".shard-abc", ".manifest-abc", ".record-abc"):
        (cache.path / name).write_bytes(b"half written")
    report = cache.verify()
    assert len(report.orphans) == 3 and not report.ok
    _, n = _verify_then_repair_then_read(root, pristine_cache)
    assert n == len(pristine_cache.texts)


def test_shard_changed_after_its_first_read_is_checked_again(pristine_cache, tmp_path):
    root, cache = _copy(pristine_cache, tmp_path)
    keys = text_keys(pristine_cache.texts, "raw")
    cache.get(keys)  # every shard verified and memory-mapped
    damage(_file_of(cache.path, "vectors", shard=3), "flip-body")
    with pytest.raises(CacheCorruptError, match="altered"):
        cache.get(keys)


def test_legacy_shards_without_records(pristine_cache, tmp_path):
    """Shards written before record files existed: read and verified through the manifest,
    given a record by a repair; with the manifest lost as well they cannot be verified and
    are dropped."""
    root, cache = _copy(pristine_cache, tmp_path)
    for record in cache.path.glob("*.record.json"):
        record.unlink()
    report = cache.verify()
    assert report.ok and len(report.unrecorded) == 5
    assert assert_true_or_clear_error(root, pristine_cache) == 60
    cache.verify(repair=True)
    assert len(list(cache.path.glob("*.record.json"))) == 5

    root2, cache2 = _copy(pristine_cache, tmp_path / "lost")
    for record in cache2.path.glob("*.record.json"):
        record.unlink()
    (cache2.path / MANIFEST).unlink()
    report = cache2.verify(repair=True)
    assert len(report.unverifiable) == 5 and report.n_vectors == 0
    assert assert_true_or_clear_error(root2, pristine_cache) == 0


def test_write_into_a_cache_dir_that_is_a_file(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    with pytest.raises(CacheWriteError, match="is a file"):
        VectorCache(blocker, "m").put(text_keys(["a"], "raw"), np.ones((1, 4), np.float32))
    with pytest.raises(CacheWriteError, match="is a file"):
        VectorCache(blocker, "m").get(text_keys(["a"], "raw"))


@pytest.mark.slow
def test_random_damage_sequences(pristine_cache, tmp_path, monkeypatch):
    """Random sequences of 1-4 damages (any file, any offset) and crashes, 1000 times."""
    rng = np.random.RandomState(0)
    keys, vectors = _new_vectors(5)
    n_steps = _count_put_steps(pristine_cache, tmp_path, monkeypatch)
    for trial in range(1000):
        root, cache = _copy(pristine_cache, tmp_path / f"t{trial}")
        (cache.path / LOCK).touch()
        extra = None
        for _ in range(rng.randint(1, 5)):
            action = rng.randint(3)
            if action == 0 and extra is None:
                _put_steps(monkeypatch, crash_at=int(rng.randint(1, n_steps + 2)))
                try:
                    cache.put(keys, vectors)
                except (Crash, CacheCorruptError, CacheWriteError):
                    pass
                monkeypatch.undo()
                extra = (keys, vectors)
                continue
            files = [p for p in cache.path.iterdir() if p.is_file()]
            if not files:
                continue
            file = files[rng.randint(len(files))]
            damage(file, ("flip", "truncate", "delete")[action] if action else "flip", rng)
        assert_true_or_clear_error(root, pristine_cache, extra)
        VectorCache(root, pristine_cache.identity).verify()
        _verify_then_repair_then_read(root, pristine_cache, extra)
