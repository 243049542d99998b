"""Preference data: validated containers, readers, built-in data sets, pair builders, and the
one conversation -> text rendering every reader and scorer uses.

Prompt-grouped splits live in :mod:`embrm.model_selection`; ``embrm.data.group_kfold`` and
``embrm.data.group_train_test_split`` still work for one release, with a ``DeprecationWarning``.
"""

from embrm._core.compat import renamed
from embrm.data._containers import PreferencePairs, ScoredResponses
from embrm.data._conversation import (
    content_key,
    is_conversation,
    render_conversation,
    render_prompt,
    render_response,
)
from embrm.data._datasets import DATASETS, DatasetInfo, data_dir, load_dataset
from embrm.data._io import (
    pairs_from_frame,
    peek_columns,
    read_any,
    read_pairs,
    read_responses,
    read_scored,
    read_table,
)
from embrm.data._pairs import simulated_labels, within_prompt_pairs

__all__ = [
    "peek_columns",
    "read_table",
    "DATASETS",
    "DatasetInfo",
    "PreferencePairs",
    "ScoredResponses",
    "content_key",
    "data_dir",
    "is_conversation",
    "load_dataset",
    "pairs_from_frame",
    "read_any",
    "read_pairs",
    "read_responses",
    "read_scored",
    "render_conversation",
    "render_prompt",
    "render_response",
    "simulated_labels",
    "within_prompt_pairs",
]

__getattr__ = renamed(
    "embrm.data",
    {
        "group_kfold": "embrm.model_selection.group_kfold",
        "group_train_test_split": "embrm.model_selection.group_train_test_split",
    },
)
