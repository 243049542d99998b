"""Candidate pools, real annotation rounds through the command line, and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm import load_dataset
from embrm.active import (
    cross_prompt_pool,
    labelled_pairs,
    merge_labels,
    read_labels,
    responses_from_pairs,
    select_queries,
    within_prompt_pool,
    write_labels,
    write_queries,
)
from embrm.cli import main
from embrm.exceptions import DataError


def _responses(prompts, responses):
    return pl.DataFrame({"prompt": prompts, "response": responses})


def test_pool_ids_are_stable_and_self_pairs_dropped():
    frame = _responses(["p", "p", "p", "q", "q"], ["x", "y", "x", "u", "v"])
    pool = within_prompt_pool(frame)
    # p: x-y, y-x(dup text) ; x-x is a self pair; q: u-v
    assert len(pool) == 2
    shuffled = within_prompt_pool(frame[[4, 2, 0, 3, 1]])
    assert sorted(pool.pair_ids) == sorted(shuffled.pair_ids)
    by_id = {r["pair_id"]: (r["response_a"], r["response_b"]) for r in shuffled.frame.iter_rows(named=True)}
    for row in pool.frame.iter_rows(named=True):
        assert by_id[row["pair_id"]] == (row["response_a"], row["response_b"])  # same orientation
    cross = cross_prompt_pool(frame, n_pairs=20, random_state=0)
    assert (cross.frame["prompt_id_a"] != cross.frame["prompt_id_b"]).all()
    with pytest.raises(DataError, match="empty"):
        within_prompt_pool(frame.head(0))
    with pytest.raises(DataError, match="two different responses"):
        within_prompt_pool(_responses(["p", "q"], ["x", "y"]))
    with pytest.raises(DataError, match="at least two different prompts"):
        cross_prompt_pool(frame.head(3), n_pairs=5)


def test_responses_from_pairs_reveal_the_stored_label(data_dir):
    pairs = load_dataset("hh-harmless", data_dir).take(np.arange(30))
    resp = responses_from_pairs(pairs)
    pool = within_prompt_pool(resp)
    assert len(pool) == 30  # one candidate per pair
    winner = np.where(resp.scores[pool.index_a] > resp.scores[pool.index_b], pool.index_a, pool.index_b)
    assert (winner < 30).all()  # the chosen answers come first
    assert 0 < (pool.index_a < 30).mean() < 1  # the orientation does not give the label away


def _fill(queries: pl.DataFrame, golden: dict[tuple[str, str], float]) -> pl.DataFrame:
    """Annotate from the golden scores: 'a' when response_a scores higher."""
    labels = [
        "a" if golden[(p, a)] > golden[(p, b)] else "b"
        for p, a, b in queries.select("prompt", "response_a", "response_b").iter_rows()
    ]
    return queries.with_columns(pl.Series("label", labels))


def test_two_annotation_rounds_through_the_cli(
    tmp_path, data_dir, encoder, alpaca_prompt_ids, alpaca_embedded, capsys
):
    data = load_dataset("alpacaeval", data_dir).filter_prompts(alpaca_prompt_ids[:10])
    pool_file = tmp_path / "pool.parquet"
    data.frame.write_parquet(pool_file)
    golden = {(p, r): s for p, r, s in data.frame.select("prompt", "response", "score").iter_rows()}
    common = ["--cache-dir", str(encoder.cache_dir), "--data-dir", str(data_dir)]

    def select(out: str, *extra: str) -> int:
        return main(["select", str(pool_file), "--out", str(tmp_path / out), *extra, *common])

    def merge(filled: str) -> int:
        return main(["merge-labels", str(tmp_path / filled), "--out", str(tmp_path / "labels.csv")])

    assert select("r1.csv", "--budget", "40") == 0
    r1 = pl.read_csv(tmp_path / "r1.csv", schema_overrides={"label": pl.String})
    assert r1.columns == ["pair_id", "prompt_id", "prompt", "response_a", "response_b", "label"]
    assert r1.height == 40 and r1["label"].null_count() == 40 and r1["pair_id"].n_unique() == 40
    # same inputs and seed: the same queries
    assert select("again.jsonl", "--budget", "40") == 0
    assert pl.read_ndjson(tmp_path / "again.jsonl")["pair_id"].to_list() == r1["pair_id"].to_list()

    _fill(r1, golden).write_csv(tmp_path / "r1.csv")
    assert merge("r1.csv") == 0
    head = str(tmp_path / "head.npz")
    train = ["train", str(tmp_path / "labels.csv"), "--out", head, "--test-size", "0.25"]
    assert main([*train, *common]) == 0
    assert "held-out pairwise accuracy" in capsys.readouterr().out
    labelled = ["--labelled", str(tmp_path / "labels.csv")]
    assert select("r2.csv", *labelled, "--head", head, "--budget", "40") == 0
    r2 = pl.read_csv(tmp_path / "r2.csv", schema_overrides={"label": pl.String})
    assert not set(r2["pair_id"]) & set(r1["pair_id"])  # round 2 proposes none of round 1's pairs
    _fill(r2, golden).write_csv(tmp_path / "r2.csv")
    assert merge("r2.csv") == 0
    merged = read_labels(tmp_path / "labels.csv")
    assert merged.height == 80  # round 1's labels kept, round 2's added
    pairs = labelled_pairs(merged)
    chosen = pairs.frame.select("prompt", "chosen", "rejected").iter_rows()
    assert all(golden[(p, c)] > golden[(p, r)] for p, c, r in chosen)

    # bad input: clear errors, nothing labelled lost
    before = (tmp_path / "labels.csv").read_text()
    assert select("x.csv", "--budget", "100000") == 2
    assert "larger than the pool" in capsys.readouterr().err
    flipped = pl.when(pl.col("label") == "a").then(pl.lit("b")).otherwise(pl.lit("a"))
    _fill(r1, golden).with_columns(flipped.alias("label")).write_csv(tmp_path / "conflict.csv")
    assert merge("conflict.csv") == 2
    assert "conflicting labels" in capsys.readouterr().err
    assert (tmp_path / "labels.csv").read_text() == before
    unknown = _fill(r1, golden).with_columns(pl.lit("feedface00000000").alias("pair_id")).head(1)
    unknown.write_csv(tmp_path / "unknown.csv")
    assert select("y.csv", "--labelled", str(tmp_path / "unknown.csv"), "--budget", "5") == 2
    assert "not in this candidate pool" in capsys.readouterr().err
    assert select("labels.csv", *labelled, "--budget", "5") == 2  # would overwrite the labels
    assert (tmp_path / "labels.csv").read_text() == before

    # a pool of unlabelled responses (prompt, response only) works the same way
    data.frame.select("prompt", "response").write_csv(tmp_path / "unlabelled.csv")
    out = tmp_path / "u.jsonl"
    unlabelled = str(tmp_path / "unlabelled.csv")
    assert main(["select", unlabelled, "--budget", "40", "--out", str(out), *common]) == 0
    assert pl.read_ndjson(out)["pair_id"].to_list() == r1["pair_id"].to_list()  # same ids, same picks


def test_label_files_bad_input(tmp_path):
    base = pl.DataFrame(
        {
            "pair_id": ["1", "2", "3"],
            "prompt_id": [0, 0, 1],
            "prompt": ["p", "p", "q"],
            "response_a": ["x", "y", "u"],
            "response_b": ["z", "z", "v"],
            "label": ["A ", None, "b"],
        }
    )
    write_queries(base, tmp_path / "q.jsonl")
    labels = read_labels(tmp_path / "q.jsonl")
    assert labels["pair_id"].to_list() == ["1", "3"] and labels["label"].to_list() == ["a", "b"]
    with pytest.raises(DataError, match="already holds labels"):
        write_queries(base, tmp_path / "q.jsonl")
    with pytest.raises(DataError, match="not 'a' or 'b'"):
        merge_labels(base.with_columns(pl.lit("maybe").alias("label")))
    with pytest.raises(DataError, match="conflicting"):
        merge_labels(labels, labels.with_columns(pl.lit("b").alias("label")))
    assert merge_labels(labels, labels).height == 2  # the same label twice is no conflict
    write_labels(labels, tmp_path / "all.csv")
    write_labels(labels.head(1).with_columns(pl.lit("4").alias("pair_id")), tmp_path / "all.csv")
    with pytest.raises(DataError, match="conflicting"):
        write_labels(labels.head(1).with_columns(pl.lit("b").alias("label")), tmp_path / "all.csv")
    assert read_labels(tmp_path / "all.csv")["label"].to_list() == ["a", "b", "a"]
    with pytest.raises(DataError, match=r"\.csv, \.jsonl or \.parquet"):
        write_queries(base, tmp_path / "q.txt")


def test_select_queries_in_python(alpaca_embedded, data_dir, alpaca_prompt_ids):
    data = load_dataset("alpacaeval", data_dir).filter_prompts(alpaca_prompt_ids)
    pool = within_prompt_pool(data, pairs_per_prompt=30)
    q1 = select_queries(pool, alpaca_embedded.X, 25, strategy="dopt", random_state=0)
    labels = q1.with_columns(pl.lit("a").alias("label"))
    q2 = select_queries(pool, alpaca_embedded.X, 25, strategy="uncertainty", labels=labels, random_state=0)
    assert not set(q1["pair_id"]) & set(q2["pair_id"])
    with pytest.raises(DataError, match="strategy"):
        select_queries(pool, alpaca_embedded.X, 5, strategy="best")
    with pytest.raises(DataError, match="one embedding per response"):
        select_queries(pool, alpaca_embedded.X[:-1], 5)
