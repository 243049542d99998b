"""Content-addressed, append-only embedding cache: ``.npy`` shards, checksum records, a manifest.

Layout of one model identity's cache, ``{root}/vectors/{identity}/``::

    manifest.parquet            key (16-byte blake2b of format + text, or of format +
                                prompt + response) -> shard, row; its metadata holds the
                                shard table (name, rows, CRC-32 of both files) and dim
    shard-<uuid>.npy            float32 (default) or float16 rows, written once, never changed
    shard-<uuid>.keys.npy       the shard's keys, row-aligned
    shard-<uuid>.record.json    the shard's commit record: rows, dim, dtype, size and CRC-32
                                of the vectors and of the keys, written when the shard is
                                committed and never rewritten from the data it covers

A shard, its keys and its record are each written to a temporary file, fsynced and moved
into place before the manifest (itself replaced atomically) names them. A process killed at
any point leaves every earlier shard indexed and at worst unindexed files, which
``verify(repair=True)`` removes.

What a read returns is checked against records written at commit time, never against the
bytes as they are now: a shard's files must match the checksums the manifest holds for
them (on the first read of the shard in a process, and again whenever the files' size,
modification time or inode change), and each returned row's key in the shard's key file
must equal the key asked for, so a damaged manifest cannot point a key at another text's
vector. Anything that fails raises :class:`~embrm.exceptions.CacheCorruptError`.
``verify(repair=True)`` keeps only shards whose files match one of their commit records
(the manifest's entry or the shard's record file) and drops the rest, whose texts are then
re-embedded; a lost manifest is rebuilt from the verified shards only.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import tempfile
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import CacheCorruptError, CacheWriteError

MANIFEST = "manifest.parquet"
LOCK = ".lock"
_META_KEY = b"embrm"
STORAGE_DTYPES = ("float16", "float32")
RECORD_FORMAT = "embrm-shard-record"
RECORD_VERSION = 1
KEY_BYTES = 16
_TEMP_PREFIXES = (".shard-", ".manifest-", ".record-")
#: errno values that mean "this folder cannot be written", not "this program is wrong".
WRITE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def default_cache_dir() -> Path:
    """``$EMBRM_CACHE_DIR``, else ``$XDG_CACHE_HOME/embrm``, else ``~/.cache/embrm``."""
    if os.environ.get("EMBRM_CACHE_DIR"):
        return Path(os.environ["EMBRM_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "embrm"


def check_cache_root(root: Path) -> Path:
    """``root`` if it is a folder or does not exist yet; a :class:`CacheWriteError` if it is a file."""
    root = Path(root)
    for parent in (root, *root.parents):
        if parent.exists():
            if not parent.is_dir():
                raise CacheWriteError(
                    f"The embedding cache folder {root} cannot be used: {parent} is a file, not "
                    "a folder. Point EMBRM_CACHE_DIR / --cache-dir at a folder."
                )
            break
    return root


def cache_write_error(folder: Path, exc: OSError) -> CacheWriteError:
    """The :class:`CacheWriteError` for a failed write into ``folder``."""
    return CacheWriteError(
        f"Cannot write to the embedding cache {folder} ({exc.strerror or exc}). "
        "Nothing already cached was changed. Free disk space, fix the folder's "
        "permissions, or point EMBRM_CACHE_DIR / --cache-dir at a writable folder."
    )


def text_keys(texts: Sequence[str], text_format: str) -> list[bytes]:
    """16-byte content keys of ``texts`` under ``text_format``."""
    prefix = text_format.encode() + b"\x00"
    return [hashlib.blake2b(prefix + t.encode(), digest_size=KEY_BYTES).digest() for t in texts]


def pair_keys(prompts: Sequence[str], responses: Sequence[str], text_format: str) -> list[bytes]:
    """16-byte content keys of (prompt, response) pairs under ``text_format``.

    The prompt's length is part of the key, so no two different pairs share one.
    """
    prefix = text_format.encode() + b"\x00"
    return [
        hashlib.blake2b(prefix + f"{len(p)}:{p}\x00{r}".encode(), digest_size=KEY_BYTES).digest()
        for p, r in zip(prompts, responses, strict=True)
    ]


def _file_checksum(path: Path) -> int:
    """CRC-32 of a file: detects truncation and bit rot at ~3x the speed of blake2b."""
    crc = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _keys_name(name: str) -> str:
    return name[: -len(".npy")] + ".keys.npy"


def _record_name(name: str) -> str:
    return name[: -len(".npy")] + ".record.json"


def _is_vectors_file(name: str) -> bool:
    return name.startswith("shard-") and name.endswith(".npy") and not name.endswith(".keys.npy")


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse; the rename is done
        pass
    finally:
        os.close(fd)


def _empty_manifest() -> pl.DataFrame:
    return pl.DataFrame(schema={"key": pl.Binary, "shard": pl.UInt32, "row": pl.UInt32})


def _keys_matrix(keys: Sequence[bytes] | pl.Series) -> np.ndarray:
    """Keys as an (n, 16) uint8 array."""
    column = keys if isinstance(keys, pl.Series) else pl.Series(keys, dtype=pl.Binary)
    try:
        fixed = column.to_arrow().cast(pa.binary(KEY_BYTES))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ValueError(f"Cache keys are {KEY_BYTES}-byte digests (text_keys / pair_keys).") from None
    if isinstance(fixed, pa.ChunkedArray):
        fixed = fixed.combine_chunks()
    data = np.frombuffer(fixed.buffers()[1], dtype=np.uint8) if len(fixed) else np.empty(0, np.uint8)
    start = fixed.offset * KEY_BYTES
    return data[start : start + len(fixed) * KEY_BYTES].reshape(-1, KEY_BYTES)


@dataclass
class VerifyReport:
    """What :meth:`VectorCache.verify` found (and, with ``repair``, did).

    Attributes
    ----------
    n_shards, n_vectors : int
        Shards and vectors indexed after the check (after the repair when ``repaired``).
    corrupt : list of str
        Shards whose files are missing or do not match their commit record (size, checksum,
        rows, dimension), or whose keys disagree with the manifest.
    unverifiable : list of str
        Shards no intact commit record covers (a lost manifest and no record file, as for
        shards written before record files existed); a repair drops them.
    orphans : list of str
        Files no manifest entry points to (left by an interrupted write) and temporary files.
    unrecorded : list of str
        Intact shards without a record file; a repair writes it from the manifest's entry
        (without one, a later loss of the manifest would drop the shard).
    manifest : str
        ``"ok"``, ``"missing"``, ``"unreadable"`` or ``"inconsistent"`` (entries that point
        at rows holding other keys, or at shards it does not list), as found.
    repaired : bool
        Whether a repair ran: bad shards and stray files were removed, missing record files
        written and the manifest rewritten from the verified shards (only where needed).
    """

    n_shards: int
    n_vectors: int
    corrupt: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    repaired: bool = False
    unverifiable: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)
    manifest: str = "ok"

    @property
    def ok(self) -> bool:
        """True when the manifest is intact and nothing is corrupt, unverifiable or orphaned."""
        return self.manifest == "ok" and not (self.corrupt or self.unverifiable or self.orphans)


@dataclass
class _OpenShard:
    vectors: np.ndarray
    keys: np.ndarray
    signature: tuple


class VectorCache:
    """The on-disk vectors of one model identity.

    Parameters
    ----------
    root : Path
        Cache root directory (see :func:`default_cache_dir`).
    identity : str
        Model identity; one sub-folder per identity.
    storage_dtype : {"float32", "float16"}
        How new shards store vectors. Reads always return float32. float16 halves the disk
        but converting it back costs about as much as the rest of a read.

    Example
    -------
    >>> cache = VectorCache(tmp_dir, "model-x")                       # doctest: +SKIP
    >>> cache.put(text_keys(["a"], "raw"), np.ones((1, 4), "float32"))  # doctest: +SKIP
    >>> cache.get(text_keys(["a", "b"], "raw"))[0]                    # doctest: +SKIP
    array([ True, False])
    """

    def __init__(self, root: Path, identity: str, storage_dtype: str = "float32"):
        if storage_dtype not in STORAGE_DTYPES:
            raise ValueError(f"storage_dtype must be one of {STORAGE_DTYPES}, got {storage_dtype!r}.")
        self.root = Path(root)
        self.identity = identity
        self.storage_dtype = storage_dtype
        self.path = self.root / "vectors" / identity
        self._manifest: pl.DataFrame | None = None
        self._meta: dict | None = None
        self._manifest_mtime: tuple[int, int, int] | None = None
        self._open: dict[str, _OpenShard] = {}  # verified shards, memory-mapped

    # -- manifest -------------------------------------------------------------------------
    def _repair_hint(self) -> str:
        return f"Run `embrm cache verify --repair --cache-dir {self.root}`"

    def _has_shard_files(self) -> bool:
        return self.path.is_dir() and any(_is_vectors_file(p.name) for p in self.path.glob("shard-*"))

    def _load_manifest(self, locked: bool = False) -> tuple[pl.DataFrame, dict]:
        """The manifest and its metadata (re-read when the file changed).

        ``locked``: the caller holds the cache's lock (no second lock is taken).
        """
        check_cache_root(self.root)
        file = self.path / MANIFEST
        try:
            mtime = _signature(file)
        except FileNotFoundError:
            if self._has_shard_files():
                if not locked:
                    with self._locked(shared=True):  # a first put may be committing right now
                        return self._load_manifest(locked=True)
                raise CacheCorruptError(
                    f"The cache manifest {file} is missing but shard files are there. "
                    f"{self._repair_hint()} to rebuild it from the shards that match "
                    "their commit records; the others are dropped and re-embedded."
                ) from None
            return _empty_manifest(), {"dim": None, "shards": []}
        if self._manifest is not None and mtime == self._manifest_mtime:
            return self._manifest, self._meta
        try:
            table = pq.read_table(file)
            meta = json.loads(table.schema.metadata[_META_KEY])
            frame = pl.from_arrow(table)
            if frame.schema != _empty_manifest().schema or not isinstance(meta.get("shards"), list):
                raise ValueError("unexpected columns or shard table")
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several error types
            raise CacheCorruptError(
                f"The cache manifest {file} cannot be read ({exc}). {self._repair_hint()} to "
                "rebuild it from the shards that match their commit records."
            ) from exc
        self._manifest = frame
        self._meta, self._manifest_mtime = meta, mtime
        return self._manifest, meta

    def _write_manifest(self, frame: pl.DataFrame, meta: dict) -> None:
        table = frame.to_arrow().replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".manifest-")
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / MANIFEST)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _fsync_dir(self.path)
        self._manifest = None

    @contextmanager
    def _locked(self, shared: bool = False) -> Iterator[None]:
        """The cache's lock: exclusive for writers, shared for readers that need a stable view.

        A shared lock opens the lock file read-only, so it works on a read-only cache; where
        the lock file is missing and cannot be created, it proceeds unlocked (nobody can
        write such a cache either).
        """
        file = self.path / LOCK
        if shared:
            try:
                lock = open(file, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                try:
                    lock = open(file, "ab")  # noqa: SIM115
                except OSError:
                    yield
                    return
        else:
            lock = open(file, "ab")  # noqa: SIM115
        with lock:
            fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- reads ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._load_manifest()[0].height

    @property
    def dim(self) -> int | None:
        """Vector dimension, None while the cache is empty."""
        return self._load_manifest()[1]["dim"]

    def _shard(self, index: int, meta: dict) -> _OpenShard:
        """Shard ``index``, checked against the manifest's record on its first read and
        whenever its files changed since."""
        try:
            info = meta["shards"][index]
        except (IndexError, TypeError):
            raise CacheCorruptError(
                f"The cache manifest of {self.path} points at shard {index}, which its shard "
                f"table does not list. {self._repair_hint()}."
            ) from None
        name = info["name"]
        file, keys_file = self.path / name, self.path / _keys_name(name)
        try:
            signature = (_signature(file), _signature(keys_file))
        except OSError:
            signature = None
        opened = self._open.get(name)
        if opened is not None and signature == opened.signature:
            return opened
        self._open.pop(name, None)
        problem, vectors, keys = (
            _open_shard_files(self.path, name, info, meta["dim"]) if signature else ("missing", None, None)
        )
        if problem:
            raise CacheCorruptError(
                f"Cache shard {file} is {problem}; its {info.get('rows')} vectors were not "
                f"returned. {self._repair_hint()} to drop it; those texts are re-embedded on "
                "next use and nothing else is lost."
            )
        opened = _OpenShard(vectors, keys, signature)
        self._open[name] = opened
        return opened

    def get(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Look ``keys`` up.

        Returns
        -------
        found : ndarray of bool, shape (n,)
        vectors : ndarray of float32, shape (found.sum(), dim)
            The cached vectors of the found keys, in query order.

        Raises
        ------
        CacheCorruptError
            A shard holding some of the keys does not match its commit record, or the
            manifest points a key at a row that holds another key.
        """
        manifest, meta = self._load_manifest()
        query = pl.DataFrame({"key": pl.Series(keys, dtype=pl.Binary)}).with_row_index("i")
        hits = query.join(manifest, on="key", how="inner").sort("shard", "row")
        found = np.zeros(len(keys), dtype=bool)
        target = hits["i"].to_numpy()
        found[target] = True
        # Output position of each hit, among the found keys in query order.
        position = np.cumsum(found)[target] - 1
        vectors = np.empty((hits.height, meta["dim"] or 0), dtype=np.float32)
        if not hits.height:
            return found, vectors
        wanted = _keys_matrix(hits["key"])
        shard_col = hits["shard"].to_numpy()
        rows = hits["row"].to_numpy().astype(np.int64)
        shards, starts = np.unique(shard_col, return_index=True)
        bounds = np.append(starts, len(shard_col))
        for shard, start, stop in zip(shards, bounds[:-1], bounds[1:], strict=True):
            opened = self._shard(int(shard), meta)
            part = rows[start:stop]
            if part[-1] >= opened.keys.shape[0] or not np.array_equal(opened.keys[part], wanted[start:stop]):
                raise CacheCorruptError(
                    f"The cache manifest of {self.path} points keys at rows of "
                    f"{meta['shards'][int(shard)]['name']} that hold other keys (or do not "
                    f"exist); no vector was returned. {self._repair_hint()} to rebuild it."
                )
            # rows ascend within a shard: a sequential read of the memory map
            vectors[position[start:stop]] = opened.vectors[part]
        return found, vectors

    # -- writes ---------------------------------------------------------------------------
    def _write_error(self, exc: OSError) -> CacheWriteError:
        return cache_write_error(self.path, exc)

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Append new vectors as one shard; keys already present are skipped.

        Raises
        ------
        CacheWriteError
            The folder cannot be written (read-only, full); nothing cached was changed.
        """
        vectors = np.asarray(vectors)
        check_cache_root(self.root)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with self._locked():
                manifest, meta = self._load_manifest(locked=True)
                if meta["dim"] is not None and vectors.shape[1] != meta["dim"]:
                    raise ValueError(
                        f"Vectors of dimension {vectors.shape[1]} cannot go into cache "
                        f"{self.path} of dimension {meta['dim']}."
                    )
                new = pl.DataFrame({"key": pl.Series(list(keys), dtype=pl.Binary)})
                new = new.with_row_index("src").unique("key", keep="first")
                new = new.join(manifest.select("key"), on="key", how="anti").sort("src")
                if new.height == 0:
                    return
                if not (self.path / MANIFEST).exists():
                    # an empty manifest first: shard files never appear without one
                    self._write_manifest(_empty_manifest(), {"dim": None, "shards": []})
                name = f"shard-{uuid.uuid4().hex}.npy"
                data = vectors[new["src"].to_numpy()].astype(self.storage_dtype)
                self._write_file(_keys_name(name), _npy_bytes(_keys_matrix(new["key"].to_list())))
                self._write_file(name, _npy_bytes(data))
                record = _make_record(self.path, name, data.shape[0], data.shape[1], self.storage_dtype)
                self._write_file(_record_name(name), json.dumps(record).encode())
                entry = {k: record[k] for k in ("name", "rows", "crc32", "keys_crc32")}
                meta = {"dim": int(vectors.shape[1]), "shards": [*meta["shards"], entry]}
                entries = pl.DataFrame(
                    {
                        "key": new["key"],
                        "shard": pl.Series([len(meta["shards"]) - 1] * new.height, dtype=pl.UInt32),
                        "row": pl.Series(np.arange(new.height), dtype=pl.UInt32),
                    }
                )
                self._write_manifest(pl.concat([manifest, entries]), meta)
        except OSError as exc:
            raise self._write_error(exc) from exc

    def _write_file(self, name: str, content: bytes) -> None:
        """Write ``content`` to ``name`` atomically: a temporary file, fsynced, then renamed."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".shard-" if name.endswith(".npy") else ".record-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- maintenance ----------------------------------------------------------------------
    def verify(self, repair: bool = False) -> VerifyReport:
        """Check every shard against its commit records; with ``repair``, keep only what checks.

        A shard is intact when its vectors and keys files match a record written when it was
        committed: the manifest's entry (checksums, rows, and the manifest's keys equal the
        key file's) or the shard's record file (checksums, rows, dimension, dtype). Without
        ``repair`` nothing is written (a read-only cache can be verified). With ``repair``,
        under the cache's exclusive lock: shards that fail or that no intact record covers
        are deleted (their texts are re-embedded on next use), stray files are removed, a
        missing record file is written from the manifest's entry, and the manifest is
        rebuilt from the intact shards' key files.
        """
        if not self.path.is_dir():
            check_cache_root(self.root)
            return VerifyReport(0, 0, repaired=repair)
        if repair:
            try:
                with self._locked():
                    return self._verify(repair=True)
            except OSError as exc:
                raise self._write_error(exc) from exc
        with self._locked(shared=True):  # a concurrent put is never half-seen
            return self._verify(repair=False)

    def _verify(self, repair: bool) -> VerifyReport:
        self._manifest, self._open = None, {}
        state, manifest, meta = "ok", _empty_manifest(), {"dim": None, "shards": []}
        try:
            manifest, meta = self._load_manifest(locked=True)
        except CacheCorruptError:
            state = "missing" if not (self.path / MANIFEST).exists() else "unreadable"
        listed = [s.get("name") if isinstance(s, dict) else None for s in meta["shards"]]
        entries = manifest.partition_by("shard", as_dict=True, include_key=False) if manifest.height else {}
        if any(int(k[0]) >= len(listed) for k in entries) or len(set(listed)) != len(listed):
            state = "inconsistent"
        if state in ("ok", "inconsistent"):
            candidates = [n for n in listed if isinstance(n, str)]
        else:  # no usable shard table: every shard on disk, each on its own record
            candidates = sorted(p.name for p in self.path.iterdir() if _is_vectors_file(p.name))
        intact: dict[str, dict] = {}  # name -> the commit record its files match
        corrupt, unverifiable, unrecorded = [], [], []
        dim = meta.get("dim")
        for name in candidates:
            if not _is_vectors_file(name) or "/" in name:
                corrupt.append(str(name))
                continue
            info = meta["shards"][listed.index(name)] if name in listed else None
            record = _read_record(self.path, name)
            rows = entries.get((listed.index(name),)) if name in listed else None
            from_manifest = None
            if info is not None:
                problem = _check_shard_files(self.path, name, info, dim)
                if problem is None and "keys_crc32" not in info:
                    # no checksum of the keys: they must equal the manifest's keys instead
                    if rows is not None and not _keys_agree(self.path, name, rows):
                        problem = "holding other keys than the manifest"
                if problem is None:
                    from_manifest = {**info, "dim": dim}
            from_record = None
            if record is not None and _check_shard_files(self.path, name, record, record["dim"]) is None:
                from_record = record
            chosen = from_record or from_manifest
            if chosen is None:
                (corrupt if info is not None or record is not None else unverifiable).append(name)
                continue
            if dim is None:
                dim = chosen["dim"]
            if chosen["dim"] != dim:
                corrupt.append(name)
                continue
            intact[name] = chosen
            if from_record is None:
                unrecorded.append(name)
            if state == "ok" and rows is not None and not _keys_agree(self.path, name, rows):
                state = "inconsistent"
        dropped = set(corrupt) | set(unverifiable)
        owned = {f for n in [*intact, *dropped] for f in (n, _keys_name(n), _record_name(n))}
        orphans = sorted(
            p.name
            for p in self.path.iterdir()
            if p.name not in owned and p.name.startswith(("shard-", *_TEMP_PREFIXES))
        )
        report = VerifyReport(
            len(listed),
            manifest.height,
            corrupt=corrupt,
            orphans=orphans,
            unverifiable=unverifiable,
            unrecorded=unrecorded,
            manifest=state,
        )
        if not repair:
            return report
        report.repaired = True
        if report.ok and not unrecorded:
            return report
        for name in unrecorded:
            info = intact[name]
            record = _make_record(self.path, name, info["rows"], info["dim"], None)
            self._write_file(_record_name(name), json.dumps(record).encode())
        if not report.ok:
            self._write_rebuilt_manifest(list(intact), intact)
            for name in sorted(dropped):
                for file in (name, _keys_name(name), _record_name(name)):
                    (self.path / file).unlink(missing_ok=True)
            for name in orphans:
                (self.path / name).unlink(missing_ok=True)
        manifest, meta = self._load_manifest(locked=True)
        report.n_shards, report.n_vectors = len(meta["shards"]), manifest.height
        return report

    def _write_rebuilt_manifest(self, names: list[str], records: dict[str, dict]) -> None:
        frames, shards, dim = [], [], None
        for name in names:
            record = records[name]
            keys = np.load(self.path / _keys_name(name))
            dim = record["dim"]
            frames.append(
                pl.DataFrame(
                    {
                        "key": pl.Series([k.tobytes() for k in keys], dtype=pl.Binary),
                        "shard": pl.Series([len(shards)] * keys.shape[0], dtype=pl.UInt32),
                        "row": pl.Series(np.arange(keys.shape[0]), dtype=pl.UInt32),
                    }
                )
            )
            shards.append({k: record[k] for k in ("name", "rows", "crc32", "keys_crc32") if k in record})
            shards[-1]["name"] = name
        frame = (
            pl.concat(frames).unique("key", keep="first", maintain_order=True)
            if frames
            else _empty_manifest()
        )
        self._write_manifest(frame, {"dim": dim, "shards": shards})

    def info(self) -> dict:
        """Counts and size on disk of this identity's cache."""
        manifest, meta = self._load_manifest()
        size = sum(p.stat().st_size for p in self.path.glob("*")) if self.path.is_dir() else 0
        return {
            "identity": self.identity,
            "path": str(self.path),
            "vectors": manifest.height,
            "shards": len(meta["shards"]),
            "dim": meta["dim"],
            "bytes": size,
        }


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _make_record(folder: Path, name: str, rows: int, dim: int, dtype: str | None) -> dict:
    """The commit record of shard ``name``: what its two files hold, and their checksums."""
    file, keys_file = folder / name, folder / _keys_name(name)
    if dtype is None:
        dtype = str(np.load(file, mmap_mode="r").dtype)
    return {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "name": name,
        "rows": int(rows),
        "dim": int(dim),
        "dtype": dtype,
        "size": file.stat().st_size,
        "crc32": _file_checksum(file),
        "keys_size": keys_file.stat().st_size,
        "keys_crc32": _file_checksum(keys_file),
    }


