"""The files of the annotation tools teams already use, written for a round and read back as
votes (one row per pair and annotator).

- ``label-studio``: tasks for Label Studio's ``Pairwise`` template (an import JSON list of
  ``{"data": {...}}``); its JSON export is read back: per task, ``annotations[]`` with
  ``completed_by``, ``was_cancelled`` and ``result[].value.selected`` = ``left`` (answer a) or
  ``right`` (answer b). A cancelled annotation is a skip.
- ``argilla``: records for Argilla's ranking task (fields ``instruction``, ``response1``,
  ``response2``, question ``ranking``) as JSON Lines; its flattened export is read back:
  ``id``, ``ranking.responses`` (one ranking per annotator, best first: a list of names, or
  of ``{"value", "rank"}`` where equal ranks are a tie), ``ranking.responses.users`` and
  ``ranking.responses.status`` (``discarded`` is a skip, drafts are not read).
- ``table``: CSV or JSONL with one row per (pair, annotator): ``pair_id``, ``round_id``,
  ``annotator``, ``label`` (a, b, tie or skip; empty rows are not labelled yet).

Every file carries the round's id (Label Studio: ``data.round_id``; Argilla: the record id
``<round_id>_<pair_id>``; table: ``round_id``), so a file of another round is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from embrm._core.files import atomic_write_text, write_frame
from embrm.annotate._round import AnnotationRound
from embrm.data import read_table
from embrm.exceptions import DataError

TOOLS = ("label-studio", "argilla", "table")
#: Label Studio's labelling config for the tasks of :func:`write_tasks`.
LABEL_STUDIO_CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <Text name="answer_a" value="$response_a"/>
  <Text name="answer_b" value="$response_b"/>
  <Pairwise name="pairwise" toName="answer_a,answer_b"/>
</View>"""
_VOTE_SCHEMA = {"pair_id": pl.String, "annotator": pl.String, "label": pl.String}


