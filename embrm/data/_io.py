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

import contextlib
import csv
import difflib
import io
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from embrm._core.stack import external_stacklevel
from embrm.data._containers import PreferencePairs, ScoredResponses
from embrm.data._conversation import is_conversation, render_prompt, render_response
from embrm.exceptions import DataError, DataWarning

SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".csv")
#: Columns each kind of data uses; anything else is kept but reported.
KNOWN_COLUMNS = {
    "pairs": ("prompt", "chosen", "rejected", "group", "weight", "subset"),
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


_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, as surrogateescape decodes them


def _has_escape(value: Any) -> bool:
    if isinstance(value, str):
        return _ESCAPED.search(value) is not None
    if isinstance(value, list):
        return any(_has_escape(v) for v in value)
    if isinstance(value, dict):
        return any(_has_escape(k) or _has_escape(v) for k, v in value.items())
    return False


def _bad_byte_place(text: str, suffix: str) -> tuple[int, str | None] | None:
    """The line and column of the first byte that is not UTF-8 in ``text`` (decoded with
    ``surrogateescape``), or None when the file cannot be parsed that far."""
    if suffix == ".csv":
        reader = csv.reader(_csv_lines(text))
        try:
            header = next(reader, [])
            if any(_has_escape(h) for h in header):
                return 1, None
            if _separator(header) is not None:
                header = []  # one column named like all of them: name none
            start = reader.line_num + 1
            for row in reader:
                for i, field in enumerate(row):
                    if _has_escape(field):
                        return start, header[i] if i < len(header) else None
                start = reader.line_num + 1
        except csv.Error:
            return None
        return None
    for number, line in enumerate(text.split("\n"), start=1):
        if not _has_escape(line):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return number, None
        if isinstance(record, dict):
            key = next((k for k, v in record.items() if _has_escape(v)), None)
            return number, (key if key is not None and not _has_escape(key) else None)
        return number, None
    return None


def _decode(path: Path, raw: bytes) -> str:
    """``raw`` as UTF-8 text; a DataError naming the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        with _field_limit(len(raw)):
            place = _bad_byte_place(raw.decode("utf-8", "surrogateescape"), path.suffix.lower())
        line, column = place or (raw[: exc.start].count(b"\n") + 1, None)
        where = f"line {line}" + (f", column {column!r}" if column is not None else "")
        fix = "Save the file as UTF-8."
        if path.suffix.lower() == ".csv":
            first = next(csv.reader(_csv_lines(raw.decode("utf-8", "surrogateescape"))[:1]), [])
            separator = _separator(first)
            also = (
                f" It is also {_SEPARATORS[separator]}-separated: save it comma-separated."
                if separator
                else ""
            )
            fix = (
                "Is it in Windows' 'ANSI' (cp1252) encoding, as Excel saves CSV? Save it as UTF-8 "
                f"(in Excel: Save As, 'CSV UTF-8 (Comma delimited)').{also}"
            )
        raise DataError(f"{path}, {where}: not valid UTF-8 (byte {byte:#04x}). {fix}") from None


def _read_bytes(path: Path) -> bytes:
    """The bytes of a data file; a DataError for a folder, an unreadable or a 0-byte file."""
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file ({', '.join(SUFFIXES)}).")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"No such data file: {path}") from None
    except OSError as exc:
        raise DataError(
            f"{path} cannot be read ({exc.strerror or exc}); check the file and its permissions."
        ) from None
    if not raw:
        raise DataError(f"{path} is empty (0 bytes): it holds no data. Was it saved or copied completely?")
    return raw


class _NonFinite:
    """A JSON constant (NaN, Infinity) standing in for its value until its column is known."""

    def __init__(self, name: str):
        self.name = name


def _find_constant(value: Any) -> _NonFinite | None:
    if isinstance(value, _NonFinite):
        return value
    if isinstance(value, list):
        return next((c for v in value if (c := _find_constant(v)) is not None), None)
    if isinstance(value, dict):
        return next((c for v in value.values() if (c := _find_constant(v)) is not None), None)
    return None


def _apply_renames(path: Path, names: list[str], renames: Mapping[str, str]) -> dict[str, str]:
    """The new name of each column; the mapping must name columns the file has."""
    unknown = [src for src in renames if src not in names]
    if unknown:
        raise DataError(
            f"{path}: the column mapping names {unknown}, which the file does not have; it has {names}."
        )
    return {n: renames.get(n, n) for n in names}


def _jsonl_records(path: Path) -> tuple[list[dict], _Source]:
    """The JSON objects of a JSONL file, one per non-blank line, with their line numbers."""
    source = _Source(path, [])
    records = []
    for number, line in enumerate(_decode(path, _read_bytes(path)).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_NonFinite)
        except (ValueError, RecursionError) as exc:
            detail = (
                f"{exc.msg} at character {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else "nested too deeply"
            )
            raise DataError(
                f"{path}, line {number}: not valid JSON ({detail}). Each line must be one JSON "
                "object; fix or remove that line."
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path}, line {number}: expected a JSON object ({{...}}), got {_describe(record)}."
            )
        for key, value in record.items():
            constant = _find_constant(value)
            if constant is not None:
                raise DataError(
                    f"{path}, line {number}, column {key!r}: not valid JSON ({constant.name} is not a "
                    "number JSON allows). Write a finite number, or fix or remove that line."
                )
        records.append(record)
        source.lines.append(number)
    if not records:
        raise DataError(f"{path} is empty: it holds no JSON lines. Each line must be one JSON object.")
    return records, source


def _read_jsonl(
    path: Path, kind: Callable[[list[str]], str], renames: Mapping[str, str]
) -> tuple[pl.DataFrame, _Source, str]:
    records, source = _jsonl_records(path)
    names = _apply_renames(path, list(dict.fromkeys(k for r in records for k in r)), renames)
    if renames:
        records = [{names[k]: v for k, v in r.items()} for r in records]
    chosen = kind(list(names.values()))
    return _columns_from_records(source, records, chosen), source, chosen


def _quote_column(text: str) -> int:
    """The field (counting from 0) of a CSV record's text where a quote goes wrong: one
    never closed, or text right after a closing quote."""
    field, quoted, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 2
                    continue
                quoted = False
                if text[i + 1 : i + 2] not in ("", ",", "\r", "\n"):
                    return field
        elif ch == '"' and (i == 0 or text[i - 1] == ","):
            quoted = True
        elif ch == ",":
            field += 1
        i += 1
    return field


_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _csv_lines(text: str) -> list[str]:
    """The lines of a CSV text, each with its line break, broken at ``\\n``, ``\\r\\n`` and
    ``\\r`` only (``str.splitlines`` also breaks at a form feed or U+2028 inside a field)."""
    return io.StringIO(text, newline="").readlines()


def _separator(header: list[str]) -> str | None:
    """The separator a one-column CSV header holds (``;`` from Excel in many languages), if any."""
    if len(header) != 1:
        return None
    return next((s for s in _SEPARATORS if s in header[0]), None)


@contextlib.contextmanager
def _field_limit(size: int) -> Iterator[None]:
    """Let the csv module read fields of up to ``size`` characters (its default is 131,072:
    a long answer is not a malformed file)."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, size))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]], _Source]:
    """The header and the records (field text by column) of a CSV file."""
    text = _decode(path, _read_bytes(path))
    if text.startswith("\ufeff"):
        text = text[1:]
    with _field_limit(len(text)):
        return _parse_csv(path, text)


def _parse_csv(path: Path, text: str) -> tuple[list[str], list[dict[str, str]], _Source]:
    source = _Source(path, [])
    lines = _csv_lines(text)
    reader = csv.reader(lines, strict=True)
    header: list[str] = []
    records: list[dict[str, str]] = []
    start = 1
    try:
        header = next(reader, None) or []
        if not any(h.strip() for h in header):
            raise DataError(f"{path} is empty: a CSV file needs a header line naming its columns.")
        separator = _separator(header)
        if separator is not None:
            raise DataError(
                f"{path}, line 1: the header {header[0][:60]!r} is one column with "
                f"{_SEPARATORS[separator]}s in it: the file is {_SEPARATORS[separator]}-separated "
                "(Excel does that in many languages). Save it comma-separated (in Excel: Save As, "
                "'CSV UTF-8 (Comma delimited)')."
            )
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise DataError(f"{path}, line 1: the header names {duplicated} more than once; rename them.")
        start = reader.line_num + 1
        for row in reader:
            if not row:
                start = reader.line_num + 1
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}, line {start}: {len(row)} fields, but the header has {len(header)} "
                    f"({', '.join(header)}). Quote fields that contain commas or line breaks, and give "
                    "every line one field per column."
                )
            records.append(dict(zip(header, row, strict=True)))
            source.lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        field = _quote_column("".join(lines[start - 1 : max(reader.line_num, start)]))
        column = f", column {header[field]!r}" if header and field < len(header) else ""
        problem = "a quoted field is never closed" if "end of data" in str(exc) else f"malformed CSV ({exc})"
        raise DataError(
            f"{path}, line {start}{column}: {problem}. Quote a field that holds commas, quotes or "
            'line breaks in "...", doubling each quote inside it ("").'
        ) from None
    if not records:
        raise DataError(f"{path} has a header but no data lines.")
    return header, records, source


