"""The label log and the round: durable, append-only, undo, torn last line, resume."""

from __future__ import annotations

import os

import pytest
from _annotate_help import write_round

from embrm.annotate import AnnotationRound, LabelLog
from embrm.exceptions import DataError


def test_undo_takes_back_the_latest_standing_label(tmp_path):
    log = LabelLog(tmp_path)
    for pair, label in [("p1", "a"), ("p2", "b"), ("p3", "tie")]:
        log.append("ann", pair, label)
    log.append("ann", None, "undo")
    log.append("ann", None, "undo")
    log.append("ann", "p2", "skip")
    assert log.standing("ann").keys() == {"p1", "p2"}
    assert log.labels().select("pair_id", "label").rows() == [("p1", "a"), ("p2", "skip")]
    # an undo with nothing left is harmless
    for _ in range(5):
        log.append("ann", None, "undo")
    assert log.standing("ann") == {}


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_label(tmp_path):
    log = LabelLog(tmp_path)
    log.append("ann", "p1", "a")
    with open(log.path("ann"), "ab") as fh:  # kill -9 in the middle of a write
        fh.write(b'{"pair_id": "p2", "lab')
    assert list(log.standing("ann")) == ["p1"]
    log.append("ann", "p3", "b")
    lines = log.path("ann").read_bytes().splitlines()
    assert len(lines) == 2 and b"p2" not in log.path("ann").read_bytes()
    assert list(log.standing("ann")) == ["p1", "p3"]


def test_a_damaged_line_in_the_middle_is_an_error_naming_it(tmp_path):
    log = LabelLog(tmp_path)
    log.append("ann", "p1", "a")
    with open(log.path("ann"), "ab") as fh:
        fh.write(b"garbage\n")
    with pytest.raises(DataError, match="line 2"):
        log.events("ann")


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", "", "x" * 65, None])
def test_annotator_names_cannot_leave_the_folder(tmp_path, name):
    with pytest.raises(DataError, match="Annotator name"):
        LabelLog(tmp_path).append(name, "p1", "a")
    assert list(tmp_path.iterdir()) == []


def test_each_event_is_fsynced_before_append_returns(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    LabelLog(tmp_path).append("ann", "p1", "a")
    assert synced


def test_the_round_resumes_at_the_first_unlabelled_pair_and_keeps_its_id(tmp_path):
    queries = write_round(tmp_path / "r1", n=4)
    first = AnnotationRound(queries)
    first.log.append("ann", "p00", "a")
    first.log.append("ann", "p02", "skip")
    again = AnnotationRound.open(tmp_path / "r1")  # a fresh process: the folder is enough
    assert again.round_id == first.round_id
    assert again.progress("ann") == (2, 4, 1)
    assert again.progress("other") == (0, 4, 0)


def test_one_round_per_folder(tmp_path):
    queries = write_round(tmp_path / "r1", n=2)
    AnnotationRound(queries)
    other = queries.with_name("other.csv")
    other.write_bytes(queries.read_bytes())
    with pytest.raises(DataError, match="is the round of 'queries.csv'"):
        AnnotationRound(other)
