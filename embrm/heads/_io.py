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
import math
import os
import re
import sys
import warnings
import zipfile
from importlib import metadata
from typing import Any

import numpy as np

from embrm._core.files import atomic_write
from embrm._core.stack import external_stacklevel
from embrm._core.validation import check_output_file, validate_params
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
    """Write ``head`` to ``path`` atomically (see :func:`embrm._core.files.atomic_write`): a crash
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


#: Names an archive member may have: ``meta.json`` and arrays named like the keys
#: ``save_head`` writes (``coef_``, ``members_/0/coef_``, ``coefs_/1``).
_MEMBER = re.compile(r"[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*\.npy")
#: Most uncompressed bytes a head file may declare: heads are written uncompressed, so a real
#: file's members add up to about its own size; this leaves room for a re-zipped copy.
_MAX_INFLATION, _INFLATION_SLACK = 8, 1 << 20
#: Deepest nesting of heads, lists and tuples in meta.json (an ensemble of heads is 4).
_MAX_DEPTH = 32
#: Most embedding dimensions a head may declare.
_MAX_FEATURES = 1 << 20
_RESAVE = "Save the head again (head.save / `embrm train --out`) or retrain it."


def _bad_head(path: str, problem: str) -> DataError:
    return DataError(f"{path!r} is not a valid saved head: {problem}. {_RESAVE}")


class _Arrays:
    """The ``.npy`` members of a saved head, each read once its header is checked against
    the member's size (no pickle, no object arrays, no non-finite floats)."""

    def __init__(self, archive: zipfile.ZipFile, path: str):
        self.archive, self.path = archive, path
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> np.ndarray:
        if not isinstance(key, str) or not _MEMBER.fullmatch(key + ".npy"):
            raise _bad_head(self.path, f"meta.json names an array {key!r} that is not a valid member name")
        try:
            info = self.archive.getinfo(key + ".npy")
        except KeyError:
            raise DataError(
                f"{self.path!r} lacks the array {key!r} its metadata names: the file is "
                "incomplete or was edited. Save the head again (head.save / embrm train --out)."
            ) from None
        self.used.add(info.filename)
        try:
            with self.archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                offset = member.tell()
                if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
                    raise ValueError(f"its dtype {dtype} is not numeric")
                expected = math.prod(shape) * dtype.itemsize
                if expected != info.file_size - offset:
                    raise ValueError(
                        f"its header declares shape {shape} of {dtype} ({expected:,} bytes), but the "
                        f"member holds {info.file_size - offset:,}"
                    )
                data = member.read(expected)
        except (ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise _bad_head(self.path, f"the array {key!r} cannot be read ({exc})") from None
        array = np.frombuffer(bytearray(data), dtype=dtype)
        array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
        if dtype.kind == "f" and not np.isfinite(array).all():
            raise _bad_head(self.path, f"the array {key!r} holds NaN or infinite values")
        return array


class _Loader:
    """Rebuilds heads from meta.json, allowing only embrm's head classes, their parameters and
    fitted attributes, and nesting no deeper than :data:`_MAX_DEPTH`."""

    def __init__(self, path: str, arrays: _Arrays, classes: dict[str, type]):
        self.path, self.arrays, self.classes = path, arrays, classes

    def decode(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise _bad_head(self.path, f"meta.json nests values more than {_MAX_DEPTH} deep")
        if isinstance(value, list):
            return [self.decode(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            raise _bad_head(self.path, f"meta.json holds an unknown entry with keys {sorted(value)[:5]}")
        ((tag, inner),) = value.items()
        if tag == "__array__":
            return self.arrays[inner]
        if tag == "__tuple__" and isinstance(inner, list):
            return tuple(self.decode(v, depth + 1) for v in inner)
        if tag == "__head__":
            return self.build(inner, depth + 1)
        if tag == "__lightgbm__" and isinstance(inner, str):
            return self.booster(inner)
        raise _bad_head(self.path, f"meta.json holds an unknown entry {tag!r}")

    def booster(self, text: str) -> Any:
        import lightgbm

        try:
            return lightgbm.Booster(model_str=text)
        except (lightgbm.basic.LightGBMError, ValueError, TypeError) as exc:
            raise _bad_head(self.path, f"its LightGBM model cannot be read ({str(exc)[:200]})") from None

    def build(self, desc: Any, depth: int) -> BaseHead:
        if not isinstance(desc, dict) or set(desc) != {"class", "params", "state"}:
            raise _bad_head(self.path, "a head entry must hold exactly 'class', 'params' and 'state'")
        name, params, state = desc["class"], desc["params"], desc["state"]
        cls = self.classes.get(name) if isinstance(name, str) else None
        if cls is None:
            raise _bad_head(
                self.path, f"it holds an unknown head class {name!r} (embrm's: {sorted(self.classes)})"
            )
        if not isinstance(params, dict) or not isinstance(state, dict):
            raise _bad_head(self.path, f"the {name}'s params and state must be JSON objects")
        unknown = sorted(set(params) - set(cls().get_params(deep=False)))
        if unknown:
            raise DataError(
                f"{self.path!r}: its {name} has parameters this embrm does not know: {unknown}. It was "
                "written by another version of embrm: load it with that version, or refit the head."
            )
        odd = sorted(k for k in state if not (k.isidentifier() and k.endswith("_") and not k.startswith("_")))
        if odd:
            raise _bad_head(self.path, f"the {name} holds attributes that are not fitted state: {odd[:5]}")
        params = {k: self.decode(v, depth + 1) for k, v in params.items()}
        try:
            validate_params(cls._parameter_constraints, {**cls().get_params(deep=False), **params}, name)
        except ValueError as exc:
            raise _bad_head(self.path, str(exc).rstrip(".")) from None
        head = cls(**params)
        for key, value in state.items():
            setattr(head, key, self.decode(value, depth + 1))
        return head


def _open_archive(path: str) -> zipfile.ZipFile:
    """The head file as a zip archive of allowed members, of sizes the file can hold, whose
    every member passes its CRC-32 check."""
    if os.path.isdir(path):
        raise DataError(f"{path!r} is a folder, not a saved head file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such head file: {path!r}.")
    advice = "Pass a file written by head.save(path) or `embrm train --out`"
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        kind = "is empty" if os.path.getsize(path) == 0 else f"is not a zip archive or is damaged ({exc})"
        raise DataError(f"{path!r} {kind}, so it is not a saved embrm head. {advice}.") from exc
    except OSError as exc:
        raise DataError(f"{path!r} cannot be read ({exc.strerror or exc}).") from exc
    try:
        _check_members(path, archive)
        damaged = archive.testzip()
    except DataError:
        archive.close()
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as exc:
        archive.close()
        raise DataError(f"{path!r} is damaged ({exc}). {advice}.") from exc
    if damaged is not None:
        archive.close()
        raise DataError(
            f"{path!r} is damaged: its member {damaged!r} fails its checksum. Restore the file "
            "from a copy or save the head again."
        )
    return archive


def _check_members(path: str, archive: zipfile.ZipFile) -> None:
    """Member names, methods and declared sizes, from the zip directory, before inflating."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _bad_head(path, "it holds two members of one name")
    odd = [n for n in names if n != "meta.json" and not _MEMBER.fullmatch(n)]
    if odd:
        raise _bad_head(path, f"it holds members a head file never has: {odd[:5]}")
    for info in infos:
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _bad_head(path, f"its member {info.filename!r} is encrypted or compressed unusually")
        # an honest deflate stream is never much longer than the bytes it inflates to
        if info.compress_size > info.file_size + info.file_size // 100 + 64:
            raise _bad_head(path, f"its member {info.filename!r} declares a wrong uncompressed size")
    total, size = sum(info.file_size for info in infos), os.path.getsize(path)
    if total > _MAX_INFLATION * size + _INFLATION_SLACK:
        raise _bad_head(
            path,
            f"its members inflate to {total:,} bytes from a {size:,}-byte file (a zip bomb?); heads "
            "are saved uncompressed",
        )


def _check_state(path: str, head: BaseHead, meta: dict[str, Any]) -> None:
    """The rebuilt head against what meta.json declares, and a probe: rewards and
    probabilities of a few rows have the right shape and are finite."""
    n_features = getattr(head, "n_features_in_", None)
    if (
        not isinstance(n_features, int)
        or isinstance(n_features, bool)
        or not 1 <= n_features <= _MAX_FEATURES
        or meta.get("n_features_in") != n_features
    ):
        raise _bad_head(
            path,
            f"its n_features_in_ ({n_features!r}) is not a dimension or differs from meta.json's "
            f"({meta.get('n_features_in')!r})",
        )
    if getattr(head, "encoder_id_", None) != meta.get("encoder_id"):
        raise _bad_head(path, "its encoder_id_ differs from meta.json's")
    probe = np.random.RandomState(0).standard_normal((4, n_features))
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    errors: tuple[type[BaseException], ...] = (
        ValueError, TypeError, IndexError, KeyError, AttributeError, ArithmeticError, np.linalg.LinAlgError,
    )  # fmt: skip
    lightgbm = sys.modules.get("lightgbm")
    if lightgbm is not None:
        errors += (lightgbm.basic.LightGBMError,)
    try:
        with np.errstate(all="ignore"):
            reward = np.asarray(head.reward(probe))
            proba = np.asarray(head.predict_proba(probe[:2], probe[2:]))
    except errors as exc:
        raise _bad_head(
            path, f"its fitted state does not fit together ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    if reward.shape != (4,) or proba.shape != (2,):
        raise _bad_head(
            path,
            f"its fitted state does not fit together: 4 rows of {n_features} features got "
            f"{reward.size} rewards",
        )
    if not (np.isfinite(reward).all() and np.isfinite(proba).all()):
        raise _bad_head(path, "its fitted state gives NaN or infinite rewards")


def load(path: str | os.PathLike[str], expected_encoder_id: str | None = None) -> BaseHead:
    """Read a head written by ``head.save(path)``, checking it before trusting it.

    Before any member is inflated, the member names, compression and declared sizes are
    checked (a file cannot inflate to more than a few times its size), and each array's
    ``.npy`` header against its member's size; then the classes, parameters and fitted
    attributes against embrm's heads, and the rebuilt head by scoring a few rows: every
    reward and probability must be finite, one per row.

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
        The file is not an embrm head, is damaged (every member's CRC-32 is checked), lacks
        a part, or holds parts that do not fit together (wrong shapes, NaN, unknown classes,
        parameters or members, sizes its file cannot hold); the message names the file.
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
        except RecursionError:
            raise _bad_head(path, "its meta.json nests values too deeply") from None
        if not isinstance(meta, dict):
            raise DataError(f"{path!r} is not a saved embrm head: its meta.json is not an object.")
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{path!r} has format {meta.get('format')!r} version "
                f"{meta.get('format_version')!r}; this embrm reads {FORMAT!r} version "
                f"{FORMAT_VERSION}."
            )
        saved_id = meta.get("encoder_id")
        if saved_id is not None and not isinstance(saved_id, str):
            raise _bad_head(path, f"its encoder_id is {saved_id!r}, not text")
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
                stacklevel=external_stacklevel(),
            )
        arrays = _Arrays(archive, path)
        try:
            head = _Loader(path, arrays, classes).build(meta.get("head"), 0)
        except DataError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise DataError(
                f"{path!r} holds a head this embrm cannot rebuild ({type(exc).__name__}: {exc}); "
                "it is damaged or was written by an incompatible embrm version "
                f"({meta.get('embrm_version')!r}). {_RESAVE}"
            ) from exc
        unused = sorted(set(archive.namelist()) - arrays.used - {"meta.json"})
        if unused:
            raise _bad_head(path, f"it holds arrays its meta.json never names: {unused[:5]}")
    _check_state(path, head, meta)
    return head
