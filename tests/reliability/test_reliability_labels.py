"""Labels and outputs are never lost, torn or written over an input.

- ``merge-labels`` killed with SIGKILL at many moments of rewriting a 30,000-label file
  leaves the old file or the new one, byte for byte; so does a full disk (a real small
  tmpfs where this machine lets root mount one, and an injected ENOSPC everywhere).
- Processes merging distinct labels into one file at once lose none of them, and a reader
  never sees a half-written file.
- No ``--out`` is one of the command's inputs; merging into a query file keeps its
  unannotated rows; ``head.save`` follows no planted symbolic link.

The kill and concurrency cases run in children forked from one helper process (it imports
embrm once and never runs polars itself, so forking it is safe and fast).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

import embrm
import embrm._core.files as files_module
from embrm.active import read_labels, write_labels, write_queries
from embrm.active._rounds import QUERY_COLUMNS
from embrm.cli import main
from embrm.data import DATASETS
from embrm.exceptions import DataError, OutputWriteError
from embrm.heads import BTLinear, load
from embrm.model_selection import Report

REPO = Path(embrm.__file__).resolve().parent.parent

SERVER = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time, traceback
    import embrm._core.files
    from embrm.active import write_labels

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def die_while_writing(out):
        # SIGKILL this process once bytes of the new content reach the disk: a temporary
        # file with data in it, or the labels file itself changed
        folder, name = os.path.split(out)
        state = lambda st: (st.st_ino, st.st_size, st.st_mtime_ns)
        before = state(os.stat(out))
        while True:
            if state(os.stat(out)) != before:
                die()
            for other in os.listdir(folder):
                if other.startswith("." + name) and other.endswith(".tmp"):
                    try:
                        if os.path.getsize(os.path.join(folder, other)) > 0:
                            die()
                    except FileNotFoundError:
                        pass
            time.sleep(0.0002)

    def merge(job):
        import polars as pl
        if job["hook"] == "fsync":  # the temporary file is written, not yet flushed to disk
            os.fsync = die
        elif job["hook"] == "replace":  # the temporary file is complete, not yet renamed
            os.replace = die
        elif job["hook"] == "after-replace":  # renamed, the folder not yet fsynced
            embrm._core.files.fsync_folder = die
        elif job["hook"] == "writing":  # part of the new content written
            threading.Thread(target=die_while_writing, args=(job["out"],), daemon=True).start()
        write_labels(pl.read_parquet(job["src"]), job["out"])

    def worker(job, i):
        import polars as pl
        while time.time() < job["start"]:
            time.sleep(0.001)
        for k in range(job["rounds"]):
            ids = [f"w{i}-r{k}-p{j}" for j in range(job["per_round"])]
            labels = ["a" if (i + k + j) % 2 else "b" for j in range(job["per_round"])]
            write_labels(pl.DataFrame({"pair_id": ids, "label": labels}), job["out"])

    def reader(job):
        # read the labels file until the writers are done: its row counts and any error
        from embrm.active import read_labels
        heights, errors = [], []
        while not os.path.exists(job["out"] + ".stop"):
            if os.path.exists(job["out"]):
                try:
                    heights.append(read_labels(job["out"]).height)
                except Exception as exc:
                    errors.append(repr(exc))
            time.sleep(0.002)
        with open(job["out"] + ".reader.json", "w") as fh:
            json.dump({"heights": heights, "errors": errors}, fh)

    def child(target, *args):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                target(*args)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stderr.flush()
            os._exit(code)
        return pid

    for line in iter(sys.stdin.readline, ""):
        job = json.loads(line)
        start = time.perf_counter()
        if job["op"] == "merge":
            pid = child(merge, job)
            if job["delay"] is not None:
                time.sleep(job["delay"])
                os.kill(pid, signal.SIGKILL)
            statuses = [os.waitpid(pid, 0)[1]]
        else:
            job["start"] = time.time() + 0.3
            writers = [child(worker, job, i) for i in range(job["workers"])]
            reading = child(reader, job)
            statuses = [os.waitpid(pid, 0)[1] for pid in writers]
            open(job["out"] + ".stop", "w").close()
            statuses.append(os.waitpid(reading, 0)[1])
        print(json.dumps({"statuses": statuses, "seconds": time.perf_counter() - start}), flush=True)
    """
)


