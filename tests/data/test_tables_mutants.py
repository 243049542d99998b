"""The data readers' small contracts, each against an exact value: read_table's rules per format
(CSV, JSONL, Parquet), peek_columns, read_responses, the unscored kind of read_any, and every
reader's messages, warnings and line numbers in full (what the mutation score of data.io needs)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings

import polars as pl
import pytest

from embrm.data import (
    pairs_from_frame,
    peek_columns,
    read_any,
    read_pairs,
    read_responses,
    read_scored,
    read_table,
    render_prompt,
)
from embrm.data._io import _kind_or_responses
from embrm.exceptions import DataError, DataWarning

RULES = {"prompt": "text", "note": "text?", "id": "id", "score": "number"}


def _write(path, text):
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _jsonl(tmp_path, *records, name="t.jsonl"):
    return _write(tmp_path / name, "".join(json.dumps(r) + "\n" for r in records))


def _raises(message):
    return pytest.raises(DataError, match=f"^{re.escape(message)}$")


# --- read_table: CSV ------------------------------------------------------------------------


def test_read_table_csv_applies_each_rule(tmp_path):
    path = _write(tmp_path / "t.csv", "prompt,note,id,score,extra\nhi,,7,1,x\n,n,a,2.5,\n")
    frame = read_table(path, RULES, ("prompt", "id"))
    assert frame.columns == ["prompt", "note", "id", "score", "extra"]
    assert frame.schema["score"] == pl.Float64
    assert frame.schema["note"] == pl.String
    assert frame.schema["id"] == pl.String
    assert frame.rows() == [("hi", None, "7", 1.0, "x"), ("", "n", "a", 2.5, "")]


def test_read_table_suffix_is_case_blind(tmp_path):
    path = _write(tmp_path / "T.CSV", "prompt\nhi\n")
    assert read_table(path, {"prompt": "text"}).rows() == [("hi",)]


@pytest.mark.parametrize(
    ("field", "described"),
    [("abc", "the text 'abc'"), ("nan", "the text 'nan'"), ("inf", "the text 'inf'"), ("", "the text ''")],
)
def test_read_table_csv_number_must_be_finite(tmp_path, field, described):
    path = _write(tmp_path / "t.csv", f"prompt,score\nhi,1\nho,{field}\n")
    message = f"line 3, column 'score': expected a finite number, got {described}; fix the value."
    with _raises(f"{path}, {message}"):
        read_table(path, RULES)


def test_read_table_csv_empty_id(tmp_path):
    path = _write(tmp_path / "t.csv", "prompt,id\nhi,1\n\nho,\n")
    with _raises(f"{path}, line 4, column 'id': the id is missing; fill it in or drop the line."):
        read_table(path, RULES)


def test_read_table_missing_required_column(tmp_path):
    path = _write(tmp_path / "t.csv", "prompt,other\nhi,x\n")
    with _raises(
        f"{path}: The pool needs the columns ['prompt', 'response']; missing ['response'] "
        "(it has ['prompt', 'other'])."
    ):
        read_table(path, RULES, ("prompt", "response"), what="The pool")
    with _raises(f"{path}: This file needs the columns ['id']; missing ['id'] (it has ['prompt', 'other'])."):
        read_table(path, RULES, ("id",))


def test_read_table_unknown_suffix(tmp_path):
    path = _write(tmp_path / "t.txt", "prompt\nhi\n")
    with _raises(
        f"Cannot read {path}: unknown file type '.txt'. Use one of ['.parquet', '.jsonl', '.ndjson', '.csv']."
    ):
        read_table(path, RULES)


# --- read_table: JSONL ----------------------------------------------------------------------


def test_read_table_jsonl_applies_each_rule(tmp_path):
    path = _jsonl(
        tmp_path,
        {"prompt": "hi", "id": 3, "score": 1, "extra": [1]},
        {"prompt": "ho", "note": None, "id": 4, "score": 2.5, "extra": [2, 3]},
        {"prompt": "", "note": "n", "id": 5, "score": -1},
        name="t.ndjson",
    )
    frame = read_table(path, RULES)
    assert frame.columns == ["prompt", "id", "score", "extra", "note"]
    assert frame.schema["score"] == pl.Float64
    assert frame.schema["id"] == pl.Int64
    assert frame.rows() == [("hi", 3, 1.0, [1], None), ("ho", 4, 2.5, [2, 3], None), ("", 5, -1.0, None, "n")]


def test_read_table_jsonl_ids_of_both_kinds_become_text(tmp_path):
    path = _jsonl(tmp_path, {"id": 1}, {"id": "b"}, {"id": 30})
    frame = read_table(path, RULES)
    assert frame.schema["id"] == pl.String
    assert frame["id"].to_list() == ["1", "b", "30"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "expected text, got the number 5; fix the value."),
        (None, "expected text, got null (a missing value); fill it in or drop the line."),
        (["a"], "expected text, got a list of 1 item(s); fix the value."),
        (True, "expected text, got the boolean true; fix the value."),
    ],
)
def test_read_table_jsonl_text_rule(tmp_path, value, message):
    path = _jsonl(tmp_path, {"prompt": "ok"}, {"prompt": value})
    with _raises(f"{path}, line 2, column 'prompt': {message}"):
        read_table(path, RULES)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected an id (text or an integer), got the boolean true; fix the value."),
        (1.5, "expected an id (text or an integer), got the number 1.5; fix the value."),
        (
            None,
            "expected an id (text or an integer), got null (a missing value); fill it in or drop the line.",
        ),
    ],
)
def test_read_table_jsonl_id_rule(tmp_path, value, message):
    path = _jsonl(tmp_path, {"id": 1}, {"id": value})
    with _raises(f"{path}, line 2, column 'id': {message}"):
        read_table(path, RULES)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("true", "expected a finite number, got the boolean true; fix the value."),
        ('"1"', "expected a finite number, got the text '1'; fix the value."),
        ("1e999", "expected a finite number, got the number inf; fix the value."),
        ("-1e999", "expected a finite number, got the number -inf; fix the value."),
        ("null", "expected a finite number, got null (a missing value); fill it in or drop the line."),
    ],
)
def test_read_table_jsonl_number_rule(tmp_path, raw, message):
    path = _write(tmp_path / "t.jsonl", '{"score": 1}\n{"score": ' + raw + "}\n")
    with _raises(f"{path}, line 2, column 'score': {message}"):
        read_table(path, RULES)


def test_read_table_jsonl_text_or_nothing_rule(tmp_path):
    path = _jsonl(tmp_path, {"note": "a"}, {"note": 3})
    with _raises(
        f"{path}, line 2, column 'note': expected text or nothing, got the number 3; fix the value."
    ):
        read_table(path, RULES)


def test_read_table_jsonl_lone_surrogate(tmp_path):
    for column in ("prompt", "note", "id"):
        path = _write(tmp_path / "t.jsonl", '{"' + column + '": "ok"}\n{"' + column + '": "a\\ud800"}\n')
        with _raises(
            f"{path}, line 2, column {column!r}: holds a lone surrogate (\\ud800-\\udfff), which is not "
            "valid Unicode; fix the text."
        ):
            read_table(path, RULES)


@pytest.mark.parametrize("column", ["prompt", "id", "score"])
def test_read_table_jsonl_missing_value(tmp_path, column):
    path = _write(tmp_path / "t.jsonl", '{"' + column + '": "1", "x": 1}\n\n{"x": 2}\n')
    rules = {column: "text" if column == "prompt" else "id"}
    with _raises(
        f"{path}, line 3, column {column!r}: the value is missing (other lines have it); "
        "give every line a value."
    ):
        read_table(path, rules)


def test_read_table_jsonl_mixed_types(tmp_path):
    path = _jsonl(tmp_path, {"extra": 1}, {"extra": "a"}, {"extra": None})
    with _raises(f"{path}, column 'extra': holds values of mixed types (int, str); give it one type."):
        read_table(path, RULES)


def test_read_table_jsonl_too_large_an_integer(tmp_path):
    path = _jsonl(tmp_path, {"extra": 2**130})
    with _raises(f"{path}, column 'extra': holds values of mixed types (int); give it one type."):
        read_table(path, RULES)


# --- read_table: Parquet --------------------------------------------------------------------


def _parquet(tmp_path, frame, name="t.parquet"):
    path = tmp_path / name
    frame.write_parquet(path)
    return path


def test_read_table_parquet_applies_each_rule(tmp_path):
    frame = pl.DataFrame(
        {
            "prompt": ["a", ""],
            "note": [None, "n"],
            "id": [1, 2],
            "score": [1, -3],
            "extra": [None, None],
        }
    )
    got = read_table(_parquet(tmp_path, frame), RULES, ("prompt",))
    assert got.schema == {
        "prompt": pl.String,
        "note": pl.String,
        "id": pl.Int64,
        "score": pl.Float64,
        "extra": pl.Null,
    }
    assert got.rows() == [("a", None, 1, 1.0, None), ("", "n", 2, -3.0, None)]


def test_read_table_parquet_all_missing_optional_text_becomes_text(tmp_path):
    got = read_table(_parquet(tmp_path, pl.DataFrame({"note": [None, None], "id": ["a", "b"]})), RULES)
    assert got.schema == {"note": pl.String, "id": pl.String}
    assert got.rows() == [(None, "a"), (None, "b")]


ROW = "row {} (counting from 0), column "


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            dict({"prompt": ["a", None, None]}),
            ROW.format(1) + "'prompt': the value is missing; fill it in or drop the row.",
        ),
        (
            dict({"id": [1, 2, None]}),
            ROW.format(2) + "'id': the value is missing; fill it in or drop the row.",
        ),
        (
            dict({"prompt": [1, 2]}),
            "column 'prompt': expected text, got values of type Int64; fix the column.",
        ),
        (
            dict({"note": [1, None]}),
            "column 'note': expected text or nothing, got values of type Int64; fix the column.",
        ),
        (
            dict({"id": [1.0, 2.0]}),
            "column 'id': expected an id (text or an integer), got values of type Float64; fix the column.",
        ),
        (
            dict({"score": ["1", "2"]}),
            "column 'score': expected a finite number, got values of type String; fix the column.",
        ),
        (
            dict({"score": [1.0, 2.0, math.inf, math.nan]}),
            ROW.format(2) + "'score': expected a finite number, got inf; fix or drop the row.",
        ),
        (
            dict({"score": [math.nan, 1.0]}),
            ROW.format(0) + "'score': expected a finite number, got nan; fix or drop the row.",
        ),
    ],
)
def test_read_table_parquet_rules_broken(tmp_path, frame, message):
    path = _parquet(tmp_path, pl.DataFrame(frame))
    with _raises(f"{path}, {message}"):
        read_table(path, RULES)


# --- peek_columns ---------------------------------------------------------------------------


def test_peek_columns_reads_the_header_only(tmp_path):
    header = peek_columns(_write(tmp_path / "a.csv", '\ufeffprompt,response\nhi,"unclosed\n'))
    assert header == ["prompt", "response"]
    assert peek_columns(_write(tmp_path / "b.CSV", "\n  \nx,y\n")) == ["x", "y"]
    assert peek_columns(_write(tmp_path / "c.jsonl", '\n{"b": 1, "a": 2}\nnot json\n')) == ["b", "a"]
    assert peek_columns(_write(tmp_path / "d.ndjson", '\ufeff{"z": 1}\n')) == ["z"]
    assert peek_columns(_parquet(tmp_path, pl.DataFrame({"q": [1], "p": ["a"]}))) == ["q", "p"]


def test_peek_columns_none_when_it_cannot_tell(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    assert peek_columns(tmp_path / "folder.csv") is None
    assert peek_columns(tmp_path / "missing.csv") is None
    assert peek_columns(_write(tmp_path / "a.txt", "x,y\n")) is None
    assert peek_columns(_write(tmp_path / "b.csv", "")) is None
    assert peek_columns(_write(tmp_path / "c.csv", "\n \n")) is None
    assert peek_columns(_write(tmp_path / "d.jsonl", "[1, 2]\n")) is None
    assert peek_columns(_write(tmp_path / "e.jsonl", "{not json}\n")) is None
    assert peek_columns(_write(tmp_path / "f.jsonl", "[" * 100_000 + "\n")) is None
    assert peek_columns(_write(tmp_path / "g.parquet", "not parquet")) is None
    (tmp_path / "h.csv").write_bytes(b"caf\xe9,x\n")
    assert peek_columns(tmp_path / "h.csv") is None


def test_peek_columns_reads_at_most_a_mebibyte_of_the_first_line(tmp_path):
    near = _write(tmp_path / "near.jsonl", json.dumps({"k": "x" * ((1 << 20) - 20)}) + "\n")
    assert peek_columns(near) == ["k"]
    far = _write(tmp_path / "far.jsonl", json.dumps({"k": "x" * (1 << 20)}) + "\n")
    assert peek_columns(far) is None


# --- read_responses and the unscored kind -------------------------------------------------


def _said(role, content):
    return {"role": role, "content": content}


def test_read_responses_renders_and_renames(tmp_path):
    path = _jsonl(
        tmp_path,
        {"question": [_said("user", "q1")], "response": [_said("assistant", "a")]},
        {"question": [_said("user", "q2")], "response": [_said("assistant", "b")]},
    )
    frame = read_responses(path, columns={"question": "prompt"})
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == ["prompt", "response"]
    assert frame.schema == {"prompt": pl.String, "response": pl.String}
    assert frame["response"].to_list() == ["a", "b"]
    assert frame["prompt"].to_list() == [render_prompt([_said("user", q)], "p") for q in ("q1", "q2")]


def test_read_responses_needs_prompt_and_response(tmp_path):
    path = _jsonl(tmp_path, {"prompt": "p", "answer": "a"})
    message = "responses need the columns ['prompt', 'response']; missing ['response']"
    with pytest.raises(DataError, match=re.escape(message)):
        read_responses(path)


def test_kind_or_responses():
    assert _kind_or_responses(["prompt", "response"]) == "responses"
    assert _kind_or_responses(["prompt", "response", "score"]) == "scored"
    assert _kind_or_responses(["prompt", "chosen", "rejected"]) == "pairs"
    assert _kind_or_responses(["prompt", "chosen", "rejected", "score"]) == "pairs"


def test_read_any_unscored(tmp_path):
    path = _jsonl(tmp_path, {"prompt": "p", "response": "a"}, {"prompt": "p", "response": "b"})
    frame = read_any(path, unscored=True)
    assert isinstance(frame, pl.DataFrame)
    assert frame.rows() == [("p", "a"), ("p", "b")]
    with pytest.raises(DataError, match=re.escape("scored responses need the columns")):
        read_any(path)


# --- bytes that are not UTF-8, named by line and column -----------------------------------

CP1252 = (
    "Is it in Windows' 'ANSI' (cp1252) encoding, as Excel saves CSV? Save it as UTF-8 "
    "(in Excel: Save As, 'CSV UTF-8 (Comma delimited)')."
)


@pytest.mark.parametrize(
    ("name", "raw", "place", "fix"),
    [
        ("h.csv", b"prom\xffpt,response\nhi,ho\n", "line 1", CP1252),
        ("d.csv", b'prompt,response\nhi,ho\n"a\nb",x\nc,d\xe9\n', "line 5, column 'response'", CP1252),
        ("r.csv", b"prompt,response\nhi,ho,\xe9\n", "line 2", CP1252),
        ("n.csv", b'prompt,response\nhi,"a\x00b\xe9"\n', "line 2, column 'response'", CP1252),
        ("U.CSV", b"prompt,response\n\xe9,ho\n", "line 2, column 'prompt'", CP1252),
        (
            "s.csv",
            b"prompt;response\nhi;h\xe9\n",
            "line 2",
            CP1252 + " It is also semicolon-separated: save it comma-separated.",
        ),
        (
            "t.csv",
            b"prompt\tresponse\nhi\th\xe9\n",
            "line 2",
            CP1252 + " It is also tab-separated: save it comma-separated.",
        ),
        (
            "p.csv",
            b"prompt|response\nhi|h\xe9\n",
            "line 2",
            CP1252 + " It is also pipe-separated: save it comma-separated.",
        ),
        (
            "a.jsonl",
            b'{"prompt": "a"}\n{"prompt": "\xff"}\n',
            "line 2, column 'prompt'",
            "Save the file as UTF-8.",
        ),
        (
            "b.jsonl",
            b'{"x": 1, "prompt": ["ok", "\xff"]}\n',
            "line 1, column 'prompt'",
            "Save the file as UTF-8.",
        ),
        ("c.jsonl", b'{"x": 1, "meta": {"k": "\xff"}}\n', "line 1, column 'meta'", "Save the file as UTF-8."),
        ("e.jsonl", b'{"x": 1, "meta": {"\xff": 1}}\n', "line 1, column 'meta'", "Save the file as UTF-8."),
        ("f.jsonl", b'{"\xff": "a"}\n', "line 1", "Save the file as UTF-8."),
        ("g.jsonl", b'{"\xffk": "\xff"}\n', "line 1", "Save the file as UTF-8."),
        ("i.jsonl", b'["\xff"]\n', "line 1", "Save the file as UTF-8."),
        ("j.jsonl", b'{"a": 1}\n{"a": "\xff"\n', "line 2", "Save the file as UTF-8."),
        (
            "k.NDJSON",
            b'{"a": 1}\n\n{"a": 1, "c": [1, {"d": "\xff"}]}\n',
            "line 3, column 'c'",
            "Save the file as UTF-8.",
        ),
    ],
)
def test_bytes_that_are_not_utf8(tmp_path, name, raw, place, fix):
    path = tmp_path / name
    path.write_bytes(raw)
    byte = "0xff" if b"\xff" in raw else "0xe9"
    with _raises(f"{path}, {place}: not valid UTF-8 (byte {byte}). {fix}"):
        read_table(path, {})


def test_a_bad_byte_in_a_field_longer_than_the_csv_limit(tmp_path):
    limit = csv.field_size_limit()
    path = tmp_path / "l.csv"
    path.write_bytes(b"prompt,response\nhi," + b"x" * (limit + 10) + b"\xe9\n")
    with _raises(f"{path}, line 2, column 'response': not valid UTF-8 (byte 0xe9). {CP1252}"):
        read_table(path, {})
    assert csv.field_size_limit() == limit
    path.write_bytes(b"prompt,response\nhi," + b"x" * (limit + 10) + b"\n")
    assert read_table(path, {})["response"].str.len_chars().to_list() == [limit + 10]
    assert csv.field_size_limit() == limit


# --- CSV structure ------------------------------------------------------------------------

SAVE = (
    "(Excel does that in many languages). Save it comma-separated (in Excel: Save As, "
    "'CSV UTF-8 (Comma delimited)')."
)
QUOTE = 'Quote a field that holds commas, quotes or line breaks in "...", doubling each quote inside it ("").'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "{path} is empty (0 bytes): it holds no data. Was it saved or copied completely?"),
        (b" , \n1,2\n", "{path} is empty: a CSV file needs a header line naming its columns."),
        (b"\n", "{path} is empty: a CSV file needs a header line naming its columns."),
        (b"a,b\n\n", "{path} has a header but no data lines."),
        (
            b"a,b,a,b,c\n1,2,3,4,5\n",
            "{path}, line 1: the header names ['a', 'b'] more than once; rename them.",
        ),
        (
            b'a,b\n1,2\n\n"x\ny",2,3\n',
            "{path}, line 4: 3 fields, but the header has 2 (a, b). Quote fields that contain commas or line "
            "breaks, and give every line one field per column.",
        ),
        (
            b"a,b\n1\n",
            "{path}, line 2: 1 fields, but the header has 2 (a, b). Quote fields that contain commas or line "
            "breaks, and give every line one field per column.",
        ),
        (
            b'a,b\n1,2\n3,"4"x\n',
            "{path}, line 3, column 'b': malformed CSV (',' expected after '\"'). " + QUOTE,
        ),
        (
            b'a,b,c\n1,2,3\n3,"un\nclosed,5\n',
            "{path}, line 3, column 'b': a quoted field is never closed. " + QUOTE,
        ),
        (
            b'a,b,c\n"1""x""",2,"3"z\n',
            "{path}, line 2, column 'c': malformed CSV (',' expected after '\"'). " + QUOTE,
        ),
        (
            b'a,b,c\n1,"2",3\r\n"1"y,2,3\n',
            "{path}, line 3, column 'a': malformed CSV (',' expected after '\"'). " + QUOTE,
        ),
        (b'a,b\n1,2\n3,4,"5"x\n', "{path}, line 3: malformed CSV (',' expected after '\"'). " + QUOTE),
        (
            b"prompt;response\nhi;ho\n",
            "{path}, line 1: the header 'prompt;response' is one column with semicolons in it: the file is "
            "semicolon-separated " + SAVE,
        ),
        (
            b"prompt\tresponse\nhi\tho\n",
            "{path}, line 1: the header 'prompt\\tresponse' is one column with tabs in it: the file is "
            "tab-separated " + SAVE,
        ),
        (
            b"prompt|response\nhi|ho\n",
            "{path}, line 1: the header 'prompt|response' is one column with pipes in it: the file is "
            "pipe-separated " + SAVE,
        ),
        (
            ("a;" + "b" * 80 + "\n1;2\n").encode(),
            "{path}, line 1: the header "
            + repr("a;" + "b" * 58)
            + " is one column with semicolons in it: the "
            "file is semicolon-separated " + SAVE,
        ),
    ],
)
def test_csv_structure(tmp_path, raw, message):
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    with _raises(message.format(path=path)):
        read_table(path, {})


