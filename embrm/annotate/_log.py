"""The label log: every label an annotator gives, durable the moment it is given.

One append-only JSON Lines file per annotator; each event is written whole, flushed and
``fsync``-ed before it is acknowledged. ``kill -9`` can only tear the line being written,
which was never acknowledged: reading ignores it, and the next append cuts it off first.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import polars as pl

from embrm._core.files import file_lock, fsync_folder
from embrm.exceptions import DataError

#: What an annotator can say about a pair: ``a`` or ``b`` is better, a tie, or skip it.
LABEL_VALUES = ("a", "b", "tie", "skip")
#: The event that takes back the annotator's latest label still standing.
UNDO = "undo"
#: The columns of :meth:`LabelLog.labels` (one row per pair and annotator).
VOTE_COLUMNS = ("pair_id", "annotator", "label")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_annotator(name: Any) -> str:
    """``name`` if it is a valid annotator name (letters, digits, ``_ . -``, 1 to 64
    characters, starting with a letter or digit), else a :class:`DataError`.

    Example
    -------
    >>> check_annotator("ann-1")
    'ann-1'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DataError(
            f"Annotator name {name!r} is not valid: use 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (for example 'alice')."
        )
    return name


class LabelLog:
    """The append-only label logs of one round: ``<folder>/<annotator>.jsonl``.

    Parameters
    ----------
    folder : path
        Where the logs live (created on the first label).

    Example
    -------
    >>> import tempfile
    >>> log = LabelLog(tempfile.mkdtemp())
    >>> _ = log.append("alice", "p1", "a")
    >>> _ = log.append("alice", "p2", "tie")
    >>> _ = log.append("alice", None, "undo")
    >>> log.labels()["label"].to_list()
    ['a']
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, annotator: str) -> Path:
        """The log file of ``annotator``."""
        return self.folder / f"{check_annotator(annotator)}.jsonl"

    def annotators(self) -> list[str]:
        """Annotators with a log, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.jsonl") if _NAME.fullmatch(p.stem))

    def append(
        self, annotator: str, pair_id: str | None, label: str, seconds: float | None = None
    ) -> dict[str, Any]:
        """Append one event (a label, or ``undo`` with ``pair_id`` None) and make it durable.

        Returns the event as written. Raises a :class:`DataError` for an unknown label.
        """
        if label not in (*LABEL_VALUES, UNDO):
            raise DataError(f"Label {label!r} is not one of {[*LABEL_VALUES, UNDO]}.")
        if label != UNDO and not (isinstance(pair_id, str) and pair_id):
            raise DataError(f"A label needs the pair's id, got {pair_id!r}.")
        event = {"pair_id": pair_id if label != UNDO else None, "label": label, "annotator": annotator}
        event["at"] = round(time.time(), 3)
        if seconds is not None:
            event["seconds"] = round(float(seconds), 3)
        path = self.path(annotator)
        self.folder.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
        with file_lock(path, what=f"the label log of {annotator!r}"):
            new = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                _cut_torn_tail(fd)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                fsync_folder(self.folder)
        return event

    def events(self, annotator: str) -> list[dict[str, Any]]:
        """The events of ``annotator``'s log in order (a torn last line is ignored)."""
        path = self.path(annotator)
        if not path.exists():
            return []
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines:
            lines.pop()  # no newline at the end: a line torn by a crash, never acknowledged
        events = []
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except ValueError:
                raise DataError(
                    f"{path}: line {number} is not a label event (the log was edited by hand?). "
                    "Restore that line or delete it; no other line is affected."
                ) from None
            if not isinstance(event, dict) or event.get("label") not in (*LABEL_VALUES, UNDO):
                raise DataError(f"{path}: line {number} is not a label event: {line[:80]!r}.")
            events.append(event)
        return events

    def standing(self, annotator: str) -> dict[str, dict[str, Any]]:
        """``annotator``'s labels after undo, by pair id, in the order they were given."""
        stack: list[dict[str, Any]] = []
        for event in self.events(annotator):
            if event["label"] == UNDO:
                if stack:
                    stack.pop()
            else:
                stack.append(event)
        labels: dict[str, dict[str, Any]] = {}
        for event in stack:
            labels.pop(event["pair_id"], None)
            labels[event["pair_id"]] = event
        return labels

    def labels(self) -> pl.DataFrame:
        """Every annotator's standing labels: one row per (pair, annotator), columns
        ``pair_id``, ``annotator``, ``label`` (``a``, ``b``, ``tie`` or ``skip``), ``seconds``."""
        rows = [
            {"pair_id": e["pair_id"], "annotator": name, "label": e["label"], "seconds": e.get("seconds")}
            for name in self.annotators()
            for e in self.standing(name).values()
        ]
        schema = {"pair_id": pl.String, "annotator": pl.String, "label": pl.String, "seconds": pl.Float64}
        return pl.DataFrame(rows, schema=schema)


def _cut_torn_tail(fd: int) -> None:
    """Truncate a log whose last line has no newline (torn by a crash) back to the last newline."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    if os.pread(fd, 1, size - 1) == b"\n":
        return
    start = max(0, size - (1 << 16))
    while True:
        chunk = os.pread(fd, size - start, start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            os.ftruncate(fd, start + at + 1)
            return
        if start == 0:
            os.ftruncate(fd, 0)
            return
        start = max(0, start - (1 << 16))