class Server:
    """The helper process that forks the merging children."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def run(self, **job) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the helper process died"
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    helper = Server()
    yield helper
    helper.close()


def _labels(lo: int, hi: int, seed: int) -> pl.DataFrame:
    """Labelled query rows with pair ids ``lo..hi`` and ~100 characters of text each."""
    rng = np.random.RandomState(seed)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    n = hi - lo

    def texts() -> list[str]:
        return [" ".join(row) for row in rng.choice(words, (n, 5))]

    return pl.DataFrame(
        {
            "pair_id": [f"{i:016x}" for i in range(lo, hi)],
            "prompt_id": np.arange(lo, hi) // 5,
            "prompt": texts(),
            "response_a": texts(),
            "response_b": texts(),
            "label": rng.choice(["a", "b"], n).tolist(),
        }
    )


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 30,000-label file, 30,000 new labels, and the bytes of the merged file."""
    folder = tmp_path_factory.mktemp("big")
    old = folder / "old.csv"
    write_labels(_labels(0, 30_000, 0), old)
    new = folder / "new.parquet"
    _labels(30_000, 60_000, 1).write_parquet(new)
    merged = folder / "merged.csv"
    shutil.copy(old, merged)
    write_labels(pl.read_parquet(new), merged)
    return SimpleNamespace(old=old.read_bytes(), new=new, merged=merged.read_bytes())


# -- kill -9 ----------------------------------------------------------------------------------------
def test_kill_9_while_merging_leaves_the_old_file_or_the_new_one(server, big, tmp_path):
    out = tmp_path / "labels.csv"

    def run(delay: float | None, hook: str | None = None) -> tuple[int, str]:
        out.write_bytes(big.old)
        result = server.run(op="merge", src=str(big.new), out=str(out), delay=delay, hook=hook)
        data = out.read_bytes()
        assert data in (big.old, big.merged), f"torn labels file (delay {delay}, hook {hook})"
        assert read_labels(out).height == (30_000 if data == big.old else 60_000)
        return result["statuses"][0], "old" if data == big.old else "new"

    out.write_bytes(big.old)
    first = server.run(op="merge", src=str(big.new), out=str(out), delay=None, hook=None)
    assert first["statuses"] == [0] and out.read_bytes() == big.merged
    duration = first["seconds"]
    outcomes = [run(duration * k / 8)[1] for k in range(1, 8)]
    assert "old" in outcomes  # some kills landed before the rename
    # at chosen steps: part of the data written, all written but not fsynced, complete but
    # not renamed, renamed
    assert run(None, "writing") == (9, "old")
    assert run(None, "fsync") == (9, "old")
    assert run(None, "replace") == (9, "old")
    assert run(None, "after-replace") == (9, "new")
    # a killed merge holds no lock: the next one runs and its result is the merged file
    out.write_bytes(big.old)
    assert server.run(op="merge", src=str(big.new), out=str(out), delay=None, hook=None)["statuses"] == [0]
    assert out.read_bytes() == big.merged


# -- concurrent merges ------------------------------------------------------------------------------
def test_concurrent_merges_lose_no_label_and_readers_never_see_a_torn_file(server, tmp_path):
    out = tmp_path / "labels.csv"
    workers, rounds, per_round = 4, 12, 25
    result = server.run(op="concurrent", out=str(out), workers=workers, rounds=rounds, per_round=per_round)
    assert result["statuses"] == [0] * (workers + 1), "a writer failed, or the reader crashed (SIGBUS: 7)"
    labels = read_labels(out)
    expected = {f"w{i}-r{k}-p{j}" for i in range(workers) for k in range(rounds) for j in range(per_round)}
    assert set(labels["pair_id"]) == expected, f"{len(expected - set(labels['pair_id']))} labels lost"
    assert labels.height == len(expected)
    reads = json.loads((tmp_path / "labels.csv.reader.json").read_text())
    assert not reads["errors"], f"a reader saw a half-written file: {reads['errors'][0]}"
    assert len(reads["heights"]) >= 5 and reads["heights"] == sorted(reads["heights"]), "labels disappeared"
    assert _temp_files(tmp_path) == []