def _read_csv(
    path: Path, kind: Callable[[list[str]], str], renames: Mapping[str, str]
) -> tuple[pl.DataFrame, _Source, str]:
    header, records, source = _csv_rows(path)
    names = _apply_renames(path, header, renames)
    if renames:
        records = [{names[k]: v for k, v in r.items()} for r in records]
    chosen = kind(list(names.values()))
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


def _parquet_frame(path: Path) -> tuple[pl.DataFrame, _Source]:
    """A Parquet file's frame; a DataError for a damaged, empty or non-Parquet file."""
    _read_bytes_check(path)
    try:
        frame = pl.read_parquet(path)
    except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001 - polars raises many types
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(
            f"{path} cannot be read as Parquet ({reason}); "
            "is it damaged or another format? Write it again, or give it the suffix of its real format."
        ) from None
    if frame.height == 0:
        raise DataError(f"{path} is empty: it holds no rows.")
    return frame, _Source(path)


def _read_bytes_check(path: Path) -> None:
    """The checks of :func:`_read_bytes` without reading the file (Parquet is read by polars)."""
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file ({', '.join(SUFFIXES)}).")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise FileNotFoundError(f"No such data file: {path}") from None
    except OSError as exc:
        raise DataError(
            f"{path} cannot be read ({exc.strerror or exc}); check the file and its permissions."
        ) from None
    if size == 0:
        raise DataError(f"{path} is empty (0 bytes): it holds no data. Was it saved or copied completely?")


