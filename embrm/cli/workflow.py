"""End-to-end steps the CLI shares: train with a prompt-grouped held-out split, score a data
set with a saved head. Plain functions over the library's parts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import polars as pl

from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs
from embrm.evaluate import evaluate_pairs, evaluate_rewards
from embrm.model_selection import Report, cross_val_rewards, group_train_test_split


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
    report : embrm.model_selection.Report
        The full held-out evaluation (of ``evaluate_pairs`` or ``evaluate_rewards``);
        ``report.to_frame()`` is its table.
    """

    head: object
    n_train_pairs: int
    n_test_pairs: int
    fit_seconds: float
    accuracy: float
    report: Report


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
    split = group_train_test_split(data.groups, test_size, random_state)
    test_idx = split[1]
    fit_params = {"encoder_id": encoder.identity}
    if isinstance(data, ScoredResponses):
        X = data.embed(encoder)
        build = partial(within_prompt_pairs, pairs_per_prompt=pairs_per_prompt, beta=beta)
        result = cross_val_rewards(
            head, data, X, cv=[split], pairs=build, fit_params=fit_params, random_state=random_state
        )
        test = data.take(test_idx)
        report = Report(evaluate_rewards(result.reward[test_idx], test.scores, test.groups))
        n_test = int(report.value("n_pairs"))
    else:
        X_win, X_lose = data.embed(encoder)
        result = cross_val_rewards(head, data, (X_win, X_lose), cv=[split], fit_params=fit_params)
        fitted = result.folds[0].head
        report = Report(
            evaluate_pairs(
                result.reward_win[test_idx],
                result.reward_lose[test_idx],
                data.groups[test_idx],
                proba=fitted.predict_proba(X_win[test_idx], X_lose[test_idx]),
            )
        )
        n_test = len(test_idx)
    (fold,) = result.folds
    accuracy = report.value("pairwise_accuracy")
    return HeldOutResult(fold.head, fold.n_train_pairs, n_test, fold.fit_seconds, accuracy, report)


def reward_frame(head, data: PreferencePairs | ScoredResponses, encoder) -> pl.DataFrame:
    """The data's frame with the head's rewards added (``reward``, or
    ``reward_chosen``/``reward_rejected`` for pairs)."""
    if isinstance(data, ScoredResponses):
        return data.frame.with_columns(pl.Series("reward", head.reward(data.embed(encoder))))
    X_win, X_lose = data.embed(encoder)
    return data.frame.with_columns(
        pl.Series("reward_chosen", head.reward(X_win)), pl.Series("reward_rejected", head.reward(X_lose))
    )