def test_csv_byte_order_mark_and_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffa,b\n\n1,2\n\n\n3,4\n".encode())
    frame = read_table(path, {})
    assert (frame.columns, frame.rows()) == (["a", "b"], [("1", "2"), ("3", "4")])
    path.write_bytes("\ufeffa,b\n1,2\n\n3,x\n".encode())
    with _raises(f"{path}, line 4, column 'b': expected a finite number, got the text 'x'; fix the value."):
        read_table(path, {"b": "number"})


# --- read_pairs / read_scored: every message in full ----------------------------------------

PAIR = {"prompt": "p", "chosen": "a", "rejected": "b"}
SCORED = {"prompt_id": 1, "prompt": "p", "response": "a", "score": 1.0}
AS_TEXT = "give the text as a string, or chat messages as a list of {role, content} objects."
NON_FINITE = "is not a number JSON allows). Write a finite number, or fix or remove that line."


def _lines(*records):
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.mark.parametrize(
    ("reader", "text", "message"),
    [
        (
            read_pairs,
            _lines(PAIR, PAIR | {"chosen": 5}),
            "line 2, column 'chosen': expected text, got the number 5; write it as a JSON string (\"5\") "
            "if it is text.",
        ),
        (
            read_pairs,
            _lines(PAIR, PAIR | {"chosen": 1.5}),
            "line 2, column 'chosen': expected text, got the number 1.5; write it as a JSON string "
            '("1.5") if it is text.',
        ),
        (
            read_pairs,
            _lines(PAIR, PAIR | {"chosen": True}),
            "line 2, column 'chosen': expected text, got the boolean true; " + AS_TEXT,
        ),
        (
            read_pairs,
            _lines(PAIR, PAIR | {"chosen": {"a": 1}}),
            "line 2, column 'chosen': expected text, got a dict; " + AS_TEXT,
        ),
        (
            read_pairs,
            _lines(PAIR, PAIR | {"weight": True}),
            "line 1, column 'weight': the value is missing (other lines have it); give every line a value.",
        ),
        (
            read_pairs,
            _lines(PAIR | {"weight": 1}, PAIR | {"weight": "1"}),
            "line 2, column 'weight': expected a finite number, got the text '1'; fix the value or drop "
            "the line.",
        ),
        (
            read_pairs,
            _lines(PAIR | {"weight": 1}, PAIR | {"weight": False}),
            "line 2, column 'weight': expected a finite number, got the boolean false; fix the value or "
            "drop the line.",
        ),
        (
            read_pairs,
            _lines(PAIR | {"weight": 1})
            + '{"prompt": "p", "chosen": "a", "rejected": "b", "weight": 1e999}\n',
            "line 2, column 'weight': expected a finite number, got the number inf; fix the value or "
            "drop the line.",
        ),
        (
            read_scored,
            _lines(SCORED, SCORED | {"prompt_id": 1.0}),
            "line 2, column 'prompt_id': expected an integer id, got the number 1.0.",
        ),
        (
            read_scored,
            _lines(SCORED, SCORED | {"prompt_id": True}),
            "line 2, column 'prompt_id': expected an integer id, got the boolean true.",
        ),
        (
            read_scored,
            _lines(SCORED, SCORED | {"prompt_id": "1"}),
            "line 2, column 'prompt_id': expected an integer id, got the text '1'.",
        ),
        (
            read_pairs,
            "nul\n",
            "line 1: not valid JSON (Expecting value at character 1). Each line must be one JSON object; "
            "fix or remove that line.",
        ),
        (
            read_pairs,
            '{"a": 1,\n',
            "line 1: not valid JSON (Expecting property name enclosed in double quotes at character 9). "
            "Each line must be one JSON object; fix or remove that line.",
        ),
        (
            read_pairs,
            '{"a": ' + "[" * 100_000 + "\n",
            "line 1: not valid JSON (nested too deeply). Each line must be one JSON object; fix or "
            "remove that line.",
        ),
        (
            read_pairs,
            _lines(PAIR) + '"text"\n',
            "line 2: expected a JSON object ({...}), got the text 'text'.",
        ),
        (
            read_pairs,
            _lines(PAIR)
            + '{"prompt": "p", "chosen": "a", "rejected": "x", "weight": [1, {"w": Infinity}]}\n',
            "line 2, column 'weight': not valid JSON (Infinity " + NON_FINITE,
        ),
        (
            read_pairs,
            _lines(PAIR) + '{"prompt": "p", "chosen": "a", "rejected": "x", "weight": -Infinity}\n',
            "line 2, column 'weight': not valid JSON (-Infinity " + NON_FINITE,
        ),
        (
            read_pairs,
            _lines(PAIR) + '{"prompt": "p", "chosen": "a", "rejected": "x", "w": {"a": 1, "b": NaN}}\n',
            "line 2, column 'w': not valid JSON (NaN " + NON_FINITE,
        ),
        (
            read_pairs,
            '{"chosen": "a", "rejected": "b", "prompt": "p", "x": [[1], [NaN]]}\n',
            "line 1, column 'x': not valid JSON (NaN " + NON_FINITE,
        ),
        (read_pairs, "\n  \n", "is empty: it holds no JSON lines. Each line must be one JSON object."),
    ],
)
def test_jsonl_messages(tmp_path, reader, text, message):
    path = _write(tmp_path / "d.jsonl", text)
    separator = " " if message.startswith("is empty") else ", "
    with _raises(f"{path}{separator}{message}"):
        reader(path)


