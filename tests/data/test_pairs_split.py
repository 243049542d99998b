"""Pair builders with simulated annotators, and the realised label error rate of pairs.

The prompt-grouped splits are tested in tests/test_model_selection.py."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs
from embrm.exceptions import DataError


def _scored(n_prompts=30, k=8, seed=0) -> ScoredResponses:
    rng = np.random.RandomState(seed)
    return ScoredResponses(
        pl.DataFrame(
            {
                "prompt_id": np.repeat(np.arange(n_prompts), k),
                "prompt": [f"p{i}" for i in np.repeat(np.arange(n_prompts), k)],
                "response": [f"r{i}" for i in range(n_prompts * k)],
                "score": rng.normal(size=n_prompts * k),
            }
        )
    )


def test_noiseless_all_pairs():
    data = _scored()
    pairs = within_prompt_pairs(data)
    assert len(pairs) == 30 * 8 * 7 // 2
    assert pairs.label_error_rate == 0.0
    frame = pairs.frame
    assert (frame["chosen_score"] > frame["rejected_score"]).all()
    assert (frame["group"].to_numpy() == data.groups[frame["chosen_index"].to_numpy()]).all()
    assert (
        data.groups[frame["chosen_index"].to_numpy()] == data.groups[frame["rejected_index"].to_numpy()]
    ).all()


def test_subset_per_prompt_and_determinism():
    data = _scored()
    a = within_prompt_pairs(data, pairs_per_prompt=5, beta=2.0, random_state=3)
    b = within_prompt_pairs(data, pairs_per_prompt=5, beta=2.0, random_state=3)
    assert len(a) == 30 * 5
    assert a.frame.equals(b.frame)
    assert np.bincount(a.groups).max() == 5


def test_annotation_quality_controls_error_rate():
    data = _scored(n_prompts=200)
    rates = [
        within_prompt_pairs(data, beta=b, random_state=0).label_error_rate for b in (0.0, 1.0, 5.0, 100.0)
    ]
    assert abs(rates[0] - 0.5) < 0.03  # beta = 0: coin flips
    assert rates[0] > rates[1] > rates[2] > rates[3]
    assert rates[3] < 0.01


def test_pair_builder_bad_input():
    with pytest.raises(DataError, match="beta must be >= 0"):
        within_prompt_pairs(_scored(), beta=-1)
    single = _scored(k=1)
    with pytest.raises(DataError, match="No pairs could be built"):
        within_prompt_pairs(single)
    with pytest.raises(DataError, match="No pairs could be built"):
        within_prompt_pairs(single, beta=1.0)


def test_label_error_rate_is_the_share_of_flipped_pairs_of_any_subset():
    pairs = within_prompt_pairs(_scored(), beta=1.0, random_state=0)
    flipped = pairs.frame["flipped"].to_numpy()
    assert 0.1 < pairs.label_error_rate < 0.5 and pairs.label_error_rate == flipped.mean()
    rows = np.flatnonzero(flipped)[:3].tolist() + np.flatnonzero(~flipped)[:1].tolist()
    assert pairs.take(np.array(rows)).label_error_rate == 0.75  # three flipped of four
    # pairs without simulated labels (given, or a flipped column that is not boolean) have none
    assert PreferencePairs(pairs.frame.drop("flipped")).label_error_rate is None
    text = pairs.frame.with_columns(pl.col("flipped").cast(pl.String))
    assert PreferencePairs(text).label_error_rate is None
