"""Replay annotation rounds against a golden annotator and measure the head after each."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import clone
from sklearn.utils import check_random_state

from embrm.active._pools import CandidatePool
from embrm.active._strategies import BaseStrategy, seeded
from embrm.data import PreferencePairs, ScoredResponses, simulated_labels
from embrm.evaluate import evaluate_pairs, evaluate_rewards
from embrm.exceptions import DataError
from embrm.model_selection import Report


@dataclass
class GoldenAnnotator:
    """Labels pairs from golden scores with the annotator-noise model of
    :func:`embrm.data.within_prompt_pairs`: ``a`` wins with probability
    ``sigmoid(beta * (r_a - r_b) / scale)``; ``beta=None`` is noiseless (ties go to ``b``).

    Parameters
    ----------
    scores : ndarray of shape (n_responses,)
        Golden score of each row of the pool's response table.
    beta : float, optional
        Annotation quality; None: noiseless. With the 1/0 scores of
        :func:`responses_from_pairs` and ``beta=None`` the stored human label is revealed.
    scale : float, optional
        Divides score differences; default: the standard deviation of the differences over
        the whole pool (set by :meth:`fit`).
    """

    scores: np.ndarray
    beta: float | None = None
    scale: float | None = None

    def fit(
        self, pool: CandidatePool, random_state: int | np.random.RandomState | None = None
    ) -> GoldenAnnotator:
        """Fix the default scale on the pool's score differences and draw the annotator's
        noise once per pool pair (a pair gets the same label whoever asks for it)."""
        if self.scale is None and self.beta is not None:
            self.scale = float(np.std(self.scores[pool.index_a] - self.scores[pool.index_b]))
        self.uniform_ = check_random_state(random_state).uniform(size=len(pool))
        return self

    def label(self, pool: CandidatePool, rows: np.ndarray) -> np.ndarray:
        """Whether ``a`` wins for each pool row in ``rows``."""
        diff = self.scores[pool.index_a[rows]] - self.scores[pool.index_b[rows]]
        return simulated_labels(diff, self.beta, self.scale, uniform=self.uniform_[rows])

    def is_flipped(self, pool: CandidatePool, rows: np.ndarray, a_wins: np.ndarray) -> np.ndarray:
        """Whether each label prefers the lower golden score."""
        diff = self.scores[pool.index_a[rows]] - self.scores[pool.index_b[rows]]
        return np.where(a_wins, diff < 0, diff > 0)


def held_out_metrics(
    test: ScoredResponses | PreferencePairs,
    X_test: np.ndarray | tuple[np.ndarray, np.ndarray],
    ns: tuple[int | str, ...] = (4, 16, "all"),
    win_rate: np.ndarray | None = None,
) -> Callable[[Any], dict[str, float]]:
    """A function ``head -> {metric: value}`` on held-out data, for :func:`simulate_active`.

    Scored responses: pairwise accuracy over all within-prompt pairs, Spearman correlation
    and exact Best-of-N at each ``n`` (``bon@n``, golden units; ``winrate_bon@n`` in the
    units of ``win_rate`` when given, e.g. 100 * judge_pref). Pairs (``X_test`` =
    ``(X_chosen, X_rejected)``): pairwise accuracy on the stored labels. Hold the test
    prompts out by prompt, e.g. with :func:`embrm.model_selection.group_train_test_split`.
    """

    def metrics(head) -> dict[str, float]:
        if isinstance(test, ScoredResponses):
            reward = head.reward(X_test)
            report = Report(evaluate_rewards(reward, test.scores, test.groups, n=list(ns), n_bootstrap=0))
            out = {m: report.value(m) for m in ("pairwise_accuracy", "spearman")}
            out.update({f"bon@{n}": report.value(f"bon@{n}") for n in ns})
            if win_rate is not None:
                wr = Report(evaluate_rewards(reward, win_rate, test.groups, n=list(ns), n_bootstrap=0))
                out.update({f"winrate_bon@{n}": wr.value(f"bon@{n}") for n in ns})
            return out
        X_win, X_lose = X_test
        report = Report(evaluate_pairs(head.reward(X_win), head.reward(X_lose), test.groups, n_bootstrap=0))
        return {"pairwise_accuracy": report.value("pairwise_accuracy")}

    return metrics


def simulate_active(
    strategy: BaseStrategy,
    pool: CandidatePool,
    X: np.ndarray,
    annotator: GoldenAnnotator,
    evaluate: Callable[[Any], dict[str, float]],
    *,
    head: Any = None,
    n_seed: int = 50,
    batch_size: int = 50,
    budget: int = 500,
    random_state: int | np.random.RandomState | None = None,
) -> pl.DataFrame:
    """Simulate annotation rounds: a random seed set, then batches chosen by ``strategy``.

    Round 0 labels ``n_seed`` random pool pairs; every later round asks ``strategy`` for
    ``batch_size`` more (never one already labelled), until ``budget`` labels; the strategy
    gets each candidate's prompt (``prompt_id_a``) as ``groups``. After each
    round the head is refitted (a clone, on all labels so far) and measured by ``evaluate``.
    The seed set and the annotator's noise (one draw per pool pair) depend only on
    ``random_state``: strategies run with the same seed share the seed set, and a pair
    asked by two strategies gets the same label. A strategy without a ``random_state`` of
    its own draws its random choices from the same stream.

    Parameters
    ----------
    strategy : BaseStrategy
    pool : CandidatePool
    X : ndarray of shape (pool.n_responses, d)
        Embeddings of the pool's response table.
    annotator : GoldenAnnotator
    evaluate : callable
        ``evaluate(head) -> dict`` (see :func:`held_out_metrics`).
    head : reward head, default BTLinear()
        Refitted after each round; the strategy reads it (non-linear heads: see
        :meth:`BaseStrategy.select`).
    n_seed, batch_size, budget : int
    random_state : int, RandomState or None

    Returns
    -------
    polars.DataFrame
        One row per round: ``round``, ``n_labels``, ``label_error_rate``,
        ``select_seconds``, ``fit_seconds`` and the metrics of ``evaluate``.
    """
    from embrm.heads import BTLinear

    if not 0 < n_seed <= budget <= len(pool):
        raise DataError(
            f"Need 0 < n_seed ({n_seed}) <= budget ({budget}) <= pool size ({len(pool)}): lower "
            "the budget or build a larger pool."
        )
    rng = check_random_state(random_state)
    head = BTLinear() if head is None else head
    strategy = seeded(strategy, rng)
    D = pool.differences(X)
    groups = pool.frame["prompt_id_a"].to_numpy()
    annotator.fit(pool, rng.randint(2**31 - 1))
    rows = rng.choice(len(pool), size=n_seed, replace=False)
    a_wins = annotator.label(pool, rows)
    history = []
    select_seconds = 0.0
    for round_ in range(budget):
        win = np.where(a_wins, pool.index_a[rows], pool.index_b[rows])
        lose = np.where(a_wins, pool.index_b[rows], pool.index_a[rows])
        fitted = clone(head)
        start = time.perf_counter()
        fitted.fit(X[win], X[lose], groups=groups[rows])
        fit_seconds = time.perf_counter() - start
        history.append(
            {
                "round": round_,
                "n_labels": len(rows),
                "label_error_rate": float(annotator.is_flipped(pool, rows, a_wins).mean()),
                "select_seconds": select_seconds,
                "fit_seconds": fit_seconds,
                **evaluate(fitted),
            }
        )
        if len(rows) >= budget:
            break
        labelled = np.where(a_wins[:, None], D[rows], -D[rows])
        start = time.perf_counter()
        new = strategy.select(
            D,
            labelled=labelled,
            head=fitted,
            batch_size=min(batch_size, budget - len(rows)),
            groups=groups,
        )
        select_seconds = time.perf_counter() - start
        if np.isin(new, rows).any() or len(np.unique(new)) != len(new):
            raise RuntimeError(f"{type(strategy).__name__} proposed an already labelled pair")
        rows = np.concatenate([rows, new])
        a_wins = np.concatenate([a_wins, annotator.label(pool, new)])
    return pl.DataFrame(history)