def test_jsonl_mixed_types_in_a_column(tmp_path):
    for column in ("extra", "group"):
        path = _write(tmp_path / "d.jsonl", _lines(PAIR | {column: 1}, PAIR | {"rejected": "c", column: "x"}))
        start = f"{path}, column {column!r}: holds values of mixed types (int, str); give it one type ("
        with pytest.raises(DataError, match=f"^{re.escape(start)}"):
            read_pairs(path)


def test_jsonl_numbers_of_both_kinds_and_unchecked_columns(tmp_path):
    path = _write(
        tmp_path / "d.jsonl",
        _lines(
            PAIR | {"weight": 1, "group": "g", "x": 1}, PAIR | {"rejected": "c", "weight": 1.5, "group": "g"}
        ),
    )
    with pytest.warns(DataWarning):
        frame = read_pairs(path).frame
    assert frame.schema["weight"] == pl.Float64
    assert frame.select("weight", "group", "x").rows() == [(1.0, "g", 1), (1.5, "g", None)]


ROW0 = "row {} (counting from 0), column "


def _said_list(*contents):
    return [_said("user" if i == 0 else "assistant", c) for i, c in enumerate(contents)]


@pytest.mark.parametrize(
    ("reader", "frame", "message"),
    [
        (
            read_pairs,
            dict(PAIR | {"chosen": [None]}),
            ROW0.format(0) + "'chosen': the value is missing; drop or fill that row.",
        ),
        (
            read_pairs,
            dict({"prompt": ["p", "q"], "chosen": ["a", None], "rejected": ["b", "c"]}),
            ROW0.format(1) + "'chosen': the value is missing; drop or fill that row.",
        ),
        (
            read_pairs,
            dict(PAIR | {"chosen": [1]}),
            "column 'chosen': expected text, got Int64; cast it to strings yourself if that is really "
            "the text.",
        ),
        (
            read_pairs,
            dict(PAIR | {"weight": ["1"]}),
            "column 'weight': expected numbers, got String.",
        ),
        (
            read_pairs,
            dict(
                {
                    "prompt": ["p", "q"],
                    "chosen": ["a", "b"],
                    "rejected": ["b", "c"],
                    "weight": [1.0, math.inf],
                }
            ),
            ROW0.format(1) + "'weight': expected a finite number, got inf; fix or drop the row.",
        ),
        (
            read_pairs,
            dict({"prompt": ["p", "q"], "chosen": ["a", "b"], "rejected": ["b", "c"], "weight": [1, -2]}),
            ROW0.format(1) + "'weight': a weight must be non-negative; fix the value.",
        ),
        (
            read_scored,
            dict(SCORED | {"prompt_id": [1.0]}),
            "column 'prompt_id': expected integer ids, got Float64.",
        ),
        (
            read_scored,
            dict(
                {"prompt_id": [1, 2], "prompt": ["p", "q"], "response": ["a", "b"], "score": [1.0, math.nan]}
            ),
            ROW0.format(1) + "'score': expected a finite number, got nan; fix or drop the row.",
        ),
        (
            read_pairs,
            dict({"prompt": ["p", "p"], "chosen": ["a", "x"], "rejected": ["b", "x"]}),
            ROW0.format(1)
            + "'rejected': chosen and rejected are identical (1 such pairs); such a pair carries no "
            "preference. Drop them.",
        ),
        (
            read_pairs,
            dict(
                {
                    "chosen": [_said_list("hi", "a")],
                    "rejected": [[_said("user", "ho"), _said("assistant", "b")]],
                }
            ),
            "Row 0: chosen and rejected share no leading messages, so there is no prompt to split off "
            "(TRL's implicit-prompt format). Add a 'prompt' column.",
        ),
        (
            read_pairs,
            dict(
                {
                    "chosen": [_said_list("hi", "a") + _said_list("x", "y")],
                    "rejected": [_said_list("hi", "b")],
                }
            ),
            "Row 0, column 'chosen': after the shared prompt it holds messages of roles ['assistant', "
            "'user', 'assistant'], not only the answer's assistant turns (chosen and rejected differ "
            "before their last answer). Add a 'prompt' column with the shared dialogue.",
        ),
        (
            read_pairs,
            dict(
                {
                    "chosen": [_said_list("hi", "a")],
                    "rejected": [_said_list("hi", "b") + [_said("user", "z")]],
                }
            ),
            "Row 0, column 'rejected': after the shared prompt it holds messages of roles ['assistant', "
            "'user'], not only the answer's assistant turns (chosen and rejected differ before their "
            "last answer). Add a 'prompt' column with the shared dialogue.",
        ),
        (
            read_pairs,
            dict({"prompt": ["p"], "Chosen": ["a"], "rejected": ["b"]}),
            "preference pairs need the columns ['prompt', 'chosen', 'rejected']; missing ['chosen'] "
            "('Chosen' looks like a misspelling of 'chosen'). Rename the column(s) in the file or pass "
            "columns={'Chosen': 'chosen'} to the reader.",
        ),
        (
            read_any,
            dict({"prompt": ["p"], "chosen": ["a"], "rejectd": ["b"]}),
            "preference pairs need the columns ['prompt', 'chosen', 'rejected']; missing ['rejected'] "
            "('rejectd' looks like a misspelling of 'rejected'). Rename the column(s) in the file or "
            "pass columns={'rejectd': 'rejected'} to the reader.",
        ),
        (
            read_any,
            dict({"prompt": ["p"], "response": ["a"]}),
            "scored responses need the columns ['prompt_id', 'prompt', 'response', 'score']; missing "
            "['prompt_id', 'score'] (the file has ['prompt', 'response']). Rename the column(s) in the "
            "file or pass columns={'your_name': 'prompt'} to the reader.",
        ),
        (
            read_responses,
            dict({"prompt": ["p"], "answer": ["a"]}),
            "responses need the columns ['prompt', 'response']; missing ['response'] (the file has "
            "['prompt', 'answer']). Rename the column(s) in the file or pass columns={'your_name': "
            "'prompt'} to the reader.",
        ),
        (
            read_pairs,
            dict({"chosen": [_said_list("hi", "a")], "rejected": ["b"]}),
            "preference pairs need the columns ['prompt', 'chosen', 'rejected']; missing ['prompt'] (the "
            "file has ['chosen', 'rejected']). Rename the column(s) in the file or pass "
            "columns={'your_name': 'prompt'} to the reader.",
        ),
    ],
)
def test_parquet_messages(tmp_path, reader, frame, message):
    path = tmp_path / "d.parquet"
    pl.DataFrame(frame).write_parquet(path)
    separator = "," if message.startswith(("row", "column")) else ":"
    with _raises(f"{path}{separator} {message}"):
        reader(path)


