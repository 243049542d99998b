"""Text the reliability issue found mishandled: lone surrogates at every entry point, malformed
chat messages, answers with no assistant turn, and pool pair ids that collided around U+001F."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl
import pytest

from embrm.active import cross_prompt_pool, read_labels, select_queries, within_prompt_pool
from embrm.cli import main
from embrm.data import read_pairs
from embrm.exceptions import DataError
from embrm.heads import BTLinear
from embrm.policy import as_trl_reward_func, pick_best_of_n, score_candidates

BAD = "fine \ud800 text"


class _TinyEncoder:
    identity = "tiny"

    def encode_responses(self, prompts, responses):
        return np.array([[len(p) % 7, len(r) % 5] for p, r in zip(prompts, responses, strict=True)], float)


@pytest.fixture
def tiny():
    encoder = _TinyEncoder()
    head = BTLinear().fit([[1.0, 2.0], [3.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]], encoder_id="tiny")
    return head, encoder


def test_encoder_refuses_lone_surrogates_naming_the_text(encoder):
    with pytest.raises(DataError, match=r"texts\[1\] holds a lone surrogate \('\\ud800' at character 5\)"):
        encoder.encode(["ok", BAD])
    with pytest.raises(DataError, match=r"responses\[0\] holds a lone surrogate"):
        encoder.encode_responses(["p"], [BAD])
    with pytest.raises(DataError, match=r"prompts\[0\] holds a lone surrogate"):
        encoder.cached_mask([BAD], ["r"])


def test_policy_refuses_lone_surrogates_and_malformed_messages(tiny):
    head, encoder = tiny
    with pytest.raises(DataError, match=r"prompts\[1\] holds a lone surrogate"):
        pick_best_of_n(head, encoder, ["p", BAD], [["a"], ["b"]])
    with pytest.raises(DataError, match=r"candidates\[0\]\[1\], message 0, content holds a lone surrogate"):
        score_candidates(head, encoder, ["p"], [["a", [{"role": "assistant", "content": BAD}]]])
    func = as_trl_reward_func(head, encoder)
    with pytest.raises(DataError, match=r"completions\[1\] holds a lone surrogate"):
        func(prompts=["p", "q"], completions=["a", BAD])
    # a role that is not a string: a DataError, not an AttributeError
    with pytest.raises(DataError, match=r"prompts\[0\], message 0: 'role' must be a string, got the number"):
        pick_best_of_n(head, encoder, [[{"role": 1, "content": "x"}]], [["a"]])
    # an answer with no assistant turn is refused, not scored as ""
    with pytest.raises(DataError, match=r"completions\[0\] is given as messages but has no assistant"):
        func(prompts=["p"], completions=[[{"role": "user", "content": "a"}]])


def test_readers_and_select_refuse_lone_surrogates(tmp_path, capsys):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": BAD, "rejected": "b"}) + "\n")
    with pytest.raises(DataError, match=r"pairs.jsonl, line 1, column 'chosen': the text holds a lone"):
        read_pairs(path)
    # `embrm select` read "\ud800" in a JSONL pool as NUL and annotated it
    pool = tmp_path / "pool.jsonl"
    rows = [{"prompt": "p", "response": r} for r in ("a", "b", BAD)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "queries.csv"
    assert main(["select", str(pool), "--budget", "1", "--strategy", "random", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pool.jsonl, line 3, column 'response': the text holds a lone surrogate" in err
    assert not out.exists()


def test_unit_separator_no_longer_merges_pairs():
    # (a, b\x1fc) and (a\x1fb, c) hashed alike: the cross-prompt pair was dropped as a self pair
    frame = pl.DataFrame({"prompt": ["a", "a\x1fb"], "response": ["b\x1fc", "c"]})
    assert len(cross_prompt_pool(frame, n_pairs=10, random_state=0)) == 1
    # two different within-prompt pairs shared one pair id, and one of them vanished
    frame = pl.DataFrame(
        {"prompt": ["a", "a", "a\x1fb", "a\x1fb"], "response": ["b\x1fc", "b\x1fd", "c", "d"]}
    )
    pool = within_prompt_pool(frame)
    assert len(pool) == 2 and pool.frame["pair_id"].n_unique() == 2
    assert all(len(i) == 20 for i in pool.pair_ids)


def _earlier_pair_id(prompt_a, response_a, prompt_b, response_b):
    """A pair id as earlier releases wrote it into query files."""
    key_a = hashlib.sha1(f"{prompt_a}\x1f{response_a}".encode()).hexdigest()
    key_b = hashlib.sha1(f"{prompt_b}\x1f{response_b}".encode()).hexdigest()
    return hashlib.sha1(f"{key_a}|{key_b}".encode()).hexdigest()[:16]


def test_label_files_with_earlier_pair_ids_still_work(tmp_path):
    rng = np.random.RandomState(0)
    frame = pl.DataFrame({"prompt": [f"p{i % 4}" for i in range(24)], "response": list(map(str, range(24)))})
    X = rng.standard_normal((24, 5))
    pool = within_prompt_pool(frame)
    rows = pool.frame.head(3)
    texts = rows.select("prompt_a", "response_a", "prompt_b", "response_b").rows()
    earlier = [_earlier_pair_id(*r) for r in texts]
    assert pool.positions(earlier).tolist() == [0, 1, 2]  # same pairs, same a/b orientation
    path = tmp_path / "round1.csv"
    rows.select(pl.Series("pair_id", earlier), "prompt_a", "response_a", "response_b").with_columns(
        pl.Series("label", ["a", "b", "a"])
    ).write_csv(path)
    labels = read_labels(path)
    queries = select_queries(pool, X, 5, strategy="dopt", labels=labels)
    assert not set(queries["pair_id"]) & set(pool.pair_ids[:3])  # labelled pairs are not asked again
    with pytest.raises(DataError, match="not in this candidate pool"):
        pool.positions(["0123456789abcdef"])
