"""Readers for Parquet, JSONL and CSV preference files, including TRL's preference format.

Text columns may hold chat messages (lists of ``{"role": ..., "content": ...}``, TRL's
conversational format); they are rendered to text by :func:`~embrm.data.render_prompt` and
:func:`~embrm.data.render_response`, the rendering every scorer in embrm uses.

Every reader checks the file before building a container: a malformed line, a value of the
wrong type, a missing or non-finite number, text that is not valid Unicode, each raises one
:class:`~embrm.exceptions.DataError` naming the file, the line (JSONL, CSV; counting from 1)
or row (Parquet; counting from 0), the column, and what to do. Text is never converted: a
number where text belongs is an error, not the string ``"5"``. Duplicate rows, empty texts
and columns embrm does not use are reported with a :class:`~embrm.exceptions.DataWarning`.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ..exceptions import DataError, DataWarning
from ._containers import PreferencePairs, ScoredResponses
from ._conversation import is_conversation, render_prompt, render_response

SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".csv")
#: Columns each kind of data uses; anything else is kept but reported.
KNOWN_COLUMNS = {
    "pairs": ("prompt", "chosen", "rejected", "group", "weight"),
    "scored": ("prompt_id", "prompt", "response", "score", "response_id"),
    "responses": ("prompt_id", "prompt", "response", "score", "response_id"),
}
#: Columns each kind of data needs (``responses``: an unlabelled table, e.g. a pool).
REQUIRED_COLUMNS = {
    "pairs": PreferencePairs.REQUIRED,
    "scored": ScoredResponses.REQUIRED,
    "responses": ("prompt", "response"),
}
_TEXT = ("prompt", "chosen", "rejected", "response")
_CONVERSATIONAL = _TEXT  # each may be a list of chat messages, rendered to text
_FLOAT = ("score", "weight")
_INT = ("prompt_id",)


class _Source:
    """A file being read: its path and where each data row came from, for messages."""

    def __init__(self, path: Path, lines: list[int] | None = None):
        self.path, self.lines = path, lines

    def where(self, i: int) -> str:
        return f"line {self.lines[i]}" if self.lines is not None else f"row {i} (counting from 0)"

    def error(self, i: int | None, column: str | None, message: str) -> DataError:
        place = [str(self.path)]
        if i is not None:
            place.append(self.where(i))
        if column is not None:
            place.append(f"column {column!r}")
        return DataError(f"{', '.join(place)}: {message}")


def _describe(value: Any) -> str:
    if value is None:
        return "null (a missing value)"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return f"a {type(value).__name__}"


def _render(value: Any, column: str, name: str) -> str:
    """A text cell as the encoder reads it: a prompt or an answer, string or messages."""
    if column == "prompt":
        return render_prompt(value, name)
    return render_response(value, name)


def _check_value(source: _Source, i: int, column: str, value: Any) -> None:
    """One cell of a JSONL or CSV file against what ``column`` must hold."""
    if column in _TEXT:
        if isinstance(value, str) or (column in _CONVERSATIONAL and is_conversation(value)):
            try:
                _render(value, column, "the text" if isinstance(value, str) else "the conversation")
            except DataError as exc:
                raise source.error(i, column, str(exc)) from None
            return
        fix = (
            f'write it as a JSON string ("{value}") if it is text'
            if isinstance(value, int | float) and not isinstance(value, bool)
            else "give the text as a string"
            + (", or chat messages as a list of {role, content} objects" if column in _CONVERSATIONAL else "")
        )
        raise source.error(i, column, f"expected text, got {_describe(value)}; {fix}.")
    if column in _FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return
        raise source.error(
            i, column, f"expected a finite number, got {_describe(value)}; fix the value or drop the line."
        )
    if column in _INT and (not isinstance(value, int) or isinstance(value, bool)):
        raise source.error(i, column, f"expected an integer id, got {_describe(value)}.")


def _columns_from_records(source: _Source, records: list[dict], kind: str) -> pl.DataFrame:
    names = list(dict.fromkeys(k for r in records for k in r))
    known = set(KNOWN_COLUMNS[kind])
    columns = {}
    for name in names:
        values = []
        for i, record in enumerate(records):
            if name not in record:
                if name in known:
                    raise source.error(
                        i, name, "the value is missing (other lines have it); give every line a value."
                    )
                values.append(None)
                continue
            value = record[name]
            if name in known and name not in ("group", "response_id"):
                _check_value(source, i, name, value)
                if name in _FLOAT:
                    value = float(value)  # 1 and 1.5 in one column: both numbers
            values.append(value)
        try:
            columns[name] = pl.Series(name, values, strict=True)
        except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
            types = sorted({type(v).__name__ for v in values if v is not None})
            raise source.error(
                None, name, f"holds values of mixed types ({', '.join(types)}); give it one type ({exc})."
            ) from exc
    return pl.DataFrame(columns)


def _decode(source: _Source, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{source.path}, line {line}: not valid UTF-8 (byte {raw[exc.start]:#04x}); save the "
            "file as UTF-8."
        ) from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _apply_renames(path: Path, names: list[str], renames: Mapping[str, str]) -> dict[str, str]:
    """The new name of each column; the mapping must name columns the file has."""
    unknown = [src for src in renames if src not in names]
    if unknown:
        raise DataError(
            f"{path}: the column mapping names {unknown}, which the file does not have; it has {names}."
        )
    return {n: renames.get(n, n) for n in names}


def _read_jsonl(
    path: Path, kind: Callable[[list[str]], str], renames: Mapping[str, str]
) -> tuple[pl.DataFrame, _Source, str]:
    source = _Source(path, [])
    records = []
    for number, line in enumerate(_decode(source, path.read_bytes()).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_reject_constant)
        except ValueError as exc:
            detail = (
                f"{exc.msg} at character {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            )
            raise DataError(
                f"{path}, line {number}: not valid JSON ({detail}). Each line must be one JSON "
                "object; fix or remove that line."
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path}, line {number}: expected a JSON object ({{...}}), got {_describe(record)}."
            )
        records.append(record)
        source.lines.append(number)
    if not records:
        raise DataError(f"{path} is empty: it holds no JSON lines. Each line must be one JSON object.")
    names = _apply_renames(path, list(dict.fromkeys(k for r in records for k in r)), renames)
    if renames:
        records = [{names[k]: v for k, v in r.items()} for r in records]
    chosen = kind(list(names.values()))
    return _columns_from_records(source, records, chosen), source, chosen


def _read_csv(
    path: Path, kind: Callable[[list[str]], str], renames: Mapping[str, str]
) -> tuple[pl.DataFrame, _Source, str]:
    source = _Source(path, [])
    text = _decode(source, path.read_bytes())
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"{path} is empty: a CSV file needs a header line naming its columns.")
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise DataError(f"{path}, line 1: the header names {duplicated} more than once; rename them.")
        header = list(_apply_renames(path, header, renames).values())
        chosen = kind(header)
        records = []
        start = reader.line_num + 1
        for row in reader:
            if not row:
                start = reader.line_num + 1
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}, line {start}: {len(row)} fields, but the header has {len(header)}. "
                    "Quote fields that contain commas or line breaks."
                )
            records.append(dict(zip(header, row, strict=True)))
            source.lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({exc}).") from None
    if not records:
        raise DataError(f"{path} has a header but no data lines.")
    for i, record in enumerate(records):
        for column in _FLOAT + _INT:
            if column in record:
                record[column] = _parse_number(source, i, column, record[column])
    return _columns_from_records(source, records, chosen), source, chosen


def _parse_number(source: _Source, i: int, column: str, text: str) -> int | float:
    """A CSV field of a numeric column, parsed strictly."""
    try:
        value = int(text) if column in _INT else float(text)
    except ValueError:
        kind = "an integer id" if column in _INT else "a number"
        raise source.error(i, column, f"expected {kind}, got {_describe(text)}; fix the value.") from None
    if column in _FLOAT and not math.isfinite(value):
        raise source.error(
            i, column, f"expected a finite number, got {text!r}; fix the value or drop the line."
        )
    return value


def _read_parquet(
    path: Path, kind: Callable[[list[str]], str], renames: Mapping[str, str]
) -> tuple[pl.DataFrame, _Source, str]:
    source = _Source(path)
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - polars and pyarrow raise many error types
        raise DataError(
            f"{path} cannot be read as Parquet ({exc}); is it damaged or another format?"
        ) from exc
    if frame.height == 0:
        raise DataError(f"{path} is empty: it holds no rows.")
    frame = frame.rename(_apply_renames(path, frame.columns, renames))
    chosen = kind(frame.columns)
    for column in frame.columns:
        dtype = frame.schema[column]
        if column not in KNOWN_COLUMNS[chosen] or column in ("group", "response_id"):
            continue
        nulls = frame[column].is_null()
        if nulls.any():
            raise source.error(
                int(nulls.arg_true()[0]), column, "the value is missing; drop or fill that row."
            )
        if column in _TEXT:
            messages = isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)
            if dtype == pl.String or (column in _CONVERSATIONAL and messages):
                continue
            raise source.error(
                None,
                column,
                f"expected text, got {dtype}; cast it to strings yourself if that is really the text.",
            )
        if column in _INT and not dtype.is_integer():
            raise source.error(None, column, f"expected integer ids, got {dtype}.")
        if column in _FLOAT:
            if not dtype.is_numeric():
                raise source.error(None, column, f"expected numbers, got {dtype}.")
            bad = ~frame[column].cast(pl.Float64).is_finite()
            if bad.any():
                value = frame[column][int(bad.arg_true()[0])]
                raise source.error(
                    int(bad.arg_true()[0]),
                    column,
                    f"expected a finite number, got {value}; fix or drop the row.",
                )
    return frame, source, chosen


_FORMATS = {".parquet": _read_parquet, ".jsonl": _read_jsonl, ".ndjson": _read_jsonl, ".csv": _read_csv}


def _kind_of(columns: list[str]) -> str:
    """``pairs`` when the columns look like pairs (even misspelt), else ``scored``."""
    for name in columns:
        if name in ("chosen", "rejected") or difflib.get_close_matches(
            name, ["chosen", "rejected"], n=1, cutoff=0.75
        ):
            return "pairs"
    return "scored"


def _rename(frame: pl.DataFrame, columns: Mapping[str, str] | None) -> pl.DataFrame:
    if not columns:
        return frame
    unknown = [src for src in columns if src not in frame.columns]
    if unknown:
        raise DataError(
            f"Column mapping names {unknown}, which the data does not have; it has {frame.columns}."
        )
    return frame.rename(dict(columns))


def _check_columns(source: _Source, frame: pl.DataFrame, kind: str) -> None:
    """Missing required columns (with a likely misspelling named) and unused ones."""
    required = REQUIRED_COLUMNS[kind]
    known = KNOWN_COLUMNS[kind]
    if (
        kind == "pairs"
        and "prompt" not in frame.columns
        and all(isinstance(frame.schema.get(c), pl.List) for c in ("chosen", "rejected"))
    ):
        required = tuple(c for c in required if c != "prompt")  # TRL's implicit prompt
    missing = [c for c in required if c not in frame.columns]
    unused = [c for c in frame.columns if c not in known]
    if missing:
        guesses = {}
        for column in missing:
            close = difflib.get_close_matches(column, unused, n=1, cutoff=0.6)
            if close:
                guesses[close[0]] = column
        what = {"pairs": "preference pairs", "scored": "scored responses", "responses": "responses"}[kind]
        found = "; ".join(f"{g!r} looks like a misspelling of {c!r}" for g, c in guesses.items())
        mapping = ", ".join(f"{g!r}: {c!r}" for g, c in guesses.items()) or "'your_name': 'prompt'"
        raise DataError(
            f"{source.path}: {what} need the columns {list(required)}; missing {missing} "
            f"({found or f'the file has {frame.columns}'}). Rename the column(s) in the file or "
            f"pass columns={{{mapping}}} to the reader."
        )
    if unused:
        warnings.warn(
            f"{source.path}: columns {unused} are not used by embrm for {kind} (it uses "
            f"{list(known)}); they are kept as they are. Check for a misspelling.",
            DataWarning,
            stacklevel=4,
        )


def _check_rows(source: _Source, frame: pl.DataFrame, kind: str) -> None:
    """Row-level problems, named by line: errors that would corrupt training, warnings otherwise."""
    text_columns = [c for c in _TEXT if c in frame.columns and frame.schema[c] == pl.String]
    indexed = frame.with_row_index("__i")
    for column in text_columns:
        empty = indexed.filter(pl.col(column).str.strip_chars() == "")["__i"]
        if empty.len():
            warnings.warn(
                f"{source.path}: {empty.len()} empty or blank text(s) in column {column!r}, first at "
                f"{source.where(int(empty[0]))}. They are embedded as they are; drop them if they are "
                "missing values.",
                DataWarning,
                stacklevel=4,
            )
    if kind == "pairs" and {"chosen", "rejected"} <= set(text_columns):
        same = indexed.filter(pl.col("chosen") == pl.col("rejected"))["__i"]
        if same.len():
            raise source.error(
                int(same[0]),
                "rejected",
                f"chosen and rejected are identical ({same.len()} such pairs); such a pair carries no "
                "preference. Drop them.",
            )
    if "weight" in frame.columns and frame.schema["weight"].is_numeric():
        negative = indexed.filter(pl.col("weight") < 0)["__i"]
        if negative.len():
            raise source.error(int(negative[0]), "weight", "a weight must be non-negative; fix the value.")
    identity = [
        c
        for c in {
            "pairs": ("prompt", "chosen", "rejected"),
            "scored": ("prompt_id", "response"),
            "responses": ("prompt", "response"),
        }[kind]
        if c in frame.columns
    ]
    if len(identity) >= 2 and all(frame.schema[c] != pl.Object for c in identity):
        duplicated = indexed.filter(pl.struct(identity).is_duplicated())
        if duplicated.height:
            first = duplicated.filter(pl.struct(identity).is_first_distinct().not_())["__i"]
            n_extra = duplicated.height - duplicated.select(pl.struct(identity).n_unique()).item()
            warnings.warn(
                f"{source.path}: {n_extra} "
                f"duplicate row(s) (same {', '.join(identity)}), first at "
                f"{source.where(int(first[0]))}; each copy counts again in training. Drop "
                "duplicates unless that weighting is intended.",
                DataWarning,
                stacklevel=4,
            )


def _read(
    path: str | os.PathLike,
    kind: str | None,
    columns: Mapping[str, str] | None,
    choose: Callable[[list[str]], str] = _kind_of,
) -> tuple[pl.DataFrame, str]:
    """Read and check ``path``; the frame (columns renamed) and its kind (``kind``, else
    ``choose`` of the column names)."""
    path = Path(path)
    reader = _FORMATS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"Cannot read {path}: unknown file type {path.suffix!r}. Use one of {list(SUFFIXES)}."
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file.")
    if not path.is_file():
        raise FileNotFoundError(f"No such data file: {path}")
    frame, source, kind = reader(path, lambda names: kind or choose(names), dict(columns or {}))
    _check_columns(source, frame, kind)
    _check_rows(source, frame, kind)
    return frame, kind


def _conversation_to_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """A column of chat messages rendered to text (prompt or answer); strings are kept."""
    if not isinstance(frame.schema[column], pl.List):
        return frame
    texts = [_render(m, column, f"Column {column!r}, row {i}") for i, m in enumerate(frame[column].to_list())]
    return frame.with_columns(pl.Series(column, texts, dtype=pl.String))


def _strip_implicit_prompt(frame: pl.DataFrame) -> pl.DataFrame:
    """TRL's implicit-prompt conversational format: the prompt is the shared prefix."""
    prompts, chosen, rejected = [], [], []
    for i, (c, r) in enumerate(zip(frame["chosen"].to_list(), frame["rejected"].to_list(), strict=True)):
        k = 0
        while k < min(len(c), len(r)) - 1 and c[k] == r[k]:
            k += 1
        where = f"Row {i}"
        if k == 0:
            raise DataError(
                f"{where}: chosen and rejected share no leading messages, so there is no prompt to "
                "split off (TRL's implicit-prompt format). Add a 'prompt' column."
            )
        for column, rest in (("chosen", c[k:]), ("rejected", r[k:])):
            roles = [m.get("role") if isinstance(m, Mapping) else None for m in rest]
            if any(role != "assistant" for role in roles):
                raise DataError(
                    f"{where}, column {column!r}: after the shared prompt it holds messages of roles "
                    f"{roles}, not only the answer's assistant turns (chosen and rejected differ "
                    "before their last answer). Add a 'prompt' column with the shared dialogue."
                )
        prompts.append(render_prompt(c[:k], f"{where}, the shared prompt of 'chosen' and 'rejected'"))
        chosen.append(render_response(c[k:], f"{where}, column 'chosen'"))
        rejected.append(render_response(r[k:], f"{where}, column 'rejected'"))
    return frame.with_columns(
        pl.Series("prompt", prompts, dtype=pl.String),
        pl.Series("chosen", chosen, dtype=pl.String),
        pl.Series("rejected", rejected, dtype=pl.String),
    )


