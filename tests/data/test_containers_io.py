"""Containers, readers (Parquet/JSONL/CSV, TRL formats) and built-in data sets."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from embrm.data import (
    PreferencePairs,
    ScoredResponses,
    load_dataset,
    pairs_from_frame,
    read_any,
    read_pairs,
    read_scored,
)
from embrm.exceptions import DataError, DatasetNotFoundError

PAIRS = pl.DataFrame({"prompt": ["p1", "p1", "p2"], "chosen": ["a", "b", "c"], "rejected": ["x", "y", "z"]})


def test_pairs_groups_default_to_prompts():
    pairs = PreferencePairs(PAIRS)
    assert pairs.groups.tolist() == [0, 0, 1]
    assert len(pairs) == 3 and pairs.sample_weight is None


# frames are built in the test: a polars operation at collection starts polars' thread pool in
# the process mutation testing forks its workers from, and a forked worker's polars then hangs
@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (lambda: PAIRS.drop("rejected"), "missing \\['rejected'\\]"),
        (lambda: PAIRS.head(0), "empty"),
        (lambda: PAIRS.with_columns(pl.Series("chosen", ["a", None, "c"])), "1 missing values .*row 1"),
        (lambda: PAIRS.with_columns(pl.Series("chosen", [1, 2, 3])), "must hold text"),
        (
            lambda: PAIRS.with_columns(pl.Series("rejected", ["x", "b", "z"])),
            "identical chosen and rejected",
        ),
        (lambda: PAIRS.with_columns(pl.Series("weight", [1.0, -1.0, 2.0])), "non-negative"),
        (lambda: PAIRS.with_columns(pl.Series("weight", [1.0, float("nan"), 2.0])), "finite"),
        (lambda: PAIRS.with_columns(pl.Series("weight", [1.0, float("inf"), 2.0])), "finite"),
    ],
)
def test_pairs_bad_input(frame, message):
    with pytest.raises(DataError, match=message):
        PreferencePairs(frame())


SCORED = pl.DataFrame(
    {
        "prompt_id": [0, 0, 1],
        "prompt": ["p0", "p0", "p1"],
        "response": ["a", "b", "c"],
        "score": [1.0, 0.0, 2.0],
        "response_id": ["m1", "m2", "m1"],
    }
)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (lambda: SCORED.drop("score"), "missing \\['score'\\]"),
        (lambda: SCORED.with_columns(pl.Series("score", [1.0, float("nan"), 0.0])), "finite"),
        (lambda: SCORED.with_columns(pl.Series("prompt", ["p0", "other", "p1"])), "prompt_id 0 names 2"),
        (lambda: SCORED.with_columns(pl.Series("response_id", ["m1", "m1", "m1"])), "share a \\(prompt_id"),
        (lambda: SCORED.head(0), "empty"),
    ],
)
def test_scored_bad_input(frame, message):
    with pytest.raises(DataError, match=message):
        ScoredResponses(frame())


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_readers_round_trip(tmp_path, suffix):
    path = tmp_path / f"pairs{suffix}"
    {".parquet": PAIRS.write_parquet, ".jsonl": PAIRS.write_ndjson, ".csv": PAIRS.write_csv}[suffix](path)
    assert read_pairs(path).frame.select(PAIRS.columns).equals(PAIRS)
    scored_path = tmp_path / f"scored{suffix}"
    getattr(SCORED, {".parquet": "write_parquet", ".jsonl": "write_ndjson", ".csv": "write_csv"}[suffix])(
        scored_path
    )
    assert read_scored(scored_path).scores.tolist() == [1.0, 0.0, 2.0]
    assert isinstance(read_any(scored_path), ScoredResponses)
    assert isinstance(read_any(path), PreferencePairs)


def test_reader_column_mapping_and_unknown_column(tmp_path):
    path = tmp_path / "p.parquet"
    PAIRS.rename({"prompt": "question"}).write_parquet(path)
    assert read_pairs(path, columns={"question": "prompt"}).frame["prompt"][0] == "p1"
    with pytest.raises(DataError, match="names \\['nope'\\]"):
        read_pairs(path, columns={"nope": "prompt"})
    with pytest.raises(DataError, match="missing \\['prompt'\\]"):
        read_pairs(path)
    with pytest.raises(DataError, match="unknown file type"):
        read_pairs(tmp_path / "p.xlsx")


def test_trl_conversational_explicit_prompt(tmp_path):
    rows = [
        {
            "prompt": [{"role": "user", "content": "Hi?"}],
            "chosen": [{"role": "assistant", "content": "Hello!"}],
            "rejected": [{"role": "assistant", "content": "Go away."}],
        }
    ]
    path = tmp_path / "trl.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    frame = read_pairs(path).frame
    assert frame.row(0, named=True) | {"group": 0} == {
        "prompt": "Hi?",  # a single user turn is its content
        "chosen": "Hello!",
        "rejected": "Go away.",
        "group": 0,
    }


def test_trl_conversational_implicit_prompt():
    user = {"role": "user", "content": "Hi?"}
    frame = pl.DataFrame(
        {
            "chosen": [[user, {"role": "assistant", "content": "Hello!"}]],
            "rejected": [[user, {"role": "assistant", "content": "No."}]],
        }
    )
    pairs = pairs_from_frame(frame)
    assert pairs.frame.select("prompt", "chosen", "rejected").row(0) == (
        "Hi?",
        "Hello!",
        "No.",
    )


def test_load_dataset_missing_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBRM_DATA_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError, match="set EMBRM_DATA_DIR"):
        load_dataset("hh-harmless")
    with pytest.raises(DatasetNotFoundError, match=f"looked for {tmp_path}.*anthropics/hh-rlhf"):
        load_dataset("hh-harmless", tmp_path)
    with pytest.raises(KeyError, match="Built-in data sets"):
        load_dataset("nope", tmp_path)


def test_builtin_datasets(data_dir):
    alpaca = load_dataset("alpacaeval", data_dir)
    assert len(alpaca) == 41055 and np.unique(alpaca.groups).size == 805
    # golden score = logit(judge_pref): ranks within a prompt follow judge_pref exactly
    first = alpaca.frame.filter(pl.col("prompt_id") == 0)
    assert np.array_equal(np.argsort(first["score"].to_numpy()), np.argsort(first["judge_pref"].to_numpy()))
    assert np.isfinite(alpaca.scores).all()
    hh = load_dataset("hh-harmless", data_dir)
    assert len(hh) == 2307 and np.unique(hh.groups).size == 2307
    null = load_dataset("alpacaeval-nullmodel", data_dir)
    assert null.frame["response"].n_unique() == 1
