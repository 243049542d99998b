"""End-to-end steps the CLI shares: train with a prompt-grouped held-out split, score a data
set with a saved head. Plain functions over the library's parts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import polars as pl

from .data import PreferencePairs, ScoredResponses, group_train_test_split, within_prompt_pairs
from .evaluate import evaluate_pairs, evaluate_rewards


@dataclass
class HeldOutResult:
    """A head trained on the training prompts and measured on the held-out ones.

    Attributes
    ----------
    head : fitted head
    n_train_pairs, n_test_pairs : int
    fit_seconds : float
        Wall time of ``fit`` alone (embeddings come from the cache).
    accuracy : float
        Pairwise accuracy on the held-out pairs.
    report : polars.DataFrame
        The full held-out evaluation (``evaluate_pairs`` or ``evaluate_rewards``).
    """

    head: object
    n_train_pairs: int
    n_test_pairs: int
    fit_seconds: float
    accuracy: float
    report: pl.DataFrame


def train_held_out(
    head,
    data: PreferencePairs | ScoredResponses,
    encoder,
    *,
    test_size: float = 0.2,
    pairs_per_prompt: int | None = 50,
    beta: float | None = None,
    random_state: int = 0,
) -> HeldOutResult:
    """Split by prompt, embed (through the cache), fit on train, evaluate on test.

    Parameters
    ----------
    head : embrm head
    data : PreferencePairs or ScoredResponses
        Scored sets are turned into within-prompt pairs (``pairs_per_prompt``, ``beta`` as
        in :func:`embrm.data.within_prompt_pairs`) on the training prompts; the held-out
        prompts are evaluated with Best-of-N, rank correlation and pairwise accuracy.
    encoder : embrm.Encoder
    test_size : float, default 0.2
        Share of prompts held out.
    pairs_per_prompt, beta : see :func:`embrm.data.within_prompt_pairs`
    random_state : int, default 0
        Seeds the split and the pairs.

    Returns
    -------
    HeldOutResult
    """
    train_idx, test_idx = group_train_test_split(data.groups, test_size, random_state)
    if isinstance(data, ScoredResponses):
        X = data.embed(encoder)
        train = data.take(train_idx)
        pairs = within_prompt_pairs(train, pairs_per_prompt, beta, random_state=random_state)
        X_train = X[train_idx]  # the pairs index rows of the training part
        X_win = X_train[pairs.frame["chosen_index"].to_numpy()]
        X_lose = X_train[pairs.frame["rejected_index"].to_numpy()]
        start = time.perf_counter()
        head.fit(X_win, X_lose, groups=pairs.groups, encoder_id=encoder.identity)
        seconds = time.perf_counter() - start
        test = data.take(test_idx)
        report = evaluate_rewards(head.reward(X[test_idx]), test.scores, test.groups)
        accuracy = report.filter(pl.col("metric") == "pairwise_accuracy")["value"][0]
        n_test = int(report.filter(pl.col("metric") == "n_pairs")["value"][0])
        return HeldOutResult(head, len(pairs), n_test, seconds, accuracy, report)
    X_win, X_lose = data.embed(encoder)
    start = time.perf_counter()
    head.fit(
        X_win[train_idx],
        X_lose[train_idx],
        data.sample_weight[train_idx] if data.sample_weight is not None else None,
        groups=data.groups[train_idx],
        encoder_id=encoder.identity,
    )
    seconds = time.perf_counter() - start
    report = evaluate_pairs(
        head.reward(X_win[test_idx]),
        head.reward(X_lose[test_idx]),
        data.groups[test_idx],
        proba=head.predict_proba(X_win[test_idx], X_lose[test_idx]),
    )
    accuracy = report.filter(pl.col("metric") == "pairwise_accuracy")["value"][0]
    return HeldOutResult(head, len(train_idx), len(test_idx), seconds, accuracy, report)


def reward_frame(head, data: PreferencePairs | ScoredResponses, encoder) -> pl.DataFrame:
    """The data's frame with the head's rewards added (``reward``, or
    ``reward_chosen``/``reward_rejected`` for pairs)."""
    if isinstance(data, ScoredResponses):
        return data.frame.with_columns(pl.Series("reward", head.reward(data.embed(encoder))))
    X_win, X_lose = data.embed(encoder)
    return data.frame.with_columns(
        pl.Series("reward_chosen", head.reward(X_win)), pl.Series("reward_rejected", head.reward(X_lose))
    )
