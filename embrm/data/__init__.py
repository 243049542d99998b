"""Preference data: validated containers, readers, built-in data sets, pair builders, splits."""

from ._containers import PreferencePairs, ScoredResponses
from ._datasets import DATASETS, DatasetInfo, load_dataset
from ._io import pairs_from_frame, read_any, read_pairs, read_scored, render_conversation
from ._pairs import within_prompt_pairs
from ._split import group_kfold, group_train_test_split

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "PreferencePairs",
    "ScoredResponses",
    "group_kfold",
    "group_train_test_split",
    "load_dataset",
    "pairs_from_frame",
    "read_any",
    "read_pairs",
    "read_scored",
    "render_conversation",
    "within_prompt_pairs",
]
