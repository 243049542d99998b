"""Agreement between annotators: Cohen's kappa for each pair of annotators, Fleiss' kappa
overall, over the categories ``a``, ``b`` and ``tie`` (skips are no judgement and left out)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

CATEGORIES = ("a", "b", "tie")


def cohen_kappa(x: list[str], y: list[str], categories: tuple[str, ...] = CATEGORIES) -> float:
    """Cohen's kappa of two annotators' labels on the same items: ``(p_o - p_e) / (1 - p_e)``.

    Parameters
    ----------
    x, y : list of str
        Labels of the same items, in the same order.
    categories : tuple of str

    Returns
    -------
    float
        1 for perfect agreement, 0 for chance; NaN when chance agreement is already 1 (both
        gave one and the same label throughout) or there are no items.

    Example
    -------
    >>> cohen_kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.5
    """
    if len(x) != len(y):
        raise ValueError(f"cohen_kappa needs labels of the same items, got {len(x)} and {len(y)}.")
    if not x:
        return float("nan")
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    np.add.at(table, ([index[v] for v in x], [index[v] for v in y]), 1)
    table /= table.sum()
    observed = np.trace(table)
    expected = float(table.sum(axis=1) @ table.sum(axis=0))
    return float("nan") if expected == 1 else float((observed - expected) / (1 - expected))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (items, categories) table of how many raters chose each category.

    Items may have different numbers of raters (each item's agreement is taken over its
    own raters); items with fewer than two raters are left out.

    Example
    -------
    >>> fleiss_kappa(np.array([[2, 0], [0, 2], [1, 1]]))
    0.3333333333333333
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    counts, n = counts[n >= 2], n[n >= 2]
    if len(n) == 0:
        return float("nan")
    per_item = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    shares = counts.sum(axis=0) / counts.sum()
    expected = float((shares**2).sum())
    return float("nan") if expected == 1 else float((per_item.mean() - expected) / (1 - expected))


@dataclass
class Agreement:
    """Agreement of a round's annotators.

    Attributes
    ----------
    fleiss_kappa : float
        Over every pair with two or more judgements.
    pairwise : polars.DataFrame
        ``annotator_1``, ``annotator_2``, ``n_pairs`` (judged by both), ``cohen_kappa``.
    per_annotator : polars.DataFrame
        ``annotator``, ``n_pairs`` (judged), ``mean_kappa`` (their Cohen's kappas with the
        others, weighted by the pairs shared), ``agrees_with_others`` (share of their
        judgements equal to the majority of the other annotators', where one exists).
    """

    fleiss_kappa: float
    pairwise: pl.DataFrame
    per_annotator: pl.DataFrame


def agreement(votes: pl.DataFrame) -> Agreement:
    """Cohen's kappa per annotator pair, Fleiss' kappa overall and per-annotator summaries.

    Example
    -------
    >>> votes = pl.DataFrame({"pair_id": ["p", "q", "p", "q"], "annotator": ["x", "x", "y", "y"],
    ...                       "label": ["a", "b", "a", "a"]})
    >>> agreement(votes).pairwise["cohen_kappa"].to_list()
    [0.0]
    """
    judged = votes.filter(pl.col("label").is_in(CATEGORIES)).select("pair_id", "annotator", "label")
    by_pair = judged.pivot(on="annotator", index="pair_id", values="label") if judged.height else None
    names = sorted(set(judged["annotator"].to_list()))
    rows = []
    for one, two in itertools.combinations(names, 2):
        both = by_pair.filter(pl.col(one).is_not_null() & pl.col(two).is_not_null())
        kappa = cohen_kappa(both[one].to_list(), both[two].to_list())
        rows.append({"annotator_1": one, "annotator_2": two, "n_pairs": both.height, "cohen_kappa": kappa})
    pairwise = pl.DataFrame(
        rows,
        schema={
            "annotator_1": pl.String,
            "annotator_2": pl.String,
            "n_pairs": pl.Int64,
            "cohen_kappa": pl.Float64,
        },
    )
    counts = np.zeros((0, len(CATEGORIES)))
    if judged.height:
        table = judged.group_by("pair_id").agg(*[(pl.col("label") == c).sum().alias(c) for c in CATEGORIES])
        counts = table.select(CATEGORIES).to_numpy()
    per = []
    for name in names:
        mine = pairwise.filter((pl.col("annotator_1") == name) | (pl.col("annotator_2") == name))
        mine = mine.filter(pl.col("cohen_kappa").is_not_nan() & (pl.col("n_pairs") > 0))
        w = mine["n_pairs"].to_numpy().astype(float)
        mean_kappa = float(np.average(mine["cohen_kappa"].to_numpy(), weights=w)) if w.sum() else float("nan")
        per.append({"annotator": name, **_against_others(judged, name), "mean_kappa": mean_kappa})
    per_annotator = pl.DataFrame(
        per,
        schema={
            "annotator": pl.String,
            "n_pairs": pl.Int64,
            "agrees_with_others": pl.Float64,
            "mean_kappa": pl.Float64,
        },
    ).select("annotator", "n_pairs", "mean_kappa", "agrees_with_others")
    return Agreement(fleiss_kappa(counts), pairwise, per_annotator)


def _against_others(judged: pl.DataFrame, name: str) -> dict[str, float | int]:
    """How many pairs ``name`` judged, and the share equal to the others' strict majority."""
    mine = judged.filter(pl.col("annotator") == name).select("pair_id", pl.col("label").alias("mine"))
    others = (
        judged.filter(pl.col("annotator") != name)
        .group_by("pair_id", "label")
        .len()
        .sort("len", descending=True)
        .group_by("pair_id", maintain_order=True)
        .agg(
            pl.col("label").first().alias("top"),
            pl.col("len").first().alias("n1"),
            pl.col("len").get(1, null_on_oob=True).alias("n2"),
        )
        .filter(pl.col("n2").is_null() | (pl.col("n1") > pl.col("n2")))
    )
    joined = mine.join(others, on="pair_id", how="inner")
    share = float((joined["mine"] == joined["top"]).mean()) if joined.height else float("nan")
    return {"n_pairs": mine.height, "agrees_with_others": share}
