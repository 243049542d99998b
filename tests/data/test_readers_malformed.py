"""Malformed files: one DataError naming file, line or row, column and the fix; warnings for
duplicates, empty texts and unused columns; no silent conversion of text."""

from __future__ import annotations

import json
import warnings

import polars as pl
import pytest

from embrm.data import read_any, read_pairs, read_scored
from embrm.exceptions import DataError, DataWarning

GOOD = {"prompt": "p", "chosen": "a", "rejected": "b"}


def _jsonl(tmp_path, lines, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    return path


def _rows(*rows):
    return [json.dumps(r) for r in rows]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "is empty"),
        ([*_rows(GOOD), '{"prompt": "p", "chosen": "a", "rejected" "b"}'], "line 2: not valid JSON"),
        ([*_rows(GOOD), "[1, 2]"], "line 2: expected a JSON object"),
        (
            [*_rows(GOOD), '{"prompt": "p", "chosen": "a", "rejected": "c", "weight": NaN}'],
            "line 2, column 'weight': not valid JSON \\(NaN is not a number",
        ),
        (
            _rows(GOOD | {"weight": 1.0}, GOOD | {"rejected": "c", "weight": "high"}),
            "line 2, column 'weight': expected a finite number, got the text 'high'",
        ),
        (
            _rows(GOOD, GOOD | {"chosen": 5}),
            "line 2, column 'chosen': expected text, got the number 5; write it as a JSON string",
        ),
        (_rows(GOOD | {"chosen": ["a", "b"]}), "line 1, column 'chosen': expected text, got a list of 2"),
        (_rows(GOOD, GOOD | {"prompt": None}), "line 2, column 'prompt': expected text, got null"),
        (
            _rows(GOOD | {"weight": 1}, GOOD | {"rejected": "c"}),
            "line 2, column 'weight': the value is missing",
        ),
        (
            _rows(GOOD, GOOD | {"rejected": "a"}),
            "line 2, column 'rejected': chosen and rejected are identical",
        ),
        (_rows(GOOD | {"weight": -1.0}), "line 1, column 'weight': a weight must be non-negative"),
        (
            ['{"prompt": "\\ud800", "chosen": "a", "rejected": "b"}'],
            "line 1, column 'prompt': the text holds a lone surrogate",
        ),
        (
            _rows({"prompt": "p", "chosen": "a", "rejectd": "b"}),
            "missing \\['rejected'\\] \\('rejectd' looks like a misspelling of 'rejected'\\)"
            ".*columns=\\{'rejectd': 'rejected'\\}",
        ),
    ],
)
def test_malformed_jsonl(tmp_path, lines, message):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(DataError, match=message) as info:
        read_any(path)
    assert str(path) in str(info.value)


def test_blank_lines_keep_line_numbers_right(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps(GOOD | {"chosen": 7}) + "\n")
    with pytest.raises(DataError, match="line 3, column 'chosen'"):
        read_pairs(path)


def test_invalid_utf8(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        json.dumps(GOOD).encode() + b"\n" + b'{"prompt": "\xff", "chosen": "a", "rejected": "b"}\n'
    )
    with pytest.raises(DataError, match="line 2, column 'prompt': not valid UTF-8 \\(byte 0xff\\)"):
        read_pairs(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("prompt,chosen,rejected\n", "no data lines"),
        ("prompt,chosen,rejected\np,a,b\np,a,b,extra\n", "line 3: 4 fields, but the header has 3"),
        (
            "prompt,chosen,rejected,weight\np,a,b,1\np,a,c,heavy\n",
            "line 3, column 'weight': expected a number, got the text 'heavy'",
        ),
        (
            "prompt,chosen,rejected,weight\np,a,b,nan\n",
            "line 2, column 'weight': expected a finite number, got 'nan'",
        ),
        (
            'prompt,chosen,rejected\n"multi\nline",a,b\np,a,"unterminated\n',
            "line 4, column 'rejected': a quoted field is never closed",
        ),
        (
            "prompt_id,prompt,response,score\n1.5,p,a,1\n",
            "line 2, column 'prompt_id': expected an integer id",
        ),
        ("prompt,prompt,rejected\np,a,b\n", "line 1: the header names \\['prompt'\\] more than once"),
    ],
)
def test_malformed_csv(tmp_path, text, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_any(path)


def test_csv_text_stays_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('prompt,chosen,rejected\n5,007,"[""a"", ""b""]"\n')
    frame = read_pairs(path).frame
    assert frame.row(0)[:3] == ("5", "007", '["a", "b"]')


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame(schema={"prompt": pl.String, "chosen": pl.String, "rejected": pl.String}), "is empty"),
        (
            pl.DataFrame({"prompt": [1, 2], "chosen": ["a", "b"], "rejected": ["c", "d"]}),
            "column 'prompt': expected text, got Int64",
        ),
        (
            pl.DataFrame({"prompt": ["p", "q"], "chosen": [["a"], ["b"]], "rejected": ["c", "d"]}),
            "column 'chosen': expected text, got List\\(String\\)",
        ),
        (
            pl.DataFrame(
                {
                    "prompt_id": [0, 0],
                    "prompt": ["p", "p"],
                    "response": ["a", "b"],
                    "score": [1.0, float("nan")],
                }
            ),
            "row 1 \\(counting from 0\\), column 'score': expected a finite number, got nan",
        ),
        (
            pl.DataFrame(
                {"prompt_id": [0, 0], "prompt": ["p", None], "response": ["a", "b"], "score": [1.0, 2.0]}
            ),
            "row 1 \\(counting from 0\\), column 'prompt': the value is missing",
        ),
        (
            pl.DataFrame(
                {"prompt_id": [0, 0], "prompt": ["p", "p"], "response": ["a", "b"], "score": ["1", "2"]}
            ),
            "column 'score': expected numbers, got String",
        ),
    ],
)
def test_malformed_parquet(tmp_path, frame, message):
    path = tmp_path / "d.parquet"
    frame.write_parquet(path)
    with pytest.raises(DataError, match=message):
        read_any(path)


def test_damaged_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pl.DataFrame(GOOD).write_parquet(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        read_pairs(path)


def test_warnings_for_duplicates_empty_texts_and_unused_columns(tmp_path):
    path = _jsonl(
        tmp_path, _rows(GOOD, GOOD | {"rejected": " "}, GOOD, GOOD | {"rejected": "c", "note": "x"})
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = read_pairs(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(pairs) == 4 and len(messages) == 3, messages
    assert any("columns ['note'] are not used" in m for m in messages)
    assert any("1 empty or blank text(s) in column 'rejected', first at line 2" in m for m in messages)
    assert any("1 duplicate row(s)" in m and "first at line 3" in m for m in messages)


def test_clean_files_raise_no_warning(tmp_path):
    path = _jsonl(tmp_path, _rows(GOOD | {"weight": 1}, GOOD | {"rejected": "c", "weight": 2.5}))
    path_scored = tmp_path / "s.csv"
    path_scored.write_text("prompt_id,prompt,response,score,response_id\n0,p,a,1.5,m1\n0,p,b,-2,m2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_pairs(path)) == 2
        assert read_scored(path_scored).scores.tolist() == [1.5, -2.0]


def test_container_errors_name_the_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("prompt_id,prompt,response,score\n0,p,a,1\n0,q,b,2\n")
    with pytest.raises(DataError, match=f"{path}: .*prompt_id 0 names 2 different prompts"):
        read_scored(path)
