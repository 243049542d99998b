"""Save and load heads in a portable format: ``.npy`` arrays + JSON metadata in one zip.

The file is a valid ``.npz`` archive (``numpy.load`` reads the arrays) that also holds
``meta.json``: the format version, embrm version, and for the head (recursively for
ensemble members) its class, constructor parameters and fitted state. Arrays are
referenced from the JSON by name; a LightGBM booster is stored as its model text. Nothing
is pickled, so loading runs no code from the file.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from importlib import metadata
from typing import Any

import numpy as np

from embrm._files import atomic_write
from embrm._validation import check_output_file
from embrm.exceptions import DataError, EncoderMismatchError
from embrm.heads._base import BaseHead

FORMAT = "embrm-head"
FORMAT_VERSION = 1


def _embrm_version() -> str | None:
    try:
        return metadata.version("embrm")
    except metadata.PackageNotFoundError:
        return None


def _encode(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    """JSON form of ``value``; arrays go to ``arrays`` under ``key``."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, BaseHead):
        return {"__head__": _describe(value, arrays, key + "/")}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{key}/{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, arrays, f"{key}/{i}") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.random.RandomState):
        return None  # a generator's state is not a parameter worth keeping
    if type(value).__module__.startswith("lightgbm"):
        return {"__lightgbm__": value.model_to_string()}
    raise TypeError(f"Cannot save a value of type {type(value).__name__} ({key}).")


def _describe(head: BaseHead, arrays: dict[str, np.ndarray], prefix: str) -> dict[str, Any]:
    params = {
        name: _encode(value, arrays, f"{prefix}params/{name}")
        for name, value in head.get_params(deep=False).items()
    }
    state = {
        name: _encode(value, arrays, f"{prefix}{name}")
        for name, value in vars(head).items()
        if name.endswith("_") and not name.startswith("_")
    }
    return {"class": type(head).__name__, "params": params, "state": state}


def save_head(head: BaseHead, path: str | os.PathLike[str]) -> None:
    """Write ``head`` to ``path`` atomically (see :func:`embrm._files.atomic_write`): a crash
    or a full disk leaves the old file or the new one, and a planted symbolic link is never
    followed."""
    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embrm_version": _embrm_version(),
        "encoder_id": head.encoder_id_,
        "n_features_in": head.n_features_in_,
        "head": _describe(head, arrays, ""),
    }
    path = check_output_file(path, "the head file")
    with atomic_write(path, "wb", what="the head file") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("meta.json", json.dumps(meta, indent=1))
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                zf.writestr(key + ".npy", buf.getvalue())


class _Arrays:
    """The ``.npy`` members of a saved head, read on demand (no pickle)."""

    def __init__(self, archive: zipfile.ZipFile, path: str):
        self.archive, self.path = archive, path

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            data = self.archive.read(key + ".npy")
        except KeyError:
            raise DataError(
                f"{self.path!r} lacks the array {key!r} its metadata names: the file is "
                "incomplete or was edited. Save the head again (head.save / embrm train --out)."
            ) from None
        try:
            return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"{self.path!r}: the array {key!r} cannot be read ({exc}).") from exc


def _decode(value: Any, arrays: Any, classes: dict[str, type]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays, classes) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__tuple__" in value:
        return tuple(_decode(v, arrays, classes) for v in value["__tuple__"])
    if "__head__" in value:
        return _build(value["__head__"], arrays, classes)
    if "__lightgbm__" in value:
        import lightgbm

        return lightgbm.Booster(model_str=value["__lightgbm__"])
    raise DataError(f"Unknown entry in a saved head: {sorted(value)}.")


def _build(desc: dict[str, Any], arrays: Any, classes: dict[str, type]) -> BaseHead:
    cls = classes.get(desc["class"])
    if cls is None:
        raise DataError(f"The file holds an unknown head class {desc['class']!r}.")
    params = {k: _decode(v, arrays, classes) for k, v in desc["params"].items()}
    state = {k: _decode(v, arrays, classes) for k, v in desc["state"].items()}
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise DataError(
            f"The file's {desc['class']} has parameters this embrm does not know: {unknown}. It was "
            "written by another version of embrm: load it with that version, or refit the head."
        )
    head = cls(**params)
    for name, value in state.items():
        setattr(head, name, value)
    return head


