"""Candidate pools: the pairs an annotator could be asked about, each with a stable id."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
from sklearn.utils import check_random_state

from embrm._core.groups import within_group_index_pairs
from embrm.data import PreferencePairs, ScoredResponses, content_key, render_prompt, render_response
from embrm.exceptions import DataError

#: Columns of a pool's frame.
POOL_COLUMNS = (
    "pair_id", "index_a", "index_b", "prompt_id_a", "prompt_id_b",
    "prompt_a", "prompt_b", "response_a", "response_b",
)  # fmt: skip


#: Hex characters of a pair id (ids of 16 characters name pairs by the earlier text hash).
PAIR_ID_LENGTH = 20
_EARLIER_ID_LENGTH = 16


def _content_keys(prompts: list[str], responses: list[str]) -> np.ndarray:
    """embrm's content key of each (prompt, response): what identifies a response."""
    return np.array([content_key(p, r) for p, r in zip(prompts, responses, strict=True)])


def _earlier_keys(prompts: list[str], responses: list[str]) -> np.ndarray:
    """The text hash pools of earlier releases ordered pairs by (``prompt U+001F response``).

    It orients every pair (``a`` has the smaller one), so query and label files written by
    earlier rounds keep their ``a``/``b`` meaning, and it recognises their pair ids. It
    never identifies a response: two texts around a U+001F can share it.
    """
    return np.array(
        [hashlib.sha1(f"{p}\x1f{r}".encode()).hexdigest() for p, r in zip(prompts, responses, strict=True)]
    )


def _pair_ids(key_a: np.ndarray, key_b: np.ndarray, length: int) -> list[str]:
    return [hashlib.sha1(f"{x}|{y}".encode()).hexdigest()[:length] for x, y in zip(key_a, key_b, strict=True)]