def test_trl_implicit_prompt_from_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pl.DataFrame(
        {
            "chosen": [_said_list("hi", "a"), _said_list("yo", "c")],
            "rejected": [_said_list("hi", "b"), _said_list("yo", "d")],
        }
    ).write_parquet(path)
    frame = read_pairs(path).frame
    prompts = [render_prompt([_said("user", q)], "p") for q in ("hi", "yo")]
    assert frame.select("prompt", "chosen", "rejected").rows() == [
        (prompts[0], "a", "b"),
        (prompts[1], "c", "d"),
    ]


# --- files that cannot be read --------------------------------------------------------------


def _table(path):
    return read_table(path, {})


@pytest.mark.parametrize("reader", [read_pairs, _table])
def test_files_that_are_not_data(tmp_path, reader):
    for suffix in (".jsonl", ".parquet"):
        missing = tmp_path / f"m{suffix}"
        with pytest.raises(FileNotFoundError, match=f"^{re.escape(f'No such data file: {missing}')}$"):
            reader(tmp_path / f"m{suffix}")
        empty = tmp_path / f"empty{suffix}"
        empty.write_bytes(b"")
        with _raises(f"{empty} is empty (0 bytes): it holds no data. Was it saved or copied completely?"):
            reader(empty)
    damaged = tmp_path / "bad.parquet"
    damaged.write_bytes(b"PAR1garbage")
    with _raises(
        f"{damaged} cannot be read as Parquet (parquet: File out of specification: A Parquet file must "
        f"contain a "
        "header and footer with at least 12 bytes); is it damaged or another format? Write it again, or "
        "give it "
        "the suffix of its real format."
    ):
        reader(damaged)
    no_rows = tmp_path / "rows0.parquet"
    pl.DataFrame(schema={"prompt": pl.String, "chosen": pl.String, "rejected": pl.String}).write_parquet(
        no_rows
    )
    with _raises(f"{no_rows} is empty: it holds no rows."):
        reader(no_rows)
    with _raises(
        f"Cannot read {tmp_path / 'x.txt'}: unknown file type '.txt'. Use one of ['.parquet', '.jsonl', "
        f"'.ndjson', '.csv']."
    ):
        reader(tmp_path / "x.txt")


