"""Input checks and the grouping of rows into prompts, shared by every evaluation metric."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from embrm.exceptions import DataError


def check_scores(values: ArrayLike, name: str, n: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite, non-empty 1-D float array, or raise DataError.

    Parameters
    ----------
    values : array-like
        Scores (rewards, golden scores, probabilities), one per row.
    name : str
        Argument name, quoted in error messages.
    n : int, optional
        Required length (the length of the first argument of the call).

    Returns
    -------
    values : ndarray of shape (n,), dtype float64
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"'{name}' must be an array of numbers; got {type(values).__name__} "
            f"that cannot be converted to float ({exc})."
        ) from exc
    if arr.ndim != 1:
        raise DataError(
            f"'{name}' must be one-dimensional (one score per row); got shape "
            f"{arr.shape}. Flatten it, e.g. with .ravel(), if it holds one "
            "column."
        )
    if arr.size == 0:
        raise DataError(f"'{name}' is empty: evaluation needs at least one row.")
    if n is not None and arr.size != n:
        raise DataError(
            f"'{name}' has {arr.size} rows but the first argument has {n}: pass "
            "one value per row, in the same row order."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.flatnonzero(bad)
        raise DataError(
            f"'{name}' has {where.size} NaN or infinite value(s), first at row "
            f"{where[0]}: drop or impute those rows before evaluating."
        )
    return arr


def check_labels(values: ArrayLike, name: str, n: int) -> np.ndarray:
    """Return binary labels as a float array of 0.0/1.0, or raise DataError."""
    arr = check_scores(values, name, n)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        row = np.flatnonzero(bad)[0]
        raise DataError(f"'{name}' must hold binary labels 0/1 (or booleans); row {row} is {arr[row]!r}.")
    return arr


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

    def smallest(self) -> tuple[int, object]:
        """Return the smallest group size and the label of a group that has it."""
        i = int(np.argmin(self.sizes))
        return int(self.sizes[i]), self.labels[i : i + 1].tolist()[0]


def check_scored(
    reward: ArrayLike, golden: ArrayLike, groups: ArrayLike
) -> tuple[np.ndarray, np.ndarray, Groups]:
    """Validate a scored response set: reward, golden score and prompt id per candidate."""
    r = check_scores(reward, "reward")
    return r, check_scores(golden, "golden", r.size), Groups.from_labels(groups, r.size)
