"""Several annotators per pair: the rules, conflicts kept visible, and agreement checked against
textbook values and scikit-learn."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score

from embrm.annotate import agreement, cohen_kappa, fleiss_kappa, merge_votes, vote_weights
from embrm.exceptions import DataError

#: Fleiss (1971) as reproduced on Wikipedia's "Fleiss' kappa" page: 10 items, 14 raters,
#: 5 categories; P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])  # fmt: skip


def votes_frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["pair_id", "annotator", "label"], orient="row")


def test_fleiss_kappa_of_the_textbook_table():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.20993, abs=5e-5)


def test_cohen_kappa_matches_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.choice(["a", "b", "tie"], 200, p=[0.5, 0.4, 0.1]).tolist()
    y = [v if rng.random() < 0.7 else rng.choice(["a", "b", "tie"]) for v in x]
    assert cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)


def test_majority_keeps_ties_and_splits_visible():
    votes = votes_frame([
        ("p", "x", "a"), ("p", "y", "a"), ("p", "z", "a"),  # agreed
        ("q", "x", "a"), ("q", "y", "b"), ("q", "z", "a"),  # split, a wins
        ("r", "x", "a"), ("r", "y", "b"), ("r", "z", "tie"),  # no majority
        ("s", "x", "skip"),  # only skipped
    ])  # fmt: skip
    merged = merge_votes(votes, "majority")
    assert merged.select("pair_id", "label", "status", "rule").rows() == [
        ("p", "a", "agreed", "majority"), ("q", "a", "split", "majority"),
        ("r", None, "tie", "majority"), ("s", None, "skipped", "majority"),
    ]  # fmt: skip
    assert merged["p_a"].to_list() == pytest.approx([1.0, 2 / 3, 0.5, 0.5])
    assert merged.filter(pl.col("pair_id") == "r").select("votes_a", "votes_b", "ties").row(0) == (1, 1, 1)


def test_all_weights_every_vote_and_ties_count_half():
    votes = votes_frame([("q", "x", "a"), ("q", "y", "b"), ("q", "z", "a"), ("q", "w", "tie")])
    merged = merge_votes(votes, "all")
    assert merged["p_a"][0] == pytest.approx(2.5 / 4)
    assert vote_weights(merged).rows() == [("q", "a", 0.625), ("q", "b", 0.375)]
    assert vote_weights(merge_votes(votes, "majority")).rows() == [("q", "a", 1.0)]


def test_dawid_skene_trusts_the_reliable_annotators_over_a_noisy_majority():
    # planted: 2 annotators right 95% of the time, 3 who answer at random; truth is random
    rng = np.random.default_rng(1)
    truth = rng.random(400) < 0.5
    rows = []
    for name, accuracy in [("good1", 0.95), ("good2", 0.95), ("rand1", 0.5), ("rand2", 0.5), ("rand3", 0.5)]:
        right = rng.random(len(truth)) < accuracy
        says_a = np.where(right, truth, ~truth)
        rows += [(f"p{i}", name, "a" if s else "b") for i, s in enumerate(says_a)]
    votes = votes_frame(rows)
    wanted = np.where(truth, "a", "b")
    majority = (merge_votes(votes, "majority")["label"].to_numpy() == wanted).mean()
    skene = (merge_votes(votes, "dawid-skene")["label"].to_numpy() == wanted).mean()
    # the best any rule can do here is about 0.95 (when the two reliable ones disagree, a coin)
    assert majority < 0.87 and skene > 0.92


def test_dawid_skene_of_unanimous_votes_is_the_majority():
    votes = votes_frame([("p", "x", "a"), ("p", "y", "a"), ("q", "x", "b"), ("q", "y", "b")])
    merged = merge_votes(votes, "dawid-skene")
    assert merged["label"].to_list() == ["a", "b"] and merged["p_a"][0] > 0.8 > 0.2 > merged["p_a"][1]


def test_agreement_per_pair_of_annotators_and_per_annotator():
    votes = votes_frame([
        ("p", "x", "a"), ("p", "y", "a"), ("p", "z", "b"),
        ("q", "x", "b"), ("q", "y", "b"), ("q", "z", "b"),
        ("r", "x", "a"), ("r", "y", "b"), ("r", "z", "skip"),
    ])  # fmt: skip
    result = agreement(votes)
    pairwise = {(r["annotator_1"], r["annotator_2"]): r for r in result.pairwise.iter_rows(named=True)}
    assert pairwise["x", "y"]["n_pairs"] == 3
    assert pairwise["x", "y"]["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(["a", "b", "a"], ["a", "b", "b"])
    )
    assert pairwise["x", "z"]["n_pairs"] == 2  # skips are no judgement
    per = {r["annotator"]: r for r in result.per_annotator.iter_rows(named=True)}
    assert per["z"]["agrees_with_others"] == pytest.approx(0.5)  # p: others say a; q: others say b
    assert per["x"]["agrees_with_others"] == pytest.approx(0.5)  # p: others split; q: yes; r: y says b
    counts = np.array([[2, 1, 0], [0, 3, 0], [1, 1, 0]])
    assert result.fleiss_kappa == pytest.approx(fleiss_kappa(counts))


def test_an_annotator_voting_twice_on_a_pair_is_an_error_not_a_silent_pick():
    with pytest.raises(DataError, match="more than once"):
        merge_votes(votes_frame([("p", "x", "a"), ("p", "x", "b")]))
    with pytest.raises(DataError, match="Unknown aggregation rule"):
        merge_votes(votes_frame([("p", "x", "a")]), "mean")


def test_a_merge_by_all_trains_on_both_orientations_weighted_by_the_votes():
    from embrm.active import labelled_pairs

    votes = votes_frame([("p", "x", "a"), ("p", "y", "a"), ("p", "z", "b"), ("q", "x", "a"), ("q", "y", "b"),
                         ("r", "x", "skip")])  # fmt: skip
    merged = merge_votes(votes, "all").with_columns(pl.col("p_a").cast(pl.String))  # as read from a CSV
    texts = pl.DataFrame({"pair_id": ["p", "q", "r"], "prompt": ["P", "Q", "R"],
                          "response_a": ["pa", "qa", "ra"], "response_b": ["pb", "qb", "rb"]})  # fmt: skip
    pairs = labelled_pairs(texts.join(merged, on="pair_id"))
    got = pairs.frame.sort("pair_id", "chosen")
    assert got.select("pair_id", "chosen", "rejected").rows() == [
        ("p", "pa", "pb"), ("p", "pb", "pa"), ("q", "qa", "qb"), ("q", "qb", "qa"),
    ]  # fmt: skip
    assert got["weight"].to_list() == pytest.approx([2 / 3, 1 / 3, 0.5, 0.5])
    assert pairs.sample_weight.sum() == pytest.approx(2.0)  # one unit of weight per voted pair
