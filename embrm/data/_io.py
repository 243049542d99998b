"""Readers for Parquet, JSONL and CSV preference files, including TRL's preference format."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from ..exceptions import DataError
from ._containers import PreferencePairs, ScoredResponses

_READERS = {
    ".parquet": pl.read_parquet,
    ".jsonl": pl.read_ndjson,
    ".ndjson": pl.read_ndjson,
    ".csv": pl.read_csv,
}


def render_conversation(messages: list[dict]) -> str:
    """Render a list of chat messages as text, the one way embrm does it.

    Each message becomes ``"{Role}: {content}"`` (role capitalised, so ``user`` reads
    ``User``) and messages are joined by a blank line. A single assistant message renders
    as its bare content, so a TRL completion ``[{"role": "assistant", "content": "Hi"}]``
    is the response text ``"Hi"``.

    Parameters
    ----------
    messages : list of dict
        Each with ``role`` and ``content``.

    Returns
    -------
    str
    """
    if len(messages) == 1 and messages[0].get("role") == "assistant":
        return str(messages[0]["content"])
    return "\n\n".join(f"{str(m['role']).capitalize()}: {m['content']}" for m in messages)


def _read_frame(path: str | os.PathLike) -> pl.DataFrame:
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"Cannot read {path}: unknown file type {path.suffix!r}. Use one of {sorted(_READERS)}."
        )
    if not path.is_file():
        raise FileNotFoundError(f"No such data file: {path}")
    return reader(path)


def _rename(frame: pl.DataFrame, columns: Mapping[str, str] | None) -> pl.DataFrame:
    if not columns:
        return frame
    unknown = [src for src in columns if src not in frame.columns]
    if unknown:
        raise DataError(
            f"Column mapping names {unknown}, which the data does not have; it has {frame.columns}."
        )
    return frame.rename(dict(columns))


def _conversation_to_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    dtype = frame.schema[column]
    if isinstance(dtype, pl.List):
        return frame.with_columns(
            pl.Series(column, [render_conversation(m) for m in frame[column].to_list()])
        )
    return frame


def _strip_implicit_prompt(frame: pl.DataFrame) -> pl.DataFrame:
    """TRL's implicit-prompt conversational format: the prompt is the shared prefix."""
    prompts, chosen, rejected = [], [], []
    for c, r in zip(frame["chosen"].to_list(), frame["rejected"].to_list(), strict=True):
        k = 0
        while k < min(len(c), len(r)) - 1 and c[k] == r[k]:
            k += 1
        prompts.append(render_conversation(c[:k]))
        chosen.append(render_conversation(c[k:]))
        rejected.append(render_conversation(r[k:]))
    return frame.with_columns(
        pl.Series("prompt", prompts), pl.Series("chosen", chosen), pl.Series("rejected", rejected)
    )


def pairs_from_frame(
    frame: pl.DataFrame, columns: Mapping[str, str] | None = None, name: str | None = None
) -> PreferencePairs:
    """Build :class:`PreferencePairs` from a frame in embrm's or TRL's preference format.

    Parameters
    ----------
    frame : polars.DataFrame
        ``prompt``/``chosen``/``rejected`` as strings or as TRL conversational message
        lists. Without a ``prompt`` column, conversational ``chosen``/``rejected`` are split
        at their shared prefix (TRL's implicit prompt).
    columns : mapping, optional
        Renames applied first, e.g. ``{"question": "prompt"}``.
    name : str, optional

    Returns
    -------
    PreferencePairs

    Examples
    --------
    >>> import polars as pl
    >>> from embrm.data import pairs_from_frame
    >>> frame = pl.DataFrame({"question": ["2+2?"], "chosen": ["4"], "rejected": ["5"]})
    >>> pairs = pairs_from_frame(frame, columns={"question": "prompt"})
    >>> len(pairs), pairs.frame["chosen"].to_list()
    (1, ['4'])
    """
    frame = _rename(frame, columns)
    if "prompt" not in frame.columns and all(
        isinstance(frame.schema.get(c), pl.List) for c in ("chosen", "rejected")
    ):
        frame = _strip_implicit_prompt(frame)
    for col in ("prompt", "chosen", "rejected"):
        if col in frame.columns:
            frame = _conversation_to_text(frame, col)
    return PreferencePairs(frame, name=name)


def read_pairs(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> PreferencePairs:
    """Read preference pairs from a Parquet, JSONL or CSV file (see :func:`pairs_from_frame`).

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> from embrm.data import read_pairs
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.jsonl"
    >>> pl.DataFrame({"prompt": ["hi"], "chosen": ["hello"], "rejected": ["go away"]}).write_ndjson(path)
    >>> read_pairs(path).frame["rejected"].to_list()
    ['go away']
    """
    return pairs_from_frame(_read_frame(path), columns, name=Path(path).stem)


def read_scored(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> ScoredResponses:
    """Read scored responses (``prompt_id``, ``prompt``, ``response``, ``score``) from a file."""
    return ScoredResponses(_rename(_read_frame(path), columns), name=Path(path).stem)


def read_any(path: str | os.PathLike) -> PreferencePairs | ScoredResponses:
    """Read a file as pairs if it has ``chosen``/``rejected``, else as scored responses."""
    frame = _read_frame(path)
    if {"chosen", "rejected"} <= set(frame.columns):
        return pairs_from_frame(frame, name=Path(path).stem)
    return ScoredResponses(frame, name=Path(path).stem)