def _read_parquet(
    path: Path, kind: Callable[[list[str]], str], renames: Mapping[str, str]
) -> tuple[pl.DataFrame, _Source, str]:
    frame, source = _parquet_frame(path)
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
            stacklevel=external_stacklevel(),
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
                stacklevel=external_stacklevel(),
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
                stacklevel=external_stacklevel(),
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


#: What a column of :func:`read_table` may hold.
TABLE_RULES = {
    "text": "text",
    "text?": "text or nothing",
    "id": "an id (text or an integer)",
    "number": "a finite number",
}


def _table_cell(source: _Source, i: int, column: str, value: Any, rule: str) -> Any:
    """One JSONL cell of :func:`read_table` against its rule; the value to keep."""
    if rule == "text?" and value is None:
        return None
    if rule in ("text", "text?", "id") and isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise source.error(
                i,
                column,
                "holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode; fix the text.",
            ) from None
        return value
    if rule == "id" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if rule == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    fix = "fill it in or drop the line" if value is None else "fix the value"
    raise source.error(i, column, f"expected {TABLE_RULES[rule]}, got {_describe(value)}; {fix}.")


def _csv_cell(source: _Source, i: int, column: str, text: str, rule: str) -> Any:
    """One CSV field of :func:`read_table` against its rule; the value to keep."""
    if rule == "text?":
        return text or None
    if rule == "number":
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise source.error(i, column, f"expected a finite number, got {_describe(text)}; fix the value.")
        return value
    if text == "" and rule == "id":
        raise source.error(i, column, "the id is missing; fill it in or drop the line.")
    return text


def _table_series(source: _Source, name: str, values: list[Any]) -> pl.Series:
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:
        types = sorted({type(v).__name__ for v in values if v is not None})
        raise source.error(
            None, name, f"holds values of mixed types ({', '.join(types)}); give it one type."
        ) from exc


