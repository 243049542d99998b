"""Bad input gets one clear error: crafted data files through every command, crafted head
files through ``load``, non-finite input to the selection strategies, and option values.

Every command case asserts exit code 2, no traceback, and a message naming the file and,
where the defect has one, its line or row and column.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import embrm.embed
from embrm.active import STRATEGIES, DOptimal, KCenter, VOptimal
from embrm.cli import main
from embrm.exceptions import DataError
from embrm.heads import BTLinear, Ensemble, LGBMHead, load

# The heads below are fitted on plain arrays: loading them for an encoder warns, as it should.
pytestmark = pytest.mark.filterwarnings("ignore:.*records no encoder identity:UserWarning")


# -- crafted data files x commands ---------------------------------------------------------------
#: The columns and two good rows of each shape of input file a command reads.
SHAPES = {
    "pairs": (["prompt", "chosen", "rejected"], [["p1", "a1", "b1"], ["p2", "a2", "b2"]]),
    "pool": (["prompt", "response"], [["p1", "r1"], ["p1", "r2"]]),
    "labels": (
        ["pair_id", "prompt", "response_a", "response_b", "label"],
        [["id1", "p1", "r1", "r2", "a"], ["id2", "p2", "r3", "r4", "b"]],
    ),
}


def _csv(columns, rows) -> bytes:
    return "".join(",".join(r) + "\n" for r in [columns, *rows]).encode()


def _jsonl(columns, rows) -> bytes:
    return "".join(json.dumps(dict(zip(columns, r, strict=True))) + "\n" for r in rows).encode()


def _craft(defect: str, shape: str, folder: Path) -> tuple[Path, str, str | None]:
    """A file of ``shape`` with ``defect``; the place the message must name ("line 3",
    "row 1") and the column (None where the defect has none)."""
    columns, rows = SHAPES[shape]
    last = columns[-1]
    marked = [rows[0], [*rows[1][:-1], "@@"]]  # the last cell of the second row, to spoil
    if defect == "cp1252-csv":  # Excel's 'ANSI' CSV: é as the single byte 0xe9
        data = _csv(columns, marked).replace(b"@@", b"caf\xe9")
        return _write(folder / "d.csv", data), "line 3", last
    if defect == "non-utf8-jsonl":
        data = _jsonl(columns, marked).replace(b"@@", b"\xff\xfe")
        return _write(folder / "d.jsonl", data), "line 2", last
    if defect == "malformed-jsonl":
        lines = _jsonl(columns, rows).decode().splitlines()
        return _write(folder / "d.jsonl", f"{lines[0]}\n{lines[1][:-3]}\n".encode()), "line 2", None
    if defect == "nan-jsonl":
        data = _jsonl(columns, marked).replace(b'"@@"', b"NaN")
        return _write(folder / "d.jsonl", data), "line 2", last
    if defect == "nan-csv":  # pairs only: a weight of nan
        data = _csv([*columns, "weight"], [[*rows[0], "1"], [*rows[1], "nan"]])
        return _write(folder / "d.csv", data), "line 3", "weight"
    if defect == "nan-parquet":
        frame = pl.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))
        frame = frame.with_columns(pl.Series("weight", [1.0, float("nan")]))
        path = folder / "d.parquet"
        frame.write_parquet(path)
        return path, "row 1", "weight"
    if defect == "garbage-parquet":
        return _write(folder / "d.parquet", b"PAR1" + bytes(range(256)) * 4 + b"PAR1"), "", None
    if defect in ("empty-csv", "empty-jsonl", "empty-parquet"):
        return _write(folder / f"d.{defect.split('-')[1]}", b""), "", None
    if defect == "semicolon-csv":  # Excel in many languages
        data = _csv([";".join(columns)], [[";".join(r)] for r in rows])
        return _write(folder / "d.csv", data), "line 1", None
    if defect == "semicolon-cp1252-csv":  # Excel in French, German, ...: both at once
        data = _csv([";".join(columns)], [[";".join(r)] for r in marked]).replace(b"@@", b"caf\xe9")
        return _write(folder / "d.csv", data), "line 3", None
    if defect == "unbalanced-quote":
        text = _csv(columns, rows).decode().splitlines()
        text[2] = text[2].replace(rows[1][1], '"' + rows[1][1], 1)
        return _write(folder / "d.csv", "\n".join(text).encode() + b"\n"), "line 3", columns[1]
    if defect == "ragged-csv":
        data = _csv(columns, [rows[0], [*rows[1], "extra"]])
        return _write(folder / "d.csv", data), "line 3", None
    if defect in ("folder", "folder-plain"):
        path = folder / ("d.csv" if defect == "folder" else "d")
        path.mkdir()
        return path, "", None
    raise AssertionError(defect)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


DEFECTS = [
    "cp1252-csv",
    "non-utf8-jsonl",
    "malformed-jsonl",
    "nan-jsonl",
    "garbage-parquet",
    "empty-csv",
    "empty-jsonl",
    "empty-parquet",
    "semicolon-csv",
    "semicolon-cp1252-csv",
    "unbalanced-quote",
    "ragged-csv",
    "folder",
    "folder-plain",
]
PAIRS_ONLY = ["nan-csv", "nan-parquet"]


@pytest.fixture(scope="module")
def inputs_dir(tmp_path_factory) -> Path:
    """A saved head (fitted on plain arrays: its encoder is not checked) and a good pool."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.RandomState(0)
    BTLinear().fit(rng.standard_normal((20, 8)), rng.standard_normal((20, 8))).save(folder / "head.npz")
    _write(folder / "pool.csv", _csv(*SHAPES["pool"]))
    return folder


