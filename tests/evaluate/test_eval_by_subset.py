"""Pairs evaluated per subset beside the length-only baselines: hand-computed tables and
the agreement of the overall rows with evaluate_pairs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm.evaluate import evaluate_by_subset, evaluate_pairs, pairwise_accuracy
from embrm.exceptions import DataError

#: Twelve pairs. Lengths: the chosen answer is longer (L), shorter (S) or as long (=):
#: A: L L S =, B: L L L L L L S =. Rewards: A right, wrong, right, tie; B right, right,
#: wrong, right, wrong, right, wrong, right.
TINY = pl.DataFrame(
    {
        "subset": ["A"] * 4 + ["B"] * 8,
        "group": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
        "length_win": [100, 80, 10, 60, 300, 50, 70, 90, 20, 400, 40, 8],
        "length_lose": [50, 20, 90, 60, 30, 40, 7, 9, 10, 100, 400, 8],
        "reward_win": [1.0, 0.0, 2.0, 1.0, 5.0, 2.0, 1.0, 3.0, 0.0, 4.0, 0.0, 2.0],
        "reward_lose": [0.0, 1.0, 1.0, 1.0, 4.0, 1.0, 2.0, 0.0, 1.0, 3.0, 3.0, 1.0],
    }
)


def tiny_report(**kwargs) -> pl.DataFrame:
    columns = ["reward_win", "reward_lose", "length_win", "length_lose", "subset", "group"]
    return evaluate_by_subset(*(TINY[c].to_numpy() for c in columns), **kwargs)


def values(report: pl.DataFrame, subset: str) -> dict[str, float]:
    return dict(report.filter(subset=subset).select("metric", "value").iter_rows())


def test_the_tiny_table_matches_the_hand_counts():
    report = tiny_report(n_bootstrap=0)
    assert report.columns == ["subset", "metric", "value", "ci_low", "ci_high"]
    assert report["subset"].unique(maintain_order=True).to_list() == ["A", "B", "overall"]
    expected = {
        "A": [0.625, 0.625, 0.375, 1.0, 4, 1, 1, 2],  # longer wins: (1 + 1 + 0 + 1/2) / 4
        "B": [0.625, 0.8125, 0.1875, 0.0, 8, 1, 1, 4],  # (6 + 0 + 1/2) / 8
        "overall": [0.625, 0.75, 0.25, 0.5, 12, 2, 2, 6],  # 9 / 12
    }
    for subset, numbers in expected.items():
        rows = values(report, subset)
        assert list(rows) == [
            "pairwise_accuracy",
            "longer_wins",
            "shorter_wins",
            "pairwise_accuracy_chosen_shorter",
            "n_pairs",
            "n_chosen_shorter",
            "n_length_ties",
            "n_groups",
        ]
        assert list(rows.values()) == numbers, subset
    assert report["ci_low"].null_count() == report.height  # no bootstrap, no intervals


def test_without_subsets_only_the_overall_rows_and_no_chosen_shorter_pair_is_null():
    report = evaluate_by_subset([1.0, 0.0], [0.0, 1.0], [9, 5], [3, 5], n_bootstrap=0)
    assert report["subset"].to_list() == ["overall"] * 8
    rows = values(report, "overall")
    assert rows["pairwise_accuracy_chosen_shorter"] is None and rows["n_chosen_shorter"] == 0
    assert (rows["longer_wins"], rows["n_length_ties"], rows["n_groups"]) == (0.75, 1, 2)


def test_random_pairs_match_direct_computation_and_evaluate_pairs():
    rng = np.random.default_rng(0)
    n = 600
    win, lose = rng.normal(size=n) + 0.3, rng.normal(size=n)
    len_win, len_lose = rng.integers(0, 50, size=n), rng.integers(0, 50, size=n)
    subsets = rng.choice(["chat", "code", "math"], size=n)
    groups = rng.integers(0, 150, size=n)
    report = evaluate_by_subset(
        win, lose, len_win, len_lose, subsets, groups, n_bootstrap=300, random_state=4
    )
    for name in ("chat", "code", "math"):
        m = subsets == name
        rows = values(report, name)
        shorter = m & (len_win < len_lose)
        assert rows["pairwise_accuracy"] == pytest.approx(pairwise_accuracy(win[m], lose[m]))
        longer = np.mean((len_win[m] > len_lose[m]) + 0.5 * (len_win[m] == len_lose[m]))
        assert rows["longer_wins"] == pytest.approx(longer)
        assert rows["pairwise_accuracy_chosen_shorter"] == pytest.approx(
            pairwise_accuracy(win[shorter], lose[shorter])
        )
        assert rows["n_pairs"] == m.sum() and rows["n_groups"] == np.unique(groups[m]).size
    # One resampling of the prompts: the overall accuracy is evaluate_pairs' row, interval and all.
    overall = report.filter(subset="overall", metric="pairwise_accuracy").drop("subset")
    pairs = evaluate_pairs(win, lose, groups, n_bootstrap=300, random_state=4).head(1)
    assert overall.equals(pairs)
    # "Shorter wins" is 1 - "longer wins" on every resample, so its interval mirrors.
    by = {(s, m): (v, lo, hi) for s, m, v, lo, hi in report.iter_rows()}
    for name in ("chat", "code", "math", "overall"):
        v, lo, hi = by[(name, "longer_wins")]
        assert by[(name, "shorter_wins")] == pytest.approx((1 - v, 1 - hi, 1 - lo))
        assert lo < v < hi
    assert report.equals(
        evaluate_by_subset(win, lose, len_win, len_lose, subsets, groups, n_bootstrap=300, random_state=4)
    )


def test_bad_subsets_and_lengths_are_named():
    args = ([1.0, 2.0], [0.0, 1.0], [3, 4], [5, 6])
    with pytest.raises(DataError, match="'subsets' has 1 missing name.*first at pair 1"):
        evaluate_by_subset(*args, ["a", None])
    with pytest.raises(DataError, match="'subsets' has 1 blank name.*first at pair 0"):
        evaluate_by_subset(*args, ["  ", "a"])
    with pytest.raises(DataError, match="'subsets' uses the name 'overall'"):
        evaluate_by_subset(*args, ["overall", "a"])
    with pytest.raises(DataError, match="'subsets' has 3 rows but 'reward_win' has 2"):
        evaluate_by_subset(*args, ["a", "b", "c"])
    with pytest.raises(DataError, match="'length_lose' must hold response lengths"):
        evaluate_by_subset([1.0, 2.0], [0.0, 1.0], [3, 4], [5, -6])
    with pytest.raises(DataError, match="'length_win' has 1 rows"):
        evaluate_by_subset([1.0, 2.0], [0.0, 1.0], [3], [5, 6])
