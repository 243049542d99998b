"""Content-addressed, append-only embedding cache: ``.npy`` shards, checksum records, a manifest.

Layout of one model identity's cache, ``{root}/vectors/{identity}/``::

    manifest.parquet            key (16-byte blake2b of format + text, or of format +
                                prompt + response) -> shard, row; its metadata holds the
                                shard table (name, rows, CRC-32 of both files) and dim
    shard-<uuid>.npy            float32 (default) or float16 rows, written once, never changed
    shard-<uuid>.keys.npy       the shard's keys, row-aligned
    shard-<uuid>.record.json    the shard's commit record: rows, dim, dtype, size and CRC-32
                                of the vectors and of the keys, and a CRC-32 of the record
                                itself; written when the shard is committed and never
                                rewritten from the data it covers

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
A shard's record file, when it is there and well formed, is its commit record: a manifest
entry that disagrees with it (rows, checksums, dimension) is refused on read and rewritten
by a repair. The manifest's entry is the commit record only of shards without a record file.

``verify(repair=True)`` keeps only shards whose files match their commit record and drops
the rest, whose texts are then re-embedded; a lost or damaged manifest is rebuilt from the
verified shards only.

The cache never touches a path outside its identity folder: a shard name from the manifest
must match ``shard-<letters, digits, - or _>.npy`` (no separator, no ``..``, never absolute)
before anything is read or removed under it, and names that do not are reported and
dropped from the manifest, never opened.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
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

from embrm._core.files import atomic_write, fsync_folder
from embrm.exceptions import CacheCorruptError, CacheWriteError, OutputWriteError

MANIFEST = "manifest.parquet"
LOCK = ".lock"
_META_KEY = b"embrm"
STORAGE_DTYPES = ("float16", "float32")
RECORD_FORMAT = "embrm-shard-record"
RECORD_VERSION = 1
KEY_BYTES = 16
_TEMP_PREFIXES = (".shard-", ".manifest-", ".manifest.", ".record-")
#: The only names a shard's vectors file may have: no separator, no "..", never absolute.
_SHARD_NAME = re.compile(r"shard-[0-9A-Za-z_-]{1,64}\.npy")
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
    if isinstance(exc, OutputWriteError) and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__  # the atomic writer's own error: name the system's reason
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


def _is_shard_name(name: object) -> bool:
    """Whether ``name`` is a shard's vectors file name (``shard-<id>.npy``): a plain name in
    the identity folder, never a path (no separator, no ``..``, not absolute)."""
    return isinstance(name, str) and _SHARD_NAME.fullmatch(name) is not None


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove(path: Path) -> None:
    """Remove the cache file ``path`` (a folder put in its place too; a link, not its target)."""
    if _is_folder(path):
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _is_int(value: object, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


#: Fields of a manifest's shard entry besides ``name``: required or not, and their least value.
_ENTRY_FIELDS = {"rows": (True, 0), "crc32": (False, 0), "keys_crc32": (False, 0)}


def _entry_problem(entry: object) -> str | None:
    """What is wrong with one entry of the manifest's shard table, or None."""
    if not isinstance(entry, dict):
        return f"an entry is a {type(entry).__name__}, not a table"
    name = entry.get("name")
    if not _is_shard_name(name):
        return f"an entry names {name!r}, which is not a shard file of this folder"
    for key, (required, minimum) in _ENTRY_FIELDS.items():
        if (required or key in entry) and not _is_int(entry.get(key), minimum):
            return f"the entry of {name} has {key}={entry.get(key)!r}, not a whole number"
    return None


def _meta_problem(meta: dict) -> str | None:
    """What is wrong with the manifest's metadata (shard table and dimension), or None."""
    for entry in meta["shards"]:
        problem = _entry_problem(entry)
        if problem:
            return problem
    dim = meta.get("dim")
    if meta["shards"] and not _is_int(dim, 1):
        return f"its dimension is {dim!r}, not a positive whole number"
    if not meta["shards"] and dim is not None and not _is_int(dim, 1):
        return f"its dimension is {dim!r}"
    return None