#: Each command: the shape of file it reads and its arguments around that file.
COMMANDS = {
    "embed": ("pairs", lambda f, d: ["embed", f, "--model", "static"]),
    "train": ("pairs", lambda f, d: ["train", f, "--model", "static"]),
    "train-labels": ("labels", lambda f, d: ["train", f, "--model", "static"]),
    "reward": (
        "pairs",
        lambda f, d: ["reward", str(d / "head.npz"), f, "--out", str(d / "r.csv"), "--model", "static"],
    ),
    "eval": ("pairs", lambda f, d: ["eval", str(d / "head.npz"), f, "--model", "static"]),
    "select-pool": (
        "pool",
        lambda f, d: ["select", f, "--budget", "1", "--out", str(d / "q.csv"), "--model", "static"],
    ),
    "select-labelled": (
        "labels",
        lambda f, d: [
            "select",
            str(d / "pool.csv"),
            "--labelled",
            f,
            "--budget",
            "1",
            "--out",
            str(d / "q.csv"),
            "--model",
            "static",
        ],  # fmt: skip
    ),
    "merge-labels": ("labels", lambda f, d: ["merge-labels", f, "--out", str(d / "labels.csv")]),
}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    """``embrm argv`` in this process: its exit code and stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("defect", "command"),
    [
        (defect, command)
        for defect in DEFECTS + PAIRS_ONLY
        for command, (shape, _) in COMMANDS.items()
        if defect not in PAIRS_ONLY or shape == "pairs"  # only pairs files have a numeric column
    ],
)
def test_a_bad_input_file_is_one_clear_error(command, defect, inputs_dir, tmp_path, capsys):
    shape, argv = COMMANDS[command]
    path, place, column = _craft(defect, shape, tmp_path)
    code, err = _run(argv(str(path), inputs_dir), capsys)
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert str(path) in err
    if place:
        assert re.search(rf"{place}\b", err), err
    if column is not None:
        assert f"column {column!r}" in err, err
    if defect.startswith("semicolon"):
        assert "semicolon-separated" in err, err
    if defect.startswith("empty"):
        assert "is empty (0 bytes)" in err, err
    if defect.startswith("folder"):
        assert "is a folder" in err, err


def test_a_good_labels_file_still_reads(inputs_dir, tmp_path, capsys):
    path = _write(tmp_path / "d.jsonl", _jsonl(*SHAPES["labels"]))
    code, err = _run(["merge-labels", str(path), "--out", str(tmp_path / "labels.csv")], capsys)
    assert code == 0, err
    merged = pl.read_csv(tmp_path / "labels.csv")
    assert merged["pair_id"].to_list() == ["id1", "id2"] and merged["label"].to_list() == ["a", "b"]


def test_a_missing_input_file_is_named(inputs_dir, capsys):
    code, err = _run(["embed", str(inputs_dir / "nope.csv"), "--model", "static"], capsys)
    assert code == 2 and "nope.csv" in err and "Traceback" not in err


# -- option values ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "x.csv", "--pairs-per-prompt", "-2"], "--pairs-per-prompt: expected a positive integer"),
        (["train", "x.csv", "--pairs-per-prompt", "0"], "--pairs-per-prompt: expected a positive integer"),
        (["train", "x.csv", "--test-size", "2"], "--test-size: expected a share between 0 and 1"),
        (["train", "x.csv", "--test-size", "0"], "--test-size: expected a share between 0 and 1"),
        (["train", "x.csv", "--beta", "nan"], "--beta: expected a finite number"),
        (["train", "x.csv", "--random-state", "-1"], "--random-state: expected an integer seed"),
        (["embed", "x.csv", "--limit", "0"], "--limit: expected a positive integer"),
        (["embed", "x.csv", "--workers", "0"], "--workers: expected a positive integer"),
        (["select", "x.csv", "--out", "q.csv", "--budget", "0"], "--budget: expected a positive integer"),
        (["select", "x.csv", "--out", "q.csv", "--budget", "two"], "--budget: expected a positive integer"),
        (
            ["select", "x.csv", "--out", "q.csv", "--budget", "1", "--prior-strength", "inf"],
            "--prior-strength: expected a finite number above 0",
        ),
        (
            ["select", "x.csv", "--out", "q.csv", "--budget", "1", "--prior-strength", "nan"],
            "--prior-strength: expected a finite number above 0",
        ),
        (
            ["select", "x.csv", "--out", "q.csv", "--budget", "1", "--pairs-per-prompt", "-2"],
            "--pairs-per-prompt: expected a positive integer",
        ),
    ],
)
def test_a_bad_option_value_is_refused_before_any_work(argv, message, capsys):
    code, err = _run(argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_prior_strength_is_refused_by_a_strategy_without_it(inputs_dir, capsys):
    argv = ["select", str(inputs_dir / "pool.csv"), "--budget", "1", "--out", str(inputs_dir / "q.csv")]
    code, err = _run([*argv, "--strategy", "random", "--prior-strength", "1"], capsys)
    assert code == 2 and "--prior-strength is a parameter of the strategies ['dopt', 'vopt']" in err


@pytest.mark.parametrize("strategy", ["dopt", "vopt"])
def test_prior_strength_reaches_every_strategy_that_takes_it(
    strategy, inputs_dir, tmp_path, monkeypatch, capsys
):
    import embrm.cli

    rng = np.random.RandomState(0)
    frame = pl.DataFrame({"prompt": ["p"] * 6, "response": [f"r{i}" for i in range(6)]})
    monkeypatch.setattr(
        embrm.cli, "_pool_responses", lambda args, encoder: (frame, rng.standard_normal((6, 4)))
    )
    seen = []
    original = STRATEGIES[strategy]._pick

    def spy(self, *args, **kwargs):
        seen.append((self.prior_strength, self.random_state))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(STRATEGIES[strategy], "_pick", spy)
    argv = ["select", "pool", "--budget", "2", "--out", str(tmp_path / "q.csv"), "--strategy", strategy]
    code, err = _run([*argv, "--prior-strength", "7.5", "--random-state", "9"], capsys)
    assert code == 0, err
    assert seen == [(7.5, 9)]  # --random-state reaches the strategy's constructor


@pytest.mark.parametrize(
    ("flag", "value", "param", "expected"),
    [
        ("--normalize", "unit", "normalize", "unit"),
        ("--max-norm", "0.5", "max_norm", 0.5),
        ("--weighting", "posterior", "weighting", "posterior"),
        ("--max-per-prompt", "2", "max_per_prompt", 2),
        ("--random-share", "0.5", "random_share", 0.5),
    ],
)
@pytest.mark.parametrize("strategy", ["dopt", "vopt"])
def test_design_options_reach_every_strategy_that_takes_them(
    strategy, flag, value, param, expected, tmp_path, monkeypatch, capsys
):
    import embrm.cli

    rng = np.random.RandomState(0)
    frame = pl.DataFrame({"prompt": ["p"] * 4 + ["q"] * 4, "response": [f"r{i}" for i in range(8)]})
    monkeypatch.setattr(
        embrm.cli, "_pool_responses", lambda args, encoder: (frame, rng.standard_normal((8, 4)))
    )
    seen = []
    original = STRATEGIES[strategy]._pick

    def spy(self, candidates, k, rng):
        groups = candidates.groups
        seen.append((getattr(self, param), None if groups is None else len(set(groups.tolist()))))
        return original(self, candidates, k, rng)

    monkeypatch.setattr(STRATEGIES[strategy], "_pick", spy)
    argv = ["select", "pool", "--budget", "4", "--out", str(tmp_path / "q.csv"), "--strategy", strategy]
    extra = ["--normalize", "cap"] if flag == "--max-norm" else []
    code, err = _run([*argv, flag, value, *extra], capsys)
    assert code == 0, err
    assert seen == [(expected, 2)]  # the pool's two prompts reach the strategy as groups
    if flag == "--max-per-prompt":
        queries = pl.read_csv(tmp_path / "q.csv")
        assert queries["prompt_id"].value_counts()["count"].max() == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--strategy", "random", "--normalize", "unit"],
            "--normalize is a parameter of the strategies ['dopt', 'vopt']",
        ),
        (
            ["--strategy", "k-center", "--random-share", "0.5"],
            "--random-share is a parameter of the strategies",
        ),
        (["--max-norm", "2"], "--max-norm caps the differences' length only with --normalize cap"),
        (
            ["--normalize", "unit", "--max-norm", "2"],
            "--max-norm caps the differences' length only with --normalize",
        ),
    ],
)
def test_design_options_refused_where_they_do_nothing(extra, message, inputs_dir, capsys):
    argv = ["select", str(inputs_dir / "pool.csv"), "--budget", "1", "--out", str(inputs_dir / "q.csv")]
    code, err = _run([*argv, *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--random-share", "1.5", "--random-share: expected a number from 0 to 1"),
        ("--random-share", "nan", "--random-share: expected a number from 0 to 1"),
        ("--max-per-prompt", "0", "--max-per-prompt: expected a positive integer"),
        ("--max-norm", "-1", "--max-norm: expected a finite number above 0"),
        ("--normalize", "l2", "invalid choice: 'l2'"),
    ],
)
def test_design_option_values_are_checked_first(flag, value, message, capsys):
    code, err = _run(["select", "x.csv", "--out", "q.csv", "--budget", "1", flag, value], capsys)
    assert code == 2 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], ("VOptimal", "unit")),
        (["--normalize", "none"], ("VOptimal", "none")),
        (["--strategy", "dopt"], ("DOptimal", "none")),
    ],
)
def test_select_without_a_strategy_uses_the_default_design(extra, expected, tmp_path, monkeypatch, capsys):
    import embrm.cli
    from embrm.active._strategies import BayesianDesign

    rng = np.random.RandomState(0)
    frame = pl.DataFrame({"prompt": ["p"] * 6, "response": [f"r{i}" for i in range(6)]})
    monkeypatch.setattr(
        embrm.cli, "_pool_responses", lambda args, encoder: (frame, rng.standard_normal((6, 4)))
    )
    seen = []
    original = BayesianDesign._pick

    def spy(self, *args, **kwargs):
        seen.append((type(self).__name__, self.normalize))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BayesianDesign, "_pick", spy)
    code, err = _run(["select", "pool", "--budget", "2", "--out", str(tmp_path / "q.csv"), *extra], capsys)
    assert code == 0, err
    assert seen == [expected]


def test_embed_with_ray_uses_the_default_model(monkeypatch, tmp_path, capsys):
    seen = {}

    class Spy:
        def __init__(self, model=None, **options):
            seen["model"] = model
            raise DataError("stop here")

    monkeypatch.setattr(embrm.embed, "Encoder", Spy)
    data = _write(tmp_path / "d.jsonl", _jsonl(*SHAPES["pairs"]))
    code, err = _run(["embed", str(data), "--engine", "ray"], capsys)
    assert code == 2 and "stop here" in err
    assert seen["model"] == "static"


def test_main_reports_an_oserror_in_one_line(monkeypatch, tmp_path, capsys):
    import embrm.cli

    def full_disk(args):
        raise OSError(28, "No space left on device", str(tmp_path / "q.csv"))

    monkeypatch.setattr(embrm.cli, "cmd_merge_labels", full_disk)
    code, err = _run(["merge-labels", "x.csv", "--out", str(tmp_path / "q.csv")], capsys)
    assert code == 2 and err == f"embrm merge-labels: error: No space left on device: {tmp_path / 'q.csv'}\n"


# -- crafted head files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_head(tmp_path_factory) -> Path:
    rng = np.random.RandomState(0)
    path = tmp_path_factory.mktemp("heads") / "h.npz"
    BTLinear().fit(rng.standard_normal((30, 16)), rng.standard_normal((30, 16)), encoder_id="enc").save(path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rezip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _edit_meta(saved: Path, dest: Path, edit) -> Path:
    members = _members(saved)
    meta = json.loads(members["meta.json"])
    edit(meta)
    members["meta.json"] = json.dumps(meta).encode()
    return _rezip(dest, members)


def _with_array(saved: Path, dest: Path, name: str, data: bytes) -> Path:
    members = _members(saved)
    members[name] = data
    return _rezip(dest, members)


def _huge_header(saved: Path, dest: Path) -> Path:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    return _with_array(saved, dest, "coef_.npy", header.getvalue() + b"\0" * 128)


def _nested(saved: Path, dest: Path, depth: int) -> Path:
    members = _members(saved)
    meta = members["meta.json"].decode()
    deep = '{"__tuple__": [' * depth + "1" + "]}" * depth
    members["meta.json"] = re.sub(r'"alpha": [0-9.e+-]+', f'"alpha": {deep}', meta, count=1).encode()
    return _rezip(dest, members)


HEAD_CASES = {
    "coef-256x256": (
        lambda s, d: _with_array(s, d, "coef_.npy", _npy(np.zeros((16, 16)))),
        "does not fit together: 4 rows of 16 features got 64 rewards",
    ),
    "nan-coef": (
        lambda s, d: _with_array(s, d, "coef_.npy", _npy(np.full(16, np.nan))),
        "the array 'coef_' holds NaN or infinite values",
    ),
    "nan-scalar": (
        lambda s, d: _edit_meta(s, d, lambda m: m["head"]["state"].update(n_features_in_=float("nan"))),
        "is not a dimension",
    ),
    "huge-npy-header": (_huge_header, "declares shape (1000000000000,)"),
    "object-dtype": (
        lambda s, d: _with_array(
            s, d, "coef_.npy", _npy(np.zeros(16))[:10] + _npy(np.zeros(16))[10:].replace(b"<f8", b"|O ")
        ),
        "cannot be read",
    ),
    "unknown-member": (
        lambda s, d: _with_array(s, d, "../../evil.npy", b"x"),
        "members a head file never has",
    ),
    "unreferenced-array": (
        lambda s, d: _with_array(s, d, "extra_.npy", _npy(np.zeros(3))),
        "arrays its meta.json never names: ['extra_.npy']",
    ),
    "deep-nesting": (lambda s, d: _nested(s, d, 40), "meta.json nests values more than 32 deep"),
    "deeper-than-json": (lambda s, d: _nested(s, d, 5000), "its meta.json nests values too deeply"),
    "unknown-class": (
        lambda s, d: _edit_meta(s, d, lambda m: m["head"].update({"class": "os.system"})),
        "unknown head class 'os.system'",
    ),
    "crafted-param": (
        lambda s, d: _edit_meta(s, d, lambda m: m["head"]["params"].update(max_iter="many")),
        "The 'max_iter' parameter of BTLinear must be",
    ),
    "dunder-state": (
        lambda s, d: _edit_meta(s, d, lambda m: m["head"]["state"].update(__class__="x")),
        "attributes that are not fitted state: ['__class__']",
    ),
    "wrong-dimension": (
        lambda s, d: _edit_meta(s, d, lambda m: m.update(n_features_in=384)),
        "differs from meta.json's (384)",
    ),
}


@pytest.mark.parametrize("case", list(HEAD_CASES))
def test_a_crafted_head_file_is_one_data_error(case, saved_head, tmp_path):
    craft, message = HEAD_CASES[case]
    path = craft(saved_head, tmp_path / "bad.npz")
    with pytest.raises(DataError) as info:
        load(path)
    text = str(info.value)
    assert message in text, text
    assert str(path) in text
    assert "Save the head again" in text


def test_a_crafted_lightgbm_model_is_a_data_error(tmp_path):
    rng = np.random.RandomState(0)
    X_win, X_lose = rng.standard_normal((60, 4)) + 0.3, rng.standard_normal((60, 4))
    LGBMHead(n_estimators=3, random_state=0).fit(X_win, X_lose, groups=np.arange(60) // 3).save(
        tmp_path / "g.npz"
    )

    def garble(meta):
        meta["head"]["state"]["booster_"] = {"__lightgbm__": "tree\nversion=v4\nnum_class=x\n"}

    path = _edit_meta(tmp_path / "g.npz", tmp_path / "bad.npz", garble)
    with pytest.raises(DataError, match="LightGBM model cannot be read"):
        load(path)


def test_an_ensemble_member_of_the_wrong_shape_is_caught(tmp_path):
    rng = np.random.RandomState(0)
    Ensemble(BTLinear(), n_members=2, random_state=0).fit(
        rng.standard_normal((30, 6)), rng.standard_normal((30, 6))
    ).save(tmp_path / "e.npz")
    path = _with_array(tmp_path / "e.npz", tmp_path / "bad.npz", "members_/1/coef_.npy", _npy(np.zeros(5)))
    with pytest.raises(DataError, match="does not fit together"):
        load(path)


def test_a_zip_bomb_is_refused_before_inflating(saved_head, tmp_path):
    members = _members(saved_head)
    members["coef_.npy"] = _npy(np.zeros(64 << 20, dtype=np.uint8))  # 64 MB of zeros: 64 KB deflated
    path = _rezip(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 512 << 10
    start = time.perf_counter()
    with pytest.raises(DataError, match="a zip bomb"):
        load(path)
    assert time.perf_counter() - start < 0.5


def test_a_zip_member_that_lies_about_its_size_is_refused(saved_head, tmp_path):
    members = _members(saved_head)
    members["coef_.npy"] = _npy(np.zeros(8 << 20, dtype=np.uint8))
    path = _rezip(tmp_path / "liar.npz", members, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("coef_.npy")
    for offset in _central_entries(raw, b"coef_.npy"):
        raw[offset + 24 : offset + 28] = (100).to_bytes(4, "little")  # declared uncompressed size
    raw[info.header_offset + 22 : info.header_offset + 26] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    start = time.perf_counter()
    with pytest.raises(DataError, match="declares a wrong uncompressed size"):
        load(path)
    assert time.perf_counter() - start < 0.5


def _central_entries(raw: bytearray, name: bytes) -> list[int]:
    offsets, at = [], raw.find(b"PK\x01\x02")
    while at != -1:
        length = int.from_bytes(raw[at + 28 : at + 30], "little")
        if raw[at + 46 : at + 46 + length] == name:
            offsets.append(at)
        at = raw.find(b"PK\x01\x02", at + 4)
    return offsets


def test_a_good_head_still_round_trips(saved_head):
    head = load(saved_head, expected_encoder_id="enc")
    assert head.coef_.shape == (16,) and np.isfinite(head.coef_).all()


def test_reward_with_a_crafted_head_exits_2_without_traceback(tmp_path, capsys):
    rng = np.random.RandomState(0)
    BTLinear().fit(rng.standard_normal((30, 16)), rng.standard_normal((30, 16))).save(tmp_path / "h.npz")
    path = _with_array(tmp_path / "h.npz", tmp_path / "bad.npz", "coef_.npy", _npy(np.full(16, np.nan)))
    data = _write(tmp_path / "d.jsonl", _jsonl(*SHAPES["pairs"]))
    code, err = _run(["reward", str(path), str(data), "--out", str(tmp_path / "r.csv")], capsys)
    assert code == 2 and str(path) in err and "NaN" in err and "Traceback" not in err
    assert not (tmp_path / "r.csv").exists()


# -- strategies ---------------------------------------------------------------------------------
def _pool(n: int = 12, d: int = 4) -> np.ndarray:
    return np.random.RandomState(0).standard_normal((n, d))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("where", ["D_pool", "labelled"])
@pytest.mark.parametrize("value", [np.nan, np.inf, 1e200])
def test_strategies_refuse_non_finite_or_huge_input(name, where, value):
    D, labelled = _pool(), _pool(3)
    if where == "D_pool":
        D[5, 2] = value
    else:
        labelled[1, 0] = value
    problem = "NaN or infinity" if not np.isfinite(value) else "must stay below"
    with pytest.raises(DataError, match=f"{where} row {5 if where == 'D_pool' else 1} holds.*"):
        STRATEGIES[name](random_state=0).select(D, labelled=labelled, batch_size=3)
    with pytest.raises(DataError, match=problem):
        STRATEGIES[name](random_state=0).select(D, labelled=labelled, batch_size=3)


def test_kcenter_with_nan_labelled_does_not_return_the_first_rows():
    labelled = _pool(2)
    labelled[0, 0] = np.nan
    with pytest.raises(DataError, match="labelled row 0 holds NaN"):
        KCenter(random_state=0).select(_pool(), labelled=labelled, batch_size=5)


@pytest.mark.parametrize("cls", [DOptimal, VOptimal])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0, 1e-300, 1e300])
def test_prior_strength_must_be_a_sensible_finite_number(cls, value):
    with pytest.raises(ValueError, match=f"The 'prior_strength' parameter of {cls.__name__} must be"):
        cls(prior_strength=value, random_state=0).select(_pool(), batch_size=2)


@pytest.mark.parametrize("cls", [DOptimal, VOptimal])
def test_prior_strength_changes_the_choice(cls):
    D = np.random.RandomState(1).standard_normal((40, 6)) * np.linspace(0.2, 3, 40)[:, None]
    picks = {tuple(cls(prior_strength=p, random_state=0).select(D, batch_size=6)) for p in (1e-3, 1e3)}
    assert len(picks) == 2


def test_a_csv_field_longer_than_the_csv_modules_limit_reads(tmp_path):
    import csv

    from embrm.data import read_any

    long = "x" * 200_000  # the csv module refuses fields over 131,072 characters by default
    path = _write(tmp_path / "d.csv", _csv(["prompt", "chosen", "rejected"], [["p", long, "no"]]))
    assert read_any(path).frame["chosen"].to_list() == [long]
    assert csv.field_size_limit() == 131_072  # restored
