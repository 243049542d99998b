"""Bad paths and bad arguments: clear errors before any work, never a traceback."""

from __future__ import annotations

import zipfile

import numpy as np
import polars as pl
import pytest

from embrm.cli import main
from embrm.data import ScoredResponses, within_prompt_pairs
from embrm.exceptions import DataError
from embrm.heads import BTLinear, Ensemble, load


@pytest.fixture(scope="module")
def saved_head(tmp_path_factory):
    rng = np.random.RandomState(0)
    path = tmp_path_factory.mktemp("head") / "h.npz"
    BTLinear().fit(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), encoder_id="enc").save(path)
    return path


def _damaged_copies(saved, tmp_path):
    data = saved.read_bytes()
    flipped = bytearray(data)
    for i in range(len(data) // 2, len(data) // 2 + 4):
        flipped[i] ^= 0xA5
    with zipfile.ZipFile(saved) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    array_member = next(n for n in members if n.endswith(".npy"))
    missing = tmp_path / "missing-member.npz"
    with zipfile.ZipFile(missing, "w") as zf:
        for name, content in members.items():
            if name != array_member:
                zf.writestr(name, content)
    cases = {
        "empty.npz": (b"", "is empty"),
        "text.npz": (b"prompt,chosen\nhello,world\n", "not a zip archive"),
        "flipped.npz": (bytes(flipped), "damaged"),
        "truncated.npz": (data[: len(data) // 2], "not a zip archive or is damaged"),
    }
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    return {tmp_path / n: m for n, (_, m) in cases.items()} | {missing: "lacks the array"}


def test_damaged_or_foreign_head_files(saved_head, tmp_path):
    for path, message in _damaged_copies(saved_head, tmp_path).items():
        with pytest.raises(DataError, match=message):
            load(path)
    np.savez(tmp_path / "foreign.npz", coef=np.zeros(3))
    with pytest.raises(DataError, match="without meta.json"):
        load(tmp_path / "foreign.npz")
    with pytest.raises(DataError, match="is a folder"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="No such head file"):
        load(tmp_path / "nothing.npz")


def test_save_into_a_missing_folder(saved_head, tmp_path):
    head = load(saved_head)
    with pytest.raises(DataError, match="folder .*nodir' does not exist"):
        head.save(tmp_path / "nodir" / "h.npz")


def test_train_checks_out_before_training(tmp_path, capsys, monkeypatch):
    import embrm.cli.workflow

    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(embrm.cli.workflow, "train_held_out", never)
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    assert main(["train", str(data), "--out", str(tmp_path / "nodir" / "h.npz")]) == 2
    err = capsys.readouterr().err
    assert "nodir' does not exist" in err and "tmp" not in err.split("nodir")[-1]


def test_cache_dir_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("")
    for command in (["cache", "info"], ["cache", "verify"]):
        assert main([*command, "--cache-dir", str(blocker)]) == 2
        assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "x.jsonl"), "--cache-dir", str(blocker)]) == 2
    assert "x.jsonl" in capsys.readouterr().err
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    assert main(["embed", str(data), "--cache-dir", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["doctor", "--cache-dir", str(blocker)]) == 0
    assert "PROBLEM" in capsys.readouterr().out


def test_pairs_per_prompt_zero_and_ensemble_with_two_pairs():
    scored = ScoredResponses(
        pl.DataFrame(
            {
                "prompt_id": [0, 0, 0],
                "prompt": ["p"] * 3,
                "response": ["a", "b", "c"],
                "score": [1.0, 2.0, 3.0],
            }
        )
    )
    with pytest.raises(DataError, match="pairs_per_prompt must be a positive integer.*got 0"):
        within_prompt_pairs(scored, pairs_per_prompt=0)
    rng = np.random.RandomState(0)
    with pytest.raises(DataError, match="Ensemble needs at least 4 pairs; got 2"):
        Ensemble(random_state=0).fit(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    for seed in range(20):  # a bootstrap of 4 pairs never leaves a member one distinct pair
        Ensemble(n_members=3, random_state=seed).fit(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))
