"""Linear logistic fits on vectors that stay on disk: pairs are index arrays, the data is streamed.

The in-memory fit (:func:`embrm.heads._linear.fit_linear_logistic`) holds every pair's rows
in memory. Here the vectors stay where they are (a ``numpy.memmap``, the cache's memory-mapped
shards) and a pair is two row numbers. Every model the linear heads fit is

    margin_i = t_i * ((A Z w)_i + b),

where ``Z`` holds the (standardised) vectors and ``A`` is a sparse map from vectors to
training rows: ``z_win - z_lose`` for Bradley-Terry, a response minus the mean of its
group's responses for the centred classifier. So one objective-and-gradient evaluation
is two sequential passes over the vectors, chunk by chunk: ``r = Z u`` and ``Z' c``, where
``c = A' q`` is gathered from the per-row gradient ``q`` with ``numpy.bincount``. A pair is
stored as two row numbers (the caller's, or int32 copies where a subset is taken), a weight
(none when all weigh 1) and, for the centred classifier, a group code; the per-pair
arithmetic runs a block of pairs at a time. Memory is the chunk, those few numbers per
pair and one per vector, never a matrix of pairs.

:func:`embrm.heads._linear.fit_streamed_logistic` fits on these rows with the objective,
penalty, preconditioner and L-BFGS settings of the in-memory fit, so on data that fits in
memory both give the same weights to solver tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
from scipy.special import expit, log_expit

from embrm._core.groups import group_codes
from embrm._core.validation import check_groups, check_sample_weight
from embrm.exceptions import DataError

#: Rows of the vectors read (and converted to float64) at a time.
DEFAULT_CHUNK_SIZE = 16384
#: Most training rows whose outer products form the preconditioner (all of them below it).
PRECONDITIONER_ROWS = 200_000
#: Pairs whose per-pair arithmetic (margins, loss terms, gathers) runs at a time.
PAIR_BLOCK = 1 << 19


class VectorStream:
    """Read-only rows of one 2-D array, or of several stacked (the cache's shards), in chunks.

    Parameters
    ----------
    vectors : array-like of shape (n_vectors, n_features), or a sequence of such arrays
        Anything that slices like a NumPy array, typically a ``numpy.memmap`` (float16 or
        float32). A sequence is read as its arrays stacked in order, without copying.
    chunk_size : int
        Rows read at a time; peak memory of a pass is about ``chunk_size * n_features * 8``
        bytes.

    Attributes
    ----------
    n_passes : int
        Full sequential passes made so far.
    """

    def __init__(self, vectors: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        parts = [vectors] if getattr(vectors, "ndim", None) == 2 else list(vectors)
        if not parts:
            raise DataError("vectors is empty: give a 2-D array or a sequence of 2-D arrays.")
        for i, part in enumerate(parts):
            if getattr(part, "ndim", None) != 2 or np.dtype(part.dtype).kind != "f":
                raise DataError(
                    f"vectors part {i} must be a 2-D floating-point array (e.g. a numpy.memmap of "
                    f"float16 or float32); got {type(part).__name__} "
                    f"with shape {getattr(part, 'shape', None)}."
                )
        dims = {part.shape[1] for part in parts}
        if len(dims) != 1:
            raise DataError(f"vectors parts have different dimensions {sorted(dims)}.")
        if int(chunk_size) < 1:
            raise DataError(f"chunk_size must be a positive number of rows; got {chunk_size}.")
        self.parts = parts
        self.starts = np.cumsum([0] + [part.shape[0] for part in parts])
        self.n_rows = int(self.starts[-1])
        self.n_features = int(dims.pop())
        self.dtype = np.result_type(*[part.dtype for part in parts])
        self.chunk_size = int(chunk_size)
        self.n_passes = 0
        if self.n_rows == 0:
            raise DataError("vectors has no rows.")

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, float64 block)`` over all rows in order: one pass."""
        self.n_passes += 1
        for part, offset in zip(self.parts, self.starts[:-1], strict=True):
            for start in range(0, part.shape[0], self.chunk_size):
                yield int(offset) + start, np.asarray(part[start : start + self.chunk_size], dtype=np.float64)

    def matvec(self, u: np.ndarray) -> np.ndarray:
        """``Z @ u`` for every row, shape (n_vectors,)."""
        out = np.empty(self.n_rows)
        for start, block in self.chunks():
            out[start : start + block.shape[0]] = block @ u
        return out

    def rmatvec(self, c: np.ndarray) -> np.ndarray:
        """``Z' @ c``, shape (n_features,)."""
        out = np.zeros(self.n_features)
        for start, block in self.chunks():
            out += c[start : start + block.shape[0]] @ block
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (any order, repeats allowed) as float64, shape (len(rows), n_features)."""
        rows = np.asarray(rows)
        unique, inverse = np.unique(rows, return_inverse=True)  # sorted: sequential reads
        out = np.empty((unique.size, self.n_features))
        part_of = np.searchsorted(self.starts, unique, side="right") - 1
        for p in np.unique(part_of):
            mine = part_of == p
            out[mine] = self.parts[p][unique[mine] - self.starts[p]]
        return out[inverse.ravel()]


class RowMap(Protocol):
    """The training rows ``A Z`` of a linear logistic fit, each with a label ``t_i`` (+1 or -1)
    and a sample weight: ``A`` is a sparse map from vectors to rows."""

    n_rows: int
    total_weight: float  # sum of the rows' sample weights

    def logistic(self, r: np.ndarray, intercept: float) -> tuple[float, np.ndarray, float]:
        """The loss, ``A' q`` and ``sum(q)`` at the margins ``m = A r + intercept``.

        ``r`` holds one value per vector (``Z u``). The loss is
        ``sum_i s_i softplus(-t_i m_i)`` with ``s = weight / total_weight``, and ``q_i`` its
        derivative in ``m_i``; ``A' q`` has one value per vector.
        """

    def moments(self, stream: VectorStream) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and variance of each feature over the responses the rows are built
        from (the statistics the in-memory fit standardises with)."""

    def sample_rows(self, stream: VectorStream, max_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Up to about ``max_rows`` training rows ``A Z`` (all when there are fewer) with their
        weights, in blocks of about ``stream.chunk_size`` rows."""


def compact_index(index: np.ndarray, bound: int) -> np.ndarray:
    """``index`` (non-negative integers below ``bound``) as int32 when they fit, else as intp."""
    return index.astype(np.int32 if bound <= np.iinfo(np.int32).max else np.intp, copy=False)


def _logistic_terms(margin: np.ndarray, s: np.ndarray | float) -> tuple[float, np.ndarray]:
    """``sum_i s_i softplus(-margin_i)`` and its derivative in each ``margin_i``,
    ``-s_i expit(-margin_i)``."""
    loss = -float(np.sum(s * log_expit(margin)))
    return loss, np.negative(s * expit(np.negative(margin)))


class PairDifferences:
    """Bradley-Terry rows ``z[win_i] - z[lose_i]``, label +1, weight ``sample_weight[i]``
    (1 for every pair when ``None``).

    The per-pair arithmetic runs ``pair_block`` pairs at a time, so its temporaries stay
    a few arrays of that length.
    """

    def __init__(
        self,
        win: np.ndarray,
        lose: np.ndarray,
        sample_weight: np.ndarray | None,
        n_vectors: int,
        *,
        pair_block: int = PAIR_BLOCK,
    ) -> None:
        self.win, self.lose, self.n_vectors = win, lose, n_vectors
        self.n_rows = win.size
        self.weight = sample_weight
        self.total_weight = float(win.size if sample_weight is None else sample_weight.sum())
        self.pair_block = int(pair_block)

    def _weight(self, pairs: slice | np.ndarray) -> np.ndarray:
        """Raw weight of the given pairs."""
        return np.ones(self.win[pairs].size) if self.weight is None else self.weight[pairs]

    def logistic(self, r: np.ndarray, intercept: float) -> tuple[float, np.ndarray, float]:
        loss, q_sum, c = 0.0, 0.0, np.zeros(self.n_vectors)
        for pairs in _slices(self.n_rows, self.pair_block):
            win, lose = self.win[pairs], self.lose[pairs]
            margin = r[win] - r[lose]
            margin += intercept
            part, q = _logistic_terms(margin, self._weight(pairs) / self.total_weight)
            loss += part
            q_sum += float(q.sum())
            c += np.bincount(win, q, self.n_vectors)
            c -= np.bincount(lose, q, self.n_vectors)
        return loss, c, q_sum

    def moments(self, stream: VectorStream) -> tuple[np.ndarray, np.ndarray]:
        # Both responses of pair i weigh s_i / 2: gathered per vector, two passes.
        c = np.zeros(self.n_vectors)
        for pairs in _slices(self.n_rows, self.pair_block):
            s = 0.5 * self._weight(pairs) / self.total_weight
            c += np.bincount(self.win[pairs], s, self.n_vectors)
            c += np.bincount(self.lose[pairs], s, self.n_vectors)
        return vector_moments(stream, c)

    def sample_rows(self, stream: VectorStream, max_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pick = _evenly_spaced(self.n_rows, max_rows)
        for start in range(0, pick.size, stream.chunk_size):
            mine = pick[start : start + stream.chunk_size]
            yield stream.take(self.win[mine]) - stream.take(self.lose[mine]), self._weight(mine)


class ResponseRows:
    """Pointwise rows: each pair's preferred response (label +1) and other (label -1), both
    weighing the pair's weight (1 when ``sample_weight`` is ``None``); with ``groups``, each
    response minus the mean of its group's responses (groups of a single pair stay as they
    are).

    Rows ``0..n-1`` are the preferred responses, ``n..2n-1`` the others, as in the in-memory
    classifier. Only the pairs are stored (two row numbers, a weight and a group code each);
    the rows, their labels and the centring follow from them, ``pair_block`` pairs at a time.
    """

    def __init__(
        self,
        win: np.ndarray,
        lose: np.ndarray,
        sample_weight: np.ndarray | None,
        groups: np.ndarray | None,
        n_vectors: int,
        *,
        pair_block: int = PAIR_BLOCK,
    ) -> None:
        self.n_pairs = win.size
        self.n_rows = 2 * win.size
        self.n_vectors = n_vectors
        self.pair_block = int(pair_block)
        self.group: np.ndarray | None = None
        if groups is not None:
            codes, n_groups = group_codes(groups)
            self.group = compact_index(codes, n_groups)
            del codes
            self.group_pairs = np.bincount(self.group, minlength=n_groups)
            self.group_size = 2.0 * self.group_pairs  # rows
            self.centred = self.group_pairs > 1  # a single pair's two rows stay raw
        self.win = compact_index(win, n_vectors)
        self.lose = compact_index(lose, n_vectors)
        self.weight = sample_weight
        self.total_weight = 2.0 * float(self.n_pairs if sample_weight is None else sample_weight.sum())

    def _weight(self, pairs: slice | np.ndarray) -> np.ndarray:
        """Raw weight of the given pairs (each of a pair's two rows weighs it)."""
        return np.ones(self.win[pairs].size) if self.weight is None else self.weight[pairs]

    def _group_offsets(self, r: np.ndarray) -> np.ndarray:
        """Per group, the mean of ``r`` over its rows where the group is centred, else 0."""
        sums = np.zeros(self.group_size.size)
        for pairs in _slices(self.n_pairs, self.pair_block):
            group = self.group[pairs]
            sums += np.bincount(group, r[self.win[pairs]], sums.size)
            sums += np.bincount(group, r[self.lose[pairs]], sums.size)
        return np.where(self.centred, sums / self.group_size, 0.0)

    def logistic(self, r: np.ndarray, intercept: float) -> tuple[float, np.ndarray, float]:
        offset = None if self.group is None else self._group_offsets(r)
        q_group = None if self.group is None else np.zeros(self.group_size.size)
        loss, q_sum, c = 0.0, 0.0, np.zeros(self.n_vectors)
        for pairs in _slices(self.n_pairs, self.pair_block):
            s = self._weight(pairs) / self.total_weight
            group = None if self.group is None else self.group[pairs]
            for vector, label in ((self.win[pairs], 1.0), (self.lose[pairs], -1.0)):
                margin = r[vector]
                if group is not None:
                    margin -= offset[group]
                margin += intercept
                part, q = _logistic_terms(label * margin, s)
                q *= label  # the derivative in the margin itself
                loss += part
                q_sum += float(q.sum())
                c += np.bincount(vector, q, self.n_vectors)
                if group is not None:
                    q_group += np.bincount(group, q, q_group.size)
        if q_group is not None:
            # The centring is a symmetric projection within each group, so its adjoint is
            # itself: each row of a centred group also takes away its group's mean of q.
            q_offset = np.where(self.centred, q_group / self.group_size, 0.0)
            for pairs in _slices(self.n_pairs, self.pair_block):
                back = q_offset[self.group[pairs]]
                c -= np.bincount(self.win[pairs], back, self.n_vectors)
                c -= np.bincount(self.lose[pairs], back, self.n_vectors)
        return loss, c, q_sum

    def _group_rows(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(group, vector, weight)`` of the rows of the given pairs (sorted by group), each
        pair's two rows together, so the rows stay sorted by group."""
        vector = np.stack([self.win[pairs], self.lose[pairs]], axis=1).ravel()
        return np.repeat(self.group[pairs], 2), vector, np.repeat(self._weight(pairs), 2)

    def _whole_groups(self) -> Iterator[np.ndarray]:
        """The pairs sorted by group, in blocks of whole groups of about ``pair_block`` pairs."""
        order = compact_index(np.argsort(self.group, kind="stable"), self.n_pairs)
        ends = np.cumsum(self.group_pairs)  # where each group's pairs end in ``order``
        after = np.searchsorted(ends, np.arange(self.pair_block, self.n_pairs, self.pair_block))
        bounds = np.unique(np.concatenate([[0], ends[after], [self.n_pairs]]))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            yield order[a:b]

    def _blocks(
        self, stream: VectorStream, group: np.ndarray, vector: np.ndarray, count: np.ndarray
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """``(slice, centred rows)`` over entries sorted by ``group``, whole groups at a time.

        Entry ``i`` is vector ``vector[i]`` standing ``count[i]`` times in group ``group[i]``;
        every row of a group is among the entries, so each block's group means are exact.
        """
        cuts = np.flatnonzero(np.diff(group)) + 1  # group boundaries
        # Cut at the first group boundary past every chunk_size entries.
        after = np.searchsorted(cuts, np.arange(stream.chunk_size, group.size, stream.chunk_size))
        bounds = np.unique(np.concatenate([[0], cuts[after[after < cuts.size]], [group.size]]))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            block = stream.take(vector[a:b])
            local, first, inverse = np.unique(group[a:b], return_index=True, return_inverse=True)
            sums = np.add.reduceat(block * count[a:b, None], first, axis=0)
            means = sums / self.group_size[local][:, None]
            means[~self.centred[local]] = 0.0
            block -= means[inverse.ravel()]
            yield slice(a, b), block

    def moments(self, stream: VectorStream) -> tuple[np.ndarray, np.ndarray]:
        # Every row weighs s_i / 2 (s normalised over pairs).
        if self.group is None:
            c = np.zeros(self.n_vectors)
            for pairs in _slices(self.n_pairs, self.pair_block):
                s = self._weight(pairs) / self.total_weight
                c += np.bincount(self.win[pairs], s, self.n_vectors)
                c += np.bincount(self.lose[pairs], s, self.n_vectors)
            return vector_moments(stream, c)
        first, second = np.zeros(stream.n_features), np.zeros(stream.n_features)
        for pairs in self._whole_groups():
            group, vector, weight = self._group_rows(pairs)
            # Rows with the same (group, vector) have the same offset: gather each such entry once.
            entry, inverse = np.unique(group.astype(np.int64) * self.n_vectors + vector, return_inverse=True)
            inverse = inverse.ravel()
            weight, count = np.bincount(inverse, weight / self.total_weight), np.bincount(inverse)
            entry_group, entry_vector = np.divmod(entry, self.n_vectors)
            for mine, block in self._blocks(stream, entry_group, entry_vector, count.astype(np.float64)):
                first += weight[mine] @ block
                second += np.einsum("i,ij,ij->j", weight[mine], block, block)  # no squared copy
        return first, np.maximum(second - np.square(first), 0.0)

    def sample_rows(self, stream: VectorStream, max_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.group is None:
            pick = _evenly_spaced(self.n_rows, max_rows)
            for start in range(0, pick.size, stream.chunk_size):
                mine = pick[start : start + stream.chunk_size]
                pair = mine % self.n_pairs
                vector = np.where(mine >= self.n_pairs, self.lose[pair], self.win[pair])
                yield stream.take(vector), self._weight(pair)
            return
        # Whole groups, so their means are exact.
        n_groups = self.group_size.size
        chosen = _evenly_spaced(n_groups, max(1, max_rows * n_groups // self.n_rows))
        pick = np.flatnonzero(np.isin(self.group, chosen))
        group, vector, weight = self._group_rows(pick[np.argsort(self.group[pick], kind="stable")])
        for mine, block in self._blocks(stream, group, vector, np.ones(group.size)):
            yield block, weight[mine]


def vector_moments(stream: VectorStream, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each feature over the vectors weighted by ``c`` (summing to 1):
    two passes."""
    mean = stream.rmatvec(c)
    var = np.zeros(stream.n_features)
    for start, block in stream.chunks():
        var += c[start : start + block.shape[0]] @ np.square(block - mean)
    return mean, var


def _slices(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of ``size`` items (the last may be shorter)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _evenly_spaced(n: int, k: int) -> np.ndarray:
    """All of ``range(n)`` when ``k >= n``, else ``k`` evenly spaced members of it."""
    return np.arange(n) if k >= n else np.unique(np.linspace(0, n - 1, k).astype(np.int64))


def stream_scale(var: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Standard deviations from streamed variances, 1.0 where the spread is rounding residue
    (the rule of :func:`embrm.heads._base.feature_scale`; float16 input counts as float32)."""
    scale = np.sqrt(var)
    eps = np.finfo(np.float32 if np.dtype(dtype).itemsize <= 4 else np.float64).eps
    residue = scale <= eps * np.sqrt(var.sum())
    return np.where(residue, 1.0, scale)


def check_indexed_pairs(
    vectors: Any,
    win_index: Any,
    lose_index: Any,
    sample_weight: Any,
    groups: Any,
    *,
    chunk_size: int,
    min_pairs: int,
    owner: str,
) -> tuple[VectorStream, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate the input of ``fit_indexed``: the vectors, two row-index arrays, weights, groups.

    ``sample_weight`` stays ``None`` when not given (every pair weighs 1).
    """
    stream = VectorStream(vectors, chunk_size)
    indices = []
    for name, index in (("win_index", win_index), ("lose_index", lose_index)):
        arr = np.asarray(index)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise DataError(
                f"{name} must be a 1-D array of integer row numbers into vectors; got dtype "
                f"{arr.dtype} and shape {arr.shape}."
            )
        if arr.size and (arr.min() < 0 or arr.max() >= stream.n_rows):
            raise DataError(
                f"{name} holds row numbers outside 0..{stream.n_rows - 1} (vectors has "
                f"{stream.n_rows} rows); got {arr.min()}..{arr.max()}."
            )
        # Indices stay as given (no copy) when they index directly: int32 stays int32.
        indices.append(arr if np.can_cast(arr.dtype, np.intp) else arr.astype(np.intp))
    win, lose = indices
    if win.size != lose.size:
        raise DataError(
            f"win_index has {win.size} entries but lose_index has {lose.size}: entry i of each is pair i."
        )
    if win.size < min_pairs:
        raise DataError(f"{owner} needs at least {min_pairs} pairs; got {win.size}.")
    if np.array_equal(win, lose):
        raise DataError(
            "Every pair indexes the same vector for both responses: there is a single class "
            "and no preference to learn."
        )
    weight = None if sample_weight is None else check_sample_weight(sample_weight, win.size)
    return stream, win, lose, weight, check_groups(groups, win.size)


__all__: Sequence[str] = (
    "DEFAULT_CHUNK_SIZE",
    "PairDifferences",
    "ResponseRows",
    "VectorStream",
    "check_indexed_pairs",
)
