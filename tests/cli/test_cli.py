"""The embrm command line, end to end on small real subsets (through the real encoder)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import polars as pl
import pytest

from embrm.cli import main


@pytest.fixture(scope="module")
def hh_file(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("cli") / "hh-small.parquet"
    pl.read_parquet(data_dir / "hh_rlhf_harmless_test.parquet").head(120).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def scored_file(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("cli") / "alpaca-small.parquet"
    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet").filter(pl.col("prompt_id") < 6)
    p = frame["judge_pref"].clip(1e-9, 1 - 1e-9)
    frame.with_columns((p.log() - (1 - p).log()).alias("score")).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def cache_dir(encoder):
    """The session's shared cache: its exported model and vectors are reused."""
    return encoder.cache_dir


@pytest.fixture
def fresh_cache(fresh_cache, static_model_dir):
    """The scratch cache, holding the distilled static model (the CLI's default) too."""
    shutil.copytree(static_model_dir, fresh_cache / "models" / static_model_dir.name)
    return fresh_cache


def test_default_is_static_and_minilm_one_flag_away(hh_file, fresh_cache, capsys):
    args = ["embed", str(hh_file), "--cache-dir", str(fresh_cache), "--limit", "3"]
    assert main(args) == 0
    assert "-m2v256-" in capsys.readouterr().out
    assert main([*args, "--model", "minilm"]) == 0
    out = capsys.readouterr().out
    assert "all-MiniLM-L6-v2-53aa51172d14-fp32:" in out and "m2v" not in out
    from argparse import Namespace

    from embrm.cli import _encoder

    int8 = _encoder(Namespace(model=None, quantize=True, cache_dir=str(fresh_cache)))  # no export yet
    assert int8.identity.endswith("-int8")


def test_embed_twice_second_run_is_all_cached(hh_file, fresh_cache, capsys):
    assert main(["embed", str(hh_file), "--cache-dir", str(fresh_cache), "--limit", "20"]) == 0
    first = capsys.readouterr().out
    assert "40 texts" in first and "40 new, 0 from cache" in first
    assert main(["embed", str(hh_file), "--cache-dir", str(fresh_cache), "--limit", "20"]) == 0
    assert "0 new, 40 from cache" in capsys.readouterr().out


def test_embed_picks_a_named_representation(hh_file, fresh_cache, capsys):
    args = ["embed", str(hh_file), "--cache-dir", str(fresh_cache), "--limit", "4", "--model", "minilm-split"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "+split-v1" in out and "12 texts" in out  # 8 answers and their 4 distinct prompts, each once
    assert main([*args[:-1], "no-such-representation"]) == 2
    assert "no-such-representation" in capsys.readouterr().err


def test_train_reward_eval_pairs(hh_file, cache_dir, tmp_path, capsys):
    head = tmp_path / "head.npz"
    args = ["--cache-dir", str(cache_dir)]
    assert main(["train", str(hh_file), "--head", "bt-linear", "--out", str(head), *args]) == 0
    out = capsys.readouterr().out
    assert "held-out pairwise accuracy" in out and "fit on 96 pairs" in out
    rewards = tmp_path / "rewards.csv"
    assert main(["reward", str(head), str(hh_file), "--out", str(rewards), *args]) == 0
    frame = pl.read_csv(rewards)
    assert frame.height == 120 and {"reward_chosen", "reward_rejected"} <= set(frame.columns)
    assert main(["eval", str(head), str(hh_file), *args]) == 0
    table = capsys.readouterr().out
    assert "accuracy" in table and "ece" in table


def test_eval_scored_with_plot(scored_file, cache_dir, tmp_path, capsys):
    head = tmp_path / "head.npz"
    args = ["--cache-dir", str(cache_dir)]
    assert (
        main(
            [
                "train",
                str(scored_file),
                "--head",
                "classifier",
                "--test-size",
                "0.34",
                "--out",
                str(head),
                *args,
            ]
        )
        == 0
    )
    assert "bon@all" in capsys.readouterr().out
    png = tmp_path / "bon.png"
    assert main(["eval", str(head), str(scored_file), "--plot", str(png), *args]) == 0
    out = capsys.readouterr().out
    assert "spearman" in out and png.read_bytes()[:4] == b"\x89PNG"


def test_head_from_another_encoder_is_refused(hh_file, cache_dir, tmp_path, capsys):
    from embrm.heads import BTLinear

    rng = np.random.RandomState(0)
    head = BTLinear().fit(rng.normal(size=(20, 384)), rng.normal(size=(20, 384)), encoder_id="other-model")
    head.save(tmp_path / "h.npz")
    assert main(["eval", str(tmp_path / "h.npz"), str(hh_file), "--cache-dir", str(cache_dir)]) == 2
    assert "other-model" in capsys.readouterr().err


def test_cache_verify_finds_and_repairs_corruption(hh_file, fresh_cache, capsys):
    cache = fresh_cache
    assert main(["embed", str(hh_file), "--cache-dir", str(cache), "--limit", "5"]) == 0
    shard = next(cache.glob("vectors/*/shard-*[0-9a-f].npy"))
    shard.write_bytes(shard.read_bytes()[:-8])
    capsys.readouterr()
    assert main(["cache", "verify", "--cache-dir", str(cache)]) == 1
    assert "embrm cache verify --repair" in capsys.readouterr().out
    assert main(["cache", "verify", "--repair", "--cache-dir", str(cache)]) == 0
    assert main(["cache", "verify", "--cache-dir", str(cache)]) == 0
    assert main(["cache", "info", "--cache-dir", str(cache)]) == 0
    # The corrupt shard held the only 5 vectors: repair dropped them, nothing else.
    assert re.search(r": 0 vectors of dim", capsys.readouterr().out)


def test_doctor_and_datasets(data_dir, cache_dir, capsys):
    assert main(["doctor", "--data-dir", str(data_dir), "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "CPUExecutionProvider" in out and "onnxruntime" in out
    assert "hh-harmless" in out and "found" in out
    assert "representation minilm-windows" in out and "representation smollm2-mean" in out
    assert re.search(r"default encoder \(static\) +static backend, all-MiniLM-L6-v2, view joint, text format "
                     r"pr-full-v1, model folder ", out)
    assert main(["datasets", "--data-dir", str(data_dir)]) == 0
    assert "anthropics/hh-rlhf" in capsys.readouterr().out


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["embed", "no-such-data", "--data-dir", str(tmp_path)]) == 2
    assert "neither a built-in data set" in capsys.readouterr().err
    assert main(["embed", "hh-harmless", "--data-dir", str(tmp_path)]) == 2
    assert "looked for" in capsys.readouterr().err


def test_a_report_prints_one_metric_a_line_with_its_interval(capsys):
    from embrm.cli import _print_report
    from embrm.model_selection import Report

    table = pl.DataFrame({"metric": ["bon@all", "p_better", "n_pairs"], "value": [0.5, None, 12.0],
                          "ci_low": [0.25, None, None], "ci_high": [0.75, None, None]})
    _print_report(Report(table))
    assert capsys.readouterr().out.splitlines() == [
        "bon@all                      0.5000  [0.2500, 0.7500]",
        "p_better                          –",
        "n_pairs                     12.0000",
    ]
