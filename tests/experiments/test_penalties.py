"""experiments/penalties.py: the fitted representations' penalties, scored on data disjoint from
the representations study."""

from __future__ import annotations

import polars as pl
import pytest
from _require import require
from test_quick import _load

require("model2vec")


@pytest.fixture(scope="module")
def module():
    return _load("penalties")


def test_the_data_is_disjoint_from_the_studys(module):
    ids = module.disjoint_prompt_ids(200)
    study_ids = module.study.study_prompt_ids(100)
    assert len(ids) == 200 and not set(ids) & set(study_ids)
    assert set(ids) | set(study_ids) == set(module.study.study_prompt_ids(300))  # the next ones
    assert module.STUDY_HH == module.study.FULL["n_hh"] == 1000


def test_the_study_settings_are_the_ones_experiment_6_uses(module):
    assert module.study_setting("lexical") == module.study.LEXICAL_HEAD["alpha"] == 3.0
    assert module.study_setting("static-tuned") == 100.0  # RewardTunedStatic's default
    for rep, grid in module.FULL["grid"].items():
        assert module.study_setting(rep) in grid  # the study's choice is checked, not assumed


def test_findings_name_the_best_setting_and_the_studys_distance_from_it(module):
    table = pl.DataFrame({
        "representation": ["lexical"] * 3, "alpha": [1.0, 3.0, 10.0], "study_setting": [False, True, False],
        "hard_pairwise_accuracy": [0.61, 0.64, 0.66], "hh_pairwise_accuracy": [0.62, 0.60, 0.58]})
    headline, findings = module.findings(table)
    assert findings == [
        "lexical, hard set, pairwise accuracy, by alpha: 1: 0.610, 3: 0.640, 10: 0.660; best alpha=10; "
        "the study's alpha=3 is 0.020 below the best.",
        "lexical, hh, pairwise accuracy, by alpha: 1: 0.620, 3: 0.600, 10: 0.580; best alpha=1; "
        "the study's alpha=3 is 0.020 below the best.",
    ]
    assert headline == {"lexical: best alpha (hard set)": "10", "lexical: best alpha (hh)": "1"}


@pytest.mark.slow
def test_quick_run_scores_every_setting_out_of_fold(tmp_path, data_dir, encoder, module):
    summary = module.main(["--quick", "--out", str(tmp_path), "--data-dir", str(data_dir),
                           "--cache-dir", str(encoder.cache_dir)])
    table = pl.read_csv(tmp_path / "results.csv")
    assert table.select("representation", "alpha").rows() == [
        ("lexical", 1.0), ("lexical", 3.0), ("static-tuned", 100.0)]
    assert table["study_setting"].to_list() == [False, True, True]
    for metric in ("hard_pairwise_accuracy", "hh_pairwise_accuracy"):
        assert table[metric].is_between(0, 1).all()
    assert table["fit_seconds"].min() > 0
    assert summary["setup"]["n_prompts"] == 6 and summary["setup"]["n_hh_pairs"] == 24
    assert len(summary["findings"]) == 4