def _wait_blocked(thread: threading.Thread) -> None:
    thread.start()
    thread.join(0.3)
    assert thread.is_alive(), "the write did not wait for the lock"


def test_merges_wait_for_the_lock_and_merge_what_is_there_after_it(tmp_path):
    out = tmp_path / "labels.csv"
    write_labels(pl.DataFrame({"pair_id": ["1"], "label": ["a"]}), out)
    outcome: dict = {}

    def merge() -> None:
        outcome["labels"] = write_labels(pl.DataFrame({"pair_id": ["3"], "label": ["b"]}), out)

    thread = threading.Thread(target=merge)
    with files_module.file_lock(out):
        _wait_blocked(thread)
        # another process's update, made while it holds the lock
        pl.DataFrame({"pair_id": ["1", "2"], "label": ["a", "a"]}).write_csv(out)
    thread.join(10)
    assert sorted(read_labels(out)["pair_id"]) == ["1", "2", "3"]
    assert outcome["labels"].height == 3


def test_write_queries_checks_for_labels_and_writes_in_one_locked_step(tmp_path):
    out = tmp_path / "round2.csv"
    queries = _labels(0, 5, 0).with_columns(pl.lit(None, pl.String).alias("label"))
    outcome: dict = {}

    def select() -> None:
        try:
            write_queries(queries, out)
        except DataError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=select)
    with files_module.file_lock(out):
        _wait_blocked(thread)
        _labels(100, 103, 1).write_csv(out)  # labels arrive while the query file is locked
    thread.join(10)
    assert "already holds labels" in outcome.get("error", "")
    assert read_labels(out).height == 3


def test_a_conflicting_merge_is_an_error_and_changes_nothing(tmp_path):
    out = tmp_path / "labels.csv"
    write_labels(_labels(0, 50, 0), out)
    before = out.read_bytes()
    row = _labels(0, 50, 0).slice(45, 1)
    conflict = row.with_columns(pl.lit("a" if row["label"][0] == "b" else "b").alias("label"))
    with pytest.raises(DataError, match="conflicting labels"):
        write_labels(pl.concat([_labels(60, 70, 3), conflict]), out)
    assert out.read_bytes() == before
    assert _temp_files(tmp_path) == []


