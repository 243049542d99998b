"""A stateful property test of the vector cache (Hypothesis ``RuleBasedStateMachine``).

Random interleavings of: encoding (new and cached texts, by two writers), a crash at any
write step of an encoding, damage to any file of the cache, ``verify``, ``verify(repair=True)``
and reopening. The vectors are synthetic (a fixed function of the text) so every read can be
checked exactly. Invariants:

- every read (``get`` and ``locate``) returns the true vector of each key it finds, or raises
  a clear :class:`~embrm.exceptions.CacheCorruptError`: never another text's vector;
- a clean ``verify`` means every committed text whose files were not damaged is readable;
- damage to a shard's vectors or keys is never verified clean;
- after a repair the cache verifies clean, and every committed text whose shard was not
  damaged is still there (nothing that verified clean is lost).

The default profile is fixed-seed (``derandomize``) and fast; ``-m slow`` runs a long one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from embrm.embed import VectorCache
from embrm.embed._cache import MANIFEST, text_keys
from embrm.exceptions import CacheCorruptError

N_TEXTS = 24
DIM = 6
IDENTITY = "model-x"
TEXTS = [f"text number {i}" for i in range(N_TEXTS)]
KEYS = text_keys(TEXTS, "raw")
KEY_TEXT = dict(zip(KEYS, TEXTS, strict=True))


def true_vector(text: str) -> np.ndarray:
    """The one correct vector of ``text`` (exact in float32)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return np.random.RandomState(seed).randint(-1000, 1000, size=DIM).astype(np.float32) / 8


TRUE = np.stack([true_vector(t) for t in TEXTS])


class Crash(BaseException):
    """A process killed mid-write: no ``except Exception`` handler sees it."""


