"""`embrm eval` on benchmark files with a `subset` column, beside the length-only baselines:
real HH and AlpacaEval pairs (subsets from their metadata), a hand-counted file, and errors."""

from __future__ import annotations

import re
import warnings

import numpy as np
import polars as pl
import pytest

from embrm.cli import main


def subset_table(out: str) -> dict[str, dict[str, object]]:
    """The printed per-subset table: per subset, its pair counts and (value, low, high) cells."""
    lines = out.split("By subset")[1].strip().splitlines()[1:]  # after the title line
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header == ["subset", "pairs", "head", "longer wins", "shorter wins", "head, chosen shorter",
                      "pairs, chosen shorter"]  # fmt: skip
    table = {}
    for line in lines[1:]:
        name, pairs, *cells, n_shorter = re.split(r"\s{2,}", line.strip())
        parsed = [None if c == "-" else tuple(float(x) for x in re.findall(r"\d+\.\d+", c)) for c in cells]
        table[name] = {
            "pairs": int(pairs),
            "n_chosen_shorter": int(n_shorter),
            **dict(zip(["head", "longer", "shorter", "head_shorter"], parsed, strict=True)),
        }
    return table


def printed(out: str, metric: str) -> float:
    return float(re.search(rf"^{re.escape(metric)}\s+(\S+)", out, re.MULTILINE).group(1))


def head_rewards(head_path, frame: pl.DataFrame, cache_dir) -> tuple[np.ndarray, np.ndarray]:
    """The saved head's rewards of the chosen and the rejected answers, through the CLI's
    default representation."""
    from embrm import Encoder
    from embrm.heads import load

    encoder = Encoder("static", cache_dir=cache_dir, show_progress=False)
    head = load(head_path, expected_encoder_id=encoder.identity)
    prompts = frame["prompt"].to_list()
    return (
        head.reward(encoder.encode_responses(prompts, frame["chosen"].to_list())),
        head.reward(encoder.encode_responses(prompts, frame["rejected"].to_list())),
    )


def longer_wins(frame: pl.DataFrame) -> float:
    chosen, rejected = frame["chosen"].str.len_chars(), frame["rejected"].str.len_chars()
    return float(((chosen > rejected).cast(pl.Float64) + 0.5 * (chosen == rejected).cast(pl.Float64)).mean())


@pytest.fixture(scope="module")
def cache_dir(encoder):
    """The session's shared cache: its distilled static model and vectors are reused."""
    return encoder.cache_dir


@pytest.fixture(scope="module")
def hh_frames(data_dir) -> tuple[pl.DataFrame, pl.DataFrame]:
    """HH-harmless pairs to train on (rows 200-319), and 200 to evaluate with a subset column
    from their dialogue: single-turn (one human turn) or multi-turn."""
    hh = pl.read_parquet(data_dir / "hh_rlhf_harmless_test.parquet").drop("pair_id")
    turns = pl.col("prompt").str.count_matches("Human:")
    test = hh.head(200).with_columns(
        pl.when(turns == 1).then(pl.lit("single-turn")).otherwise(pl.lit("multi-turn")).alias("subset")
    )
    return hh.slice(200, 120), test


