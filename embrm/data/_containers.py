"""Typed, validated containers for the two shapes of preference data, backed by polars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from embrm.exceptions import DataError


def _require_columns(frame: pl.DataFrame, required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} needs columns {list(required)}; missing {missing}. The data has "
            f"columns {frame.columns}: rename yours (for example "
            "`frame.rename({'question': 'prompt'})`) or pass a column mapping to the reader."
        )


def _require_text(frame: pl.DataFrame, columns: Sequence[str], what: str) -> pl.DataFrame:
    for col in columns:
        dtype = frame.schema[col]
        if dtype != pl.String:
            raise DataError(
                f"{what}: column '{col}' must hold text, got {dtype}. Render conversations "
                "with embrm.data.render_prompt / render_response (or read the file with "
                "embrm.data.read_pairs, which does), or cast the column to strings."
            )
        n_null = frame[col].null_count()
        if n_null:
            first = frame.with_row_index().filter(pl.col(col).is_null())["index"][0]
            raise DataError(
                f"{what}: column '{col}' has {n_null} missing values (first at row {first}). "
                "Drop those rows or fill them before building the data set."
            )
    return frame


class PreferencePairs:
    """Pairwise preference data: for each row, ``chosen`` is preferred over ``rejected``.

    Parameters
    ----------
    frame : polars.DataFrame
        Columns ``prompt``, ``chosen``, ``rejected`` (text). Optional: ``group`` (prompt
        ids for grouped splits; default: one group per distinct prompt), ``weight``
        (non-negative sample weight, e.g. a margin or annotator confidence). Other columns
        are kept as they are.
    name : str, optional
        A label for messages and reports.

    Raises
    ------
    DataError
        On missing columns, non-text or missing values, an empty set, negative weights, or
        pairs whose chosen and rejected answers are identical.
    """

    REQUIRED = ("prompt", "chosen", "rejected")

    def __init__(self, frame: pl.DataFrame, name: str | None = None):
        what = f"PreferencePairs{f' {name!r}' if name else ''}"
        _require_columns(frame, self.REQUIRED, what)
        if frame.height == 0:
            raise DataError(f"{what} is empty: it needs at least one pair.")
        _require_text(frame, self.REQUIRED, what)
        same = frame.with_row_index().filter(pl.col("chosen") == pl.col("rejected"))
        if same.height:
            raise DataError(
                f"{what}: {same.height} pairs have identical chosen and rejected answers "
                f"(first at row {same['index'][0]}); such a pair carries no preference. "
                "Drop them, e.g. `frame.filter(pl.col('chosen') != pl.col('rejected'))`."
            )
        if "weight" in frame.columns:
            weight = frame["weight"]
            if weight.null_count() or not weight.is_finite().all() or (weight < 0).any():
                raise DataError(f"{what}: column 'weight' must be finite and non-negative.")
        if "group" not in frame.columns:
            frame = frame.with_columns(pl.col("prompt").rank("dense").cast(pl.Int64).alias("group") - 1)
        self.frame = frame
        self.name = name

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        n_groups = self.frame["group"].n_unique()
        return f"PreferencePairs(name={self.name!r}, n_pairs={len(self)}, n_groups={n_groups})"

    @property
    def groups(self) -> np.ndarray:
        """Group id of each pair (the prompt, unless given)."""
        return self.frame["group"].to_numpy()

    @property
    def sample_weight(self) -> np.ndarray | None:
        """The ``weight`` column, or None."""
        return self.frame["weight"].to_numpy() if "weight" in self.frame.columns else None

    @property
    def label_error_rate(self) -> float | None:
        """The realised label error rate: the share of pairs whose label prefers the lower
        golden score (the mean of the ``flipped`` column that
        :func:`embrm.data.within_prompt_pairs` writes); None for pairs without a boolean
        ``flipped`` column."""
        if self.frame.schema.get("flipped") != pl.Boolean:
            return None
        return float(self.frame["flipped"].mean())

    def take(self, indices: np.ndarray) -> PreferencePairs:
        """The pairs at ``indices`` (integer positions), as a new container."""
        return PreferencePairs(self.frame[np.asarray(indices)], name=self.name)

    def gather(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``X`` for the chosen and for the rejected response of each pair.

        For pairs built from a scored set (:func:`embrm.data.within_prompt_pairs`), which
        record each response's row in that set as ``chosen_index`` and ``rejected_index``.

        Parameters
        ----------
        X : array of shape (n_responses, n_features)
            Embeddings row-aligned with the scored set the pairs were built from.

        Returns
        -------
        X_win, X_lose : ndarray of shape (n_pairs, n_features)

        Examples
        --------
        >>> import numpy as np, polars as pl
        >>> from embrm.data import ScoredResponses, within_prompt_pairs
        >>> scored = ScoredResponses(pl.DataFrame({"prompt_id": [0, 0], "prompt": ["q", "q"],
        ...                                        "response": ["a", "b"], "score": [0.0, 1.0]}))
        >>> X_win, X_lose = within_prompt_pairs(scored).gather(np.array([[10.0], [20.0]]))
        >>> X_win.tolist(), X_lose.tolist()
        ([[20.0]], [[10.0]])
        """
        missing = {"chosen_index", "rejected_index"} - set(self.frame.columns)
        if missing:
            raise DataError(
                "gather needs pairs built from a scored set (columns chosen_index and "
                "rejected_index); these pairs hold texts only: embed them with pairs.embed(encoder)."
            )
        win = self.frame["chosen_index"].to_numpy()
        lose = self.frame["rejected_index"].to_numpy()
        n_rows = X.shape[0]
        if len(win) and max(win.max(), lose.max()) >= n_rows:
            raise DataError(
                f"The pairs index rows up to {max(win.max(), lose.max())} but X has {n_rows} rows: "
                "pass the embeddings of the scored set the pairs were built from."
            )
        return X[win], X[lose]

    def embed(self, encoder) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of the chosen and of the rejected answers, row-aligned.

        Parameters
        ----------
        encoder : embrm.Encoder

        Returns
        -------
        X_win, X_lose : ndarray of shape (n_pairs, dim)
        """
        prompts = self.frame["prompt"].to_list()
        both = encoder.encode_responses(
            prompts + prompts, self.frame["chosen"].to_list() + self.frame["rejected"].to_list()
        )
        return both[: len(self)], both[len(self) :]


class ScoredResponses:
    """Many responses per prompt, each with a golden score (the golden-reward format).

    Parameters
    ----------
    frame : polars.DataFrame
        Columns ``prompt_id`` (integer), ``prompt``, ``response`` (text) and ``score``
        (finite float; higher is better, comparable within a prompt). Optional
        ``response_id`` (e.g. the model that wrote it) must be unique within a prompt.
    name : str, optional

    Raises
    ------
    DataError
        On missing columns, missing or non-finite values, an empty set, a prompt id used
        for two different prompts, or a duplicate (prompt_id, response_id).
    """

    REQUIRED = ("prompt_id", "prompt", "response", "score")

    def __init__(self, frame: pl.DataFrame, name: str | None = None):
        what = f"ScoredResponses{f' {name!r}' if name else ''}"
        _require_columns(frame, self.REQUIRED, what)
        if frame.height == 0:
            raise DataError(f"{what} is empty: it needs at least one response.")
        _require_text(frame, ("prompt", "response"), what)
        if not frame.schema["prompt_id"].is_integer():
            raise DataError(f"{what}: 'prompt_id' must be integers, got {frame.schema['prompt_id']}.")
        score = frame["score"].cast(pl.Float64, strict=False)
        if score.null_count() or not np.isfinite(score.to_numpy()).all():
            raise DataError(
                f"{what}: column 'score' must be finite numbers; found missing, NaN or "
                "infinite values. Clip probabilities before taking logits."
            )
        clash = frame.group_by("prompt_id").agg(pl.col("prompt").n_unique()).filter(pl.col("prompt") > 1)
        if clash.height:
            raise DataError(
                f"{what}: prompt_id {clash['prompt_id'][0]} names {clash['prompt'][0]} "
                f"different prompts ({clash.height} ids do). Each prompt_id must name one prompt."
            )
        if "response_id" in frame.columns:
            dup = frame.filter(pl.struct("prompt_id", "response_id").is_duplicated())
            if dup.height:
                raise DataError(
                    f"{what}: {dup.height} rows share a (prompt_id, response_id), first "
                    f"({dup['prompt_id'][0]}, {dup['response_id'][0]!r}). Ids must be unique."
                )
        self.frame = frame.with_columns(score.alias("score"))
        self.name = name

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        return (
            f"ScoredResponses(name={self.name!r}, n_responses={len(self)}, "
            f"n_prompts={self.frame['prompt_id'].n_unique()})"
        )

    @property
    def groups(self) -> np.ndarray:
        """The prompt id of each response."""
        return self.frame["prompt_id"].to_numpy()

    @property
    def scores(self) -> np.ndarray:
        """The golden score of each response."""
        return self.frame["score"].to_numpy()

    def take(self, indices: np.ndarray) -> ScoredResponses:
        """The responses at ``indices`` (integer positions), as a new container."""
        return ScoredResponses(self.frame[np.asarray(indices)], name=self.name)

    def filter_prompts(self, prompt_ids: Sequence[int]) -> ScoredResponses:
        """Only the responses of ``prompt_ids``."""
        return ScoredResponses(self.frame.filter(pl.col("prompt_id").is_in(list(prompt_ids))), name=self.name)

    def embed(self, encoder) -> np.ndarray:
        """Embeddings of every response with its prompt, shape (n_responses, dim)."""
        return encoder.encode_responses(self.frame["prompt"].to_list(), self.frame["response"].to_list())