def test_a_folder_is_not_a_data_file(tmp_path):
    for suffix in (".jsonl", ".parquet", ".csv"):
        folder = tmp_path / f"folder{suffix}"
        folder.mkdir()
        with _raises(f"{folder} is a folder; give a data file."):
            read_pairs(folder)
        with _raises(f"{folder} is a folder; give a data file (.parquet, .jsonl, .ndjson, .csv)."):
            read_table(folder, {})


@pytest.mark.parametrize(
    ("error", "reason"),
    [(PermissionError(13, "Permission denied"), "Permission denied"), (OSError("boom"), "boom")],
)
def test_an_unreadable_file(tmp_path, monkeypatch, error, reason):
    from embrm.data import _io

    def refuse(*args, **kwargs):
        raise error

    for name, text in (("d.jsonl", "{}\n"), ("d.csv", "a\n1\n")):
        path = _write(tmp_path / name, text)
        monkeypatch.setattr(type(path), "read_bytes", refuse)
        with _raises(f"{path} cannot be read ({reason}); check the file and its permissions."):
            read_table(path, {})
        monkeypatch.undo()
    path = tmp_path / "d.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    monkeypatch.setattr(_io, "open", refuse, raising=False)
    with _raises(f"{path} cannot be read ({reason}); check the file and its permissions."):
        read_table(path, {})


