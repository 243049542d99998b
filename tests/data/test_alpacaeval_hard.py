"""The built-in ``alpacaeval-hard`` variant: a band of models of similar quality."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm.data import DATASETS, ScoredResponses, load_dataset
from embrm.data._datasets import _HARD_BAND_EXCLUDED as HARD_BAND_EXCLUDED
from embrm.data._datasets import _HARD_BAND_SIZE as HARD_BAND_SIZE


@pytest.fixture(scope="module")
def full(data_dir) -> pl.DataFrame:
    return load_dataset("alpacaeval", data_dir).frame


@pytest.fixture(scope="module")
def hard(data_dir) -> ScoredResponses:
    return load_dataset("alpacaeval-hard", data_dir)


def test_registered_beside_alpacaeval():
    assert DATASETS["alpacaeval-hard"].filename == DATASETS["alpacaeval"].filename
    assert DATASETS["alpacaeval-hard"].kind == "scored"


def test_band_of_models_on_every_prompt(hard, full):
    assert isinstance(hard, ScoredResponses) and hard.frame.columns == full.columns
    models = hard.frame["model"].unique()
    assert HARD_BAND_SIZE == 10 and models.len() == HARD_BAND_SIZE
    assert not models.is_in(HARD_BAND_EXCLUDED).any()
    per_prompt = hard.frame.group_by("prompt_id").agg(pl.len(), pl.col("model").n_unique().alias("models"))
    assert per_prompt.height == full["prompt_id"].n_unique()
    assert (per_prompt["len"] == HARD_BAND_SIZE).all() and (per_prompt["models"] == HARD_BAND_SIZE).all()


def test_band_is_the_narrowest_window(hard, full):
    means = (
        full.filter(~pl.col("model").is_in(HARD_BAND_EXCLUDED))
        .group_by("model")
        .agg(pl.col("judge_pref").mean())
        .sort("judge_pref", "model")
    )
    chosen = means["model"].is_in(hard.frame["model"].unique().to_list()).to_numpy()
    start = int(np.argmax(chosen))
    assert chosen[start : start + HARD_BAND_SIZE].all() and chosen.sum() == HARD_BAND_SIZE
    mean = means["judge_pref"].to_numpy()
    spread = mean[HARD_BAND_SIZE - 1 :] - mean[: mean.size - HARD_BAND_SIZE + 1]
    assert (spread[start] < np.delete(spread, start)).all()


def test_rows_are_alpacaeval_rows(hard, full):
    assert hard.frame.join(full, on=full.columns, how="anti", nulls_equal=True).height == 0
