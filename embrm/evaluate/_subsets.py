"""Pairs evaluated per subset of a benchmark, beside the length-only baselines.

Reward benchmarks ship pairs with a ``subset`` column and report accuracy per subset;
because picking the longer answer alone scores high on many of them, a length-only baseline
belongs beside every model. This report gives, per subset and overall, the head's accuracy,
the accuracy of "the longer answer wins" and of "the shorter answer wins", and the head's
accuracy on the pairs whose chosen answer is the shorter one, where length cannot help it.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from embrm._core.groups import Groups
from embrm.evaluate._bootstrap import bootstrap, check_bootstrap_params, ratio_of_sums
from embrm.evaluate._length import check_lengths
from embrm.evaluate._metrics import check_reward_pairs, pair_outcomes
from embrm.evaluate._report import _table
from embrm.exceptions import DataError

#: The ``subset`` label of the rows over every pair.
OVERALL = "overall"
#: The metrics with intervals, per subset, in output order.
SUBSET_METRICS = ("pairwise_accuracy", "longer_wins", "shorter_wins", "pairwise_accuracy_chosen_shorter")


def _check_subsets(subsets: ArrayLike, n: int) -> np.ndarray:
    """Subset names as strings, one per pair; none missing or blank, none named "overall"."""
    arr = np.asarray(subsets, dtype=object)
    if arr.ndim != 1:
        raise DataError(f"'subsets' must be one-dimensional (one name per pair); got shape {arr.shape}.")
    if arr.size != n:
        raise DataError(
            f"'subsets' has {arr.size} rows but 'reward_win' has {n}: pass one subset name per "
            "pair, in the same row order."
        )
    values = arr.tolist()
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and math.isnan(v))]
    blank = [i for i, v in enumerate(values) if isinstance(v, str) and not v.strip()]
    if missing or blank:
        bad = missing or blank
        raise DataError(
            f"'subsets' has {len(bad)} {'missing' if missing else 'blank'} name(s), first at pair "
            f"{bad[0]}: give every pair a subset name (e.g. 'other'), or drop those pairs."
        )
    names = np.array([str(v) for v in values], dtype=object)
    if (names == OVERALL).any():
        raise DataError(
            f"'subsets' uses the name {OVERALL!r}, which the report keeps for the rows over every "
            f"pair; rename that subset (first at pair {int(np.flatnonzero(names == OVERALL)[0])})."
        )
    return names


def evaluate_by_subset(
    reward_win: ArrayLike,
    reward_lose: ArrayLike,
    length_win: ArrayLike,
    length_lose: ArrayLike,
    subsets: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Evaluate rewards on preference pairs per subset, beside the length-only baselines.

    Parameters
    ----------
    reward_win, reward_lose : array-like of shape (n_pairs,)
        Rewards of the preferred and of the rejected response of each pair.
    length_win, length_lose : array-like of shape (n_pairs,)
        Lengths of the two responses (characters, say), 0 or more.
    subsets : array-like of shape (n_pairs,), optional
        Subset name of each pair (a benchmark's ``subset`` column); default: only the rows
        over every pair.
    groups : array-like of shape (n_pairs,), optional
        Prompt id of each pair; the bootstrap resamples prompts. Default: each pair is its
        own group.
    n_bootstrap, confidence, random_state
        As in :func:`evaluate_pairs`; one resampling of the prompts serves every subset.

    Returns
    -------
    report : polars.DataFrame
        Columns ``subset``, ``metric``, ``value``, ``ci_low``, ``ci_high``: rows for each
        subset (sorted by name), then for ``"overall"`` (every pair). Metrics, each the share
        of the subset's pairs, ties counting one half:

        - ``pairwise_accuracy``: the reward orders the pair right (as :func:`evaluate_pairs`);
        - ``longer_wins``: the longer response is the preferred one (equal lengths ½);
        - ``shorter_wins``: the shorter response is the preferred one (1 − ``longer_wins``);
        - ``pairwise_accuracy_chosen_shorter``: ``pairwise_accuracy`` on the pairs whose
          preferred response is strictly shorter (null if there are none);

        then counts, without intervals: ``n_pairs``, ``n_chosen_shorter``,
        ``n_length_ties`` (pairs of equal lengths) and ``n_groups`` (prompts).

    Raises
    ------
    DataError
        On mismatched lengths, empty input, NaN or infinite values, negative lengths, a
        missing or blank subset name, or a subset named ``"overall"``.

    Examples
    --------
    >>> from embrm.evaluate import evaluate_by_subset
    >>> report = evaluate_by_subset(
    ...     [2.0, 1.0, 0.5, 3.0], [1.0, 2.0, 0.7, 1.0],  # rewards: right, wrong, wrong, right
    ...     [10, 30, 5, 40], [20, 10, 50, 40],  # chosen shorter, longer, shorter, tied
    ...     subsets=["chat", "chat", "code", "code"], n_bootstrap=0)
    >>> report.filter(metric="longer_wins").select("subset", "value").rows()
    [('chat', 0.5), ('code', 0.25), ('overall', 0.375)]
    >>> report.filter(metric="pairwise_accuracy_chosen_shorter")["value"].to_list()
    [1.0, 0.0, 0.5]
    """
    win, lose = check_reward_pairs(reward_win, reward_lose)
    n = win.size
    len_win = check_lengths(length_win, "length_win", n)
    len_lose = check_lengths(length_lose, "length_lose", n)
    names = np.full(n, OVERALL, dtype=object) if subsets is None else _check_subsets(subsets, n)
    check_bootstrap_params(n_bootstrap, confidence)
    if groups is None:
        codes, n_groups = np.arange(n), n
    else:
        grp = Groups.from_labels(groups, n)
        codes, n_groups = grp.codes, grp.n_groups
    correct, longer = pair_outcomes(win, lose), pair_outcomes(len_win, len_lose)
    chosen_shorter = len_win < len_lose
    # Per pair: (numerator, denominator) of each metric, summed per prompt within each subset.
    terms = [
        (correct, np.ones(n)),
        (longer, np.ones(n)),
        (1.0 - longer, np.ones(n)),
        (correct * chosen_shorter, chosen_shorter.astype(np.float64)),
    ]
    labels = [OVERALL] if subsets is None else [*sorted(set(names)), OVERALL]
    masks = [names == s if s != OVERALL else np.ones(n, dtype=bool) for s in labels]
    numerator = np.column_stack(
        [np.bincount(codes[m], weights=num[m], minlength=n_groups) for m in masks for num, _ in terms]
    )
    denominator = np.column_stack(
        [np.bincount(codes[m], weights=den[m], minlength=n_groups) for m in masks for _, den in terms]
    )
    point, low, high = bootstrap(
        ratio_of_sums(numerator, denominator),
        n_groups,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        random_state=random_state,
    )
    k = len(terms)
    tables = []
    for i, (label, mask) in enumerate(zip(labels, masks, strict=True)):
        counts = {
            "n_pairs": float(mask.sum()),
            "n_chosen_shorter": float((chosen_shorter & mask).sum()),
            "n_length_ties": float(((len_win == len_lose) & mask).sum()),
            "n_groups": float(np.unique(codes[mask]).size),
        }
        block = slice(i * k, (i + 1) * k)
        table = _table(list(SUBSET_METRICS), point[block], low[block], high[block], counts)
        tables.append(table.select(pl.lit(label).alias("subset"), pl.all()))
    return pl.concat(tables)