def _render_texts(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column holding chat messages rendered to text."""
    for column in _TEXT:
        if column in frame.columns:
            frame = _conversation_to_text(frame, column)
    return frame


def pairs_from_frame(
    frame: pl.DataFrame, columns: Mapping[str, str] | None = None, name: str | None = None
) -> PreferencePairs:
    """Build :class:`PreferencePairs` from a frame in embrm's or TRL's preference format.

    Parameters
    ----------
    frame : polars.DataFrame
        ``prompt``/``chosen``/``rejected`` as strings or as TRL conversational message
        lists. Without a ``prompt`` column, conversational ``chosen``/``rejected`` are split
        at their shared prefix (TRL's implicit prompt).
    columns : mapping, optional
        Renames applied first, e.g. ``{"question": "prompt"}``.
    name : str, optional

    Returns
    -------
    PreferencePairs

    Examples
    --------
    >>> import polars as pl
    >>> from embrm.data import pairs_from_frame
    >>> frame = pl.DataFrame({"question": ["2+2?"], "chosen": ["4"], "rejected": ["5"]})
    >>> pairs = pairs_from_frame(frame, columns={"question": "prompt"})
    >>> len(pairs), pairs.frame["chosen"].to_list()
    (1, ['4'])
    """
    frame = _rename(frame, columns)
    if "prompt" not in frame.columns and all(
        isinstance(frame.schema.get(c), pl.List) for c in ("chosen", "rejected")
    ):
        frame = _strip_implicit_prompt(frame)
    return PreferencePairs(_render_texts(frame), name=name)


def _in_file(path: str | os.PathLike, build: Callable[[], Any]) -> Any:
    """``build()``, with the file named in any DataError it raises."""
    try:
        return build()
    except DataError as exc:
        if str(path) in str(exc):
            raise
        raise DataError(f"{path}: {exc}") from exc


def read_pairs(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> PreferencePairs:
    """Read preference pairs from a Parquet, JSONL or CSV file (see :func:`pairs_from_frame`).

    Parameters
    ----------
    path : str or path-like
        ``.parquet``, ``.jsonl`` / ``.ndjson`` or ``.csv``.
    columns : mapping, optional
        Renames applied after reading, e.g. ``{"question": "prompt"}``.

    Raises
    ------
    DataError
        Malformed input, named by file, line or row, and column (see the module's docstring).

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> from embrm.data import read_pairs
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.jsonl"
    >>> pl.DataFrame({"prompt": ["hi"], "chosen": ["hello"], "rejected": ["go away"]}).write_ndjson(path)
    >>> read_pairs(path).frame["rejected"].to_list()
    ['go away']
    """
    frame, _ = _read(path, "pairs", columns)
    return _in_file(path, lambda: pairs_from_frame(frame, name=Path(path).stem))


def read_scored(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> ScoredResponses:
    """Read scored responses (``prompt_id``, ``prompt``, ``response``, ``score``) from a file.

    Checked like :func:`read_pairs`.
    """
    frame, _ = _read(path, "scored", columns)
    return _in_file(path, lambda: ScoredResponses(_render_texts(frame), name=Path(path).stem))


def read_responses(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Read a table of responses (``prompt``, ``response``; ``prompt_id``, ``score`` optional).

    For unlabelled responses, such as a candidate pool to annotate. Checked like
    :func:`read_pairs`; chat messages are rendered to text.

    Parameters
    ----------
    path : str or path-like
        ``.parquet``, ``.jsonl`` / ``.ndjson`` or ``.csv``.
    columns : mapping, optional
        Renames applied after reading, e.g. ``{"answer": "response"}``.

    Returns
    -------
    polars.DataFrame
        The file's columns, ``prompt`` and ``response`` as text.

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> from embrm.data import read_responses
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pool.jsonl"
    >>> pl.DataFrame({"prompt": ["hi", "hi"], "response": ["hello", "go away"]}).write_ndjson(path)
    >>> read_responses(path)["response"].to_list()
    ['hello', 'go away']
    """
    frame, _ = _read(path, "responses", columns)
    return _in_file(path, lambda: _render_texts(frame))


def _kind_or_responses(columns: list[str]) -> str:
    """``pairs`` or ``scored`` as :func:`_kind_of` says, ``responses`` for a table without scores."""
    kind = _kind_of(columns)
    return "responses" if kind == "scored" and "score" not in columns else kind


def read_any(
    path: str | os.PathLike, unscored: bool = False
) -> PreferencePairs | ScoredResponses | pl.DataFrame:
    """Read a file as pairs if it has ``chosen``/``rejected`` (or near misspellings, which
    then get a message naming them), else as scored responses.

    Parameters
    ----------
    path : str or path-like
    unscored : bool, default False
        Also accept a table of responses without scores (``prompt``, ``response``), which is
        then returned as :func:`read_responses` returns it (a candidate pool, say).
    """
    frame, kind = _read(path, None, None, _kind_or_responses if unscored else _kind_of)
    if kind == "responses":
        return _in_file(path, lambda: _render_texts(frame))
    if kind == "pairs":
        return _in_file(path, lambda: pairs_from_frame(frame, name=Path(path).stem))
    return _in_file(path, lambda: ScoredResponses(_render_texts(frame), name=Path(path).stem))
