"""Several annotators per pair: one merged label per pair by a named rule, conflicts visible.

Votes are rows ``(pair_id, annotator, label)`` with ``label`` in ``a``, ``b``, ``tie``,
``skip``. Every rule writes one row per pair with the vote counts, the rule, a ``status``
(``agreed``, ``split``, ``tie`` or ``skipped``) and ``p_a``, the weight of "a is better":

- ``majority``: ``label`` is the side with more a/b votes; equal counts leave it empty
  (status ``tie``); ``p_a`` is the share of a among the a/b votes.
- ``all``: every vote counts as a weighted pair for the Bradley-Terry fit: the pair is
  trained as "a wins" with weight ``p_a`` and "b wins" with ``1 - p_a``, a tie vote counting
  half to each side (:func:`vote_weights` expands it); ``label`` is as for ``majority``.
- ``dawid-skene``: each annotator has a 2x2 confusion matrix (how often they say a or b when
  a or b is better), fitted by EM (Dawid & Skene, 1979) from the majority start; the class
  prior is held at 1/2, since which answer is ``a`` is set by a text hash, not by quality.
  ``p_a`` is the posterior, ``label`` the side above 1/2. Tie and skip votes are kept in
  the counts but carry no evidence.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from embrm.exceptions import DataError

RULES = ("majority", "all", "dawid-skene")
#: Dawid-Skene's prior on each annotator: as if they had been right twice and wrong once on
#: each side, so the fit starts from "better than chance" and few votes cannot flip a pair.
PSEUDO_COUNTS = (2.0, 1.0)
#: Columns of :func:`merge_votes`'s frame.
MERGED_COLUMNS = (
    "pair_id", "label", "rule", "status", "p_a", "votes_a", "votes_b", "ties", "skips", "annotators",
)  # fmt: skip


def _counts(votes: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ("pair_id", "annotator", "label") if c not in votes.columns]
    if missing:
        raise DataError(f"Votes need columns pair_id, annotator and label; missing {missing}.")
    bad = votes.filter(~pl.col("label").is_in(["a", "b", "tie", "skip"]))
    if bad.height:
        raise DataError(
            f"{bad.height} votes are not a, b, tie or skip (first: {bad['label'][0]!r} on pair "
            f"{bad['pair_id'][0]!r})."
        )
    twice = votes.group_by("pair_id", "annotator").len().filter(pl.col("len") > 1)
    if twice.height:
        raise DataError(
            f"Annotator {twice['annotator'][0]!r} labelled pair {twice['pair_id'][0]!r} more than "
            "once across the sources given; give each annotator's labels once."
        )
    return votes.group_by("pair_id", maintain_order=True).agg(
        (pl.col("label") == "a").sum().alias("votes_a"),
        (pl.col("label") == "b").sum().alias("votes_b"),
        (pl.col("label") == "tie").sum().alias("ties"),
        (pl.col("label") == "skip").sum().alias("skips"),
        pl.col("annotator").sort().str.join(",").alias("annotators"),
    )


def merge_votes(votes: pl.DataFrame, rule: str = "majority", max_iter: int = 100) -> pl.DataFrame:
    """One row per voted pair: the merged label by ``rule``, the vote counts and the status.

    Parameters
    ----------
    votes : polars.DataFrame
        Columns ``pair_id``, ``annotator``, ``label`` (a, b, tie or skip); one row per
        (pair, annotator).
    rule : {"majority", "all", "dawid-skene"}
    max_iter : int, default 100
        EM iterations of ``dawid-skene`` (it stops earlier once the posteriors settle).

    Returns
    -------
    polars.DataFrame
        Columns :data:`MERGED_COLUMNS`; ``label`` is empty where the rule cannot decide.

    Example
    -------
    >>> votes = pl.DataFrame({"pair_id": ["p", "p", "p", "q"], "annotator": ["x", "y", "z", "x"],
    ...                       "label": ["a", "a", "b", "tie"]})
    >>> merge_votes(votes).select("pair_id", "label", "status", "p_a").rows()
    [('p', 'a', 'split', 0.6666666666666666), ('q', None, 'tie', 0.5)]
    """
    if rule not in RULES:
        raise DataError(f"Unknown aggregation rule {rule!r}; choose one of {list(RULES)}.")
    counts = _counts(votes)
    a, b, t = (counts[c].to_numpy().astype(float) for c in ("votes_a", "votes_b", "ties"))
    if rule == "majority":
        p_a = np.divide(a, a + b, out=np.full(len(a), 0.5), where=(a + b) > 0)
    elif rule == "all":
        p_a = np.divide(a + t / 2, a + b + t, out=np.full(len(a), 0.5), where=(a + b + t) > 0)
    else:
        p_a = _dawid_skene(votes, counts["pair_id"].to_list(), max_iter)
    if rule == "dawid-skene":
        label = np.where(p_a > 0.5, "a", np.where(p_a < 0.5, "b", None))
    else:
        label = np.where(a > b, "a", np.where(b > a, "b", None))
    decisive = a + b + t
    unanimous = ((a == decisive) | (b == decisive)) & (decisive > 0)
    status = np.where(
        decisive == 0,
        "skipped",
        np.where(label == None, "tie", np.where(unanimous, "agreed", "split")),  # noqa: E711
    )
    return counts.with_columns(
        pl.Series("label", label, dtype=pl.String),
        pl.lit(rule).alias("rule"),
        pl.Series("status", status, dtype=pl.String),
        pl.Series("p_a", p_a, dtype=pl.Float64),
    ).select(MERGED_COLUMNS)


def _dawid_skene(votes: pl.DataFrame, pair_ids: list[str], max_iter: int, tol: float = 1e-8) -> np.ndarray:
    """P(a is better) per pair under the two-class Dawid-Skene model, by EM."""
    decisive = votes.filter(pl.col("label").is_in(["a", "b"]))
    row = {p: i for i, p in enumerate(pair_ids)}
    names = sorted(set(decisive["annotator"].to_list()))
    col = {n: j for j, n in enumerate(names)}
    items = np.array([row[p] for p in decisive["pair_id"].to_list()], dtype=int)
    who = np.array([col[n] for n in decisive["annotator"].to_list()], dtype=int)
    says_a = (decisive["label"] == "a").to_numpy().astype(float)
    n_items, n_ann = len(pair_ids), len(names)
    a = np.bincount(items, says_a, n_items)
    n = np.bincount(items, minlength=n_items).astype(float)
    post = np.divide(a, n, out=np.full(n_items, 0.5), where=n > 0)  # majority start
    right, wrong = PSEUDO_COUNTS
    for _ in range(max_iter):
        # M step: each annotator's P(says a | a better) and P(says a | b better), with
        # pseudo-counts of an annotator better than chance (fixes which class is which)
        w_a, w_b = post[items], 1 - post[items]
        seen_a, seen_b = np.bincount(who, w_a, n_ann), np.bincount(who, w_b, n_ann)
        hit_a = (np.bincount(who, w_a * says_a, n_ann) + right) / (seen_a + right + wrong)
        false_a = (np.bincount(who, w_b * says_a, n_ann) + wrong) / (seen_b + right + wrong)
        # E step: log-odds of "a better" per pair
        log_a = np.where(says_a == 1, np.log(hit_a[who]), np.log1p(-hit_a[who]))
        log_b = np.where(says_a == 1, np.log(false_a[who]), np.log1p(-false_a[who]))
        odds = np.bincount(items, log_a - log_b, n_items)  # even prior odds
        new = np.where(n > 0, 1 / (1 + np.exp(-odds)), 0.5)
        done = np.max(np.abs(new - post), initial=0.0) < tol
        post = new
        if done:
            break
    return post


def vote_weights(merged: pl.DataFrame) -> pl.DataFrame:
    """Training rows of a merged frame: "a wins" with weight ``p_a`` and "b wins" with
    ``1 - p_a`` for the ``all`` rule, one row of weight 1 per decided pair otherwise.

    Returns
    -------
    polars.DataFrame
        Columns ``pair_id``, ``label`` (a or b), ``weight``; rows of weight 0 are dropped.

    Example
    -------
    >>> merged = merge_votes(pl.DataFrame({"pair_id": ["p"] * 4, "annotator": list("wxyz"),
    ...                                  "label": ["a", "a", "b", "tie"]}), "all")
    >>> vote_weights(merged).rows()
    [('p', 'a', 0.625), ('p', 'b', 0.375)]
    """
    if merged.height and merged["rule"][0] == "all":
        a = merged.select("pair_id", pl.lit("a").alias("label"), pl.col("p_a").alias("weight"))
        b = merged.select("pair_id", pl.lit("b").alias("label"), (1 - pl.col("p_a")).alias("weight"))
        both = pl.concat([a, b]).filter(pl.col("weight") > 0)
        order = {p: i for i, p in enumerate(merged["pair_id"].to_list())}
        return both.sort(pl.col("pair_id").replace_strict(order, return_dtype=pl.Int64), "label")
    decided = merged.filter(pl.col("label").is_not_null())
    return decided.select("pair_id", "label", pl.lit(1.0).alias("weight"))