class CacheMachine(RuleBasedStateMachine):
    """Two writers on one cache folder, crashes, damage, verify, repair, reopen."""

    @initialize()
    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="embrm-stateful-"))
        self.folder = self.root / "vectors" / IDENTITY
        self.writers = [VectorCache(self.root, IDENTITY), VectorCache(self.root, IDENTITY)]
        self.committed: set[int] = set()  # texts whose put returned
        self.at_risk: set[int] = set()  # committed texts whose shard files were damaged
        self.shards_damaged = False  # a vectors or keys file damaged since the last repair
        self.manifest_damaged = False
        self.records_damaged: set[int] = set()  # texts of shards whose record file was damaged

    def teardown(self) -> None:
        if hasattr(self, "root"):
            shutil.rmtree(self.root, ignore_errors=True)

    # -- actions --------------------------------------------------------------------------
    def _put(self, writer: int, rows: list[int]) -> None:
        cache = self.writers[writer]
        try:
            found, _ = cache.get([KEYS[i] for i in rows])  # encode: read what is cached first
        except CacheCorruptError:
            found = np.zeros(len(rows), dtype=bool)
        missing = [i for i, f in zip(rows, found, strict=True) if not f] or rows
        cache.put([KEYS[i] for i in missing], TRUE[missing])

    @rule(writer=st.integers(0, 1), rows=st.lists(st.integers(0, N_TEXTS - 1), min_size=1, max_size=6))
    def encode(self, writer: int, rows: list[int]) -> None:
        try:
            self._put(writer, rows)
        except CacheCorruptError:
            return  # a damaged manifest is refused clearly; nothing was written
        self.committed |= set(rows)

    @rule(
        writer=st.integers(0, 1),
        rows=st.lists(st.integers(0, N_TEXTS - 1), min_size=1, max_size=6),
        step=st.integers(0, 4),
    )
    def crash_while_encoding(self, writer: int, rows: list[int], step: int) -> None:
        """Kill the writer before its ``step``-th rename (each file's commit point)."""
        real_replace = os.replace
        calls = {"n": 0}

        def replace(src, dst, *args, **kwargs):
            if calls["n"] == step:
                raise Crash
            calls["n"] += 1
            return real_replace(src, dst, *args, **kwargs)

        with mock.patch("os.replace", replace):
            try:
                self._put(writer, rows)
            except (Crash, CacheCorruptError):
                return
        self.committed |= set(rows)  # finished before the crash point

    @rule(
        which=st.integers(0, 10**6),
        how=st.sampled_from(["flip", "truncate", "delete"]),
        where=st.floats(0, 1, exclude_max=True),
        bit=st.integers(0, 7),
    )
    def damage_a_file(self, which: int, how: str, where: float, bit: int) -> None:
        """Flip one bit of, cut short, or delete one file of the cache folder.

        Shard names are random, so files are ordered by creation and chosen by index: the
        draws do not depend on the names.
        """
        if not self.folder.is_dir():
            return
        files = sorted(
            (p for p in self.folder.iterdir() if p.is_file()),
            key=lambda p: (p.stat().st_mtime_ns, p.suffix, p.name.endswith(".keys.npy")),
        )
        if not files:
            return
        path = files[which % len(files)]
        name = path.name
        stem = name.removesuffix(".keys.npy").removesuffix(".npy").removesuffix(".record.json")
        if name.startswith("shard-") and name.endswith(".npy"):
            self.shards_damaged = True
            self.at_risk |= self._texts_of(self.folder / f"{stem}.keys.npy")
        elif name.startswith("shard-") and name.endswith(".record.json"):
            self.records_damaged |= self._texts_of(self.folder / f"{stem}.keys.npy")
        elif name == MANIFEST:
            self.manifest_damaged = True
        size = path.stat().st_size
        if how == "delete":
            path.unlink()
        elif how == "truncate":
            with open(path, "r+b") as fh:
                fh.truncate(int(where * size))
        elif size:
            raw = bytearray(path.read_bytes())
            raw[int(where * size)] ^= 1 << bit
            path.write_bytes(bytes(raw))

    @rule(
        which=st.integers(0, 10**6),
        field=st.sampled_from(["dim", "rows", "crc32", "keys_crc32", "name"]),
        value=st.sampled_from(["plus one", "null", "text"]),
    )
    def damage_the_manifest_metadata(self, which: int, field: str, value: str) -> None:
        """Rewrite one field of the manifest's metadata (the dimension, or one shard's rows,
        checksums or name) to another valid-looking value, keeping the file readable."""
        file = self.folder / MANIFEST
        try:
            table = pq.read_table(file)
            meta = json.loads(table.schema.metadata[b"embrm"])
        except Exception:  # noqa: BLE001 - missing or already unreadable: nothing to edit
            return
        if field == "dim":
            target = meta
        elif meta.get("shards"):
            target = meta["shards"][which % len(meta["shards"])]
        else:
            return
        old = target.get(field)
        if value == "null":
            target[field] = None
        elif value == "text":
            target[field] = "x"
        else:
            target[field] = old + 1 if isinstance(old, int) else f"{old}1"
        self.manifest_damaged = True
        table = table.replace_schema_metadata({b"embrm": json.dumps(meta).encode()})
        pq.write_table(table, file, compression="zstd")

    def _texts_of(self, keys_file: Path) -> set[int]:
        """The committed texts of the shard whose keys file is ``keys_file`` (all, if unreadable)."""
        try:
            keys = np.load(keys_file, allow_pickle=False)
        except Exception:  # noqa: BLE001 - numpy raises many kinds on a damaged header
            return set(self.committed)
        texts = {KEY_TEXT.get(k.tobytes()) for k in keys}
        return {TEXTS.index(t) for t in texts if t is not None}

    def _may_be_lost(self) -> set[int]:
        """Texts a repair may drop: a damaged vectors or keys file, or both of a shard's
        commit records (its record file and the manifest) damaged."""
        return self.at_risk | (self.records_damaged if self.manifest_damaged else set())

    @rule()
    def reopen(self) -> None:
        self.writers = [VectorCache(self.root, IDENTITY), VectorCache(self.root, IDENTITY)]

    @rule()
    def verify(self) -> None:
        report = VectorCache(self.root, IDENTITY).verify()
        if self.shards_damaged and self._damage_present():
            assert not report.ok, f"damaged shard files verified clean: {report}"
        if report.ok:
            found, vectors = VectorCache(self.root, IDENTITY).get(KEYS)
            for i in self.committed - self._may_be_lost():
                assert found[i], f"{TEXTS[i]!r} is committed but missing from a cache that verifies clean"

    @precondition(lambda self: hasattr(self, "root"))
    @rule()
    def repair(self) -> None:
        VectorCache(self.root, IDENTITY).verify(repair=True)
        after = VectorCache(self.root, IDENTITY).verify()
        assert after.ok, f"a repaired cache does not verify clean: {after}"
        found, vectors = VectorCache(self.root, IDENTITY).get(KEYS)
        lost = {i for i in self.committed if not found[i]}
        allowed = self._may_be_lost()
        assert lost <= allowed, f"repair lost intact texts: {sorted(lost - allowed)}"
        if found.any():
            np.testing.assert_array_equal(vectors, TRUE[found])
        self.committed -= lost
        self.at_risk, self.records_damaged = set(), set()
        self.shards_damaged = self.manifest_damaged = False

    def _damage_present(self) -> bool:
        """Whether a damaged shard file is still listed (a delete of an unlisted file is moot)."""
        return (self.folder / MANIFEST).exists() or any(self.folder.glob("shard-*"))

    # -- invariants -----------------------------------------------------------------------
    @invariant()
    def reads_are_true_or_refused(self) -> None:
        if not hasattr(self, "root"):
            return
        cache = VectorCache(self.root, IDENTITY)
        try:
            found, vectors = cache.get(KEYS)
        except CacheCorruptError:
            return
        rows = np.flatnonzero(found)
        assert vectors.shape[0] == len(rows)
        if not len(rows):
            return
        np.testing.assert_array_equal(vectors, TRUE[rows], err_msg="get returned another text's vector")
        try:
            shards, index = cache.locate([KEYS[i] for i in rows])
        except (CacheCorruptError, KeyError):
            return
        stacked = np.concatenate([np.asarray(s, dtype=np.float32) for s in shards])
        np.testing.assert_array_equal(stacked[index], TRUE[rows], err_msg="locate pointed at other rows")