# --- column mappings ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_column_mapping(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    frame = pl.DataFrame(
        {"question": ["p", "q"], "chosen": ["a", "b"], "rejected": ["b", "c"], "weight": [1, 2]}
    )
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix == ".jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)
    pairs = read_pairs(path, columns={"question": "prompt"})
    assert pairs.frame.select("prompt", "chosen", "rejected", "weight").rows() == [
        ("p", "a", "b", 1.0),
        ("q", "b", "c", 2.0),
    ]
    assert pairs.name == "d"
    with _raises(
        f"{path}: the column mapping names ['q', 'r'], which the file does not have; it has "
        "['question', 'chosen', 'rejected', 'weight']."
    ):
        read_pairs(path, columns={"q": "prompt", "chosen": "chosen", "r": "x"})


def test_pairs_from_frame_mapping(tmp_path):
    frame = pl.DataFrame({"question": ["p"], "chosen": ["a"], "rejected": ["b"]})
    with _raises(
        "Column mapping names ['q'], which the data does not have; it has ['question', 'chosen', 'rejected']."
    ):
        pairs_from_frame(frame, columns={"q": "prompt"})
    pairs = pairs_from_frame(frame, columns={"question": "prompt"}, name="mine")
    assert (pairs.name, pairs.frame["prompt"].to_list()) == ("mine", ["p"])
    assert pairs_from_frame(frame.rename({"question": "prompt"}), columns={}).frame["prompt"].to_list() == [
        "p"
    ]


# --- CSV numbers ----------------------------------------------------------------------------

SCORED_CSV = "prompt_id,prompt,response,score\n1,p,a,1\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2,q,b,x", "line 3, column 'score': expected a number, got the text 'x'; fix the value."),
        ("x,q,b,2", "line 3, column 'prompt_id': expected an integer id, got the text 'x'; fix the value."),
        (
            "2.0,q,b,2",
            "line 3, column 'prompt_id': expected an integer id, got the text '2.0'; fix the value.",
        ),
        (
            "2,q,b,-inf",
            "line 3, column 'score': expected a finite number, got '-inf'; fix the value or drop the line.",
        ),
        (
            "2,q,b,NaN",
            "line 3, column 'score': expected a finite number, got 'NaN'; fix the value or drop the line.",
        ),
    ],
)
def test_csv_numbers(tmp_path, line, message):
    path = _write(tmp_path / "s.csv", SCORED_CSV + line + "\n")
    with _raises(f"{path}, {message}"):
        read_scored(path)


def test_csv_numbers_parsed(tmp_path):
    path = _write(tmp_path / "s.csv", SCORED_CSV + "2,q,b,2.5\n")
    scored = read_scored(path)
    assert scored.name == "s"
    assert scored.frame.schema["prompt_id"] == pl.Int64
    assert scored.frame.select("prompt_id", "score").rows() == [(1, 1.0), (2, 2.5)]
    path = _write(tmp_path / "w.csv", "prompt,chosen,rejected,weight\np,a,b,2\nq,a,b,0.5\n")
    assert read_pairs(path).frame["weight"].to_list() == [2.0, 0.5]


# --- warnings: what, where first, and pointing at the caller -----------------------------


