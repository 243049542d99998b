"""Real annotation rounds: write the pairs to annotate, read the filled files back, merge
labels by pair id, and turn them into training pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from embrm._core.files import file_lock, write_frame
from embrm._core.validation import check_output_file
from embrm.active._pools import CandidatePool
from embrm.active._strategies import STRATEGIES, BaseStrategy, default_strategy, seeded
from embrm.data import PreferencePairs, peek_columns, read_table
from embrm.exceptions import DataError

#: Columns of a query file; annotators fill ``label`` with ``a`` or ``b`` (the better response).
QUERY_COLUMNS = ("pair_id", "prompt_id", "prompt", "response_a", "response_b", "label")
LABELS = ("a", "b")
_FORMATS = (".csv", ".jsonl", ".parquet")


def _check_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(f"{path.name}: a query or labels file must end in .csv, .jsonl or .parquet.")
    return suffix


#: The rule of each column of a query or labels file (see :func:`embrm.data.read_table`).
LABEL_COLUMN_RULES = {
    "pair_id": "id",
    "prompt_id": "id",
    "prompt_id_b": "id",
    "prompt": "text",
    "prompt_b": "text",
    "response_a": "text",
    "response_b": "text",
    "label": "text?",
}


def _read(path: str | os.PathLike) -> pl.DataFrame:
    """A query or labels file, read and checked by the data readers (``pair_id`` as text)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a query or labels file (.csv, .jsonl or .parquet).")
    _check_format(path)
    if not path.exists():
        raise DataError(f"Labels file {str(path)!r} does not exist.")
    frame = read_table(path, LABEL_COLUMN_RULES, ("pair_id", "label"), "a query or labels file")
    return frame.with_columns(pl.col("pair_id", "label").cast(pl.String))


def read_queries(path: str | os.PathLike) -> pl.DataFrame:
    """Every row of a query or labels file (CSV, JSONL or Parquet), labelled or not, checked
    by the data readers; ``pair_id`` and ``label`` as text.

    Example
    -------
    >>> import pathlib, tempfile
    >>> queries = pl.DataFrame({"pair_id": ["7"], "response_a": ["x"], "response_b": ["y"], "label": [None]})
    >>> read_queries(write_queries(queries, pathlib.Path(tempfile.mkdtemp()) / "q.csv"))["pair_id"].to_list()
    ['7']
    """
    return _read(path)


def is_labels_frame(frame: pl.DataFrame) -> bool:
    """Whether a frame is a query/labels file (columns pair_id, response_a, response_b, label)."""
    return {"pair_id", "response_a", "response_b", "label"} <= set(frame.columns)


def _check_labels(frame: pl.DataFrame, what: str) -> pl.DataFrame:
    if not {"pair_id", "label"} <= set(frame.columns):
        raise DataError(f"{what} needs columns 'pair_id' and 'label'; found {frame.columns}.")
    frame = frame.with_columns(pl.col("label").str.strip_chars().str.to_lowercase())
    frame = frame.filter(pl.col("label").is_not_null() & (pl.col("label") != ""))
    bad = frame.filter(~pl.col("label").is_in(LABELS))
    if bad.height:
        raise DataError(
            f"{what}: {bad.height} labels are not 'a' or 'b' (first: pair {bad['pair_id'][0]!r} "
            f"labelled {bad['label'][0]!r}). Write 'a' when response_a is better, 'b' when "
            "response_b is, and leave the cell empty to skip a pair."
        )
    conflict = frame.group_by("pair_id").agg(pl.col("label").n_unique().alias("n")).filter(pl.col("n") > 1)
    if conflict.height:
        raise DataError(
            f"{what}: {conflict.height} pairs have conflicting labels (first: "
            f"{conflict['pair_id'][0]!r}). Keep one label per pair id and try again; nothing "
            "was written."
        )
    return frame.unique("pair_id", keep="first", maintain_order=True)


