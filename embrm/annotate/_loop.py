"""The active loop inside the labelling page: refit on the labels so far, pick the next batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from embrm.active import CandidatePool, select_queries


class NextBatch:
    """The next pairs of a round, chosen as ``embrm select`` chooses them.

    Each call fits the default head (a :class:`~embrm.heads.BTLinear` on the labels so far)
    and runs the strategy over the pool, leaving out pairs already labelled or already in
    the round.

    Parameters
    ----------
    pool : CandidatePool
        The pool the round's pairs come from (same responses and pool options).
    X : ndarray of shape (pool.n_responses, d)
        Embeddings of the pool's response table.
    strategy : BaseStrategy, str or None, default None
        As for :func:`embrm.active.select_queries`; None is its default strategy.
    budget : int, default 20
        Pairs per batch.
    random_state : int or None, default 0
        As for :func:`embrm.active.select_queries`: seeds a strategy without its own.

    Example
    -------
    >>> import numpy as np, polars as pl
    >>> from embrm.active import within_prompt_pool
    >>> frame = pl.DataFrame({"prompt": ["q"] * 4, "response": ["w", "x", "y", "z"]})
    >>> pool = within_prompt_pool(frame)
    >>> batch = NextBatch(pool, np.eye(4), strategy="random", budget=2)
    >>> none = pl.DataFrame(schema={"pair_id": pl.String, "label": pl.String})
    >>> batch(none, []).height
    2
    """

    def __init__(
        self,
        pool: CandidatePool,
        X: np.ndarray,
        strategy: Any = None,
        budget: int = 20,
        random_state: int | None = 0,
    ) -> None:
        self.pool = pool
        self.X = X
        self.strategy = strategy
        self.budget = budget
        self.random_state = random_state

    def __call__(self, labels: pl.DataFrame, queued: list[str]) -> pl.DataFrame:
        """The next ``budget`` pairs (a query frame) given the labels so far (``pair_id``,
        ``label`` a/b) and the ids already in the round (labelled or not)."""
        waiting = set(queued) - set(labels["pair_id"].to_list())
        room = len(self.pool) - labels.height
        ask = min(self.budget + len(waiting), room)
        if ask < 1:
            return pl.DataFrame(schema={"pair_id": pl.String})
        picked = select_queries(
            self.pool,
            self.X,
            ask,
            strategy=self.strategy,
            labels=labels if labels.height else None,
            random_state=self.random_state,
        )
        return picked.filter(~pl.col("pair_id").is_in(list(waiting))).head(self.budget)
