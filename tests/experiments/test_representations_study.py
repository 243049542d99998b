"""experiments/representations.py --quick end to end: every representation, head and baseline
is scored on the same folds, and the closed-form relations between the rows hold."""

from __future__ import annotations

import json

import polars as pl
import pytest
from _require import require
from test_quick import _load

require("gguf", reason="the SmolLM2 rows need embrm[export] (gguf)")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir, encoder):
    out = tmp_path_factory.mktemp("representations")
    module = _load("representations")
    summary = module.main(["--quick", "--out", str(out), "--data-dir", str(data_dir),
                           "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "50"])
    return module, summary, out


def test_outputs_and_summary(run):
    module, summary, out = run
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["quick"] and summary["findings"] and summary["headline"]
    assert (out / "quality_vs_cost.png").is_file()
    assert set(summary["setup"]["representations"]) == set(module.STUDY)


def test_every_representation_and_head_is_scored(run):
    module, _, out = run
    scored = pl.read_csv(out / "scored.csv")
    hard = scored.filter(pl.col("data") == "alpacaeval-hard")
    for rep, options in module.STUDY.items():
        heads = set(module.study_heads(options))
        assert set(hard.filter(pl.col("representation") == rep)["head"]) == heads
        assert heads == ({"bt-linear"} if "fitted" in options else set(module.HEAD_NAMES))
    hh = pl.read_csv(out / "hh.csv")
    n_rows = sum(len(module.study_heads(options)) for options in module.STUDY.values())
    assert hh.height == n_rows + 1  # + the length-only head


def test_baselines_bound_and_anchor_the_rows(run):
    _, _, out = run
    scored = pl.read_csv(out / "scored.csv")
    for dataset in ("alpacaeval-hard", "alpacaeval"):
        part = scored.filter(pl.col("data") == dataset)
        by_head = {r["head"]: r for r in part.filter(pl.col("representation") == "–").iter_rows(named=True)}
        assert part["bon"].max() == pytest.approx(by_head["golden"]["bon"])  # nothing beats the golden
        assert by_head["golden"]["pairwise_accuracy"] == 1.0 and by_head["random"]["pairwise_accuracy"] == 0.5
        assert by_head["random"]["attack_rank"] == 0.5  # every tie counts one half
        assert by_head["golden"]["attack_rank"] > 0.5  # the judge is hacked by the null-model string
        # a BT head on log length alone ranks by length: exactly the longest answer, gain 0
        length_only = by_head["length-only"]
        assert length_only["bon"] == pytest.approx(by_head["longest"]["bon"])
        assert length_only["vs_longest"] == 0 and length_only["len_spearman"] == pytest.approx(1.0)


def test_layer_sweep_covers_every_probe_layer(run):
    _, _, out = run
    sweep = pl.read_csv(out / "layer_sweep.csv")
    assert sorted(set(sweep["layer"])) == list(range(3, 31, 3))
    assert sweep.group_by("layer").len()["len"].to_list() == [2] * 10


def test_a_part_of_the_grid(tmp_path, data_dir, encoder):
    module = _load("representations")
    summary = module.main(["--quick", "--out", str(tmp_path), "--data-dir", str(data_dir),
                           "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "20",
                           "--data", "alpacaeval-hard", "--representations", "minilm+length",
                           "--n-prompts", "3"])
    scored = pl.read_csv(tmp_path / "scored.csv")
    assert set(scored["data"]) == {"alpacaeval-hard"}
    assert set(scored["representation"]) == {"–", "minilm+length"}
    assert set(scored.filter(pl.col("representation") == "–")["head"]) == {
        "random", "longest", "golden", "length-only"}
    assert not (tmp_path / "hh.csv").exists() and not (tmp_path / "layer_sweep.csv").exists()
    assert summary["setup"]["n_prompts"] == 3 and summary["setup"]["n_hh_pairs"] == 0
    assert list(summary["setup"]["representations"]) == ["minilm+length"]


@pytest.mark.parametrize("option, value, message", [("--n-prompts", "806", "1 to 805 - offset"),
                                                     ("--n-hh", "0", "pass 1 to 2307")])
def test_sizes_out_of_range_are_refused(tmp_path, data_dir, option, value, message):
    module = _load("representations")
    with pytest.raises(SystemExit, match=message):
        module.main(["--quick", "--out", str(tmp_path), "--data-dir", str(data_dir), option, value])
