"""Preference data: validated containers, readers, built-in data sets, pair builders, and the
one conversation -> text rendering every reader and scorer uses.

Prompt-grouped splits live in :mod:`embrm.model_selection`; ``embrm.data.group_kfold`` and
``embrm.data.group_train_test_split`` still work for one release, with a ``DeprecationWarning``.
"""

import importlib
import warnings
from typing import Any

from ._containers import PreferencePairs, ScoredResponses
from ._conversation import (
    content_key,
    is_conversation,
    render_conversation,
    render_prompt,
    render_response,
)
from ._datasets import DATASETS, DatasetInfo, data_dir, load_dataset
from ._io import pairs_from_frame, peek_columns, read_any, read_pairs, read_responses, read_scored, read_table
from ._pairs import simulated_labels, within_prompt_pairs

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

#: Names that moved to another package: old name here -> (module, name) there.
_MOVED = {
    "group_kfold": ("embrm.model_selection", "group_kfold"),
    "group_train_test_split": ("embrm.model_selection", "group_train_test_split"),
}


def __getattr__(name: str) -> Any:
    """The moved names, with a ``DeprecationWarning`` naming their new home."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, new = _MOVED[name]
    warnings.warn(
        f"embrm.data.{name} moved to {module}.{new}; import it from there "
        "(the old name is removed in the next release).",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), new)
