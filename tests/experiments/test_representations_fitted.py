"""experiments/representations.py --quick with the fitted representations (lexical and the
reward-tuned static model): fitted in each fold, scored with BT linear, costed, and what the tuned
table learned kept in the record."""

from __future__ import annotations

import polars as pl
import pytest
from _require import require
from test_quick import _load

require("model2vec")


@pytest.mark.parametrize("rep", ["lexical", "static-tuned"])
def test_fitted_rows_are_fitted_in_each_fold(tmp_path, data_dir, encoder, rep):
    module = _load("representations")
    cache = tmp_path / "cache" if rep == "lexical" else encoder.cache_dir  # lexical reads no model
    summary = module.main(["--quick", "--out", str(tmp_path), "--data-dir", str(data_dir),
                           "--cache-dir", str(cache), "--n-bootstrap", "20",
                           "--representations", rep, "--data", "alpacaeval-hard", "hh-harmless"])
    scored = pl.read_csv(tmp_path / "scored.csv").filter(pl.col("representation") == rep)
    hh = pl.read_csv(tmp_path / "hh.csv").filter(pl.col("representation") == rep)
    assert scored["head"].to_list() == ["bt-linear"] == hh["head"].to_list()
    row = scored.row(0, named=True)
    assert 0 <= row["attack_rank"] <= 1 and 0 < row["pairwise_accuracy"] < 1
    assert row["embed_texts_per_s"] > 0 and row["fit_seconds"] > 0
    assert 0 < hh["pairwise_accuracy"][0] < 1
    assert summary["setup"]["representations"] == {rep: {"fitted": rep}}
    assert summary["new_embeddings"] == 0  # no encoder: each fold fits the representation
    costed = {r["representation"]: r for r in summary["tables"]["cost_quality"]}
    assert costed[rep]["embed_texts_per_s"] == row["embed_texts_per_s"]
    assert any(f.startswith(f"{rep} (") for f in summary["findings"])  # a lever: a finding of its own
    learned = summary["setup"]["static_tuned_top_tokens"]  # what the tuned table learned, in the record
    if rep == "lexical":
        assert learned == {}
        assert module.study_heads(module.STUDY[rep])["bt-linear"](0).get_params()["alpha"] == 3.0
        return
    assert set(learned) == {"alpacaeval-hard", "hh-harmless"} and len(learned["hh-harmless"]) == 20
    weights = [t["weight"] for t in learned["hh-harmless"]]
    assert weights[:10] == sorted(weights[:10], reverse=True) and weights[0] > 1 > weights[-10]
    assert module.study_heads(module.STUDY[rep])["bt-linear"](0).get_params()["alpha"] == 1000.0