# -- full disk --------------------------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(folder: Path, size: str = "4m"):
    """A real tmpfs of ``size`` at ``folder`` (skips where mounting is not allowed)."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root; the injected full disk covers this")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the injected full disk covers this")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes are free."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(free - leave, 0))


def _random_labels(lo: int, hi: int, seed: int) -> pl.DataFrame:
    """Labels with incompressible text (so Parquet does not fit on a full disk either)."""
    rng = np.random.RandomState(seed)
    return _labels(lo, hi, seed).with_columns(
        pl.Series("prompt", [rng.bytes(60).hex() for _ in range(hi - lo)])
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_real_full_disk_leaves_the_labels_file_as_it_was(tmp_path, suffix):
    with small_disk(tmp_path / "disk") as disk:
        out = disk / f"labels{suffix}"
        write_labels(_random_labels(0, 2_000, 0), out)
        before = out.read_bytes()
        _fill(disk, 64 * 1024)
        with pytest.raises(OutputWriteError, match="the disk is full") as caught:
            write_labels(_random_labels(2_000, 4_000, 1), out)
        assert "Nothing was changed" in str(caught.value) and str(out) in str(caught.value)
        assert out.read_bytes() == before
        assert _temp_files(disk) == []
        assert read_labels(out).height == 2_000


def test_a_real_full_disk_under_the_commands_is_one_clear_line(tmp_path, capsys):
    new = tmp_path / "new.csv"
    _random_labels(2_000, 4_000, 1).write_csv(new)
    with small_disk(tmp_path / "disk") as disk:
        out = disk / "labels.csv"
        write_labels(_random_labels(0, 2_000, 0), out)
        before = out.read_bytes()
        head = BTLinear().fit(*np.random.RandomState(0).normal(size=(2, 40, 3)), encoder_id="enc")
        head.save(disk / "head.npz")
        head_before = (disk / "head.npz").read_bytes()
        _fill(disk, 16 * 1024)
        assert main(["merge-labels", str(new), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "the disk is full" in err[0] and "Traceback" not in err[0]
        assert out.read_bytes() == before
        head.coef_ = np.random.RandomState(1).normal(size=30_000)  # 240 kB: more than is free
        with pytest.raises(OutputWriteError, match="the disk is full"):
            head.save(disk / "head.npz")
        assert (disk / "head.npz").read_bytes() == head_before
        with pytest.raises(OutputWriteError, match="the disk is full"):
            files_module.write_frame(_random_labels(0, 2_000, 2), disk / "rewards.parquet")
        assert _temp_files(disk) == []


def _no_space(fd: int) -> None:
    """``os.fsync`` on a full disk: the data written so far does not fit."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_an_injected_full_disk_leaves_every_output_as_it_was(tmp_path, monkeypatch, suffix):
    out = tmp_path / f"labels{suffix}"
    write_queries(_labels(0, 3, 0).with_columns(pl.lit(None, pl.String).alias("label")), out)
    before = out.read_bytes()
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(OutputWriteError, match="the disk is full.*Nothing was changed"):
        write_labels(pl.DataFrame({"pair_id": ["1"], "label": ["a"]}), tmp_path / f"new{suffix}")
    with pytest.raises(OutputWriteError, match="the disk is full"):
        write_queries(_labels(0, 3, 0).with_columns(pl.lit(None, pl.String).alias("label")), out)
    with pytest.raises(OutputWriteError, match="the disk is full"):
        write_labels(_labels(0, 3, 0), out)
    assert out.read_bytes() == before
    head_file = tmp_path / "head.npz"
    head_file.write_bytes(b"old head")
    head = BTLinear().fit(*np.random.RandomState(0).normal(size=(2, 20, 3)), encoder_id="enc")
    with pytest.raises(OutputWriteError, match="Could not write the head file"):
        head.save(head_file)
    assert head_file.read_bytes() == b"old head"
    assert _temp_files(tmp_path) == []
    assert not (tmp_path / f"new{suffix}").exists()


@pytest.mark.parametrize(
    "error",
    [
        OSError("No space left on device (os error 28)"),  # polars' CSV and JSONL writers
        pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"
        ),
    ],
)
def test_polars_own_write_errors_are_a_full_disk_too(tmp_path, monkeypatch, error):
    out = tmp_path / "rewards.parquet"
    out.write_bytes(b"old")

    def fail(self, target, *args, **kwargs):
        target.write(b"part of a row")
        raise error

    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail)
    with pytest.raises(OutputWriteError, match="the disk is full"):
        files_module.write_frame(pl.DataFrame({"reward": [1.0]}), out)
    assert out.read_bytes() == b"old" and _temp_files(tmp_path) == []