def _warned(read, path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read(path, **kwargs)
    assert {w.category for w in caught} <= {DataWarning}
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add a frame to every call
        assert [w.filename for w in caught] == [__file__] * len(caught)
    return result, [str(w.message) for w in caught]


def test_warnings_on_pairs(tmp_path):
    path = _write(
        tmp_path / "a.jsonl",
        _lines(
            PAIR,
            PAIR | {"chosen": "  "},
            PAIR | {"chosen": "\t", "rejected": "z"},
            PAIR,
            PAIR,
            PAIR | {"prompt": ""},
        ),
    )
    pairs, messages = _warned(read_pairs, path)
    assert len(pairs) == 6
    assert messages == [
        f"{path}: 1 empty or blank text(s) in column 'prompt', first at line 6. They are embedded as they "
        f"are; "
        "drop them if they are missing values.",
        f"{path}: 2 empty or blank text(s) in column 'chosen', first at line 2. They are embedded as they "
        f"are; "
        "drop them if they are missing values.",
        f"{path}: 2 duplicate row(s) (same prompt, chosen, rejected), first at line 4; each copy counts "
        f"again in "
        "training. Drop duplicates unless that weighting is intended.",
    ]


@pytest.mark.parametrize("read", [read_scored, read_any])
def test_warnings_on_scored(tmp_path, read):
    path = _write(
        tmp_path / "b.csv", "prompt_id,prompt,response,score,note\n1,p,a,1,x\n1,p,a,2,y\n2,,b,3,z\n"
    )
    scored, messages = _warned(read, path)
    assert type(scored).__name__ == "ScoredResponses"
    assert scored.name == "b"
    assert scored.frame.rows() == [(1, "p", "a", 1.0, "x"), (1, "p", "a", 2.0, "y"), (2, "", "b", 3.0, "z")]
    assert messages == [
        f"{path}: columns ['note'] are not used by embrm for scored (it uses ['prompt_id', 'prompt', "
        f"'response', "
        "'score', 'response_id']); they are kept as they are. Check for a misspelling.",
        f"{path}: 1 empty or blank text(s) in column 'prompt', first at line 4. They are embedded as they "
        f"are; "
        "drop them if they are missing values.",
        f"{path}: 1 duplicate row(s) (same prompt_id, response), first at line 3; each copy counts again in "
        "training. Drop duplicates unless that weighting is intended.",
    ]


@pytest.mark.parametrize(("read", "kwargs"), [(read_responses, {}), (read_any, {"unscored": True})])
def test_warnings_on_responses(tmp_path, read, kwargs):
    path = tmp_path / "c.parquet"
    pl.DataFrame(
        {"prompt": ["p", "p", "p", "q"], "response": ["a", "a", "b", "a"], "x": [1, 2, 3, 4]}
    ).write_parquet(path)
    frame, messages = _warned(read, path, **kwargs)
    assert frame.rows() == [("p", "a", 1), ("p", "a", 2), ("p", "b", 3), ("q", "a", 4)]
    assert messages == [
        f"{path}: columns ['x'] are not used by embrm for responses (it uses ['prompt_id', 'prompt', "
        f"'response', "
        "'score', 'response_id']); they are kept as they are. Check for a misspelling.",
        f"{path}: 1 duplicate row(s) (same prompt, response), first at row 1 (counting from 0); each copy "
        f"counts "
        "again in training. Drop duplicates unless that weighting is intended.",
    ]


def test_no_warning_for_a_clean_file_or_one_identity_column(tmp_path):
    path = _write(
        tmp_path / "d.jsonl", _lines(PAIR, PAIR | {"rejected": "c", "weight": 0}, PAIR | {"chosen": "x"})
    )
    with pytest.raises(DataError, match="weight"):
        read_pairs(path)
    path = _write(tmp_path / "e.jsonl", _lines(PAIR | {"weight": 0}, PAIR | {"rejected": "c", "weight": 2.5}))
    pairs, messages = _warned(read_any, path)
    assert (messages, pairs.name, pairs.frame["weight"].to_list()) == ([], "e", [0.0, 2.5])
    path = tmp_path / "f.parquet"
    pl.DataFrame({"prompt_id": [1, 1], "prompt": ["p", "p"], "score": [1.0, 1.0]}).write_parquet(path)
    with _raises(
        f"{path}: scored responses need the columns ['prompt_id', 'prompt', 'response', 'score']; missing "
        "['response'] (the file has ['prompt_id', 'prompt', 'score']). Rename the column(s) in the file "
        "or pass "
        "columns={'your_name': 'prompt'} to the reader."
    ):
        read_scored(path)


def test_kind_of_by_column_names():
    from embrm.data._io import _kind_of

    assert [_kind_of(c) for c in (["prompt", "chosen"], ["x", "rejected"], ["chosn"], ["rejectd"])] == [
        "pairs"
    ] * 4
    assert [_kind_of(c) for c in (["chs"], ["rej"], ["prompt", "response"], [])] == ["scored"] * 4


def test_describe_each_kind_of_value():
    from embrm.data._io import _describe

    assert [_describe(v) for v in (None, True, False, 5, 1.5, "x" * 50, [1, 2], {"a": 1}, (1,))] == [
        "null (a missing value)",
        "the boolean true",
        "the boolean false",
        "the number 5",
        "the number 1.5",
        "the text " + repr("x" * 40),
        "a list of 2 item(s)",
        "a dict",
        "a tuple",
    ]


# --- errors while rendering chat messages name the file once --------------------------------

CONTENT = (
    "message 0: 'content' must be a string, got the number 5. Give each message as "
    "{'role': 'user' | 'assistant' | 'system', 'content': '<text>'}."
)
BAD_ANSWER = [[_said("assistant", 5)]]


@pytest.mark.parametrize(
    ("read", "frame", "column"),
    [
        (read_responses, {"prompt": ["p"], "response": BAD_ANSWER}, "response"),
        (
            read_scored,
            {"prompt_id": [1], "prompt": ["p"], "response": BAD_ANSWER, "score": [1.0]},
            "response",
        ),
        (read_pairs, {"prompt": ["p"], "chosen": BAD_ANSWER, "rejected": ["b"]}, "chosen"),
        (read_pairs, {"prompt": [[_said("user", 5)]], "chosen": ["a"], "rejected": ["b"]}, "prompt"),
        (lambda p: read_any(p, unscored=True), {"prompt": ["p"], "response": BAD_ANSWER}, "response"),
        (read_any, {"prompt_id": [1], "prompt": ["p"], "response": BAD_ANSWER, "score": [1.0]}, "response"),
        (read_any, {"prompt": ["p"], "chosen": BAD_ANSWER, "rejected": ["b"]}, "chosen"),
    ],
)
def test_render_errors_name_the_file(tmp_path, read, frame, column):
    path = tmp_path / "d.parquet"
    pl.DataFrame(frame).write_parquet(path)
    with _raises(f"{path}: Column {column!r}, row 0, {CONTENT}"):
        read(path)


def test_a_render_error_that_names_the_file_already(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pl.DataFrame({"prompt": ["p"], "response": [[_said("d.parquet", "x")]]}).write_parquet("d.parquet")
    message = (
        "Column 'response', row 0 is given as messages but has no assistant message (roles: "
        "['d.parquet']), so it "
        "holds no answer to score. Give the answer as a string or as [{'role': 'assistant', 'content': "
        "'<answer>'}]."
    )
    for read in (read_responses, lambda p: read_any(p, unscored=True)):
        with _raises(message):
            read("d.parquet")


# --- TRL's implicit prompt: the shared prefix, however long ------------------------------


def _pairs(chosen, rejected):
    return pairs_from_frame(pl.DataFrame({"chosen": [chosen], "rejected": [rejected]}))


def test_implicit_prompt_of_several_turns():
    prefix = [_said("system", "be"), _said("user", "q1"), _said("assistant", "a1"), _said("user", "q2")]
    pairs = _pairs([*prefix, _said("assistant", "a2")], [*prefix, _said("assistant", "b2")])
    assert pairs.frame.select("prompt", "chosen", "rejected").rows() == [
        ("System: be\n\nHuman: q1\n\nAssistant: a1\n\nHuman: q2\n\nAssistant:", "a2", "b2")
    ]
    pairs = _pairs(
        [_said("user", "q"), _said("assistant", "a1")], [_said("user", "q"), *_said_list("", "a1", "a2")[1:]]
    )
    assert pairs.frame.select("prompt", "chosen", "rejected").rows() == [("q", "a1", "a1\n\na2")]


@pytest.mark.parametrize(
    ("chosen", "rejected", "where"),
    [
        (
            [_said("user", "hi"), _said("assistant", None)],
            [_said("user", "hi"), _said("assistant", "b")],
            "column 'chosen'",
        ),
        (
            [_said("user", "hi"), _said("assistant", "a")],
            [_said("user", "hi"), _said("assistant", None)],
            "column 'rejected'",
        ),
        (
            [_said("user", None), _said("assistant", "a")],
            [_said("user", None), _said("assistant", "b")],
            "the shared prompt of 'chosen' and 'rejected'",
        ),
    ],
)
def test_implicit_prompt_render_errors(chosen, rejected, where):
    with _raises(
        f"Row 0, {where}, message 0: 'content' must be a string, got null (a missing value). Give each "
        f"message as {{'role': 'user' | 'assistant' | 'system', 'content': '<text>'}}."
    ):
        _pairs(chosen, rejected)


def test_implicit_prompt_of_plain_lists():
    with _raises(
        "Row 0, column 'chosen': after the shared prompt it holds messages of roles [None], not only the "
        "answer's "
        "assistant turns (chosen and rejected differ before their last answer). Add a 'prompt' column "
        "with the "
        "shared dialogue."
    ):
        _pairs(["hi", "a"], ["hi", "b"])


def test_bad_byte_in_a_header_of_two_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'"a\nb\xff",c\nx,y\n')
    with _raises(f"{path}, line 1: not valid UTF-8 (byte 0xff). {CP1252}"):
        read_table(path, {})


def test_peek_columns_only_of_data_files(tmp_path):
    assert peek_columns(_write(tmp_path / "a.txt", '{"a": 1}\n')) is None
    assert peek_columns(_write(tmp_path / "a.json", '{"a": 1}\n')) is None
    assert peek_columns(_write(tmp_path / "a.jsonl", '{"a": 1}\n')) == ["a"]


def test_csv_keeps_the_line_breaks_of_a_quoted_field(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\r\n"multi\r\nline",x\r\n')
    assert read_table(path, {}).rows() == [("multi\r\nline", "x")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'"a"b,c\n1,2\n', "line 1: malformed CSV (',' expected after '\"'). " + QUOTE),
        (b'a,"b\n1,2\n', "line 1: a quoted field is never closed. " + QUOTE),
        ("\ufeff".encode(), "is empty: a CSV file needs a header line naming its columns."),
    ],
)
def test_csv_header_problems(tmp_path, raw, message):
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    with _raises(f"{path}{' ' if message.startswith('is') else ', '}{message}"):
        read_table(path, {})


def test_read_scored_is_scored_and_maps_columns(tmp_path):
    path = _write(tmp_path / "pairs.jsonl", _lines(PAIR))
    with _raises(
        f"{path}: scored responses need the columns ['prompt_id', 'prompt', 'response', 'score']; missing "
        "['prompt_id', 'response', 'score'] (the file has ['prompt', 'chosen', 'rejected']). Rename the "
        "column(s) "
        "in the file or pass columns={'your_name': 'prompt'} to the reader."
    ):
        read_scored(path)
    path = _write(tmp_path / "s.jsonl", _lines({"qid": 1, "prompt": "p", "response": "a", "score": 1}))
    assert read_scored(path, columns={"qid": "prompt_id"}).frame.rows() == [(1, "p", "a", 1.0)]


# --- lines break at line feeds (and CR) only, not at U+2028, U+0085 or a form feed ---------