class CandidatePool:
    """Candidate pairs over a table of responses, with stable ids.

    Row ``i`` asks "is ``response_a`` better than ``response_b``?", where both are rows
    ``index_a[i]``, ``index_b[i]`` of the response table the pool was built from (and of its
    embedding matrix ``X``). The pair id hashes the content keys of both (prompt, response)
    texts (:func:`embrm.data.content_key`, so no two different pairs share an id), and
    ``a`` is the one with the smaller text hash (SHA-1 of ``prompt U+001F response``, ties
    broken by the content key), so the same pair gets the same id and orientation whatever
    the row order, seed or round. Self pairs (identical texts) are
    never built. Pair ids of 16 characters, written by earlier releases, are recognised by
    :meth:`positions`.

    Attributes
    ----------
    frame : polars.DataFrame
        Columns ``pair_id``, ``index_a``, ``index_b``, ``prompt_id_a``, ``prompt_id_b``,
        ``prompt_a``, ``prompt_b``, ``response_a``, ``response_b``.
    n_responses : int
        Rows of the response table.
    """

    def __init__(self, frame: pl.DataFrame, n_responses: int):
        self.frame = frame
        self.n_responses = n_responses
        self._id_order: tuple[pl.DataFrame, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        return f"CandidatePool(n_pairs={len(self)}, n_responses={self.n_responses})"

    @property
    def pair_ids(self) -> np.ndarray:
        return self.frame["pair_id"].to_numpy()

    @property
    def index_a(self) -> np.ndarray:
        return self.frame["index_a"].to_numpy()

    @property
    def index_b(self) -> np.ndarray:
        return self.frame["index_b"].to_numpy()

    def differences(self, X: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """``X[index_a] - X[index_b]``: the (M, d) matrix the strategies select from."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.n_responses:
            raise DataError(
                f"X must hold one embedding per response of the pool's table ({self.n_responses} "
                f"rows), got shape {X.shape}."
            )
        return X[self.index_a].astype(dtype) - X[self.index_b].astype(dtype)

    def _earlier_pair_ids(self) -> np.ndarray:
        """Each pair's id as earlier releases wrote it (same orientation, 16 characters)."""
        f = self.frame
        key_a = _earlier_keys(f["prompt_a"].to_list(), f["response_a"].to_list())
        key_b = _earlier_keys(f["prompt_b"].to_list(), f["response_b"].to_list())
        return np.array(_pair_ids(key_a, key_b, _EARLIER_ID_LENGTH))

    def positions(self, pair_ids) -> np.ndarray:
        """Row positions of ``pair_ids``; a clear error names ids that are not in the pool.

        Ids written by earlier releases (16 characters) are found too, through the pair's
        earlier id, with the same ``a``/``b`` orientation.
        """
        ids = np.asarray(pair_ids, dtype=str)
        if self._id_order is None or self._id_order[0] is not self.frame:  # sorted once per frame
            self._id_order = (self.frame, np.argsort(self.pair_ids, kind="stable"))
        rows = _lookup(self.pair_ids, ids, self._id_order[1])
        earlier = (rows < 0) & (np.char.str_len(ids) == _EARLIER_ID_LENGTH)
        if earlier.any():
            rows[earlier] = _lookup(self._earlier_pair_ids(), ids[earlier])
        if (rows < 0).any():
            missing = ids[rows < 0]
            raise DataError(
                f"{len(missing)} labelled pair ids are not in this candidate pool (first: "
                f"{missing[0]!r}). Build the pool from the same responses with the same pool "
                "options (pool type, pairs per prompt, pool seed) as the round that wrote them."
            )
        return rows


def _lookup(known: np.ndarray, ids: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Position of each of ``ids`` in ``known`` (the first, if repeated); -1 when absent.
    ``order``: ``known``'s stable argsort, when already computed."""
    if len(known) == 0:
        return np.full(len(ids), -1)
    order = np.argsort(known, kind="stable") if order is None else order
    sorted_ids = known[order]
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == ids, order[at], -1)


def _render_column(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """A column of chat messages as text, by embrm's one rendering; text columns are kept."""
    if not isinstance(frame.schema[column], pl.List):
        return frame
    render = render_prompt if column == "prompt" else render_response
    texts = [render(m, f"{column}[{i}]") for i, m in enumerate(frame[column].to_list())]
    return frame.with_columns(pl.Series(column, texts, dtype=pl.String))


def _responses_frame(responses: ScoredResponses | pl.DataFrame) -> pl.DataFrame:
    frame = responses.frame if isinstance(responses, ScoredResponses) else responses
    if not isinstance(frame, pl.DataFrame):
        raise DataError(
            f"responses must be ScoredResponses or a polars DataFrame, got {type(responses).__name__}."
        )
    missing = [c for c in ("prompt", "response") if c not in frame.columns]
    if missing:
        raise DataError(
            f"A candidate pool needs columns 'prompt' and 'response' (and optionally 'prompt_id'); "
            f"missing {missing}, found {frame.columns}."
        )
    if frame.height == 0:
        raise DataError("The response table is empty: there are no candidate pairs to build.")
    frame = _render_column(_render_column(frame, "prompt"), "response")
    if "prompt_id" not in frame.columns:
        frame = frame.with_columns((pl.col("prompt").rank("dense").cast(pl.Int64) - 1).alias("prompt_id"))
    return frame


def _pool_from_indices(frame: pl.DataFrame, i: np.ndarray, j: np.ndarray) -> CandidatePool:
    prompts, responses = frame["prompt"].to_list(), frame["response"].to_list()
    keys = _content_keys(prompts, responses)
    keep = keys[i] != keys[j]  # identical (prompt, response): a self pair
    i, j = i[keep], j[keep]
    order = _earlier_keys(prompts, responses)
    swap = (order[i] > order[j]) | ((order[i] == order[j]) & (keys[i] > keys[j]))
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    pair_ids = _pair_ids(keys[a], keys[b], PAIR_ID_LENGTH)
    pool = pl.DataFrame(
        {
            "pair_id": pair_ids,
            "index_a": a,
            "index_b": b,
            "prompt_id_a": frame["prompt_id"].gather(a),
            "prompt_id_b": frame["prompt_id"].gather(b),
            "prompt_a": frame["prompt"].gather(a),
            "prompt_b": frame["prompt"].gather(b),
            "response_a": frame["response"].gather(a),
            "response_b": frame["response"].gather(b),
        }
    ).unique("pair_id", keep="first", maintain_order=True)
    if pool.height == 0:
        raise DataError(
            "No candidate pairs could be built: every prompt needs at least two different responses."
        )
    return CandidatePool(pool, frame.height)


def within_prompt_pool(
    responses: ScoredResponses | pl.DataFrame,
    pairs_per_prompt: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> CandidatePool:
    """Candidate pairs of two responses to the same prompt (the default pool).

    Parameters
    ----------
    responses : ScoredResponses or polars.DataFrame
        Columns ``prompt`` and ``response`` (``prompt_id`` optional: one id per distinct
        prompt by default). Scores, if any, are not read: the pool is unlabelled.
    pairs_per_prompt : int, optional
        Random pairs per prompt, without replacement; None takes all K(K-1)/2.
    random_state : int, RandomState or None, default 0
        Seeds the subset of pairs (keep it fixed across rounds so the pool stays the same).

    Returns
    -------
    CandidatePool

    Examples
    --------
    >>> import polars as pl
    >>> from embrm.active import within_prompt_pool
    >>> frame = pl.DataFrame({"prompt": ["q", "q", "q"], "response": ["x", "y", "z"]})
    >>> len(within_prompt_pool(frame))
    3
    """
    frame = _responses_frame(responses)
    i, j = within_group_index_pairs(
        frame["prompt_id"].to_numpy(), pairs_per_prompt, check_random_state(random_state)
    )
    return _pool_from_indices(frame, i, j)


def cross_prompt_pool(
    responses: ScoredResponses | pl.DataFrame,
    n_pairs: int,
    random_state: int | np.random.RandomState | None = 0,
) -> CandidatePool:
    """Candidate pairs of two responses to *different* prompts, drawn uniformly.

    Bradley-Terry on a golden score comparable across prompts makes these informative
    about the reward's offset between prompts; the annotator sees both prompts.

    Parameters
    ----------
    responses : ScoredResponses or polars.DataFrame
        As for :func:`within_prompt_pool`; at least two distinct prompts.
    n_pairs : int
        Pairs to draw (duplicates are dropped, so the pool may be a little smaller).
    random_state : int, RandomState or None, default 0

    Returns
    -------
    CandidatePool
    """
    frame = _responses_frame(responses)
    groups = frame["prompt_id"].to_numpy()
    if len(np.unique(groups)) < 2:
        raise DataError("Cross-prompt pairs need responses to at least two different prompts.")
    if n_pairs < 1:
        raise DataError(f"n_pairs must be a positive integer, got {n_pairs}.")
    rng = check_random_state(random_state)
    i = rng.randint(0, len(groups), size=2 * n_pairs)
    j = rng.randint(0, len(groups), size=2 * n_pairs)
    keep = np.flatnonzero(groups[i] != groups[j])[:n_pairs]
    return _pool_from_indices(frame, i[keep], j[keep])


def responses_from_pairs(pairs: PreferencePairs) -> ScoredResponses:
    """The answers of labelled pairs as a response table: the chosen answers (score 1) in
    pair order, then the rejected ones (score 0); ``prompt_id`` is the pair's position.

    ``within_prompt_pool`` of this table has exactly one candidate per pair, and a
    noiseless golden annotator on the scores reveals the stored label: the simulation of
    annotating an already-labelled set (e.g. hh-harmless). Rows line up with
    ``numpy.vstack(pairs.embed(encoder))``.
    """
    frame = pairs.frame
    n = frame.height
    ids = np.arange(n)
    return ScoredResponses(
        pl.DataFrame(
            {
                "prompt_id": np.concatenate([ids, ids]),
                "prompt": pl.concat([frame["prompt"], frame["prompt"]]),
                "response": pl.concat([frame["chosen"], frame["rejected"]]),
                "score": np.concatenate([np.ones(n), np.zeros(n)]),
            }
        ),
        name=pairs.name,
    )