def read_labels(path: str | os.PathLike) -> pl.DataFrame:
    """The labelled rows of a filled query file (CSV, JSONL or Parquet).

    Rows with an empty ``label`` are skipped (not annotated yet); labels are ``a`` or ``b``
    (case and spaces ignored). Raises a :class:`~embrm.exceptions.DataError` on other
    values or on one pair id with two different labels.
    """
    return _check_labels(_read(path), Path(path).name)


def merge_labels(*labels: pl.DataFrame) -> pl.DataFrame:
    """Union of labels frames by ``pair_id`` (the first occurrence's columns are kept).

    A pair id labelled differently in two frames is an error, so no label is ever silently
    overwritten.
    """
    frames = [f for f in labels if f is not None and f.height]
    if not frames:
        return pl.DataFrame(schema={c: pl.String for c in QUERY_COLUMNS})
    return _check_labels(pl.concat(frames, how="diagonal_relaxed"), "The merged labels")


def labelled_pairs(labels: pl.DataFrame, name: str | None = None) -> PreferencePairs:
    """Labels (a filled query file) as preference pairs for training: ``chosen`` is the
    response the annotator preferred; ``group`` is the prompt id.

    A round merged by the ``all`` rule (``embrm merge-labels ROUND --rule all``: columns
    ``rule`` and ``p_a``) gives every voted pair twice, a over b with weight ``p_a`` and b
    over a with weight ``1 - p_a`` (a ``weight`` column), ties and split votes included.
    """
    if "rule" in labels.columns and "p_a" in labels.columns and (labels["rule"] == "all").any():
        return _weighted_pairs(labels, name)
    labels = _check_labels(labels, name or "labels")
    if labels.height == 0:
        raise DataError("No labelled pairs: fill the 'label' column with 'a' or 'b' first.")
    a = pl.col("label") == "a"
    frame = labels.select(
        pl.col("prompt"),
        pl.when(a).then(pl.col("response_a")).otherwise(pl.col("response_b")).alias("chosen"),
        pl.when(a).then(pl.col("response_b")).otherwise(pl.col("response_a")).alias("rejected"),
        pl.col("prompt_id").alias("group") if "prompt_id" in labels.columns else pl.lit(None).alias("_"),
        pl.col("pair_id"),
    )
    return PreferencePairs(frame.drop("_", strict=False), name=name)


def _weighted_pairs(labels: pl.DataFrame, name: str | None) -> PreferencePairs:
    """Both orientations of each voted pair of an ``all`` merge, weighted by the votes."""
    if (labels["rule"] != "all").any():
        raise DataError(
            f"{name or 'labels'}: a merged file holds one rule; found {labels['rule'].unique().to_list()}."
        )
    p_a = pl.col("p_a").cast(pl.Float64, strict=False)
    voted = labels.filter(p_a.is_not_null() & pl.col("status").is_in(["agreed", "split", "tie"]))
    if voted.height == 0:
        raise DataError(f"{name or 'labels'}: no voted pairs to train on.")
    group = [pl.col("prompt_id").alias("group")] if "prompt_id" in labels.columns else []
    a_wins = voted.select(
        "prompt", pl.col("response_a").alias("chosen"), pl.col("response_b").alias("rejected"),
        *group, "pair_id", p_a.alias("weight"),
    )  # fmt: skip
    b_wins = voted.select(
        "prompt", pl.col("response_b").alias("chosen"), pl.col("response_a").alias("rejected"),
        *group, "pair_id", (1 - p_a).alias("weight"),
    )  # fmt: skip
    frame = pl.concat([a_wins, b_wins]).filter(pl.col("weight") > 0)
    return PreferencePairs(frame, name=name)