@pytest.fixture(scope="module")
def hh_head(hh_frames, cache_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hh-head")
    hh_frames[0].write_parquet(folder / "train.parquet")
    head = folder / "head.npz"
    args = ["train", str(folder / "train.parquet"), "--head", "bt-linear", "--out", str(head)]
    assert main([*args, "--cache-dir", str(cache_dir)]) == 0
    return head


@pytest.fixture(scope="module")
def alpaca_files(data_dir, tmp_path_factory):
    """AlpacaEval: scored answers of every 8th prompt from 1 (to train on), and pairs of two
    models' answers to every 8th prompt from 0, the judge's preferred one chosen, with the
    instruction's origin (helpful_base, koala, oasst, selfinstruct, vicuna) as the subset."""
    folder = tmp_path_factory.mktemp("alpaca")
    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet")
    scored = frame.filter((pl.col("prompt_id") % 8 == 1) & (pl.col("prompt_id") < 240))
    p = scored["judge_pref"].clip(1e-9, 1 - 1e-9)
    scored.with_columns((p.log() - (1 - p).log()).alias("score")).select(
        "prompt_id", "prompt", "response", "score"
    ).write_parquet(folder / "scored.parquet")
    held = frame.filter(pl.col("prompt_id") % 8 == 0)

    def answers(model: str, suffix: str) -> pl.DataFrame:
        rows = held.filter(pl.col("model") == model)
        return rows.select(
            "prompt_id", "subset", "prompt", pl.col("response", "judge_pref").name.suffix(suffix)
        )

    other = answers("gpt-3.5-turbo-1106_verbose", "_b").drop("subset", "prompt")
    both = answers("gpt4_0613_concise", "_a").join(other, on="prompt_id")
    both = both.filter(pl.col("judge_pref_a") != pl.col("judge_pref_b"))
    a_wins = pl.col("judge_pref_a") > pl.col("judge_pref_b")
    pairs = both.select(
        "prompt",
        pl.when(a_wins).then("response_a").otherwise("response_b").alias("chosen"),
        pl.when(a_wins).then("response_b").otherwise("response_a").alias("rejected"),
        "subset",
    )
    pairs.write_parquet(folder / "pairs.parquet")
    return folder / "scored.parquet", folder / "pairs.parquet", pairs


def test_hh_pairs_per_subset_beside_the_length_baselines(hh_frames, hh_head, cache_dir, tmp_path, capsys):
    test = hh_frames[1]
    path = tmp_path / "hh-subsets.jsonl"
    test.write_ndjson(path)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["eval", str(hh_head), str(path), "--cache-dir", str(cache_dir)]) == 0
    assert not [w for w in caught if "'subset'" in str(w.message)]  # a column embrm uses
    out = capsys.readouterr().out
    table = subset_table(out)
    assert list(table) == ["multi-turn", "single-turn", "overall"]
    win, lose = head_rewards(hh_head, test, cache_dir)
    for name in ("multi-turn", "single-turn", "overall"):
        part = test if name == "overall" else test.filter(subset=name)
        mask = np.ones(test.height, bool) if name == "overall" else (test["subset"] == name).to_numpy()
        shorter = mask & (test["chosen"].str.len_chars() < test["rejected"].str.len_chars()).to_numpy()
        row = table[name]
        assert row["pairs"] == part.height and row["n_chosen_shorter"] == shorter.sum()
        assert row["longer"][0] == pytest.approx(longer_wins(part), abs=6e-4)
        assert row["shorter"][0] == pytest.approx(1 - longer_wins(part), abs=6e-4)
        assert row["head"][0] == pytest.approx(np.mean(win[mask] > lose[mask]), abs=6e-4)
        assert row["head_shorter"][0] == pytest.approx(np.mean(win[shorter] > lose[shorter]), abs=6e-4)
        for cell in ("head", "longer", "head_shorter"):
            value, low, high = row[cell]
            assert low <= value <= high and low < high
    assert table["single-turn"]["pairs"] + table["multi-turn"]["pairs"] == 200
    assert table["overall"]["head"][0] == pytest.approx(printed(out, "pairwise_accuracy"), abs=6e-4)


@pytest.fixture(scope="module")
def alpaca_head(alpaca_files, cache_dir, tmp_path_factory):
    head = tmp_path_factory.mktemp("alpaca-head") / "head.npz"
    args = ["train", str(alpaca_files[0]), "--head", "bt-linear", "--out", str(head)]
    assert main([*args, "--cache-dir", str(cache_dir)]) == 0
    return head


def test_alpacaeval_pairs_per_instruction_origin(alpaca_files, alpaca_head, cache_dir, capsys):
    _, pairs_file, pairs = alpaca_files
    head = alpaca_head
    capsys.readouterr()
    assert (
        main(["eval", str(head), str(pairs_file), "--cache-dir", str(cache_dir), "--random-state", "3"]) == 0
    )
    table = subset_table(capsys.readouterr().out)
    origins = ["helpful_base", "koala", "oasst", "selfinstruct", "vicuna"]
    assert list(table) == [*origins, "overall"]
    counts = dict(pairs.group_by("subset").len().iter_rows())
    for name in origins:
        assert table[name]["pairs"] == counts[name]
        assert table[name]["longer"][0] == pytest.approx(longer_wins(pairs.filter(subset=name)), abs=6e-4)
    assert table["overall"]["pairs"] == pairs.height == sum(counts.values())
    # The verbose model's answers are the longer ones, and the judge prefers them more often.
    assert table["overall"]["longer"][0] == pytest.approx(longer_wins(pairs), abs=6e-4)
    assert table["overall"]["longer"][0] > 0.6


