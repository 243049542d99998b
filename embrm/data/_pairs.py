"""Pairs from scored responses, labelled by the golden score with simulated annotators."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.utils import check_random_state

from embrm._core.groups import within_group_index_pairs
from embrm.data._containers import PreferencePairs, ScoredResponses
from embrm.exceptions import DataError


def simulated_labels(
    diff: np.ndarray,
    beta: float | None,
    scale: float | None,
    rng: np.random.RandomState | None = None,
    uniform: np.ndarray | None = None,
) -> np.ndarray:
    """Whether a simulated annotator prefers the first answer of each pair.

    ``diff`` holds golden score differences (first minus second). The annotator prefers the
    first answer with probability ``sigmoid(beta * diff / scale)``; ``beta=None`` is
    noiseless (the higher score wins; ties go to the second answer). ``scale=None`` takes
    the standard deviation of ``diff``. The draws are ``uniform`` when given (one per pair),
    else ``rng.uniform``.
    """
    if beta is None:
        return diff > 0
    s = scale if scale is not None else float(np.std(diff))
    if not s > 0:
        raise DataError("All score differences are zero: the pairs carry no preference.")
    if uniform is None:
        uniform = rng.uniform(size=len(diff))
    return uniform < 1.0 / (1.0 + np.exp(-beta * diff / s))


def within_prompt_pairs(
    data: ScoredResponses,
    pairs_per_prompt: int | None = None,
    beta: float | None = None,
    scale: float | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> PreferencePairs:
    """Pairs of responses to the same prompt, labelled from their golden scores.

    A simulated annotator prefers ``a`` over ``b`` with probability
    ``sigmoid(beta * (r_a - r_b) / scale)`` (Bradley-Terry sampling). ``beta=None`` is the
    noiseless annotator: the higher golden score wins, and pairs with equal scores are
    dropped.

    Parameters
    ----------
    data : ScoredResponses
    pairs_per_prompt : int, optional
        Random pairs drawn per prompt without replacement; None takes all K(K-1)/2.
    beta : float, optional
        Annotation quality: large is nearly noiseless, 0 is coin flips. None: noiseless.
    scale : float, optional
        Divides score differences; default the standard deviation of within-prompt
        differences among the built pairs.
    random_state : int, RandomState or None
        Seeds the pair subset and the simulated labels.

    Returns
    -------
    PreferencePairs
        Columns prompt, chosen, rejected, group (= prompt_id), ``chosen_index`` and
        ``rejected_index`` (row positions in ``data``), ``chosen_score``,
        ``rejected_score`` and ``flipped`` (the annotator preferred the lower golden
        score). ``pairs.label_error_rate`` is the realised label error rate, the mean of
        ``flipped`` (also of any subset, e.g. ``pairs.take(rows)``).

    Examples
    --------
    >>> from embrm.testing import make_scored_responses
    >>> data, X = make_scored_responses(n_prompts=5, n_responses=4, random_state=0)
    >>> pairs = within_prompt_pairs(data, pairs_per_prompt=3, beta=None, random_state=0)
    >>> len(pairs), pairs.label_error_rate
    (15, 0.0)
    >>> X_win, X_lose = pairs.gather(X)
    """
    if pairs_per_prompt is not None and (
        isinstance(pairs_per_prompt, bool)
        or not isinstance(pairs_per_prompt, int | np.integer)
        or pairs_per_prompt < 1
    ):
        raise DataError(
            f"pairs_per_prompt must be a positive integer (pairs drawn per prompt) or None for "
            f"all pairs of each prompt; got {pairs_per_prompt!r}."
        )
    if beta is not None and beta < 0:
        raise DataError(f"beta must be >= 0 (annotation quality), got {beta}.")
    if scale is not None and not scale > 0:
        raise DataError(f"scale must be > 0, got {scale}.")
    rng = check_random_state(random_state)
    i, j = within_group_index_pairs(data.groups, pairs_per_prompt, rng)
    scores = data.scores
    diff = scores[i] - scores[j]
    if beta is None:
        keep = diff != 0
        i, j, diff = i[keep], j[keep], diff[keep]
    if len(i) == 0:
        raise DataError("No pairs could be built: every prompt needs two differently scored responses.")
    first_wins = simulated_labels(diff, beta, scale, rng)
    win = np.where(first_wins, i, j)
    lose = np.where(first_wins, j, i)
    frame = data.frame
    pairs = pl.DataFrame(
        {
            "prompt": frame["prompt"].gather(win),
            "chosen": frame["response"].gather(win),
            "rejected": frame["response"].gather(lose),
            "group": frame["prompt_id"].gather(win),
            "chosen_index": win,
            "rejected_index": lose,
            "chosen_score": scores[win],
            "rejected_score": scores[lose],
            "flipped": scores[win] < scores[lose],
        }
    )
    # Identical texts (e.g. two empty answers) carry no preference for an embedding head.
    pairs = pairs.filter(pl.col("chosen") != pl.col("rejected"))
    return PreferencePairs(pairs, name=data.name)