def write_tasks(round_: AnnotationRound, path: str | os.PathLike[str], tool: str) -> Path:
    """Write the round's pairs for ``tool`` (``label-studio``, ``argilla`` or ``table``).

    Parameters
    ----------
    round_ : AnnotationRound
    path : path
        ``.json`` for Label Studio, ``.jsonl`` for Argilla, ``.csv`` or ``.jsonl`` for a table.
    tool : str
        One of :data:`TOOLS`.

    Example
    -------
    >>> round_ = AnnotationRound("round1/queries.csv")  # doctest: +SKIP
    >>> write_tasks(round_, "round1/tasks.json", "label-studio")  # doctest: +SKIP
    """
    path = Path(path)
    queries = round_.queries()
    rows = queries.select(
        "pair_id", "prompt", "response_a", "response_b", *[c for c in ("prompt_b",) if c in queries.columns]
    ).to_dicts()
    if tool == "label-studio":
        _suffix(path, (".json",), tool)
        tasks = [{"data": {**row, "round_id": round_.round_id}} for row in rows]
        return atomic_write_text(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", what=tool)
    if tool == "argilla":
        _suffix(path, (".jsonl",), tool)
        records = [
            {
                "id": f"{round_.round_id}_{row['pair_id']}",
                "instruction": row["prompt"],
                "response1": row["response_a"],
                "response2": row["response_b"],
            }
            for row in rows
        ]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return atomic_write_text(path, text, what=tool)
    if tool == "table":
        _suffix(path, (".csv", ".jsonl"), tool)
        frame = queries.select("pair_id", "prompt", "response_a", "response_b").with_columns(
            pl.lit(round_.round_id).alias("round_id"),
            pl.lit(None, pl.String).alias("annotator"),
            pl.lit(None, pl.String).alias("label"),
        )
        return write_frame(frame, path, what=tool)
    raise DataError(f"Unknown annotation tool {tool!r}; choose one of {list(TOOLS)}.")


def _suffix(path: Path, suffixes: tuple[str, ...], tool: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise DataError(f"{path.name}: a {tool} file must end in {' or '.join(suffixes)}.")


def read_votes(path: str | os.PathLike[str], round_: AnnotationRound) -> pl.DataFrame:
    """The votes in a file a tool exported for ``round_``: columns ``pair_id``,
    ``annotator``, ``label`` (a, b, tie or skip).

    The tool is told from the content: a JSON list of tasks with ``annotations`` (Label
    Studio), records with ``ranking.responses`` (Argilla), else a table. A file from another
    round, or with a pair id the round does not hold, is refused with a :class:`DataError`.

    Parameters
    ----------
    path : path
        The tool's export.
    round_ : AnnotationRound
        The round the file was written for.

    Example
    -------
    >>> votes = read_votes("export.json", AnnotationRound("round1/queries.csv"))  # doctest: +SKIP
    >>> votes.columns  # doctest: +SKIP
    ['pair_id', 'annotator', 'label']
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Labels file {str(path)!r} does not exist.")
    source = path.name
    suffix = path.suffix.lower()
    if suffix == ".json":
        items = _json(path)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DataError(f"{source}: expected a JSON list of tasks or records.")
        if items and "annotations" in items[0]:
            round_ids = _round_ids_ls(items, source)  # every task is this tool's, with its ids
            return _checked(_label_studio(items, source), round_ids, round_, source)
        return _checked(*_argilla(items, source), round_, source)
    if suffix == ".jsonl":
        first = _first_json_line(path)
        if isinstance(first, dict) and "ranking.responses" in first:
            items = [
                json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
            return _checked(*_argilla(items, source), round_, source)
    if suffix in (".csv", ".jsonl"):
        return _table(path, round_)
    raise DataError(
        f"{source}: a labels file must be Label Studio's JSON export (.json), Argilla's "
        "flattened export (.json or .jsonl) or a table (.csv or .jsonl)."
    )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path.name} is not valid JSON: {exc}") from None


def _first_json_line(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    return json.loads(line)
                except ValueError:
                    raise DataError(f"{path.name}: the first line is not JSON.") from None
    return None


def _checked(votes: pl.DataFrame, round_ids: set[str], round_: AnnotationRound, source: str) -> pl.DataFrame:
    if len(round_ids) > 1:
        raise DataError(f"{source} mixes rounds {sorted(round_ids)}; export one round per file.")
    round_.check_pairs(votes["pair_id"].unique().to_list(), source, next(iter(round_ids), None))
    return votes


def _round_ids_ls(items: list[dict], source: str) -> set[str]:
    ids = set()
    for i, task in enumerate(items):
        data = task.get("data")
        if not isinstance(data, dict) or "pair_id" not in data or "round_id" not in data:
            raise DataError(
                f"{source}: task {i} has no data.pair_id and data.round_id; export the tasks "
                "written by `embrm select --tasks label-studio` (other tasks are not this round's)."
            )
        ids.add(str(data["round_id"]))
    return ids


def _user(value: Any) -> str:
    """A Label Studio ``completed_by``: a user id, or a user object in some exports."""
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    return f"user-{value}" if isinstance(value, int) else str(value)


def _label_studio(items: list[dict], source: str) -> pl.DataFrame:
    rows = []
    for task in items:
        pair_id = str(task["data"]["pair_id"])
        for annotation in task.get("annotations") or []:
            annotator = _user(annotation.get("completed_by"))
            label = "skip"
            if not annotation.get("was_cancelled"):
                chosen = [
                    r.get("value", {}).get("selected")
                    for r in annotation.get("result") or []
                    if r.get("type") == "pairwise"
                ]
                if chosen:
                    if chosen[-1] not in ("left", "right"):
                        raise DataError(
                            f"{source}: pair {pair_id!r}: a pairwise result selected {chosen[-1]!r}, "
                            "not 'left' or 'right'."
                        )
                    label = "a" if chosen[-1] == "left" else "b"
            rows.append({"pair_id": pair_id, "annotator": annotator, "label": label})
    return pl.DataFrame(rows, schema=_VOTE_SCHEMA)


def _argilla(items: list[dict], source: str) -> tuple[pl.DataFrame, set[str]]:
    rows, round_ids = [], set()
    for i, record in enumerate(items):
        record_id = str(record.get("id", ""))
        round_id, sep, pair_id = record_id.partition("_")
        if not sep:
            raise DataError(
                f"{source}: record {i} has id {record_id!r}, not '<round_id>_<pair_id>'; export the "
                "records written by `embrm select --tasks argilla`."
            )
        round_ids.add(round_id)
        values = record.get("ranking.responses") or []
        users = record.get("ranking.responses.users") or []
        statuses = record.get("ranking.responses.status") or ["submitted"] * len(values)
        if not (len(values) == len(users) == len(statuses)):
            raise DataError(f"{source}: record {record_id!r} has unequal ranking.responses lists.")
        for value, user, status in zip(values, users, statuses, strict=True):
            if status == "draft":
                continue
            label = "skip" if status == "discarded" else _ranking_label(value, source, record_id)
            rows.append({"pair_id": pair_id, "annotator": str(user), "label": label})
    return pl.DataFrame(rows, schema=_VOTE_SCHEMA), round_ids


def _ranking_label(value: Any, source: str, record_id: str) -> str:
    """a, b or tie from one ranking: names best first, or ``{"value", "rank"}`` items."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        ranks = {v.get("value"): v.get("rank") for v in value}
        one, two = ranks.get("response1"), ranks.get("response2")
        if isinstance(one, int) and isinstance(two, int):
            return "tie" if one == two else ("a" if one < two else "b")
    elif isinstance(value, list) and value and value[0] in ("response1", "response2"):
        return "a" if value[0] == "response1" else "b"
    raise DataError(
        f"{source}: record {record_id!r} has a ranking that is not response1/response2: {value!r}."
    )


def _table(path: Path, round_: AnnotationRound) -> pl.DataFrame:
    rules = {"pair_id": "id", "annotator": "text?", "label": "text?", "round_id": "text?"}
    frame = read_table(path, rules, ("pair_id", "annotator", "label"), "a table of votes")
    label = pl.col("label").cast(pl.String).str.strip_chars().str.to_lowercase()
    frame = frame.with_columns(pl.col("pair_id").cast(pl.String), label.alias("label")).filter(
        pl.col("label").is_not_null() & (pl.col("label") != "")
    )
    bad = frame.filter(~pl.col("label").is_in(["a", "b", "tie", "skip"]))
    if bad.height:
        raise DataError(
            f"{path.name}: label {bad['label'][0]!r} of pair {bad['pair_id'][0]!r} is not a, b, tie or skip."
        )
    nameless = frame.filter(pl.col("annotator").is_null() | (pl.col("annotator").cast(pl.String) == ""))
    if nameless.height:
        raise DataError(f"{path.name}: pair {nameless['pair_id'][0]!r} is labelled with no annotator name.")
    round_ids = set(frame["round_id"].cast(pl.String).to_list()) if "round_id" in frame.columns else set()
    votes = frame.select("pair_id", pl.col("annotator").cast(pl.String), "label")
    return _checked(votes, round_ids - {None}, round_, path.name)