def test_jsonl_text_may_hold_unicode_line_separators(tmp_path):
    path = tmp_path / "u.jsonl"
    pl.DataFrame(
        {"prompt": ["a\u2028b", "c"], "chosen": ["x\x85y", "d"], "rejected": ["z", "e"]}
    ).write_ndjson(path)
    assert read_pairs(path).frame.select("prompt", "chosen", "rejected").rows() == [
        ("a\u2028b", "x\x85y", "z"),
        ("c", "d", "e"),
    ]
    path.write_bytes('{"a": "x\u2028y"}\r\n{"a": 1}\r\n{"a": "\x85"}\r\n'.encode() + b'{"a": "\xff"}\n')
    with _raises(f"{path}, line 4, column 'a': not valid UTF-8 (byte 0xff). Save the file as UTF-8."):
        read_table(path, {})
    path.write_text('{"a": "x\u2028y"}\n{"a": "1"}\n{"a": 2}\n', encoding="utf-8")
    with _raises(f"{path}, line 3, column 'a': expected text, got the number 2; fix the value."):
        read_table(path, {"a": "text"})


def test_csv_fields_may_hold_unicode_line_separators(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("a,b\nx\u2028y,z\nx\x0cy,\x85\n", encoding="utf-8")
    assert read_table(path, {}).rows() == [("x\u2028y", "z"), ("x\x0cy", "\x85")]
    path.write_bytes("a,b\rx\u2028y,z\r\n".encode() + b"c,\xff\n")
    with _raises(f"{path}, line 3, column 'b': not valid UTF-8 (byte 0xff). {CP1252}"):
        read_table(path, {})
    path.write_bytes("a\u2028b;c\n".encode() + b"1;\xff\n")
    with _raises(
        f"{path}, line 2: not valid UTF-8 (byte 0xff). {CP1252} It is also semicolon-separated: save it "
        "comma-separated."
    ):
        read_table(path, {})


def test_read_table_parquet_checks_columns_after_unruled_ones(tmp_path):
    path = _parquet(tmp_path, pl.DataFrame({"extra": [1], "score": [2]}))
    assert read_table(path, RULES).schema == {"extra": pl.Int64, "score": pl.Float64}
    path = _parquet(tmp_path, pl.DataFrame({"extra": [1], "score": ["x"]}))
    message = "column 'score': expected a finite number, got values of type String; fix the column."
    with _raises(f"{path}, {message}"):
        read_table(path, RULES)


def test_identical_chosen_and_rejected_only_for_pairs(tmp_path):
    path = _write(
        tmp_path / "s.jsonl",
        _lines(
            SCORED | {"chosen": "x", "rejected": "x"},
            SCORED | {"prompt_id": 2, "chosen": "y", "rejected": "y"},
        ),
    )
    with pytest.warns(DataWarning, match="columns \\['chosen', 'rejected'\\] are not used"):
        assert len(read_scored(path)) == 2
    path = _write(
        tmp_path / "p.jsonl",
        _lines(
            {"prompt": [_said("user", "q")], "chosen": "a", "rejected": "b"},
            {"prompt": [_said("user", "q")], "chosen": "c", "rejected": "c"},
        ),
    )
    with _raises(
        f"{path}, line 2, column 'rejected': chosen and rejected are identical (1 such pairs); such a "
        f"pair carries "
        "no preference. Drop them."
    ):
        read_pairs(path)


def test_the_implicit_prompt_is_only_for_pairs(tmp_path):
    path = tmp_path / "s.parquet"
    messages = [_said_list("q", "a")]
    pl.DataFrame(
        {"prompt_id": [1], "response": ["a"], "chosen": messages, "rejected": messages}
    ).write_parquet(path)
    with _raises(
        f"{path}: scored responses need the columns ['prompt_id', 'prompt', 'response', 'score']; missing "
        "['prompt', 'score'] (the file has ['prompt_id', 'response', 'chosen', 'rejected']). Rename the "
        "column(s) in the file or pass columns={'your_name': 'prompt'} to the reader."
    ):
        read_scored(path)


def test_jsonl_conversation_errors_name_the_conversation(tmp_path):
    answer = [_said("assistant", "a")]
    path = _write(
        tmp_path / "c.jsonl",
        _lines(PAIR | {"rejected": answer}, PAIR | {"rejected": [_said("assistant", 5)]}),
    )
    with _raises(f"{path}, line 2, column 'rejected': the conversation, {CONTENT}"):
        read_pairs(path)


def test_parquet_checks_known_columns_after_other_ones(tmp_path):
    path = tmp_path / "d.parquet"
    pl.DataFrame(
        {"group": [1], "note": ["n"], "prompt": ["p"], "chosen": [1], "rejected": ["b"]}
    ).write_parquet(path)
    with _raises(
        f"{path}, column 'chosen': expected text, got Int64; cast it to strings yourself if that is really "
        "the text."
    ):
        read_pairs(path)


def test_group_and_response_id_may_be_missing_in_parquet(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame(
        {"prompt": ["p", "q"], "chosen": ["a", "b"], "rejected": ["b", "c"], "group": [None, 1]}
    ).write_parquet(path)
    assert read_pairs(path).frame.select("prompt", "group").rows() == [("p", None), ("q", 1)]
    path = tmp_path / "s.parquet"
    frame = {"prompt_id": [1, 2], "prompt": ["p", "q"], "response": ["a", "b"], "score": [1.0, 2.0]}
    pl.DataFrame(frame | {"response_id": [None, "x"]}).write_parquet(path)
    assert read_scored(path).frame["response_id"].to_list() == [None, "x"]


def test_duplicates_of_several_rows_counted(tmp_path):
    path = _write(
        tmp_path / "d.jsonl", _lines(PAIR, PAIR, PAIR | {"chosen": "c"}, PAIR | {"chosen": "c"}, PAIR)
    )
    pairs, messages = _warned(read_pairs, path)
    assert messages == [
        f"{path}: 3 duplicate row(s) (same prompt, chosen, rejected), first at line 2; each copy counts "
        "again in training. Drop duplicates unless that weighting is intended."
    ]


def test_read_pairs_is_pairs(tmp_path):
    path = _write(tmp_path / "s.jsonl", _lines(SCORED))
    with _raises(
        f"{path}: preference pairs need the columns ['prompt', 'chosen', 'rejected']; missing ['chosen', "
        "'rejected'] (the file has ['prompt_id', 'prompt', 'response', 'score']). Rename the column(s) in "
        "the file or pass columns={'your_name': 'prompt'} to the reader."
    ):
        read_pairs(path)


def test_two_misspelt_columns(tmp_path):
    path = _write(tmp_path / "d.jsonl", _lines({"prompt": "p", "chosn": "a", "rejectd": "b"}))
    with _raises(
        f"{path}: preference pairs need the columns ['prompt', 'chosen', 'rejected']; missing ['chosen', "
        "'rejected'] ('chosn' looks like a misspelling of 'chosen'; 'rejectd' looks like a misspelling of "
        "'rejected'). Rename the column(s) in the file or pass columns={'chosn': 'chosen', 'rejectd': "
        "'rejected'} to the reader."
    ):
        read_pairs(path)


def test_a_parquet_error_without_a_message(tmp_path, monkeypatch):
    path = tmp_path / "d.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)

    def fail(*args, **kwargs):
        raise ValueError

    monkeypatch.setattr(pl, "read_parquet", fail)
    with _raises(
        f"{path} cannot be read as Parquet (ValueError); is it damaged or another format? Write it again, "
        "or give it the suffix of its real format."
    ):
        read_table(path, {})


def test_the_separator_hint_reads_the_first_line(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b'"a\nb;c"\n\xe9\n')
    with _raises(f"{path}, line 3: not valid UTF-8 (byte 0xe9). {CP1252}"):
        read_table(path, {})