TestCacheStateful = CacheMachine.TestCase
TestCacheStateful.settings = settings(
    max_examples=40, stateful_step_count=25, derandomize=True, deadline=None, database=None
)


@pytest.mark.slow
def test_cache_stateful_long_profile():
    """The same machine, many more and longer random runs (``-m slow``)."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        CacheMachine,
        settings=settings(
            max_examples=150, stateful_step_count=40, derandomize=True, deadline=None, database=None
        ),
    )


# -- what the long profile found, pinned as plain tests --------------------------------------
def _set_manifest_dim(folder: Path, dim) -> None:
    file = folder / MANIFEST
    table = pq.read_table(file)
    meta = json.loads(table.schema.metadata[b"embrm"])
    meta["dim"] = dim
    pq.write_table(table.replace_schema_metadata({b"embrm": json.dumps(meta).encode()}), file)


def test_a_reader_that_has_a_shard_open_sees_a_damaged_dimension(tmp_path):
    writer = VectorCache(tmp_path, IDENTITY)
    writer.put(KEYS[:3], TRUE[:3])
    found, _ = writer.get(KEYS[:3])  # the shard is now open in this object
    assert found.all()
    _set_manifest_dim(writer.path, DIM + 1)
    with pytest.raises(CacheCorruptError, match="dimension"):
        writer.get(KEYS[:3])
    with pytest.raises(CacheCorruptError, match="damaged, and nothing was written"):
        writer.put(KEYS[3:4], TRUE[3:4])
    assert VectorCache(tmp_path, IDENTITY).verify(repair=True).repaired
    found, vectors = VectorCache(tmp_path, IDENTITY).get(KEYS[:3])
    assert found.all()
    np.testing.assert_array_equal(vectors, TRUE[:3])


def test_an_empty_manifest_with_a_damaged_dimension_is_repaired(tmp_path):
    cache = VectorCache(tmp_path, IDENTITY)
    cache.put(KEYS[:1], TRUE[:1])
    shard = next(cache.path.glob("shard-*.record.json")).name.removesuffix(".record.json")
    for file in cache.path.glob(f"{shard}*"):
        file.unlink()
    table = pq.read_table(cache.path / MANIFEST).slice(0, 0)
    meta = {"dim": "None1", "shards": []}
    table = table.replace_schema_metadata({b"embrm": json.dumps(meta).encode()})
    pq.write_table(table, cache.path / MANIFEST)
    assert not VectorCache(tmp_path, IDENTITY).verify().ok
    VectorCache(tmp_path, IDENTITY).verify(repair=True)
    assert VectorCache(tmp_path, IDENTITY).verify().ok
    assert not VectorCache(tmp_path, IDENTITY).get(KEYS[:1])[0].any()
