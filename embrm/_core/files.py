"""Writing files so that nothing is ever torn or lost: one atomic-write helper, one lock.

Every file embrm writes goes through :func:`atomic_write` (or :func:`atomic_write_bytes` /
:func:`atomic_write_text`): the content goes to a temporary file created exclusively in the
destination's folder, is flushed and ``fsync``-ed, then ``os.replace``-d over the destination,
and the folder is ``fsync``-ed so the rename itself survives a power cut. A crash (``kill -9``)
or a full disk at any point leaves either the old file or the new one, never a torn one; the
temporary file is removed on any error.

Files that accumulate work (labels) are updated inside :func:`file_lock` with a
read-merge-write, so two processes updating the same file lose nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from embrm.exceptions import DataError, EmbrmError, OutputWriteError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_not_input",
    "file_lock",
    "fsync_folder",
    "write_frame",
]


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """``fsync`` a folder so that a rename or a new file in it is durable (no-op where the
    platform cannot open folders)."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _errno_of(exc: BaseException) -> int | None:
    """The errno of an OS error, also when a library reports it only in its message
    (polars and other Rust writers say "No space left on device (os error 28)")."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    found = re.search(r"os error (\d+)", str(exc))
    return int(found.group(1)) if found else None


def _describe_os_error(exc: BaseException, path: Path, what: str) -> str:
    code = _errno_of(exc)
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full"
        fix = "free some space and run the command again"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "permission denied (or a read-only file system)"
        fix = "write to a folder you can write to"
    elif code == errno.EISDIR:
        reason = "it is a folder"
        fix = "give a file name inside it"
    else:
        reason = getattr(exc, "strerror", None) or str(exc)
        fix = "check the path and run the command again"
    return (
        f"Could not write {what} {str(path)!r}: {reason}. Nothing was changed "
        f"(any earlier file there is intact); {fix}."
    )


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, what: str = "the file", **open_kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path``.

    Parameters
    ----------
    path : path-like
        The destination. Its folder must exist. A symbolic link at ``path`` is replaced by
        the new file (the link's target is never written).
    mode : {"wb", "w"}, default "wb"
        Binary or text; extra keyword arguments (``encoding``, ``newline``) go to ``open``.
    what : str
        How error messages name the file ("the labels file", "--out").

    Raises
    ------
    OutputWriteError
        When the disk is full or the folder is not writable; the destination is untouched.

    Example
    -------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_write(path, "w", encoding="utf-8") as fh:
    ...     _ = fh.write("hello")
    >>> path.read_text()
    'hello'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write opens files for writing only ('wb' or 'w'), got {mode!r}.")
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    try:
        # mkstemp: O_CREAT | O_EXCL with a random name, so a planted file or link is never followed.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputWriteError(_describe_os_error(exc, path, what)) from exc
    try:
        with contextlib.suppress(OSError):  # best effort: some file systems have no modes
            os.fchmod(fd, _new_file_mode(path))
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        if isinstance(exc, EmbrmError):
            raise
        raise OutputWriteError(_describe_os_error(exc, path, what)) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    fsync_folder(folder)


def _new_file_mode(path: Path) -> int:
    """The permission bits the replacement of ``path`` gets: those of the file it replaces,
    else what ``open`` would give a new file (0o666 less the umask), not ``mkstemp``'s 0o600."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    return 0o666 & ~_umask()


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: read it by setting it, then put it back
    os.umask(mask)
    return mask


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str = "the file") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "wb", what=what) as fh:
        fh.write(data)
    return Path(os.fspath(path))


def atomic_write_text(path: str | os.PathLike[str], text: str, *, what: str = "the file") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "w", what=what, encoding="utf-8", newline="") as fh:
        fh.write(text)
    return Path(os.fspath(path))


#: The table formats :func:`write_frame` writes, by suffix.
FRAME_FORMATS = (".csv", ".jsonl", ".parquet")


def write_frame(frame: Any, path: str | os.PathLike[str], *, what: str = "the file") -> Path:
    """Write a polars DataFrame to ``path`` atomically, as CSV, JSONL or Parquet by suffix.

    polars writes straight to the temporary file's descriptor and reports a failed write
    (a full disk) as its own error; that becomes an :class:`OutputWriteError` too.

    Example
    -------
    >>> import pathlib, tempfile, polars as pl
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rewards.csv"
    >>> _ = write_frame(pl.DataFrame({"reward": [0.5]}), path)
    >>> path.read_text()
    'reward\\n0.5\\n'
    """
    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix not in FRAME_FORMATS:
        raise DataError(f"{what} {str(path)!r} must end in .csv, .jsonl or .parquet.")
    with atomic_write(path, "wb", what=what) as fh:
        try:
            if suffix == ".csv":
                frame.write_csv(fh)
            elif suffix == ".jsonl":
                frame.write_ndjson(fh)
            else:
                frame.write_parquet(fh)
        except OSError:
            raise
        except Exception as exc:
            code = _errno_of(exc)
            if code is None:
                raise
            raise OSError(code, os.strerror(code)) from exc
    return path


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], *, what: str = "the file") -> Iterator[None]:
    """Hold an exclusive lock for updating ``path`` (a ``.<name>.lock`` file beside it).

    Writers of the same file wait for each other, so a read-merge-write inside the lock loses
    no concurrent update. The lock file is opened without following a symbolic link and is
    left in place (removing it would race with a waiting writer).

    Example
    -------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> with file_lock(path):
    ...     _ = atomic_write_text(path, "pair_id,label\\n")
    """
    path = Path(os.fspath(path))
    lock_path = path.with_name(f".{path.name}.lock")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock_path, flags, 0o644)
    except IsADirectoryError as exc:
        raise DataError(
            f"The lock file {str(lock_path)!r} of {what} is a folder; remove it and run the command again."
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(
                f"The lock file {str(lock_path)!r} of {what} is a symbolic link; remove it and run "
                "the command again."
            ) from exc
        raise OutputWriteError(_describe_os_error(exc, lock_path, f"the lock of {what}")) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_not_input(
    out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None], what: str = "--out"
) -> Path:
    """``out`` as a Path, once it is clear it is none of a command's ``inputs``.

    Compares resolved paths and file identity (hard links, symbolic links), so no spelling of
    an input can be overwritten by the command that reads it.

    Raises
    ------
    DataError
        Naming the input and asking for another output path.

    Example
    -------
    >>> check_not_input("new.csv", ["pool.csv"]).name
    'new.csv'
    """
    out_path = Path(os.fspath(out)).expanduser()
    for item in inputs:
        if item is None:
            continue
        in_path = Path(os.fspath(item)).expanduser()
        if _same_file(out_path, in_path):
            raise DataError(
                f"{what} {str(out_path)!r} is also an input of this command ({str(in_path)!r}); "
                "writing there would replace what is being read. Give another output path."
            )
    return out_path
