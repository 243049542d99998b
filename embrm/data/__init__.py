"""Preference data: validated containers, readers, built-in data sets, pair builders, splits."""

from ._containers import PreferencePairs, ScoredResponses
from ._datasets import (
    DATASETS,
    HARD_BAND_EXCLUDED,
    HARD_BAND_SIZE,
    DatasetInfo,
    data_dir,
    dataset_path,
    hard_band_models,
    load_dataset,
)
from ._io import pairs_from_frame, read_any, read_pairs, read_scored, render_conversation
from ._pairs import within_prompt_pairs
from ._split import group_kfold, group_train_test_split

__all__ = [
    "DATASETS",
    "HARD_BAND_EXCLUDED",
    "HARD_BAND_SIZE",
    "DatasetInfo",
    "PreferencePairs",
    "ScoredResponses",
    "data_dir",
    "dataset_path",
    "group_kfold",
    "group_train_test_split",
    "hard_band_models",
    "load_dataset",
    "pairs_from_frame",
    "read_any",
    "read_pairs",
    "read_scored",
    "render_conversation",
    "within_prompt_pairs",
]
