"""experiments/bon_smollm.py --quick on the committed SmolLM2 answers: its outputs hold what
must hold whatever the numbers (exact Best-of-N is monotone, N=1 is the random pick)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from test_quick import EXPERIMENTS, _load


@pytest.fixture
def committed_answers_embedded(encoder):
    rows = json.loads((EXPERIMENTS.parent / "docs" / "notebooks" / "policy_candidates.json").read_text())
    prompts = [r["prompt"] for r in rows["prompts"] for _ in r["answers"]]
    encoder.encode_responses(prompts, [a for r in rows["prompts"] for a in r["answers"]])
    return rows


def test_bon_smollm_quick(tmp_path, data_dir, encoder, alpaca_embedded, committed_answers_embedded):
    out = tmp_path / "bon_smollm"
    summary = _load("bon_smollm").main(["--quick", "--out", str(out), "--data-dir", str(data_dir),
                                        "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "50"])
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["warm_cache"], "quick mode must only use cached vectors"
    assert (out / "bon_curve.png").is_file()
    table = pl.read_csv(out / "results.csv")
    assert table["n"].to_list() == [1, 2, 4, 8]
    n = np.array([1, 2, 4, 8])
    np.testing.assert_allclose(table["kl_bound"], np.log(n) - (n - 1) / n)
    # gains are paired within prompts: zero at N=1, and the value minus the N=1 value
    for key in ("proxy", "gold", "gold_oracle"):
        assert table[f"{key}_gain"][0] == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(table[f"{key}_gain"], table[key] - table[key][0], atol=1e-9)
    # exact expected maximum over random N-subsets never falls as N grows
    assert (np.diff(table["proxy"].to_numpy()) >= -1e-9).all()
    assert (np.diff(table["gold_oracle"].to_numpy()) >= -1e-9).all()
    # N=1 is the random pick, whoever picks
    assert table["gold"][0] == pytest.approx(table["gold_oracle"][0])
    assert (table["gold"] <= table["gold_oracle"] + 1e-9).all()
    for key in ("proxy", "gold"):
        low, high = table[f"{key}_ci_low"], table[f"{key}_ci_high"]
        assert ((low <= table[key] + 1e-9) & (table[key] <= high + 1e-9)).all()
    setup = summary["setup"]
    assert setup["proxy"]["n_prompts"] + setup["gold"]["n_prompts"] <= 40
    assert setup["proxy"]["label_error_rate"] > 0 and setup["gold"]["label_error_rate"] == 0
    assert setup["n_prompts"] == len(committed_answers_embedded["prompts"])
