"""experiments/representations.py --quick with the reward-tuned static rows: fitted in each fold,
scored with BT linear, costed as the static model."""

from __future__ import annotations

import polars as pl
from _require import require
from test_quick import _load

require("model2vec")


def test_static_tuned_rows_are_fitted_in_each_fold(tmp_path, data_dir, encoder):
    module = _load("representations")
    summary = module.main(["--quick", "--out", str(tmp_path), "--data-dir", str(data_dir),
                           "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "20",
                           "--representations", "static-tuned", "--data", "alpacaeval-hard", "hh-harmless"])
    scored = pl.read_csv(tmp_path / "scored.csv").filter(pl.col("representation") == "static-tuned")
    hh = pl.read_csv(tmp_path / "hh.csv").filter(pl.col("representation") == "static-tuned")
    assert scored["head"].to_list() == ["bt-linear"] == hh["head"].to_list()
    row = scored.row(0, named=True)
    assert 0 <= row["attack_rank"] <= 1 and 0 < row["pairwise_accuracy"] < 1
    assert row["embed_texts_per_s"] > 0 and row["fit_seconds"] > 0
    assert 0 < hh["pairwise_accuracy"][0] < 1
    assert summary["setup"]["representations"] == {"static-tuned": {"fitted": "static-tuned"}}
    assert summary["new_embeddings"] == 0  # no encoder: each fold fits the tuned model
    learned = summary["setup"]["static_tuned_top_tokens"]  # what the tuned table learned, in the record
    assert set(learned) == {"alpacaeval-hard", "hh-harmless"} and len(learned["hh-harmless"]) == 20
    weights = [t["weight"] for t in learned["hh-harmless"]]
    assert weights[:10] == sorted(weights[:10], reverse=True) and weights[0] > 1 > weights[-10]
    assert module.study_heads(module.STUDY["static-tuned"])["bt-linear"](0).get_params()["alpha"] == 1000.0
