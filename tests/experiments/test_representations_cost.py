"""experiments/representations.py's cost/quality table and findings, on planted rows: each
representation's best head per data set, its cost, and the goals checked against the figures."""

from __future__ import annotations

import polars as pl
import pytest
from test_quick import _load


def _scored(dataset: str, rep: str, head: str, bon: float, rate: float) -> dict:
    return {"data": dataset, "representation": rep, "head": head, "bon": bon,
            "bon_ci_low": bon - 1, "bon_ci_high": bon + 1, "vs_longest": bon - 3,
            "vs_longest_ci_low": bon - 4, "vs_longest_ci_high": bon - 2, "vs_length_only": bon - 40,
            "vs_length_only_ci_low": bon - 41, "vs_length_only_ci_high": bon - 39,
            "vs_random": 1.0, "vs_random_ci_low": 0.5, "vs_random_ci_high": 1.5,
            "vs_longest_logit": 0.1, "vs_longest_logit_ci_low": 0.0, "vs_longest_logit_ci_high": 0.2,
            "attack_rank": 0.3, "embed_texts_per_s": rate}


def _baseline(dataset: str, head: str, bon: float) -> dict:
    return {"data": dataset, "representation": "–", "head": head, "bon": bon, "attack_rank": 0.9}


def _pair(rep: str, head: str, accuracy: float, rate: float) -> dict:
    return {"data": "hh-harmless", "representation": rep, "head": head,
            "pairwise_accuracy": accuracy, "pairwise_accuracy_ci_low": accuracy - 0.02,
            "pairwise_accuracy_ci_high": accuracy + 0.02, "vs_length_only": accuracy - 0.55,
            "vs_length_only_ci_low": accuracy - 0.57, "vs_length_only_ci_high": accuracy - 0.53,
            "embed_texts_per_s": rate}


@pytest.fixture(scope="module")
def module():
    return _load("representations")


@pytest.fixture
def tables():
    scored = pl.DataFrame([
        *(_baseline(d, h, b) for d in ("alpacaeval-hard", "alpacaeval")
          for h, b in (("random", 3.0), ("longest", 3.5), ("length-only", 3.5), ("golden", 14.0))),
        _scored("alpacaeval-hard", "minilm", "bt-linear", 5.0, 40.0),
        _scored("alpacaeval-hard", "minilm", "lgbm", 6.0, 40.0),
        _scored("alpacaeval-hard", "lexical", "bt-linear", 7.0, 900.0),
        _scored("alpacaeval", "minilm", "bt-linear", 58.0, 40.0),
        _scored("alpacaeval", "minilm", "classifier", 55.0, 40.0),
        _scored("alpacaeval", "lexical", "bt-linear", 63.0, 900.0),
    ], infer_schema_length=None)
    pairs = pl.DataFrame([_pair("minilm", "bt-linear", 0.60, 40.0), _pair("minilm", "lgbm", 0.62, 40.0),
                          _pair("lexical", "bt-linear", 0.64, 900.0),
                          _pair("smollm2-L15-mean", "bt-linear", 0.67, 1.2)])
    return scored, pairs


def test_cost_table_keeps_each_representations_best_head_per_data_set(module, tables):
    rows = module.cost_table(*tables).to_dicts()
    assert [r["representation"] for r in rows] == ["lexical", "minilm", "smollm2-L15-mean"]  # by cost
    minilm = rows[1]
    assert (minilm["hard_head"], minilm["hard_bon"], minilm["hard_vs_longest"]) == ("lgbm", 6.0, 3.0)
    assert (minilm["51_head"], minilm["51_bon"], minilm["51_vs_length_only"]) == ("bt-linear", 58.0, 18.0)
    assert (minilm["hh_head"], minilm["hh_pairwise_accuracy"]) == ("lgbm", 0.62)
    assert minilm["embed_texts_per_s"] == 40.0
    smollm = rows[2]  # scored on HH only: no hard-set or 51-model figures
    assert smollm["hard_bon"] is None and smollm["51_bon"] is None and smollm["embed_texts_per_s"] == 1.2


def test_findings_check_the_goals_and_speak_for_each_lever(module, tables):
    scored, pairs = tables
    module.LEARNED.clear()
    module.LEARNED["hh-harmless"] = [{"token": "sorry", "weight": 2.5, "n_texts": 9},
                                     {"token": "sure", "weight": 0.4, "n_texts": 7}]
    _, findings = module._headline(scored, pairs, pl.DataFrame(), module.cost_table(scored, pairs))
    module.LEARNED.clear()
    text = "\n".join(findings)
    assert "alpacaeval (51 models): best lexical + bt-linear 63.00 [62.00, 64.00]%" in text
    assert "goal 62% met" in text
    assert "best smollm2-L15-mean + bt-linear 0.670 [0.650, 0.690]" in text and "goal 0.66 met" in text
    lexical = next(f for f in findings if f.startswith("lexical ("))
    assert lexical.startswith("lexical (900.0 texts/s): hard set 7.00 [6.00, 8.00]% (bt-linear; gain "
                              "over longest 4.00 [3.00, 5.00])")
    assert not any(f.startswith("minilm (") for f in findings)  # not a lever: in the table only
    assert "weighs up most: 'sorry'; down most: 'sure'." in findings[-1]


def test_a_goal_missed_is_said(module, tables):
    scored, pairs = tables
    scored = scored.filter(pl.col("representation") != "lexical")
    pairs = pairs.filter(pl.col("representation") != "smollm2-L15-mean")
    _, findings = module._headline(scored, pairs, pl.DataFrame(), module.cost_table(scored, pairs))
    text = "\n".join(findings)
    assert "goal 62% NOT met" in text and "goal 0.66 NOT met" in text
