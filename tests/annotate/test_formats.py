"""Label Studio, Argilla and plain tables: written for a round, read back from files shaped
as each tool exports them (from its documented schema); ids survive, other rounds are refused."""

from __future__ import annotations

import json

import polars as pl
import pytest
from _annotate_help import write_round

from embrm.annotate import AnnotationRound, read_votes, write_tasks
from embrm.exceptions import DataError


@pytest.fixture
def round_(tmp_path):
    return AnnotationRound(write_round(tmp_path / "round", n=3))


def ls_annotation(user, selected=None, cancelled=False, n=[0]):  # noqa: B006 - a running id
    n[0] += 1
    result = []
    if selected:
        result = [{"id": f"r{n[0]}", "type": "pairwise", "value": {"selected": selected}, "origin": "manual",
                   "to_name": "answer_a", "from_name": "pairwise"}]  # fmt: skip
    return {"id": n[0], "completed_by": user, "result": result, "was_cancelled": cancelled,
            "ground_truth": False, "created_at": "2026-12-06T10:00:00Z", "lead_time": 4.2}  # fmt: skip


def label_studio_export(tasks: list[dict], annotations: list[list[dict]]) -> list[dict]:
    """Label Studio's JSON export of imported tasks: ids added, annotations per task."""
    return [
        {
            "id": 100 + i,
            "data": task["data"],
            "annotations": anns,
            "predictions": [],
            "drafts": [],
            "meta": {},
            "created_at": "2026-12-06T09:00:00Z",
            "project": 1,
        }  # fmt: skip
        for i, (task, anns) in enumerate(zip(tasks, annotations, strict=True))
    ]


def test_label_studio_round_trip(round_, tmp_path):
    path = write_tasks(round_, tmp_path / "tasks.json", "label-studio")
    tasks = json.loads(path.read_text())
    assert [t["data"]["pair_id"] for t in tasks] == ["p00", "p01", "p02"]
    assert {t["data"]["round_id"] for t in tasks} == {round_.round_id}
    export = label_studio_export(
        tasks,
        [
            [ls_annotation(1, "left"), ls_annotation({"id": 2, "email": "b@x.org"}, "right")],
            [ls_annotation(1, "right"), ls_annotation({"id": 2, "email": "b@x.org"}, "left", cancelled=True)],
            [],
        ],
    )
    (tmp_path / "export.json").write_text(json.dumps(export))
    votes = read_votes(tmp_path / "export.json", round_)
    assert votes.rows() == [
        ("p00", "user-1", "a"), ("p00", "b@x.org", "b"), ("p01", "user-1", "b"), ("p01", "b@x.org", "skip"),
    ]  # fmt: skip


def test_argilla_round_trip_with_ties_discards_and_drafts(round_, tmp_path):
    path = write_tasks(round_, tmp_path / "records.jsonl", "argilla")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(records[0]) == {"id", "instruction", "response1", "response2"}
    assert records[1]["id"] == f"{round_.round_id}_p01" and records[1]["response2"] == "answer b1"
    u1, u2 = "0b6e8c6a-1c1e-4a8e-9a43-3f1f6f0c0001", "0b6e8c6a-1c1e-4a8e-9a43-3f1f6f0c0002"
    exported = [
        {**records[0], "_server_id": "s0", "status": "completed",
         "ranking.responses": [["response2", "response1"],
                               [{"value": "response1", "rank": 1}, {"value": "response2", "rank": 1}]],
         "ranking.responses.users": [u1, u2], "ranking.responses.status": ["submitted", "submitted"]},
        {**records[1], "_server_id": "s1", "status": "pending",
         "ranking.responses": [["response1", "response2"], ["response2", "response1"]],
         "ranking.responses.users": [u1, u2], "ranking.responses.status": ["discarded", "draft"]},
    ]  # fmt: skip
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in exported))
    assert read_votes(export, round_).rows() == [("p00", u1, "b"), ("p00", u2, "tie"), ("p01", u1, "skip")]
    (tmp_path / "export.json").write_text(json.dumps(exported))  # to_list(flatten=True) saved as JSON
    assert read_votes(tmp_path / "export.json", round_).height == 3


def test_a_plain_table_with_one_row_per_pair_and_annotator(round_, tmp_path):
    path = write_tasks(round_, tmp_path / "votes.csv", "table")
    frame = pl.read_csv(path)
    assert frame.columns == [
        "pair_id",
        "prompt",
        "response_a",
        "response_b",
        "round_id",
        "annotator",
        "label",
    ]
    by_x = frame.with_columns(pl.lit("x").alias("annotator"), pl.Series("label", ["a", "TIE", ""]))
    by_y = frame.head(1).with_columns(pl.lit("y").alias("annotator"), pl.lit("b").alias("label"))
    filled = pl.concat([by_x, by_y])
    filled.write_csv(tmp_path / "filled.csv")
    votes = read_votes(tmp_path / "filled.csv", round_)
    assert votes.rows() == [("p00", "x", "a"), ("p01", "x", "tie"), ("p00", "y", "b")]


def test_files_of_another_round_or_pool_are_refused(round_, tmp_path):
    other = AnnotationRound(write_round(tmp_path / "other", n=3))
    tasks = json.loads(write_tasks(other, tmp_path / "tasks.json", "label-studio").read_text())
    export = label_studio_export(tasks, [[ls_annotation(1, "left")], [], []])
    (tmp_path / "export.json").write_text(json.dumps(export))
    with pytest.raises(DataError, match=f"belongs to round '{other.round_id}'"):
        read_votes(tmp_path / "export.json", round_)
    table = pl.DataFrame({"pair_id": ["zz"], "annotator": ["x"], "label": ["a"]})
    table.write_csv(tmp_path / "t.csv")
    with pytest.raises(DataError, match="not in this round's query file"):
        read_votes(tmp_path / "t.csv", round_)
    record = {"id": "no-round", "ranking.responses": [], "ranking.responses.users": []}
    (tmp_path / "a.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(DataError, match="<round_id>_<pair_id>"):
        read_votes(tmp_path / "a.jsonl", round_)


def test_a_label_studio_choice_that_is_not_left_or_right_is_refused(round_, tmp_path):
    tasks = json.loads(write_tasks(round_, tmp_path / "tasks.json", "label-studio").read_text())
    export = label_studio_export(tasks, [[ls_annotation(1, "middle")], [], []])
    (tmp_path / "export.json").write_text(json.dumps(export))
    with pytest.raises(DataError, match="not 'left' or 'right'"):
        read_votes(tmp_path / "export.json", round_)