def _stub_heavy_parts(monkeypatch, tmp_path):
    """Commands up to their output, without the encoder (select, train, reward, eval --plot)."""
    import embrm.active
    import embrm.cli as cli
    import embrm.cli.workflow
    from embrm.data import ScoredResponses

    scored = ScoredResponses(
        pl.DataFrame({"prompt_id": [0] * 4 + [1] * 4, "prompt": ["p"] * 4 + ["q"] * 4})
        .with_columns(pl.format("answer {}", pl.int_range(pl.len())).alias("response"))
        .with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("score"))
    )
    rng = np.random.RandomState(0)
    encoder = SimpleNamespace(identity="enc", encode_responses=lambda p, r: rng.normal(size=(len(r), 3)))

    head = BTLinear().fit(*np.random.RandomState(0).normal(size=(2, 20, 3)), encoder_id="enc")
    report = Report(
        pl.DataFrame({"metric": ["pairwise_accuracy"], "value": [1.0], "ci_low": [None], "ci_high": [None]})
    )
    monkeypatch.setattr(cli, "_encoder", lambda args: SimpleNamespace(identity="enc"))
    monkeypatch.setattr(cli, "_load", lambda name, data_dir: scored)
    monkeypatch.setattr(cli, "_load_head", lambda args: (head, encoder))
    monkeypatch.setattr(cli, "_pool_responses", lambda args, encoder: (None, None))
    monkeypatch.setattr(embrm.active, "within_prompt_pool", lambda *a, **k: [0, 1, 2])
    queries = _labels(0, 3, 0).with_columns(pl.lit(None, pl.String).alias("label"))
    monkeypatch.setattr(embrm.active, "select_queries", lambda *a, **k: queries)
    held_out = embrm.cli.workflow.HeldOutResult(head, 20, 5, 0.01, 1.0, report)
    monkeypatch.setattr(embrm.cli.workflow, "train_held_out", lambda *a, **k: held_out)
    monkeypatch.setattr(embrm.cli.workflow, "reward_frame", lambda *a: pl.DataFrame({"reward": [0.5]}))
    (tmp_path / "data.csv").write_text("prompt,chosen,rejected\nhi,a,b\n")
    return {
        "select": ["select", str(tmp_path / "data.csv"), "--budget", "3", "--out"],
        "train": ["train", str(tmp_path / "data.csv"), "--out"],
        "reward": ["reward", str(tmp_path / "head.npz"), str(tmp_path / "data.csv"), "--out"],
        "eval": ["eval", str(tmp_path / "head.npz"), str(tmp_path / "data.csv"), "--plot"],
    }


