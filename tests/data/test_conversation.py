"""The one conversation -> text rendering, the "is it a conversation" rule, the content key,
and the clear errors for malformed messages and lone surrogates (library and readers)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from embrm.data import (
    content_key,
    is_conversation,
    pairs_from_frame,
    read_any,
    read_pairs,
    read_responses,
    render_conversation,
    render_prompt,
    render_response,
)
from embrm.exceptions import DataError


def test_rendering_matches_the_built_in_layouts():
    assert render_prompt("Plain instruction.") == "Plain instruction."
    assert render_prompt([{"role": "user", "content": "Hi?"}]) == "Hi?"  # AlpacaEval-like
    dialogue = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Count."},
    ]
    assert render_prompt(dialogue) == "Human: Hi\n\nAssistant: Hello\n\nHuman: Count.\n\nAssistant:"
    with_system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render_prompt(with_system) == "System: Be brief.\n\nHuman: Hi\n\nAssistant:"
    assert render_prompt(({"role": "tool", "content": "42"}, {"role": "user", "content": "So?"})) == (
        "Tool: 42\n\nHuman: So?\n\nAssistant:"
    )
    two = [{"role": "assistant", "content": "One."}, {"role": "tool", "content": "x"},
           {"role": "assistant", "content": "Two."}]
    assert render_response(two) == "One.\n\nTwo."
    assert render_response("Just text.") == "Just text."
    # the name kept for code that used it: the same rendering
    assert render_conversation([{"role": "assistant", "content": "Hi"}]) == "Hi"
    assert render_conversation(dialogue) == render_prompt(dialogue)


def test_is_conversation_is_one_structural_rule():
    assert is_conversation([{"role": "user", "content": "x"}])
    assert is_conversation(({"role": 3},))  # a conversation, malformed: rendering says why
    assert not is_conversation("x") and not is_conversation([]) and not is_conversation(["x"])
    assert not is_conversation(b"x") and not is_conversation(None)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"role": 3, "content": "x"}], r"prompt, message 0: 'role' must be a string, got the number 3"),
        ([{"role": "user", "content": None}], r"message 0: 'content' must be a string, got null"),
        ([{"role": "user"}], r"message 0: 'content' must be a string, got no such key"),
        (
            [{"role": "user", "content": "a"}, {"role": ["user"], "content": "b"}],
            r"message 1: 'role' must be a string, got a list of 1 item",
        ),
        ([{"role": "user", "content": [{"type": "text", "text": "x"}]}], r"'content' must be a string"),
        ([], r"must be a string or a non-empty list of"),
        (7, r"must be a string or a non-empty list of .* got the number 7"),
    ],
)
def test_malformed_messages_are_a_clear_data_error(value, message):
    with pytest.raises(DataError, match=message):
        render_prompt(value)


def test_an_answer_without_an_assistant_turn_is_an_error():
    with pytest.raises(DataError, match=r"candidates\[0\]\[1\] is given as messages but has no assistant"):
        render_response([{"role": "user", "content": "Hi"}], "candidates[0][1]")


def test_lone_surrogates_are_refused_with_the_text_named():
    with pytest.raises(DataError, match=r"prompts\[2\] holds a lone surrogate \('\\ud800' at character 3\)"):
        render_prompt("abc\ud800", "prompts[2]")
    with pytest.raises(DataError, match=r"response, message 0, content holds a lone surrogate"):
        render_response([{"role": "assistant", "content": "\udfff"}])


def test_content_key_has_no_separator_collisions():
    assert content_key("a\x1fb", "c") != content_key("a", "b\x1fc")
    assert content_key("a", "bc") != content_key("ab", "c")
    assert content_key([{"role": "user", "content": "Hi"}], [{"role": "assistant", "content": "Yo"}]) == (
        content_key("Hi", "Yo")
    )
    assert len(content_key("p", "r")) == 32


def _jsonl(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_readers_name_the_line_for_bad_messages(tmp_path):
    good = {"prompt": [{"role": "user", "content": "Hi"}], "chosen": "a", "rejected": "b"}
    bad_role = good | {"prompt": [{"role": 3, "content": "Hi"}]}
    with pytest.raises(DataError, match=r"line 2, column 'prompt': .*message 0: 'role' must be a string"):
        read_pairs(_jsonl(tmp_path, [good, bad_role]))
    surrogate = good | {"chosen": [{"role": "assistant", "content": "x\ud800"}]}
    with pytest.raises(DataError, match=r"line 2, column 'chosen': .*content holds a lone surrogate"):
        read_pairs(_jsonl(tmp_path, [good, surrogate]))
    no_answer = good | {"rejected": [{"role": "user", "content": "x"}]}
    with pytest.raises(DataError, match=r"line 1, column 'rejected': .*no assistant message"):
        read_pairs(_jsonl(tmp_path, [no_answer]))


def test_scored_and_unscored_tables_render_conversations(tmp_path):
    rows = [
        {"prompt_id": 0, "prompt": [{"role": "user", "content": "Q"}],
         "response": [{"role": "assistant", "content": f"A{i}"}], "score": float(i)}
        for i in range(2)
    ]
    scored = read_any(_jsonl(tmp_path, rows))
    assert scored.frame["prompt"].to_list() == ["Q", "Q"] and scored.frame["response"][1] == "A1"
    table = read_responses(_jsonl(tmp_path, [{k: r[k] for k in ("prompt", "response")} for r in rows]))
    assert table["response"].to_list() == ["A0", "A1"]
    assert read_any(_jsonl(tmp_path, [{"prompt": "p", "response": "r"}]), unscored=True).columns == [
        "prompt",
        "response",
    ]
    with pytest.raises(DataError, match="missing"):
        read_any(_jsonl(tmp_path, [{"prompt": "p", "response": "r"}]))


def test_implicit_prompt_split_is_checked():
    u, a = {"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello!"}
    frame = pl.DataFrame({"chosen": [[u, a]], "rejected": [[u, {"role": "assistant", "content": "No."}]]})
    texts = pairs_from_frame(frame).frame.select("prompt", "chosen", "rejected").row(0)
    assert texts == ("Hi?", "Hello!", "No.")
    differ_early = pl.DataFrame(
        {
            "chosen": [[u, a, {"role": "user", "content": "More"}, a]],
            "rejected": [[u, {"role": "assistant", "content": "Bye"}, {"role": "user", "content": "x"}, a]],
        }
    )
    with pytest.raises(DataError, match=r"Row 0, column 'chosen': after the shared prompt .*Add a 'prompt'"):
        pairs_from_frame(differ_early)
    no_prefix = pl.DataFrame({"chosen": [[a]], "rejected": [[{"role": "assistant", "content": "No."}]]})
    with pytest.raises(DataError, match="share no leading messages"):
        pairs_from_frame(no_prefix)


def test_parquet_messages_with_a_null_content_name_the_row(tmp_path):
    path = tmp_path / "trl.parquet"
    pl.DataFrame(
        {
            "prompt": [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": None}]],
            "chosen": ["a", "b"],
            "rejected": ["c", "d"],
        }
    ).write_parquet(path)
    with pytest.raises(DataError, match=r"trl.parquet: Column 'prompt', row 1, message 0: 'content'"):
        read_pairs(path)
