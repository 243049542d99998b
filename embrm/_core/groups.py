"""Rows grouped by prompt: the foundation for factorising, averaging and holding out by group.

Evaluation (per-prompt metrics), heads (centring within prompts, grouped validation
slices), pair builders and the public splits of :mod:`embrm.model_selection` (which build on
:func:`split_off_groups`) all group rows by prompt id through these helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from embrm.exceptions import DataError


@dataclass(frozen=True)
class Groups:
    """Rows grouped by prompt.

    Attributes
    ----------
    labels : ndarray of shape (n_groups,)
        The distinct group labels, sorted.
    codes : ndarray of shape (n_rows,)
        Index into ``labels`` of each row's group.
    sizes : ndarray of shape (n_groups,)
        Number of rows in each group.
    """

    labels: np.ndarray
    codes: np.ndarray
    sizes: np.ndarray

    @classmethod
    def from_labels(cls, groups: ArrayLike, n: int, name: str = "groups") -> Groups:
        """Factorise group labels (ints, strings, ...) given one per row."""
        arr = np.asarray(groups)
        if arr.ndim != 1:
            raise DataError(
                f"'{name}' must be one-dimensional (one prompt id per row); got shape {arr.shape}."
            )
        if arr.size != n:
            raise DataError(
                f"'{name}' has {arr.size} rows but the first argument has {n}: "
                "pass one prompt id per row, in the same row order."
            )
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise DataError(
                f"'{name}' has missing (NaN) prompt ids, first at row "
                f"{np.flatnonzero(np.isnan(arr))[0]}: every row needs a prompt id."
            )
        labels, codes = np.unique(arr, return_inverse=True)
        return cls(labels=labels, codes=codes.ravel(), sizes=np.bincount(codes.ravel()))

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return self.labels.size

    @cached_property
    def by_size(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """The groups as matrices, one per distinct group size ``k``.

        Returns
        -------
        blocks : list of (k, group_index, rows)
            ``k`` the group size; ``group_index`` of shape (m,), which groups (indices into
            ``labels``) have that size; ``rows`` of shape (m, k), the row indices of each
            such group, in their original order.
        """
        order = np.argsort(self.codes, kind="stable")
        starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1]))
        blocks = []
        for k in np.unique(self.sizes):
            group_index = np.flatnonzero(self.sizes == k)
            blocks.append((int(k), group_index, order[starts[group_index, None] + np.arange(k)]))
        return blocks

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values`` (one per row) within each group, shape (n_groups,)."""
        return np.bincount(self.codes, weights=values) / self.sizes

    def smallest(self) -> tuple[int, object]:
        """Return the smallest group size and the label of a group that has it."""
        i = int(np.argmin(self.sizes))
        return int(self.sizes[i]), self.labels[i : i + 1].tolist()[0]


def group_codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's index into the sorted distinct labels of ``groups`` (the inverse of
    ``np.unique``), and the number of distinct labels.

    Non-negative integer labels below twice the number of rows are counted rather than
    sorted: the same codes, without the sort's copies of every row.
    """
    groups = np.asarray(groups)
    dense = (
        groups.size > 0
        and groups.dtype.kind in "iu"
        and np.can_cast(groups.dtype, np.intp)
        and groups.min() >= 0
        and groups.max() < 2 * groups.size
    )
    if dense:
        code = np.cumsum(np.bincount(groups) > 0) - 1
        return code[groups], int(code[-1]) + 1
    labels, inverse = np.unique(groups, return_inverse=True)
    return inverse.ravel(), labels.size


def group_means(X: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the rows of ``X`` (shape (n, k)) in each group, and each row's index
    into those means."""
    unique, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.ravel()
    indicator = sparse.csr_matrix(
        (np.ones(inverse.size), (inverse, np.arange(inverse.size))), shape=(unique.size, inverse.size)
    )
    return (indicator @ X) / np.bincount(inverse, minlength=unique.size)[:, None], inverse


def grouped_validation_split(
    groups: np.ndarray | None,
    n_pairs: int,
    fraction: float,
    rng: np.random.RandomState,
    owner: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Split pair indices into train and validation so that no group is on both sides.

    About ``fraction`` of the groups (at least one, and at least one left for training) go to
    validation, drawn by ``rng.permutation``; without ``groups`` every pair is its own group.
    The draw is :func:`split_off_groups`, shared with
    :func:`embrm.model_selection.group_train_test_split`.
    """
    if groups is None:
        groups = np.arange(n_pairs)
    inverse, n_groups = group_codes(groups)
    if n_groups < 2:
        raise DataError(
            f"{owner} keeps a validation split by group and needs pairs from at least "
            f"2 groups (prompts); got {n_groups}."
        )
    return split_off_groups(inverse, n_groups, fraction, rng)


def split_off_groups(
    codes: np.ndarray, n_groups: int, fraction: float, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the kept and the split-off rows when ``round(fraction * n_groups)``
    groups (at least one, at most ``n_groups - 1``), the first of ``rng.permutation``, are split
    off; ``codes`` gives each row's group index (``0 .. n_groups - 1``, at least 2 groups). The
    split-off part is a test split (:func:`embrm.model_selection.group_train_test_split`) or a
    head's validation split (:func:`grouped_validation_split`).

    Example
    -------
    >>> split_off_groups(np.array([0, 0, 1, 2]), 3, 0.3, np.random.RandomState(0))
    (array([0, 1, 2]), array([3]))
    """
    n_held = min(max(1, round(fraction * n_groups)), n_groups - 1)
    held = np.zeros(n_groups, dtype=bool)
    held[rng.permutation(n_groups)[:n_held]] = True
    rows = held[codes]
    return np.flatnonzero(~rows), np.flatnonzero(rows)


def within_group_index_pairs(
    groups: np.ndarray, pairs_per_prompt: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs ``(i, j)``, ``i`` before ``j``, of every two rows sharing a group, groups in
    sorted order; at most ``pairs_per_prompt`` of them per group, drawn with ``rng``.

    Example
    -------
    >>> within_group_index_pairs(np.array([0, 1, 0, 0]), None, np.random.RandomState(0))
    (array([0, 0, 2]), array([2, 3, 3]))
    """
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    first, second = [], []
    for members in np.split(order, bounds):
        i, j = np.triu_indices(len(members), k=1)
        if pairs_per_prompt is not None and pairs_per_prompt < len(i):
            pick = rng.choice(len(i), size=pairs_per_prompt, replace=False)
            i, j = i[pick], j[pick]
        first.append(members[i])
        second.append(members[j])
    return np.concatenate(first), np.concatenate(second)