@pytest.mark.parametrize(
    ("command", "suffix"), [("select", ".csv"), ("train", ".npz"), ("reward", ".parquet"), ("eval", ".png")]
)
def test_a_full_disk_under_select_train_reward_eval_is_one_clear_line(
    tmp_path, monkeypatch, capsys, command, suffix
):
    argv = _stub_heavy_parts(monkeypatch, tmp_path)[command]
    out = tmp_path / f"out{suffix}"
    assert main([*argv, str(out)]) == 0  # the stubs work: the command writes its file
    before = out.read_bytes()
    assert before.startswith(b"\x89PNG") if command == "eval" else before
    capsys.readouterr()
    monkeypatch.setattr(os, "fsync", _no_space)
    assert main([*argv, str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the disk is full" in err[0] and str(out) in err[0]
    assert out.read_bytes() == before and _temp_files(tmp_path) == []


# -- --out is never an input ------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    pool = tmp_path / "pool.csv"
    pool.write_text("prompt,response\np,x\np,y\n")
    r1 = tmp_path / "r1.csv"
    _labels(0, 4, 0).write_csv(r1)
    head = tmp_path / "head.csv"  # an odd name, so that only the input check can refuse it
    BTLinear().fit(*np.random.RandomState(0).normal(size=(2, 20, 3)), encoder_id="enc").save(head)
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "p", "chosen": "x", "rejected": "y"}\n')
    link = tmp_path / "link.csv"
    link.symlink_to(pool)
    hard = tmp_path / "hard.csv"
    os.link(pool, hard)
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    builtin = datasets / DATASETS["hh-harmless"].filename
    builtin.write_bytes(b"the built-in data set")
    return SimpleNamespace(
        pool=pool, r1=r1, head=head, data=data, link=link, hard=hard, datasets=datasets, builtin=builtin
    )


OUT_IS_INPUT = [
    "select onto its pool",
    "select onto a symlink of its pool",
    "select onto a hard link of its pool",
    "select onto --labelled",
    "select onto its head",
    "select onto a built-in data set",
    "train onto its data",
    "train onto a built-in data set",
    "reward onto its data",
    "reward onto its head",
    "merge-labels onto its input",
    "merge-labels onto a symlink of its input",
]


def _cases(f) -> dict[str, list[str]]:
    select = ["select", "--budget", "1"]
    return {
        "select onto its pool": [*select, str(f.pool), "--out", str(f.pool)],
        "select onto a symlink of its pool": [*select, str(f.pool), "--out", str(f.link)],
        "select onto a hard link of its pool": [*select, str(f.hard), "--out", str(f.pool)],
        "select onto --labelled": [*select, str(f.pool), "--labelled", str(f.r1), "--out", str(f.r1)],
        "select onto its head": [*select, str(f.pool), "--head", str(f.head), "--out", str(f.head)],
        "select onto a built-in data set": [
            *select, "hh-harmless", "--data-dir", str(f.datasets), "--out", str(f.builtin),
        ],
        "train onto its data": ["train", str(f.data), "--out", str(f.data)],
        "train onto a built-in data set": [
            "train", "hh-harmless", "--data-dir", str(f.datasets), "--out", str(f.builtin),
        ],
        "reward onto its data": ["reward", str(f.head), str(f.r1), "--out", str(f.r1)],
        "reward onto its head": ["reward", str(f.head), str(f.r1), "--out", str(f.head)],
        "merge-labels onto its input": ["merge-labels", str(f.r1), "--out", str(f.r1)],
        "merge-labels onto a symlink of its input": ["merge-labels", str(f.link), "--out", str(f.pool)],
    }  # fmt: skip


@pytest.mark.parametrize("case", OUT_IS_INPUT)
def test_out_is_never_an_input(files, capsys, monkeypatch, case):
    import embrm.cli as cli

    def no_work(*args, **kwargs):
        raise AssertionError("the command started working before checking --out")

    monkeypatch.setattr(cli, "_encoder", no_work)
    monkeypatch.setattr(cli, "_load", no_work)
    snapshot = {p: p.read_bytes() for p in files.datasets.parent.iterdir() if p.is_file()}
    cases = _cases(files)
    assert list(cases) == OUT_IS_INPUT
    assert main(cases[case]) == 2
    err = capsys.readouterr().err
    assert "is also an input of this command" in err and "Give another output path" in err
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert files.builtin.read_bytes() == b"the built-in data set"


@pytest.mark.parametrize("command", ["select", "train", "reward", "merge-labels"])
def test_a_folder_as_out_is_a_clear_error(files, tmp_path, capsys, command):
    folder = tmp_path / "results"
    folder.mkdir()
    argv = {
        "select": ["select", str(files.pool), "--budget", "1"],
        "train": ["train", str(files.data)],
        "reward": ["reward", str(files.head), str(files.data)],
        "merge-labels": ["merge-labels", str(files.r1)],
    }[command]
    assert main([*argv, "--out", str(folder)]) == 2
    assert f"--out '{folder}' is a folder; give a file name inside it." in capsys.readouterr().err
    folder_csv = tmp_path / "labels.csv"
    folder_csv.mkdir()
    with pytest.raises(DataError, match="is a folder"):
        write_labels(_labels(0, 2, 0), folder_csv)


# -- a query file's unannotated rows are kept -------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_merging_into_a_query_file_keeps_its_unannotated_rows(tmp_path, capsys, suffix):
    queue = _labels(0, 5, 0).with_columns(pl.lit(None, pl.String).alias("label"))
    round2 = tmp_path / f"round2{suffix}"
    write_queries(queue, round2)
    filled = queue.with_columns(pl.Series("label", ["a", None, "B ", "", None]))
    filled.write_csv(tmp_path / "new.csv")
    assert main(["merge-labels", str(tmp_path / "new.csv"), "--out", str(round2)]) == 0
    assert "2 labelled pairs" in capsys.readouterr().out
    read = {
        ".csv": partial(pl.read_csv, schema_overrides={"pair_id": pl.String, "label": pl.String}),
        ".jsonl": pl.read_ndjson,
        ".parquet": pl.read_parquet,
    }[suffix]
    kept = read(round2)
    assert kept.columns == list(QUERY_COLUMNS)  # the query file's columns, in its order
    assert kept["pair_id"].to_list() == queue["pair_id"].to_list()  # every row, in order
    assert kept["label"].to_list() == ["a", None, "b", None, None]
    assert kept.drop("label").equals(queue.drop("label").cast(kept.drop("label").schema))
    # a later round fills one more row, adds a pair the queue did not hold, keeps the rest
    extra = _labels(100, 101, 1)
    later = pl.concat(
        [queue.slice(1, 1).with_columns(pl.lit("b").alias("label")), extra], how="vertical_relaxed"
    )
    merged = write_labels(later, round2)
    assert merged["pair_id"].to_list() == [*queue["pair_id"].gather([0, 1, 2]), extra["pair_id"][0]]
    assert read_labels(round2).height == 4
    assert read(round2).height == 6 and read(round2)["label"].null_count() == 2
    # select may not replace it now that it holds labels
    with pytest.raises(DataError, match="already holds labels"):
        write_queries(queue, round2)


def test_merge_labels_says_how_many_rows_are_still_to_annotate(tmp_path, capsys):
    queue = _labels(0, 4, 0).with_columns(pl.lit(None, pl.String).alias("label"))
    write_queries(queue, tmp_path / "round2.csv")
    queue.head(1).with_columns(pl.lit("a").alias("label")).write_csv(tmp_path / "new.csv")
    assert main(["merge-labels", str(tmp_path / "new.csv"), "--out", str(tmp_path / "round2.csv")]) == 0
    assert (
        "1 labelled pairs in" in (out := capsys.readouterr().out) and "3 rows of it still to annotate" in out
    )


# -- files keep sensible permissions ----------------------------------------------------------------
def test_outputs_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        out = tmp_path / "labels.csv"
        write_labels(_labels(0, 2, 0), out)
        assert out.stat().st_mode & 0o777 == 0o644  # as open() would make it, not mkstemp's 0o600
        out.chmod(0o664)
        write_labels(_labels(2, 4, 0), out)
        assert out.stat().st_mode & 0o777 == 0o664  # a replaced file keeps its permissions
    finally:
        os.umask(mask)


# -- head.save and planted symbolic links -----------------------------------------------------------
def test_head_save_follows_no_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    head = BTLinear().fit(*np.random.RandomState(0).normal(size=(2, 20, 3)), encoder_id="enc")
    path = tmp_path / "head.npz"
    planted = Path(f"{path}.tmp{os.getpid()}")  # the temporary name head.save used to use
    planted.symlink_to(victim)
    head.save(path)
    assert victim.read_text() == "precious" and planted.is_symlink()
    assert np.array_equal(load(path).coef_, head.coef_)
    target = tmp_path / "linked.npz"
    target.symlink_to(victim)  # a link at the destination is replaced, its target untouched
    head.save(target)
    assert victim.read_text() == "precious" and not target.is_symlink()
    assert np.array_equal(load(target).coef_, head.coef_)
    assert _temp_files(tmp_path) == [planted.name]


def test_select_refuses_a_labels_file_as_out_before_any_work(files, capsys, monkeypatch):
    import embrm.cli as cli

    def no_work(*args, **kwargs):
        raise AssertionError("select started working before checking --out")

    monkeypatch.setattr(cli, "_encoder", no_work)
    before = files.r1.read_bytes()  # holds labels, and is not an input of this command
    assert main(["select", str(files.pool), "--budget", "1", "--out", str(files.r1)]) == 2
    assert "already holds labels" in capsys.readouterr().err
    assert files.r1.read_bytes() == before


def test_the_helper_names_a_folder_and_a_missing_folder(tmp_path):
    (tmp_path / "results").mkdir()
    with pytest.raises(OutputWriteError, match="it is a folder.*give a file name inside it"):
        files_module.atomic_write_text(tmp_path / "results", "x")
    with pytest.raises(OutputWriteError, match="No such file or directory"):
        files_module.atomic_write_text(tmp_path / "missing" / "x.txt", "x")
    assert _temp_files(tmp_path) == [] and list((tmp_path / "results").iterdir()) == []