def _parquet_table(source: _Source, frame: pl.DataFrame, columns: Mapping[str, str]) -> pl.DataFrame:
    for name in frame.columns:
        rule = columns.get(name)
        if rule is None:
            continue
        dtype = frame.schema[name]
        nulls = frame[name].is_null()
        if rule != "text?" and nulls.any():
            raise source.error(
                int(nulls.arg_true()[0]), name, "the value is missing; fill it in or drop the row."
            )
        ok = {
            "text": dtype == pl.String,
            "text?": dtype in (pl.String, pl.Null),
            "id": dtype == pl.String or dtype.is_integer(),
            "number": dtype.is_numeric(),
        }[rule]
        if not ok:
            raise source.error(
                None, name, f"expected {TABLE_RULES[rule]}, got values of type {dtype}; fix the column."
            )
        if rule == "number":
            bad = ~frame[name].cast(pl.Float64).is_finite()
            if bad.any():
                row = int(bad.arg_true()[0])
                raise source.error(
                    row, name, f"expected a finite number, got {frame[name][row]}; fix or drop the row."
                )
            frame = frame.with_columns(pl.col(name).cast(pl.Float64))
        if rule == "text?" and dtype == pl.Null:
            frame = frame.with_columns(pl.col(name).cast(pl.String))
    return frame


def read_table(
    path: str | os.PathLike,
    columns: Mapping[str, str],
    required: tuple[str, ...] = (),
    what: str = "This file",
) -> pl.DataFrame:
    """Read a CSV, JSONL or Parquet file as a frame, checking the columns it names.

    The same checks as :func:`read_pairs`, for files of other shapes (active-annotation
    pools, query and labels files): bytes that are not UTF-8, a malformed line, ragged rows,
    a quote never closed, a ``;``-separated CSV, a damaged Parquet file and a value that
    breaks its column's rule each raise one :class:`~embrm.exceptions.DataError` naming the
    file, the line (JSONL, CSV) or row (Parquet), the column and what to do.

    Parameters
    ----------
    path : str or path-like
        ``.parquet``, ``.jsonl`` / ``.ndjson`` or ``.csv``.
    columns : mapping of str to str
        The rule of each column (see :data:`TABLE_RULES`): ``"text"`` (a string),
        ``"text?"`` (a string or missing; an empty CSV field is missing), ``"id"`` (a string
        or an integer; CSV ids stay text) or ``"number"`` (a finite float). Other columns are
        kept as they are.
    required : tuple of str
        Columns the file must have.
    what : str
        What the file is, for the message about a missing column.

    Returns
    -------
    polars.DataFrame

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from embrm.data import read_table
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pool.csv"
    >>> _ = path.write_text("prompt,response\\nhi,hello\\n")
    >>> read_table(path, {"prompt": "text", "response": "text"}, ("prompt", "response")).shape
    (1, 2)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(
            f"Cannot read {path}: unknown file type {path.suffix!r}. Use one of {list(SUFFIXES)}."
        )
    if suffix == ".parquet":
        frame, source = _parquet_frame(path)
        names = frame.columns
    elif suffix == ".csv":
        names, records, source = _csv_rows(path)
    else:
        records, source = _jsonl_records(path)
        names = list(dict.fromkeys(k for r in records for k in r))
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(
            f"{path}: {what} needs the columns {list(required)}; missing {missing} (it has {names})."
        )
    if suffix == ".parquet":
        return _parquet_table(source, frame, columns)
    series = []
    for name in names:
        rule = columns.get(name)
        values = []
        for i, record in enumerate(records):
            if name not in record:
                if rule not in (None, "text?"):
                    raise source.error(
                        i, name, "the value is missing (other lines have it); give every line a value."
                    )
                values.append(None)
            elif rule is None:
                values.append(record[name])
            elif suffix == ".csv":
                values.append(_csv_cell(source, i, name, record[name], rule))
            else:
                values.append(_table_cell(source, i, name, record[name], rule))
        if rule == "id" and len({type(v) for v in values}) > 1:
            values = [str(v) for v in values]  # ids of both kinds: all as text
        series.append(_table_series(source, name, values))
    return pl.DataFrame(series)


def peek_columns(path: str | os.PathLike) -> list[str] | None:
    """The column names of a data file from its header (CSV), first line (JSONL) or schema
    (Parquet), without reading it all; None when they cannot be told (the full readers
    then say what is wrong)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS or not path.is_file():
        return None
    if suffix == ".parquet":
        try:
            return list(pl.read_parquet_schema(path))
        except (Exception, pl.exceptions.PanicException):  # noqa: BLE001 - reported by the full reader
            return None
    try:
        with open(path, "rb") as file:
            first = b""
            while not first.strip():
                first = file.readline(1 << 20)
                if not first:
                    return None
        line = first.decode("utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError):
        return None
    if suffix == ".csv":
        try:
            return next(csv.reader([line]), None)
        except csv.Error:
            return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return list(record) if isinstance(record, dict) else None