def test_a_hand_counted_file_gives_exact_baselines(hh_head, cache_dir, tmp_path, capsys):
    # Chosen longer, longer, shorter, as long in subset A; longer x 6, shorter, as long in B.
    chosen = [100, 80, 10, 60, 300, 50, 70, 90, 20, 400, 40, 8]
    rejected = [50, 20, 90, 60, 30, 40, 7, 9, 10, 100, 400, 8]
    frame = pl.DataFrame(
        {
            "prompt": [f"question {i // 2}" for i in range(12)],
            "chosen": ["a" * n for n in chosen],
            "rejected": ["b" * n for n in rejected],
            "subset": ["A"] * 4 + ["B"] * 8,
        }
    )
    path = tmp_path / "tiny.csv"
    frame.write_csv(path)
    assert main(["eval", str(hh_head), str(path), "--cache-dir", str(cache_dir)]) == 0
    table = subset_table(capsys.readouterr().out)
    longer = [table[s]["longer"][0] for s in ("A", "B", "overall")]
    assert longer == pytest.approx([0.625, 0.8125, 0.75], abs=6e-4)  # (2 + 1/2) / 4, (6 + 1/2) / 8, 9 / 12
    assert [table[s]["shorter"][0] for s in ("A", "B", "overall")] == pytest.approx(
        [0.375, 0.1875, 0.25], abs=6e-4
    )
    assert [(table[s]["pairs"], table[s]["n_chosen_shorter"]) for s in ("A", "B", "overall")] == [
        (4, 1),
        (8, 1),
        (12, 2),
    ]


def test_without_a_subset_column_the_overall_row(hh_frames, hh_head, cache_dir, tmp_path, capsys):
    path = tmp_path / "plain.parquet"
    hh_frames[1].drop("subset").head(60).write_parquet(path)
    assert main(["eval", str(hh_head), str(path), "--cache-dir", str(cache_dir)]) == 0
    table = subset_table(capsys.readouterr().out)
    assert list(table) == ["overall"] and table["overall"]["pairs"] == 60


def test_bad_benchmark_files_are_one_clear_line(hh_head, cache_dir, tmp_path, capsys):
    base = {"prompt": ["q1", "q2"], "chosen": ["a yes", "a no"], "rejected": ["b", "c"]}
    cases = {
        "no-rejected.jsonl": ({"prompt": ["q"], "chosen": ["a"], "subset": ["s"]}, r"missing \['rejected'\]"),
        "null.jsonl": ({**base, "subset": ["s", None]}, "column 'subset': 'subsets' has 1 missing name"),
        "blank.jsonl": ({**base, "subset": ["s", " "]}, "column 'subset': 'subsets' has 1 blank name"),
        "overall.jsonl": ({**base, "subset": ["overall", "s"]}, "uses the name 'overall'"),
    }
    for name, (columns, message) in cases.items():
        path = tmp_path / name
        pl.DataFrame(columns).write_ndjson(path)
        assert main(["eval", str(hh_head), str(path), "--cache-dir", str(cache_dir)]) == 2, name
        err = capsys.readouterr().err
        assert re.search(message, err) and err.startswith("embrm eval: error:") and err.count("\n") == 1, err


def test_scored_sets_report_length_controlled_best_of_n(alpaca_files, alpaca_head, cache_dir, capsys):
    from embrm import Encoder
    from embrm.data import read_scored
    from embrm.evaluate import evaluate_rewards
    from embrm.heads import load

    scored, head = alpaca_files[0], alpaca_head
    capsys.readouterr()
    assert main(["eval", str(head), str(scored), "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    data = read_scored(scored)
    encoder = Encoder("static", cache_dir=cache_dir, show_progress=False)
    reward = load(head, expected_encoder_id=encoder.identity).reward(data.embed(encoder))
    length = data.frame["response"].str.len_chars().to_numpy()
    report = evaluate_rewards(reward, data.scores, data.groups, length=length, n_bootstrap=0)
    rows = dict(report.select("metric", "value").iter_rows())
    for metric in ("bon@all", "bon_lc@all", "bon@4", "bon_lc@4", "random"):
        assert printed(out, metric) == pytest.approx(rows[metric], abs=5e-5)
    assert rows["bon_lc@all"] != pytest.approx(rows["bon@all"])
