"""An annotation round: one query file in its own folder, its id and its annotators' label logs.

Layout of a round folder::

    ROUND/queries.csv               the pairs to label (written by `embrm select`)
    ROUND/annotations/round.json    the round's id and the query file's name
    ROUND/annotations/<name>.jsonl  one append-only label log per annotator

Nothing of a round is ever written outside its folder.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import polars as pl

from embrm._core.files import atomic_write_text, file_lock, write_frame
from embrm.active import is_labels_file, read_queries
from embrm.annotate._log import LabelLog
from embrm.exceptions import DataError

#: The folder of a round that holds its id and its label logs.
LOG_FOLDER = "annotations"
ROUND_FILE = "round.json"


class AnnotationRound:
    """One round of annotation: the query file, the folder it is in, and the labels given.

    Parameters
    ----------
    queries : path
        The round's query file (``embrm select --out``); its folder is the round's folder and
        holds no other round.

    Attributes
    ----------
    folder : Path
        The round's folder.
    round_id : str
        A random id given when the round is first opened; files written for annotation
        tools carry it, and a file from another round is refused.
    log : LabelLog
        The annotators' label logs.

    Example
    -------
    >>> import pathlib, tempfile, polars as pl
    >>> from embrm.active import write_queries
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> queries = pl.DataFrame({"pair_id": ["p1"], "prompt": ["q"], "response_a": ["x"],
    ...                         "response_b": ["y"], "label": [None]})
    >>> r = AnnotationRound(write_queries(queries, folder / "queries.csv"))
    >>> _ = r.log.append("alice", "p1", "b")
    >>> r.progress("alice")
    (1, 1, None)
    """

    def __init__(self, queries: str | os.PathLike[str]) -> None:
        self.queries_path = Path(queries).resolve()
        if not self.queries_path.is_file():
            raise DataError(f"Query file {str(queries)!r} does not exist; write one with `embrm select`.")
        self.folder = self.queries_path.parent
        self.log = LabelLog(self.folder / LOG_FOLDER)
        self.round_id = self._round_id()
        self._cache: tuple[tuple[int, int], pl.DataFrame] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> AnnotationRound:
        """The round of a query file, or of a round folder (its ``round.json``, else its one
        query file)."""
        path = Path(path)
        if not path.is_dir():
            return cls(path)
        record = path / LOG_FOLDER / ROUND_FILE
        if record.exists():
            return cls(path / _read_record(record)["queries"])
        found = [p for p in sorted(path.iterdir()) if p.is_file() and is_labels_file(p)]
        if len(found) != 1:
            what = "no query file" if not found else f"{len(found)} query files"
            raise DataError(
                f"{str(path)!r} is a folder with {what}; a round's folder holds its one query file "
                "(embrm select --out ROUND/queries.csv). Give a labels file, or the query file itself."
            )
        return cls(found[0])

    def _round_id(self) -> str:
        record = self.folder / LOG_FOLDER / ROUND_FILE
        record.parent.mkdir(exist_ok=True)
        with file_lock(record, what="the round's record"):
            if record.exists():
                known = _read_record(record)
                if known["queries"] != self.queries_path.name:
                    raise DataError(
                        f"{self.folder} is the round of {known['queries']!r}, not of "
                        f"{self.queries_path.name!r}: put each round's query file in its own folder."
                    )
                return known["round_id"]
            round_id = secrets.token_hex(8)
            text = json.dumps({"round_id": round_id, "queries": self.queries_path.name}) + "\n"
            atomic_write_text(record, text, what="the round's record")
            return round_id

    def queries(self) -> pl.DataFrame:
        """The round's pairs, in order (re-read when the query file changes)."""
        stat = self.queries_path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != key:
            frame = read_queries(self.queries_path)
            if frame["pair_id"].is_duplicated().any():
                raise DataError(f"{self.queries_path}: a pair id appears twice; keep one row per pair.")
            self._cache = (key, frame)
        return self._cache[1]

    def pair_ids(self) -> list[str]:
        """The round's pair ids, in the query file's order."""
        return self.queries()["pair_id"].to_list()

    def progress(self, annotator: str) -> tuple[int, int, int | None]:
        """``(labelled, total, next_row)`` for ``annotator``: the row of the first pair they
        have not labelled (None when every pair is)."""
        done = self.log.standing(annotator)
        ids = self.pair_ids()
        next_row = next((i for i, pair_id in enumerate(ids) if pair_id not in done), None)
        return sum(pair_id in done for pair_id in ids), len(ids), next_row

    def votes(self) -> pl.DataFrame:
        """Every annotator's standing labels, as logged (see :meth:`LabelLog.labels`; the page
        logs only the round's pairs, :meth:`check_pairs` checks any other source)."""
        return self.log.labels()

    def check_pairs(self, pair_ids: list[Any], source: str, round_id: str | None = None) -> None:
        """Refuse labels from ``source`` that belong to another round or pool."""
        if round_id is not None and round_id != self.round_id:
            raise DataError(
                f"{source} belongs to round {round_id!r}, not to this round ({self.round_id!r}, "
                f"{self.queries_path.name}): give the file exported for this round."
            )
        known = set(self.pair_ids())
        unknown = [p for p in pair_ids if p not in known]
        if unknown:
            raise DataError(
                f"{source}: {len(unknown)} pair ids are not in this round's query file (first: "
                f"{unknown[0]!r}); it was written for another round or pool."
            )

    def add_queries(self, queries: pl.DataFrame) -> int:
        """Append the pairs of ``queries`` the round does not hold yet to its query file
        (atomically, under the file's lock); returns how many were added."""
        with file_lock(self.queries_path, what="the query file"):
            existing = read_queries(self.queries_path)
            new = queries.filter(~pl.col("pair_id").is_in(existing["pair_id"].implode()))
            missing = [c for c in existing.columns if c != "label" and c not in new.columns]
            if (
                missing
                or new.select(pl.exclude("label", "prompt_id_b", "prompt_b")).null_count().sum_horizontal()[0]
            ):
                raise DataError(
                    f"The new pairs for {self.queries_path.name} lack {missing or 'some values'}; "
                    "nothing was added (the pool must be the round's, with the same columns)."
                )
            if new.height:
                write_frame(
                    pl.concat([existing, new], how="diagonal_relaxed"),
                    self.queries_path,
                    what="the query file",
                )
        return new.height


def check_no_round_labels(queries: str | os.PathLike[str]) -> None:
    """Raise a :class:`DataError` if ``queries`` is the query file of a round whose
    annotators have labelled it (its logs would then name pairs a new file may not hold).

    Example
    -------
    >>> import pathlib, tempfile
    >>> check_no_round_labels(pathlib.Path(tempfile.mkdtemp()) / "queries.csv")  # no round there
    """
    path = Path(queries)
    record = path.parent / LOG_FOLDER / ROUND_FILE
    if not record.exists() or _read_record(record)["queries"] != path.name:
        return
    if any(p.stat().st_size for p in record.parent.glob("*.jsonl")):
        raise DataError(
            f"{path} is the query file of a round that annotators have labelled "
            f"({record.parent}); write the new queries to a new round folder."
        )


def _read_record(path: Path) -> dict[str, str]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record["round_id"], str) and isinstance(record["queries"], str):
            name = Path(record["queries"]).name
            if name == record["queries"]:
                return record
    except (ValueError, KeyError, TypeError):
        pass
    raise DataError(f"{path} is not a round record; restore it or delete the file to start a new round id.")