def _entry_agrees(entry: dict, record: dict) -> bool:
    """Whether a manifest entry says what a shard's record file says (rows, checksums). An
    entry without the vectors' checksum says too little: no read can check the shard by it."""
    fields = ("rows", "crc32", "keys_crc32", "size", "keys_size")
    return "crc32" in entry and all(entry[k] == record[k] for k in fields if k in entry)


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
    invalid : list of str
        Manifest entries that name no shard file of this folder (a path, a separator, ``..``,
        another pattern, or not a table), as ``repr``: never read or removed; a repair drops
        them from the manifest.
    manifest : str
        ``"ok"``, ``"missing"``, ``"unreadable"`` or ``"inconsistent"`` (entries that point
        at rows holding other keys or at shards it does not list, shard entries or a
        dimension that disagree with the shards' commit records, invalid entries), as found.
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
    invalid: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the manifest is intact and nothing is corrupt, unverifiable or orphaned."""
        return self.manifest == "ok" and not (
            self.corrupt or self.unverifiable or self.orphans or self.invalid
        )


@dataclass
class _OpenShard:
    vectors: np.ndarray
    keys: np.ndarray
    signature: tuple
    entry: dict  # the manifest entry and dimension it was checked against
    dim: int | None


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
        return self.path.is_dir() and any(_is_shard_name(p.name) for p in self.path.glob("shard-*"))

    def _read_manifest(self, file: Path) -> tuple[pl.DataFrame, dict]:
        """The manifest file's table and metadata as stored (its shard table unchecked).

        Raises
        ------
        CacheCorruptError
            It is not a file or cannot be parsed, or its columns or shard table are not a list.
        """
        try:
            if not file.is_file():
                raise ValueError("it is a folder or another non-file")
            table = pq.read_table(file)
            meta = json.loads(table.schema.metadata[_META_KEY])
            frame = pl.from_arrow(table)
            if (
                frame.schema != _empty_manifest().schema
                or not isinstance(meta, dict)
                or not isinstance(meta.get("shards"), list)
            ):
                raise ValueError("unexpected columns or shard table")
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several error types
            raise CacheCorruptError(
                f"The cache manifest {file} cannot be read ({exc}). {self._repair_hint()} to "
                "rebuild it from the shards that match their commit records."
            ) from exc
        return frame, meta

    def _load_manifest(self, locked: bool = False) -> tuple[pl.DataFrame, dict]:
        """The manifest and its metadata (re-read when the file changed), checked: every
        shard entry names a shard file of this folder and has whole-number rows and
        checksums, and the dimension is a positive whole number once there are shards.

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
        frame, meta = self._read_manifest(file)
        problem = _meta_problem(meta)
        if problem:
            raise CacheCorruptError(
                f"The cache manifest {file} is damaged: {problem}. {self._repair_hint()} to "
                "rebuild it from the shards that match their commit records."
            )
        self._manifest = frame
        self._meta, self._manifest_mtime = meta, mtime
        return self._manifest, meta

    def _write_manifest(self, frame: pl.DataFrame, meta: dict) -> None:
        table = frame.to_arrow().replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        with atomic_write(self.path / MANIFEST, "wb", what="the cache manifest") as fh:
            pq.write_table(table, fh, compression="zstd")
        self._manifest = None

    @contextmanager
    def _locked(self, shared: bool = False) -> Iterator[None]:
        """The cache's lock: exclusive for writers, shared for readers that need a stable view.

        A shared lock opens the lock file read-only, so it works on a read-only cache; where
        the lock file is missing and cannot be created, it proceeds unlocked (nobody can
        write such a cache either).

        Raises
        ------
        CacheCorruptError
            The lock file is a folder (or another non-file): no lock can be taken on it.
        """
        file = self.path / LOCK
        lock = None
        try:
            if shared:
                try:
                    lock = open(file, "rb")  # noqa: SIM115 - closed below
                except FileNotFoundError:
                    try:
                        lock = open(file, "ab")  # noqa: SIM115
                    except IsADirectoryError:
                        raise
                    except OSError:
                        pass  # read-only and never written: nobody can write it either
            else:
                lock = open(file, "ab")  # noqa: SIM115
        except IsADirectoryError:
            raise CacheCorruptError(
                f"The cache's lock file {file} is a folder, so the cache cannot be locked. Remove "
                f"that folder (rmdir '{file}') and run the command again; no data is kept there."
            ) from None
        if lock is None:
            yield
            return
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
        """Shard ``index``, checked against its commit records on its first read and
        whenever its files changed since: its files must match the manifest's entry, and the
        entry must agree with the shard's record file where that file is well formed."""
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
        if (
            opened is not None
            and signature == opened.signature
            and opened.entry == info
            and opened.dim == meta["dim"]
        ):
            return opened
        self._open.pop(name, None)
        record = _read_record(self.path, name)
        if record is not None and (not _entry_agrees(info, record) or record["dim"] != meta["dim"]):
            raise CacheCorruptError(
                f"The cache manifest's entry for shard {file} disagrees with the shard's commit "
                f"record {self.path / _record_name(name)} (rows, checksums or dimension); its "
                f"vectors were not returned. {self._repair_hint()} to rebuild the manifest from "
                "the commit records."
            )
        problem, vectors, keys = (
            _open_shard_files(self.path, name, info, meta["dim"]) if signature else ("missing", None, None)
        )
        if problem:
            raise CacheCorruptError(
                f"Cache shard {file} is {problem}; its {info.get('rows')} vectors were not "
                f"returned. {self._repair_hint()} to drop it; those texts are re-embedded on "
                "next use and nothing else is lost."
            )
        opened = _OpenShard(vectors, keys, signature, dict(info), meta["dim"])
        self._open[name] = opened
        return opened

    def _check_row_keys(self, opened: _OpenShard, rows: np.ndarray, wanted: np.ndarray, name: str) -> None:
        """Raise unless the (checksummed) key file of shard ``name`` holds ``wanted`` at ``rows``."""
        if rows.size and (
            rows.max() >= opened.keys.shape[0] or not np.array_equal(opened.keys[rows], wanted)
        ):
            raise CacheCorruptError(
                f"The cache manifest of {self.path} points keys at rows of {name} that hold other "
                f"keys (or do not exist); no vector was returned. {self._repair_hint()} to rebuild it."
            )

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
            self._check_row_keys(opened, part, wanted[start:stop], meta["shards"][int(shard)]["name"])
            # rows ascend within a shard: a sequential read of the memory map
            vectors[position[start:stop]] = opened.vectors[part]
        return found, vectors

    def contains(self, keys: Sequence[bytes]) -> np.ndarray:
        """Whether each key is cached (bool array, shape (n,)), reading no vector."""
        manifest, _ = self._load_manifest()
        return pl.Series(list(keys), dtype=pl.Binary).is_in(manifest["key"].implode()).to_numpy()

    def locate(self, keys: Sequence[bytes]) -> tuple[list[np.ndarray], np.ndarray]:
        """Where ``keys``' vectors lie on disk, for fitting without loading them.

        Returns the shards holding them (memory-mapped, checksummed on first use; rows as
        stored, float16 or float32) and each key's row in those shards read as stacked in
        order, so ``shards`` and row numbers go straight to ``head.fit_indexed``. These are
        the stored vectors: the representation itself only for the ``joint`` view of a
        sentence encoder and raw texts. Each key's row is checked against the shard's key
        file, as :meth:`get` does.

        Raises
        ------
        KeyError
            Some key is not cached.
        CacheCorruptError
            A shard does not match its commit record, or the manifest points a key at a row
            that holds another key.
        """
        manifest, meta = self._load_manifest()
        query = pl.DataFrame({"key": pl.Series(list(keys), dtype=pl.Binary)}).with_row_index("i")
        hits = query.join(manifest, on="key", how="left").sort("i")
        if hits["shard"].null_count():
            raise KeyError(
                f"{hits['shard'].null_count()} of {len(keys)} keys are not in the cache {self.path}."
            )
        shard = hits["shard"].to_numpy()
        rows = hits["row"].to_numpy().astype(np.int64)
        wanted = _keys_matrix(hits["key"])
        order = np.argsort(shard, kind="stable")
        used, starts_in_order = np.unique(shard[order], return_index=True)
        bounds = np.append(starts_in_order, len(order))
        shards = []
        for s, start, stop in zip(used, bounds[:-1], bounds[1:], strict=True):
            opened = self._shard(int(s), meta)
            part = order[start:stop]
            self._check_row_keys(opened, rows[part], wanted[part], meta["shards"][int(s)]["name"])
            shards.append(opened.vectors)
        starts = np.cumsum([0] + [s.shape[0] for s in shards])
        return shards, starts[np.searchsorted(used, shard)] + rows

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
            _make_folder(self.path)
            with self._locked():
                manifest, meta = self._load_manifest(locked=True)
                if meta["dim"] is not None and vectors.shape[1] != meta["dim"]:
                    records = (_read_record(self.path, s["name"]) for s in meta["shards"])
                    recorded = {r["dim"] for r in records if r is not None}
                    if recorded and recorded != {meta["dim"]}:
                        raise CacheCorruptError(
                            f"The cache manifest of {self.path} gives the dimension {meta['dim']}, but "
                            f"its shards' commit records give {sorted(recorded)}: the manifest is "
                            f"damaged, and nothing was written. {self._repair_hint()} to rebuild it."
                        )
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
        """Write ``content`` to ``name`` atomically (a temporary file beside it, fsynced,
        renamed, the folder fsynced)."""
        with atomic_write(self.path / name, "wb", what="the cache file") as fh:
            fh.write(content)

    # -- maintenance ----------------------------------------------------------------------
    def verify(self, repair: bool = False) -> VerifyReport:
        """Check every shard against its commit record; with ``repair``, keep only what checks.

        A shard's commit record is its record file (checksums, rows, dimension, dtype) when
        that file is well formed, else the manifest's entry (checksums, rows, and the
        manifest's keys must equal the key file's). A shard is intact when its vectors and
        keys files match it. The manifest is ``"inconsistent"`` when an entry disagrees with
        the shard's record file, its dimension differs from the intact shards', an entry
        names no shard file of this folder, or its keys point at rows holding other keys.
        Without ``repair`` nothing is written (a read-only cache can be verified).

        With ``repair``, under the cache's exclusive lock: shards that fail or that no intact
        record covers are deleted (their texts are re-embedded on next use), stray files are
        removed, a missing record file is written from the manifest's entry, and the manifest
        is rebuilt from the intact shards' key files and records. Only files of this
        identity's folder are ever read or removed: manifest entries naming anything else
        are reported in :attr:`VerifyReport.invalid` and dropped from the manifest.

        Raises
        ------
        CacheCorruptError
            The cache's lock file is a folder.
        CacheWriteError
            A repair cannot write (read-only, full); what it did so far is consistent and
            the next repair finishes it.
        """
        if not self.path.is_dir():
            check_cache_root(self.root)
            return VerifyReport(0, 0, repaired=repair)
        if repair:
            try:
                with self._locked():
                    return self._verify(repair=True)
            except OSError as exc:
                if isinstance(exc, OutputWriteError) and isinstance(exc.__cause__, OSError):
                    exc = exc.__cause__
                raise CacheWriteError(
                    f"Cannot write to the embedding cache {self.path} ({exc.strerror or exc}); "
                    "the repair stopped. Whatever it changed so far is consistent (every indexed "
                    "shard matches its commit record). Free disk space or fix the folder's "
                    "permissions and run `embrm cache verify --repair` again to finish it."
                ) from exc
        with self._locked(shared=True):  # a concurrent put is never half-seen
            return self._verify(repair=False)

    def _verify(self, repair: bool) -> VerifyReport:
        self._manifest, self._open = None, {}
        file = self.path / MANIFEST
        state, frame, meta = "ok", _empty_manifest(), {"dim": None, "shards": []}
        if not (file.exists() or file.is_symlink()):
            state = "missing"
        else:
            try:
                frame, meta = self._read_manifest(file)
            except CacheCorruptError:
                state = "unreadable"
        # The shard table, entry by entry: a name that is not a shard file of this folder
        # is reported and never used as a path.
        listed: dict[str, tuple[int, dict | None]] = {}
        invalid: list[str] = []
        table_damaged = False
        for index, entry in enumerate(meta["shards"]):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not _is_shard_name(name):
                invalid.append(repr(name if isinstance(entry, dict) else entry))
                table_damaged = True
            elif name in listed:
                table_damaged = True
            else:
                listed[name] = (index, entry if _entry_problem(entry) is None else None)
                table_damaged |= listed[name][1] is None
        if table_damaged or (state == "ok" and _meta_problem(meta) is not None):
            state = "inconsistent"
        entries = frame.partition_by("shard", as_dict=True, include_key=False) if frame.height else {}
        if any(int(k[0]) >= len(meta["shards"]) for k in entries):
            state = "inconsistent"
        candidates = list(listed)
        if state in ("missing", "unreadable") or table_damaged:
            # a shard table that is missing or damaged cannot say which shards it listed:
            # every shard on disk is a candidate, each judged by its own record file
            on_disk = sorted(p.name for p in self.path.iterdir() if _is_shard_name(p.name))
            candidates += [n for n in on_disk if n not in listed]
        intact: dict[str, dict] = {}  # name -> the commit record its files match
        corrupt, unverifiable, unrecorded = [], [], []
        for name in candidates:
            index, info = listed.get(name, (None, None))
            rows = entries.get((index,)) if index is not None else None
            record = _read_record(self.path, name)
            if record is not None:
                if _check_shard_files(self.path, name, record, record["dim"]) is not None:
                    corrupt.append(name)
                    continue
                chosen = record
                if index is not None and (info is None or not _entry_agrees(info, record)):
                    state = "inconsistent"  # the entry differs from the commit record: rebuilt
            elif info is not None:
                problem, vectors, _ = _open_shard_files(self.path, name, info, None)
                if problem is None and "keys_crc32" not in info:
                    # no checksum of the keys: they must equal the manifest's keys instead
                    if rows is not None and not _keys_agree(self.path, name, rows):
                        problem = "holding other keys than the manifest"
                if problem is not None:
                    corrupt.append(name)
                    continue
                chosen = {**info, "dim": int(vectors.shape[1])}
                unrecorded.append(name)
            else:  # no record file, and no usable manifest entry
                unverifiable.append(name)
                continue
            intact[name] = chosen
            if state == "ok" and rows is not None and not _keys_agree(self.path, name, rows):
                state = "inconsistent"
        # The cache's dimension: the manifest's if an intact shard has it, else the one most
        # vectors have; shards of another dimension cannot be read beside the others.
        dim = meta.get("dim")
        if intact:
            by_dim: dict[int, int] = {}
            for record in intact.values():
                by_dim[record["dim"]] = by_dim.get(record["dim"], 0) + record["rows"]
            if not _is_int(dim, 1) or dim not in by_dim:
                dim = max(by_dim, key=by_dim.get)
            for name in [n for n, r in intact.items() if r["dim"] != dim]:
                del intact[name]
                corrupt.append(name)
                if name in unrecorded:
                    unrecorded.remove(name)
            if state == "ok" and not (_is_int(meta.get("dim"), 1) and meta["dim"] == dim):
                state = "inconsistent"
        unrecorded = [n for n in unrecorded if n in intact]
        dropped = set(corrupt) | set(unverifiable)
        owned = {f for n in [*intact, *dropped] for f in (n, _keys_name(n), _record_name(n))}
        orphans = sorted(
            p.name
            for p in self.path.iterdir()
            if p.name not in owned and p.name.startswith(("shard-", *_TEMP_PREFIXES))
        )
        report = VerifyReport(
            len(meta["shards"]),
            frame.height,
            corrupt=corrupt,
            orphans=orphans,
            unverifiable=unverifiable,
            unrecorded=unrecorded,
            manifest=state,
            invalid=invalid,
        )
        if not repair:
            return report
        report.repaired = True
        if report.ok and not unrecorded:
            return report
        for name in unrecorded:
            info = intact[name]
            _remove_folder_at(self.path / _record_name(name))
            record = _make_record(self.path, name, info["rows"], info["dim"], None)
            self._write_file(_record_name(name), json.dumps(record).encode())
        if not report.ok:
            self._write_rebuilt_manifest(list(intact), intact)
            for name in sorted(dropped):
                for file in (name, _keys_name(name), _record_name(name)):
                    _remove(self.path / file)
            for name in orphans:
                _remove(self.path / name)
            fsync_folder(self.path)
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
        _remove_folder_at(self.path / MANIFEST)
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


def _remove_folder_at(path: Path) -> None:
    """Remove a folder put where the cache writes a file (a repair's own file names only)."""
    if _is_folder(path):
        shutil.rmtree(path)


def _make_folder(path: Path) -> None:
    """Create ``path`` and its missing parents, fsyncing each parent that gained a folder."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        fsync_folder(folder.parent)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _record_checksum(record: dict) -> int:
    """CRC-32 of a record's fields (all but this checksum), so a record damaged into other
    well-formed values is recognised as damaged rather than taken as the truth."""
    fields = {k: v for k, v in record.items() if k != "record_crc32"}
    return zlib.crc32(json.dumps(fields, sort_keys=True).encode())


def _make_record(folder: Path, name: str, rows: int, dim: int, dtype: str | None) -> dict:
    """The commit record of shard ``name``: what its two files hold, their checksums, and
    a checksum of the record itself."""
    file, keys_file = folder / name, folder / _keys_name(name)
    if dtype is None:
        dtype = str(np.load(file, mmap_mode="r").dtype)
    record = {
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
    record["record_crc32"] = _record_checksum(record)
    return record


def _read_record(folder: Path, name: str) -> dict | None:
    """Shard ``name``'s record file, or None when it is missing, not a well-formed record,
    or fails its own checksum (records written before that checksum existed have none)."""
    path = folder / _record_name(name)
    try:
        record = None if path.is_symlink() else json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(record, dict)
        or record.get("format") != RECORD_FORMAT
        or record.get("name") != name
        or not isinstance(record.get("dtype"), str)
        or not _is_int(record.get("dim"), 1)
        or not all(_is_int(record.get(k)) for k in ("rows", "size", "crc32", "keys_size", "keys_crc32"))
        or ("record_crc32" in record and record["record_crc32"] != _record_checksum(record))
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
    if file.is_symlink() or keys_file.is_symlink():
        return "a symbolic link (the cache never follows links out of its folder)", None, None
    if not file.is_file() or not keys_file.is_file():
        return "missing (or not a file)", None, None
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
