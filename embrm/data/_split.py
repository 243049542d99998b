"""Splits that keep every prompt on one side: no prompt leaks between train and test."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.utils import check_random_state

from embrm._groups import unique_groups
from embrm.exceptions import DataError


def group_kfold(
    groups: np.ndarray, n_splits: int = 5, random_state: int | np.random.RandomState | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """K folds by group: prompts are shuffled (seeded) and dealt into ``n_splits`` folds.

    Parameters
    ----------
    groups : array of shape (n,)
        Group (prompt) id of each row.
    n_splits : int, default 5
    random_state : int, RandomState or None
        Seeds the shuffle of the prompts; None draws a fresh one.

    Yields
    ------
    train_index, test_index : ndarray of int
        Row positions; no group appears in both.

    Examples
    --------
    >>> import numpy as np
    >>> groups = np.array([0, 0, 1, 1, 2, 2])
    >>> [groups[test].tolist() for _, test in group_kfold(groups, n_splits=3, random_state=0)]
    [[2, 2], [1, 1], [0, 0]]
    """
    groups = np.asarray(groups)
    unique = unique_groups(groups, n_splits)
    fold_of_group = np.empty(len(unique), dtype=np.int64)
    fold_of_group[check_random_state(random_state).permutation(len(unique))] = (
        np.arange(len(unique)) % n_splits
    )
    fold = fold_of_group[np.searchsorted(unique, groups)]
    for k in range(n_splits):
        yield np.flatnonzero(fold != k), np.flatnonzero(fold == k)


def group_train_test_split(
    groups: np.ndarray,
    test_size: float = 0.2,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a train and a test part with disjoint groups.

    Parameters
    ----------
    groups : array of shape (n,)
    test_size : float in (0, 1), default 0.2
        Share of groups (prompts) in the test part.
    random_state : int, RandomState or None
        Seeds the choice of test prompts; None draws a fresh one.

    Returns
    -------
    train_index, test_index : ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> train, test = group_train_test_split(np.repeat(np.arange(10), 3), test_size=0.2, random_state=0)
    >>> len(train), len(test)
    (24, 6)
    """
    if not 0 < test_size < 1:
        raise DataError(f"test_size must be in (0, 1), got {test_size}.")
    groups = np.asarray(groups)
    unique = unique_groups(groups, 2)
    n_test = min(max(1, round(test_size * len(unique))), len(unique) - 1)
    test_groups = check_random_state(random_state).choice(unique, size=n_test, replace=False)
    is_test = np.isin(groups, test_groups)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