def _open_archive(path: str) -> zipfile.ZipFile:
    """The head file as a zip archive whose every member passes its CRC-32 check."""
    if os.path.isdir(path):
        raise DataError(f"{path!r} is a folder, not a saved head file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such head file: {path!r}.")
    advice = "Pass a file written by head.save(path) or `embrm train --out`"
    try:
        archive = zipfile.ZipFile(path)
        damaged = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        kind = "is empty" if os.path.getsize(path) == 0 else f"is not a zip archive or is damaged ({exc})"
        raise DataError(f"{path!r} {kind}, so it is not a saved embrm head. {advice}.") from exc
    except OSError as exc:
        raise DataError(f"{path!r} cannot be read ({exc.strerror or exc}).") from exc
    if damaged is not None:
        archive.close()
        raise DataError(
            f"{path!r} is damaged: its member {damaged!r} fails its checksum. Restore the file "
            "from a copy or save the head again."
        )
    return archive


def load(path: str | os.PathLike[str], expected_encoder_id: str | None = None) -> BaseHead:
    """Read a head written by ``head.save(path)``.

    Parameters
    ----------
    path : str or path-like
        The file.
    expected_encoder_id : str, optional
        Identity of the encoder whose embeddings the head will score
        (``Encoder.identity``). If the head recorded a different encoder, loading fails; if
        it recorded none (fitted on plain arrays), loading warns.

    Returns
    -------
    head : BaseHead
        The fitted head, giving the same rewards as the one saved.

    Raises
    ------
    EncoderMismatchError
        The head was trained on embeddings of another encoder than
        ``expected_encoder_id``.
    DataError
        The file is not an embrm head, is damaged (every member's CRC-32 is checked) or
        lacks a part.
    FileNotFoundError
        There is no such file.

    Example
    -------
    >>> head = load("head.npz", expected_encoder_id=Encoder().identity)  # doctest: +SKIP
    """
    from embrm.heads import HEADS

    classes = {cls.__name__: cls for cls in HEADS.values()}
    path = os.fspath(path)
    with _open_archive(path) as archive:
        try:
            meta = json.loads(archive.read("meta.json"))
        except KeyError:
            raise DataError(
                f"{path!r} is not a saved embrm head: it is a zip archive without meta.json "
                "(an .npz of other arrays?)."
            ) from None
        except ValueError as exc:
            raise DataError(f"{path!r}: its meta.json is not valid JSON ({exc}).") from exc
        if not isinstance(meta, dict):
            raise DataError(f"{path!r} is not a saved embrm head: its meta.json is not an object.")
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{path!r} has format {meta.get('format')!r} version "
                f"{meta.get('format_version')!r}; this embrm reads {FORMAT!r} version "
                f"{FORMAT_VERSION}."
            )
        saved_id = meta.get("encoder_id")
        if expected_encoder_id is not None and saved_id is not None and (saved_id != expected_encoder_id):
            raise EncoderMismatchError(
                f"This head was trained on embeddings from encoder {saved_id!r} "
                f"({meta.get('n_features_in')}-d), not {expected_encoder_id!r}: its rewards "
                "on those embeddings would be meaningless. Re-embed with the head's encoder "
                "or train a new head."
            )
        if expected_encoder_id is not None and saved_id is None:
            warnings.warn(
                f"{path!r} records no encoder identity (it was fitted on plain arrays), so "
                f"embrm cannot check that it belongs to {expected_encoder_id!r}; only the "
                "dimension is checked. Fit on the arrays an Encoder returns (or pass "
                "encoder_id=) so the saved head records it.",
                UserWarning,
                stacklevel=2,
            )
        try:
            return _build(meta["head"], _Arrays(archive, path), classes)
        except DataError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"{path!r} holds a head this embrm cannot rebuild ({type(exc).__name__}: {exc}); "
                "it is damaged or was written by an incompatible embrm version "
                f"({meta.get('embrm_version')!r})."
            ) from exc