def select_queries(
    pool: CandidatePool,
    X: np.ndarray,
    budget: int,
    *,
    strategy: BaseStrategy | str | None = None,
    labels: pl.DataFrame | None = None,
    head: Any = None,
    random_state: int | np.random.RandomState | None = 0,
) -> pl.DataFrame:
    """The next ``budget`` pairs to annotate, as a query frame with an empty ``label`` column.

    Parameters
    ----------
    pool : CandidatePool
    X : ndarray of shape (pool.n_responses, d)
        Embeddings of the pool's response table.
    budget : int
        Pairs to propose.
    strategy : BaseStrategy or str, optional
        A strategy or its name in :data:`STRATEGIES`; None: :func:`default_strategy`
        (V-optimal on unit-length differences).
    labels : polars.DataFrame, optional
        Labels so far (:func:`read_labels` / :func:`merge_labels`); these pairs are never
        proposed again. Every id must be in the pool.
    head : fitted head, optional
        Gives ``p``; default a :class:`~embrm.heads.BTLinear` fitted on ``labels`` (none
        without labels: uniform outcome variance).
    random_state : int, RandomState or None, default 0
        Seeds a strategy that has no ``random_state`` of its own (a name, None, or a
        strategy built without one); a strategy's own seed wins. Same pool, labels and seed
        give the same queries.

    Returns
    -------
    polars.DataFrame
        Columns ``pair_id``, ``prompt_id``, ``prompt``, ``response_a``, ``response_b``,
        ``label`` (empty), plus ``prompt_id_b`` and ``prompt_b`` for cross-prompt pairs.
    """
    if strategy is None:
        strategy = default_strategy()
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise DataError(f"Unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}.")
        strategy = STRATEGIES[strategy]()
    strategy = seeded(strategy, random_state)
    if not isinstance(budget, int | np.integer) or budget < 1:
        raise DataError(f"budget must be a positive integer, got {budget!r}.")
    D = pool.differences(X)
    labelled = None
    if labels is not None and labels.height:
        labels = _check_labels(labels, "labels")
        rows = pool.positions(labels["pair_id"].to_numpy())
        a_wins = (labels["label"] == "a").to_numpy()
        labelled = np.where(a_wins[:, None], D[rows], -D[rows])
        if head is None and len(rows) >= 2:
            from embrm.heads import BTLinear

            win = np.where(a_wins, pool.index_a[rows], pool.index_b[rows])
            lose = np.where(a_wins, pool.index_b[rows], pool.index_a[rows])
            head = BTLinear().fit(X[win], X[lose])
    if budget > len(pool):
        raise DataError(
            f"budget={budget} is larger than the pool ({len(pool)} candidate pairs): lower the "
            "budget or build a larger pool (more responses, more pairs per prompt)."
        )
    chosen = strategy.select(
        D,
        labelled=labelled,
        head=head,
        batch_size=budget,
        groups=pool.frame["prompt_id_a"].to_numpy(),
    )
    picked = pool.frame[chosen]
    columns = [
        pl.col("pair_id"),
        pl.col("prompt_id_a").alias("prompt_id"),
        pl.col("prompt_a").alias("prompt"),
        pl.col("response_a"),
        pl.col("response_b"),
    ]
    if (picked["prompt_id_a"] != picked["prompt_id_b"]).any():
        columns += [pl.col("prompt_id_b"), pl.col("prompt_b")]
    return picked.select(columns).with_columns(pl.lit(None, dtype=pl.String).alias("label"))


def is_labels_file(path: str | os.PathLike) -> bool:
    """Whether a file is a query/labels file written by :func:`write_queries`, told from its
    header, first line or schema (:func:`embrm.data.peek_columns`)."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        return False
    columns = peek_columns(path)
    return columns is not None and is_labels_frame(pl.DataFrame(schema={c: pl.String for c in columns}))


def _check_output(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    _check_format(path)
    return check_output_file(path, what)


def _n_labelled(frame: pl.DataFrame) -> int:
    """Rows with a non-empty ``label`` cell (valid or not)."""
    if "label" not in frame.columns:
        return 0
    label = pl.col("label").cast(pl.String).str.strip_chars()
    return frame.filter(label.is_not_null() & (label != "")).height


def write_queries(queries: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write a query frame to CSV, JSONL or Parquet (by suffix), atomically.

    Refuses to replace a file that already holds labels (write elsewhere, or merge with
    :func:`write_labels`); the check and the write happen under the file's lock, so a
    concurrent :func:`write_labels` cannot slip labels in between.

    Example
    -------
    >>> import pathlib, tempfile
    >>> queries = pl.DataFrame({"pair_id": ["7"], "response_a": ["x"], "response_b": ["y"], "label": [None]})
    >>> path = write_queries(queries, pathlib.Path(tempfile.mkdtemp()) / "round1.csv")
    >>> path.read_text().splitlines()
    ['pair_id,response_a,response_b,label', '7,x,y,']
    """
    path = _check_output(path, "the query file")
    with file_lock(path, what="the query file"):
        check_holds_no_labels(path)
        return _write(queries, path, what="the query file")