def _read_record(folder: Path, name: str) -> dict | None:
    """Shard ``name``'s record file, or None when it is missing or not a well-formed record."""
    try:
        record = json.loads((folder / _record_name(name)).read_bytes())
    except (OSError, ValueError):
        return None
    fields = {
        "rows": int,
        "dim": int,
        "dtype": str,
        "size": int,
        "crc32": int,
        "keys_size": int,
        "keys_crc32": int,
    }
    if (
        not isinstance(record, dict)
        or record.get("format") != RECORD_FORMAT
        or record.get("name") != name
        or not all(isinstance(record.get(k), t) for k, t in fields.items())
    ):
        return None
    return record


def _check_shard_files(folder: Path, name: str, record: dict, dim: int | None) -> str | None:
    """What is wrong with shard ``name``'s files measured against ``record`` (a manifest
    entry or a record file), or None when they match it."""
    return _open_shard_files(folder, name, record, dim)[0]


def _open_shard_files(
    folder: Path, name: str, record: dict, dim: int | None
) -> tuple[str | None, np.ndarray | None, np.ndarray | None]:
    """Shard ``name``'s vectors (memory-mapped) and keys once they match ``record``; else
    what is wrong with them, and no arrays."""
    file, keys_file = folder / name, folder / _keys_name(name)
    if not file.is_file() or not keys_file.is_file():
        return "missing", None, None
    for path, size_key, crc_key in ((file, "size", "crc32"), (keys_file, "keys_size", "keys_crc32")):
        if size_key in record and path.stat().st_size != record[size_key]:
            return "truncated or extended (size differs from its commit record)", None, None
        if crc_key in record and _file_checksum(path) != record[crc_key]:
            return "altered (checksum differs from its commit record)", None, None
    if "crc32" not in record:
        return "without a checksum in its commit record", None, None
    try:
        vectors = np.load(file, mmap_mode="r")
        keys = np.load(keys_file)
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc})", None, None
    expected_dtype = record.get("dtype")
    if (
        vectors.ndim != 2
        or vectors.shape[0] != record.get("rows")
        or (dim is not None and vectors.shape[1] != dim)
        or str(vectors.dtype) not in STORAGE_DTYPES
        or (expected_dtype is not None and str(vectors.dtype) != expected_dtype)
        or keys.shape != (vectors.shape[0], KEY_BYTES)
        or keys.dtype != np.uint8
    ):
        return "of another shape or type than its commit record", None, None
    return None, vectors, keys


def _keys_agree(folder: Path, name: str, entries: pl.DataFrame) -> bool:
    """Whether the manifest's (key, row) entries of shard ``name`` match its key file."""
    keys = np.load(folder / _keys_name(name))
    rows = entries["row"].to_numpy().astype(np.int64)
    if rows.size and rows.max() >= keys.shape[0]:
        return False
    return np.array_equal(keys[rows], _keys_matrix(entries["key"].to_list()))


def cached_identities(root: Path) -> list[str]:
    """Every model identity with a cache folder under ``root``.

    Raises
    ------
    CacheWriteError
        ``root`` (or a folder above it) is a file.
    """
    base = check_cache_root(Path(root)) / "vectors"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