def check_holds_no_labels(path: str | os.PathLike) -> None:
    """Raise a :class:`~embrm.exceptions.DataError` if the file at ``path`` holds labels
    (a query file of :func:`write_queries` may replace it only when it does not)."""
    path = Path(path)
    if path.exists() and _n_labelled(_read(path)):
        raise DataError(
            f"{path} already holds labels; write the new queries to another file (labels "
            "are never overwritten)."
        )


def unlabelled_rows(path: str | os.PathLike) -> int:
    """How many rows of the query or labels file at ``path`` are still to annotate (an empty
    ``label``); 0 for a file that does not exist."""
    path = Path(path)
    if not path.exists():
        return 0
    frame = _read(path)
    return frame.height - _n_labelled(frame) if "label" in frame.columns else 0


def write_labels(labels: pl.DataFrame, path: str | os.PathLike) -> pl.DataFrame:
    """Merge ``labels`` into the labels file at ``path`` (created if absent) and return the
    labelled rows of the result.

    Labels already in the file are kept, and a conflicting label is an error (the file is
    then left as it was). Every row of an existing file is kept, labelled or not: merging
    into a query file fills in the ``label`` of its rows by ``pair_id``, keeps its
    unannotated rows (empty ``label``) and its columns, and appends the labelled pairs it
    did not hold. A new file holds only labelled rows.

    The update is a read-merge-write under the file's lock, and the new content replaces
    the old atomically: concurrent merges into one file lose no label, and a crash or a
    full disk leaves the old file or the new one, never a torn one.

    Example
    -------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "round2.csv"
    >>> queue = pl.DataFrame({"pair_id": ["1", "2"], "response_a": ["x", "u"], "response_b": ["y", "v"]})
    >>> _ = write_queries(queue.with_columns(pl.lit(None, pl.String).alias("label")), path)
    >>> write_labels(pl.DataFrame({"pair_id": ["2"], "label": ["b"]}), path)["pair_id"].to_list()
    ['2']
    >>> path.read_text().splitlines()  # pair 1 is still to annotate
    ['pair_id,response_a,response_b,label', '1,x,y,', '2,u,v,b']
    """
    path = _check_output(path, "the labels file")
    text = [pl.col(c).cast(pl.String) for c in ("pair_id", "label") if c in labels.columns]
    new = merge_labels(labels.with_columns(text))
    with file_lock(path, what="the labels file"):
        if path.exists():
            existing = _read(path)
            known = _check_labels(existing, path.name)  # names the file if its labels are bad
            merge_labels(known, new)  # a conflict raises before anything is written
            frame = _fill_labels(existing, new)
        else:
            frame = new
        _write(frame, path, what="the labels file")
    return _check_labels(frame, path.name)


def _fill_labels(existing: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """``existing`` (every row, in order) with the empty labels of ``new``'s pair ids filled
    in, then ``new``'s pairs it does not hold; labels are written as ``a``/``b``."""
    label = pl.col("label").cast(pl.String).str.strip_chars().str.to_lowercase()
    existing = existing.with_columns(pl.when(label != "").then(label).alias("label"))
    fill = new.select("pair_id", pl.col("label").alias("_new_label"))
    filled = (
        existing.join(fill, on="pair_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("label", "_new_label").alias("label"))
        .drop("_new_label")
    )
    added = new.filter(~pl.col("pair_id").is_in(existing["pair_id"].drop_nulls().implode()))
    return pl.concat([filled, added], how="diagonal_relaxed") if added.height else filled


def _write(frame: pl.DataFrame, path: Path, what: str = "the labels file") -> Path:
    return write_frame(frame, path, what=what)
