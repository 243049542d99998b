"""Strategies that choose which candidate pairs to send to annotators next.

Every strategy has one method, :meth:`BaseStrategy.select`, over embedding *differences*:
``D_pool[i] = x(a_i) - x(b_i)`` for candidate pair ``i`` and ``labelled[j] = x(winner_j) -
x(loser_j)`` for the pairs already labelled. For a linear Bradley-Terry reward
``r(x) = w @ x`` a labelled pair with difference ``d`` and ``p = sigmoid(w @ d)`` adds
``p (1 - p) d d^T`` to the Fisher information of ``w``; the information-based strategies
(:class:`DOptimal`, :class:`PoolLeverage`) choose pairs that make it large.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state

from embrm._core.stack import external_stacklevel
from embrm._core.validation import BOOLEAN, RANDOM_STATE, Interval, Options, check_groups, validate_params
from embrm.exceptions import DataError, EncoderMismatchError
from embrm.heads import single_threaded

#: Rows processed at a time in passes over the pool (bounds temporary memory to CHUNK x d).
CHUNK = 32768
_HASH_MULTIPLIERS = np.random.RandomState(20261202).randint(1, 2**62, size=8192, dtype=np.int64)
#: Largest absolute value accepted in an embedding difference. Differences of unit-length
#: embeddings are at most 2; far larger values overflow the designs' float32 sums of squares.
MAX_ABS_VALUE = 1e6


def _check_differences(values: Any, name: str, allow_empty: bool = False) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "fiu":
        raise DataError(f"{name} must be numbers (one row per pair), got dtype {array.dtype}.")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if array.ndim != 2:
        raise DataError(
            f"{name} must be a 2-d array of shape (n_pairs, n_features), got shape {array.shape}."
        )
    if array.shape[0] == 0 and not allow_empty:
        raise DataError(
            f"{name} is empty: there are no candidate pairs to choose from. Build a pool with "
            "embrm.active.within_prompt_pool (at least two different answers to one prompt)."
        )
    _check_values(array, name)
    return array


def _check_values(array: np.ndarray, name: str) -> None:
    """Every value finite and at most :data:`MAX_ABS_VALUE` in size, checked in chunks."""
    for start in range(0, len(array), CHUNK):
        part = array[start : start + CHUNK]
        largest = np.abs(part).max(axis=1, initial=0.0)  # NaN propagates
        bad = np.flatnonzero(~(largest <= MAX_ABS_VALUE))
        if bad.size:
            row = start + int(bad[0])
            values = array[row]
            if not np.isfinite(values).all():
                raise DataError(
                    f"{name} row {row} holds NaN or infinity; embedding differences must be finite. "
                    "Embed the responses again (and check the head or pairs they came from)."
                )
            raise DataError(
                f"{name} row {row} holds the value {float(np.abs(values).max()):.3g}; embedding "
                f"differences must stay below {MAX_ABS_VALUE:g} in size (those of unit-length "
                "embeddings are at most 2). Pass differences of embeddings, not raw features."
            )


def squared_norms(D: np.ndarray, name: str = "D_pool") -> np.ndarray:
    """``||d_i||^2`` of every row (float64), in chunks; also the check that every value is
    finite (a NaN or infinite entry makes its row's norm non-finite)."""
    sq = np.empty(len(D))
    for start in range(0, len(D), CHUNK):
        part = D[start : start + CHUNK]
        sq[start : start + CHUNK] = np.einsum("ij,ij->i", part, part, dtype=np.float64)
    if not np.isfinite(sq).all():
        raise DataError(f"{name} holds NaN or infinite values; embed the responses again.")
    return sq


def _row_keys(A: np.ndarray) -> np.ndarray:
    """An integer key per row that is equal for ``a`` and ``-a`` (sign bits masked), exact."""
    if A.dtype == np.float32:
        bits, mask = A.view(np.uint32), np.uint64(0x7FFFFFFF)
    else:
        bits, mask = A.view(np.uint64), np.uint64(0x7FFFFFFFFFFFFFFF)
    mult = _HASH_MULTIPLIERS[: A.shape[1]].view(np.uint64)
    keys = np.empty(A.shape[0], dtype=np.uint64)
    step = 4096
    for start in range(0, A.shape[0], step):
        part = bits[start : start + step].astype(np.uint64) & mask
        keys[start : start + step] = (part * mult).sum(axis=1)
    return keys


def eligible_mask(
    D_pool: np.ndarray, labelled: np.ndarray | None, sq: np.ndarray | None = None
) -> np.ndarray:
    """Which candidates may be chosen: not a self pair (zero difference) and not a pair
    already labelled (a row equal to ``labelled[j]`` or ``-labelled[j]``). ``sq``: the
    rows' squared norms when already computed."""
    eligible = (squared_norms(D_pool) if sq is None else sq) > 0
    if labelled is None or len(labelled) == 0:
        return eligible
    lab = labelled.astype(D_pool.dtype)
    pool_keys, lab_keys = _row_keys(D_pool), _row_keys(lab)
    for i in np.flatnonzero(np.isin(pool_keys, lab_keys)):
        same = lab[lab_keys == pool_keys[i]]
        if np.any(np.all(same == D_pool[i], axis=1) | np.all(same == -D_pool[i], axis=1)):
            eligible[i] = False
    return eligible


def linear_margins(
    head: Any, D_pool: np.ndarray, labelled: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The predicted reward gap ``r(a) - r(b)`` of each candidate and labelled pair under a
    linear reward, or ``(None, None)`` without a head.

    A head with a 1-d ``coef_`` whose ``reward`` is ``coef_ @ x`` (:class:`~embrm.heads.BTLinear`)
    is used as it is. Any other head (MLP, classifier, tree, ensemble) is replaced by a
    :class:`~embrm.heads.BTLinear` with default settings fitted on ``labelled`` (rows are
    preferred-minus-other differences): the Fisher information is that of a linear
    Bradley-Terry head over the same features.
    """
    if head is None:
        return None, None
    d = D_pool.shape[1]
    n_features = getattr(head, "n_features_in_", None)
    if n_features is None:
        raise DataError(f"The head {type(head).__name__} is not fitted; fit it on the labelled pairs first.")
    if n_features != d:
        raise EncoderMismatchError(
            f"The pool has {d}-dimensional differences but the head was fitted on {n_features} "
            "features: embed the pool with the encoder the head was trained with."
        )
    coef = getattr(head, "coef_", None)
    probe = D_pool[:8].astype(np.float64)
    if not (
        isinstance(coef, np.ndarray)
        and coef.shape == (d,)
        and np.allclose(head.reward(probe) - head.reward(np.zeros_like(probe)), probe @ coef)
    ):
        if labelled is None or len(labelled) < 2:
            raise DataError(
                f"{type(head).__name__} is not linear: its Fisher information is taken on a linear "
                "Bradley-Terry head fitted on the labelled pairs, so pass at least two labelled "
                "differences (preferred minus other), or pass a BTLinear head."
            )
        from embrm.heads import BTLinear

        coef = BTLinear().fit(labelled, np.zeros_like(labelled)).coef_
    coef = coef.astype(D_pool.dtype)
    margin_pool = np.concatenate([D_pool[s : s + CHUNK] @ coef for s in range(0, len(D_pool), CHUNK)])
    margin_lab = None if labelled is None else labelled.astype(D_pool.dtype) @ coef
    return margin_pool.astype(np.float64), margin_lab


def outcome_variance(margin: np.ndarray | None, n: int) -> np.ndarray:
    """``p (1 - p)`` with ``p = sigmoid(margin)``; 1/4 everywhere (the uniform prior) when
    there is no head."""
    if margin is None:
        return np.full(n, 0.25)
    p = expit(margin)
    return p * (1.0 - p)


def information_matrix(
    D: np.ndarray, weight: np.ndarray, ridge: float, base: np.ndarray | None = None
) -> np.ndarray:
    """``ridge * I + base + sum_i weight_i d_i d_i^T`` in float64, accumulated in chunks
    (never a per-candidate d x d tensor)."""
    d = D.shape[1]
    M = ridge * np.eye(d) if base is None else base + ridge * np.eye(d)
    for start in range(0, len(D), CHUNK):
        part = D[start : start + CHUNK].astype(np.float64)
        M += (part * weight[start : start + CHUNK, None]).T @ part
    return M


def log_det_information(
    D: np.ndarray, weight: np.ndarray | None = None, prior_strength: float = 1.0
) -> float:
    """``log det(prior_strength * I + sum_i weight_i d_i d_i^T)``: the D-optimality criterion
    of a set of pairs (``weight`` default 1/4, the uniform prior's outcome variance)."""
    D = np.atleast_2d(np.asarray(D, dtype=np.float64))
    weight = np.full(len(D), 0.25) if weight is None else np.asarray(weight, dtype=np.float64)
    return float(np.linalg.slogdet(information_matrix(D, weight, prior_strength))[1])


def _quadratic_form(D: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``d_i^T A d_i`` for every row, in chunks."""
    A = A.astype(D.dtype)
    out = np.empty(len(D))
    for start in range(0, len(D), CHUNK):
        part = D[start : start + CHUNK]
        out[start : start + CHUNK] = np.einsum("ij,ij->i", part @ A, part)
    return out


def _top(
    score: np.ndarray | None,
    eligible: np.ndarray,
    k: int,
    rng: np.random.RandomState,
    cap: _PromptCap | None = None,
) -> np.ndarray:
    """The shared pick of every one-shot measure: the ``k`` eligible candidates with the
    highest score, ties broken by a seeded random permutation; ``score=None`` (no measure):
    the first ``k`` of that permutation, a uniformly random batch. With a prompt ``cap``,
    the first ``k`` of that order whose prompt is not full."""
    candidates = np.flatnonzero(eligible)
    candidates = candidates[rng.permutation(len(candidates))]
    if cap is not None and cap.groups is not None:
        if score is not None:
            candidates = candidates[np.argsort(-score[candidates], kind="stable")]
        return cap.take(candidates, k)
    if score is None:
        return candidates[:k]
    s = score[candidates]
    if k < len(candidates):
        part = np.argpartition(-s, k - 1)[:k]
        candidates, s = candidates[part], s[part]
    return candidates[np.argsort(-s, kind="stable")]


@dataclass(frozen=True)
class _Candidates:
    """The checked input of one selection: the pool and what is known about it.

    Attributes
    ----------
    D : ndarray of shape (M, d)
        The candidates' differences.
    sq : ndarray of shape (M,)
        Their squared lengths (float64).
    eligible : ndarray of bool, shape (M,)
        Which may still be chosen (not a self pair, not labelled, not picked).
    labelled : ndarray of shape (L, d) or None
        Differences already labelled (preferred minus other).
    margin, margin_labelled : ndarray or None
        The head's predicted gap of each candidate and labelled pair; None without a head.
    groups : ndarray of shape (M,) or None
        The prompt of each candidate.
    """

    D: np.ndarray
    sq: np.ndarray
    eligible: np.ndarray
    labelled: np.ndarray | None = None
    margin: np.ndarray | None = None
    margin_labelled: np.ndarray | None = None
    groups: np.ndarray | None = None

    def with_labelled(self, rows: np.ndarray, blocked: np.ndarray | None = None) -> _Candidates:
        """The same pool with ``rows`` counted as labelled (their differences and margins
        join the labelled ones) and neither they nor the ``blocked`` rows eligible."""
        eligible = self.eligible.copy()
        eligible[rows] = False
        if blocked is not None:
            eligible &= ~blocked
        new = self.D[rows]
        labelled = (
            new if self.labelled is None else np.vstack([self.labelled, new.astype(self.labelled.dtype)])
        )
        margin_labelled = self.margin_labelled
        if self.margin is not None:
            margin_labelled = (
                self.margin[rows]
                if margin_labelled is None
                else np.concatenate([margin_labelled, self.margin[rows]])
            )
        return replace(self, eligible=eligible, labelled=labelled, margin_labelled=margin_labelled)


class _PromptCap:
    """Counts chosen candidates per prompt and tells when a prompt is full (at most ``cap``
    of its candidates in one batch). ``cap=None``: no limit."""

    def __init__(self, groups: np.ndarray | None, cap: int | None) -> None:
        self.groups = None if cap is None else groups
        self.cap = cap
        self.count: dict[Any, int] = {}

    @classmethod
    def for_batch(cls, candidates: _Candidates, cap: int | None, k: int) -> _PromptCap:
        """The cap of one batch of ``k``; an error when the candidates have no prompts or
        their prompts cannot hold ``k`` picks."""
        groups = candidates.groups
        if cap is not None:
            if groups is None:
                raise DataError(
                    "max_per_prompt needs the prompt of every candidate: pass groups (one prompt "
                    "id per row of D_pool, e.g. pool.frame['prompt_id_a'])."
                )
            capacity = int(
                np.minimum(np.unique(groups[candidates.eligible], return_counts=True)[1], cap).sum()
            )
            if k > capacity:
                raise DataError(
                    f"batch_size={k} is more than max_per_prompt={cap} pairs per prompt allow "
                    f"({capacity} candidates): raise max_per_prompt or lower the budget."
                )
        return cls(groups, cap)

    def add(self, i: int) -> np.ndarray | None:
        """Count candidate ``i``; the mask of its prompt's candidates once the prompt is
        full, else None."""
        if self.groups is None:
            return None
        g = self.groups[i]
        self.count[g] = self.count.get(g, 0) + 1
        return self.groups == g if self.count[g] >= self.cap else None

    def full(self) -> np.ndarray | None:
        """The mask of the candidates whose prompt is full; None without a limit."""
        if self.groups is None:
            return None
        return np.isin(self.groups, [g for g, c in self.count.items() if c >= self.cap])

    def take(self, order: np.ndarray, k: int) -> np.ndarray:
        """The first ``k`` candidates of ``order`` whose prompt is not full, counted."""
        if self.groups is None:
            return np.asarray(order[:k], dtype=np.int64)
        out: list[int] = []
        for i in order:
            if len(out) == k:
                break
            if self.count.get(self.groups[i], 0) < self.cap:
                out.append(int(i))
                self.add(int(i))
        return np.array(out, dtype=np.int64)


#: The default of :meth:`BaseStrategy.select`'s deprecated ``random_state``: not given.
_NOT_GIVEN = "deprecated"


class BaseStrategy(BaseEstimator):
    """Base class of the selection strategies (not used directly).

    A strategy is a *measure* of the candidates and the shared *pick*. :meth:`select`
    validates the input, excludes self pairs and pairs already labelled, computes the head's
    predicted gaps and picks: first the ``random_share`` of the batch uniformly at random,
    never more than ``max_per_prompt`` pairs of one prompt (for the strategies with these
    parameters), then the rest by the measure. A one-shot measure (``_measure``: a score per
    candidate, or None for no preference) is picked by one shared top-k with seeded random
    tie-breaks; a sequential measure (the designs, :class:`KCenter`) picks one candidate at
    a time and updates its gains (``_choose``).

    Parameters
    ----------
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices; an int gives the same batch on every call.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"random_state": [RANDOM_STATE]}
    #: Whether the strategy reads the head's predicted gaps.
    _uses_head: ClassVar[bool] = True

    def __init__(self, random_state: int | np.random.RandomState | None = None) -> None:
        self.random_state = random_state

    def select(
        self,
        D_pool: Any,
        labelled: Any = None,
        head: Any = None,
        batch_size: int = 10,
        random_state: Any = _NOT_GIVEN,
        groups: Any = None,
    ) -> np.ndarray:
        """Choose ``batch_size`` candidate pairs to label next.

        Parameters
        ----------
        D_pool : array-like of shape (M, d)
            Embedding difference ``x(a) - x(b)`` of each candidate pair (float32 keeps a
            large pool at half the memory).
        labelled : array-like of shape (L, d), optional
            Differences of the pairs already labelled, preferred minus other. Candidates
            equal to one of them (either sign) are never chosen.
        head : fitted reward head, optional
            Supplies ``p = P(a preferred over b)``. A linear head (``coef_``) is used as it
            is; for any other head a :class:`~embrm.heads.BTLinear` is fitted on
            ``labelled``. None: no model yet (uniform outcome variance 1/4).
        batch_size : int, default 10
            Number of pairs to return.
        random_state : int, RandomState or None
            Deprecated: pass ``random_state`` to the constructor. Given here, it overrides
            the constructor's, with a ``DeprecationWarning``.
        groups : array-like of shape (M,), optional
            The prompt id of each candidate; read by the designs' ``max_per_prompt`` (and
            required by it).

        Returns
        -------
        indices : ndarray of int, shape (batch_size,)
            Distinct rows of ``D_pool``, in the order chosen; never a self pair (zero
            difference) or an already-labelled pair.
        """
        if random_state is _NOT_GIVEN:
            random_state = getattr(self, "random_state", None)
        else:
            warnings.warn(
                f"{type(self).__name__}.select(random_state=...) is deprecated and will be removed "
                f"in the next release: pass it to the constructor, {type(self).__name__}(random_state=...) "
                "(given here, it overrides the constructor's).",
                DeprecationWarning,
                stacklevel=external_stacklevel(),
            )
        params = self.get_params(deep=False)
        constraints = {k: v for k, v in self._parameter_constraints.items() if k in params}
        validate_params(constraints, params, type(self).__name__)  # a subclass may lack random_state
        D = _check_differences(D_pool, "D_pool")
        L = None
        if labelled is not None:
            L = _check_differences(labelled, "labelled", allow_empty=True)
            if L.shape[1] != D.shape[1]:
                raise DataError(
                    f"labelled has {L.shape[1]} features but D_pool has {D.shape[1]}: both must be "
                    "differences of embeddings from the same encoder."
                )
            if len(L) == 0:
                L = None
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}.")
        sq = squared_norms(D)
        eligible = eligible_mask(D, L, sq)
        n_eligible = int(eligible.sum())
        if batch_size > n_eligible:
            raise DataError(
                f"batch_size={batch_size} is larger than the {n_eligible} candidates that can still "
                f"be chosen ({len(D) - n_eligible} of {len(D)} are self pairs or already labelled): "
                "lower the budget or build a larger pool."
            )
        groups = check_groups(groups, len(D), per="candidate pair")
        margin, margin_labelled = linear_margins(head, D, L) if self._uses_head else (None, None)
        candidates = _Candidates(D, sq, eligible, L, margin, margin_labelled, groups)
        rng = check_random_state(random_state)
        with single_threaded():
            chosen = self._pick(candidates, batch_size, rng)
        return np.asarray(chosen, dtype=np.int64)

    def _pick(self, candidates: _Candidates, k: int, rng: np.random.RandomState) -> np.ndarray:
        """The shared pick: ``round(random_share * k)`` eligible candidates uniformly at
        random (counted as labelled from then on), then the measure's picks, all within
        ``max_per_prompt`` per prompt."""
        cap = _PromptCap.for_batch(candidates, getattr(self, "max_per_prompt", None), k)
        n_random = round(getattr(self, "random_share", 0.0) * k)
        picked = np.zeros(0, dtype=np.int64)
        if n_random:
            picked = cap.take(rng.permutation(np.flatnonzero(candidates.eligible)), n_random)
            if n_random == k:
                return picked
            candidates = candidates.with_labelled(picked, cap.full())
        chosen = self._choose(candidates, cap, k - len(picked), rng)
        return np.concatenate([picked, np.asarray(chosen, dtype=np.int64)])

    def _choose(
        self, candidates: _Candidates, cap: _PromptCap, k: int, rng: np.random.RandomState
    ) -> np.ndarray:
        """``k`` picks by the measure: the shared top-k of :meth:`_measure` (sequential
        measures override this)."""
        return _top(self._measure(candidates), candidates.eligible, k, rng, cap)

    def _measure(self, candidates: _Candidates) -> np.ndarray | None:
        """A score per candidate (higher is asked first); None: no preference."""
        raise NotImplementedError


def norm_limit(sq: np.ndarray, eligible: np.ndarray, max_norm: float | None) -> float:
    """The longest difference ``normalize="cap"`` keeps: ``max_norm``, or by default the
    median length of the ``eligible`` rows (``sq``: the rows' squared lengths)."""
    return float(np.median(np.sqrt(sq[eligible]))) if max_norm is None else float(max_norm)


def rescale_differences(sq: np.ndarray, normalize: str, limit: float | None = None) -> np.ndarray:
    """The factor each difference is multiplied by before a design scores it (``sq``: the
    squared lengths).

    ``"none"``: 1. ``"unit"``: ``1 / ||d_i||`` (every difference of length 1; a zero row
    stays zero). ``"cap"``: ``min(1, limit / ||d_i||)`` (no difference longer than ``limit``).
    """
    norm = np.sqrt(sq)
    if normalize == "none":
        return np.ones(len(sq))
    if normalize == "unit":
        return np.divide(1.0, norm, out=np.zeros(len(sq)), where=norm > 0)
    return np.divide(limit, norm, out=np.ones(len(sq)), where=norm > limit)


def posterior_outcome_variance(margin: np.ndarray | None, h: np.ndarray) -> np.ndarray:
    """``E[p (1 - p)]`` under a Gaussian posterior on the margin with mean ``margin`` (0
    without a head) and variance ``h``, by the probit approximation:
    ``kappa * p (1 - p)`` with ``p = sigmoid(kappa * margin)`` and
    ``kappa = 1 / sqrt(1 + pi h / 8)``. Uncertain, long differences count for less than
    their point-estimate ``p (1 - p)`` says."""
    kappa = 1.0 / np.sqrt(1.0 + np.pi * h / 8.0)
    m = np.zeros(len(h)) if margin is None else margin
    p = expit(kappa * m)
    return kappa * p * (1.0 - p)


class BayesianDesign(BaseStrategy):
    """Base class of the designs over a Gaussian prior on the linear reward direction
    (:class:`DOptimal`, :class:`VOptimal`): both hold ``prior_strength`` and the options
    that temper the pool's geometry, each implemented once here.

    A batch is chosen in this order: first ``round(random_share * batch_size)`` eligible
    candidates uniformly at random (their information then counts as if labelled), then the
    design's greedy picks over the rescaled differences (``normalize``), weighted by
    ``weighting``, never more than ``max_per_prompt`` of one prompt in the batch (random
    picks included). The head's predicted margins are always those of the raw differences.
    """

    # Bounded away from 0 and infinity: 1 / prior_strength scales every gain, and its
    # square the V-optimal scores, which must stay finite.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "prior_strength": [Interval(numbers.Real, 1e-8, 1e8, closed="both")],
        "normalize": [Options(("none", "unit", "cap"))],
        "max_norm": [Interval(numbers.Real, 0.0, MAX_ABS_VALUE, closed="right"), None],
        "weighting": [Options(("head", "posterior"))],
        "max_per_prompt": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_share": [Interval(numbers.Real, 0.0, 1.0, closed="both")],
        **BaseStrategy._parameter_constraints,
    }

    def __init__(
        self,
        prior_strength: float = 0.1,
        normalize: str = "none",
        max_norm: float | None = None,
        weighting: str = "head",
        max_per_prompt: int | None = None,
        random_share: float = 0.0,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.prior_strength = prior_strength
        self.normalize = normalize
        self.max_norm = max_norm
        self.weighting = weighting
        self.max_per_prompt = max_per_prompt
        self.random_share = random_share
        self.random_state = random_state

    def _pick(self, candidates: _Candidates, k: int, rng: np.random.RandomState) -> np.ndarray:
        if self.max_norm is not None and self.normalize != "cap":
            raise ValueError(
                f"max_norm={self.max_norm!r} is read only with normalize='cap' (got "
                f"normalize={self.normalize!r}): drop max_norm or set normalize='cap'."
            )
        return super()._pick(candidates, k, rng)

    def _choose(
        self, candidates: _Candidates, cap: _PromptCap, k: int, rng: np.random.RandomState
    ) -> np.ndarray:
        """The design's greedy picks over the rescaled differences, weighted by ``weighting``."""
        D, sq, L = candidates.D, candidates.sq, candidates.labelled
        if self.normalize != "none":
            limit = norm_limit(sq, candidates.eligible, self.max_norm) if self.normalize == "cap" else None
            scale = rescale_differences(sq, self.normalize, limit)
            D = (D * scale[:, None].astype(D.dtype)).astype(D.dtype)
            sq = sq * scale**2
            if L is not None:
                L_scale = rescale_differences(squared_norms(L), self.normalize, limit)
                L = (L * L_scale[:, None].astype(L.dtype)).astype(L.dtype)
        h, A_inv = _initial_gains(D, sq, L, candidates.margin_labelled, self.prior_strength)
        if self.weighting == "posterior":
            v = posterior_outcome_variance(candidates.margin, h)
        else:
            v = outcome_variance(candidates.margin, len(D))
        scaled = replace(candidates, D=D, sq=sq, labelled=L)
        return self._design(scaled, weight=v, leverage=h, A_inv=A_inv, cap=cap, k=k, rng=rng)

    def _design(
        self,
        candidates: _Candidates,
        *,
        weight: np.ndarray,
        leverage: np.ndarray,
        A_inv: np.ndarray,
        cap: _PromptCap,
        k: int,
        rng: np.random.RandomState,
    ) -> np.ndarray:
        """``k`` greedy picks from the (rescaled) ``candidates``, given each candidate's
        outcome variance ``weight``, its ``leverage`` ``d_i^T A^{-1} d_i`` and ``A^{-1}``
        (updated in place)."""
        raise NotImplementedError


class DOptimal(BayesianDesign):
    """Greedy batch D-optimal design: maximise the log-determinant of the head's information.

    Chooses the batch ``S`` one pair at a time to maximise

        ``log det(prior_strength * I + sum_{labelled} v_j l_j l_j^T + sum_{i in S} v_i d_i d_i^T)``

    with ``v = p (1 - p)`` the outcome variance under the current head (``p`` the predicted
    probability that ``a`` wins; 1/4 without a head). Adding candidate ``i`` raises the log
    determinant by ``log(1 + v_i d_i^T A^{-1} d_i)``: outcome uncertainty (``v_i``) times
    leverage (directions the labelled set has not covered). After each pick the inverse is
    updated by Sherman-Morrison, ``A^{-1} <- A^{-1} - v u u^T / (1 + v d^T u)`` with
    ``u = A^{-1} d``, and every candidate's gain is downdated by ``v_i v (d_i^T u)^2 / (1 + v
    d^T u)``: O(M d) per pick after one O(M d^2) pass, and O(M d) memory. A chosen pair's
    own direction loses its leverage, so a batch holds no near-duplicates.

    The log determinant is monotone submodular in the chosen set, so the greedy batch is
    within a factor ``1 - 1/e`` of the best batch of the same size (Nemhauser, Wolsey and
    Fisher, 1978).

    Parameters
    ----------
    prior_strength : float in [1e-8, 1e8], default 0.1
        ``lambda``: the precision of a Gaussian prior ``w ~ N(0, I / lambda)`` on the linear
        reward direction, in the units of the embedding differences. It is the information
        the design starts from: small values favour covering every direction (exploration);
        large values make the first labels count less and the choice follow ``v_i`` and the
        length of ``d_i``.
    normalize : {"none", "unit", "cap"}, default "none"
        The differences the design scores (and the labelled ones it starts from): as they are;
        each of length 1 (``"unit"``: the direction alone counts, not how different two
        answers are); or shortened to at most ``max_norm`` (``"cap"``). A few very long
        differences (an empty answer against a real one) otherwise hold most of the
        leverage. The head's predicted ``p`` is always that of the raw difference.
    max_norm : float, optional
        With ``normalize="cap"``: the longest difference; None takes the median length of
        the candidates that can be chosen. An error with another ``normalize``.
    weighting : {"head", "posterior"}, default "head"
        ``v_i``: ``p (1 - p)`` at the head's predicted margin (1/4 without a head), or its
        mean under the design's Gaussian posterior on the margin (mean the head's margin,
        variance ``h_i = d_i^T A^{-1} d_i``), ``kappa p (1 - p)`` with ``p = sigmoid(kappa m)``
        and ``kappa = 1 / sqrt(1 + pi h_i / 8)`` (the probit approximation): differences the
        labels have not covered count for less than the point estimate says.
    max_per_prompt : int, optional
        At most this many pairs of one prompt in a batch (random picks included); needs the
        ``groups`` of :meth:`select`. Spreads a batch over prompts.
    random_share : float in [0, 1], default 0
        Share of the batch (rounded to the nearest integer, halves to even) drawn uniformly
        at random first; the design then picks the rest, counting the random picks'
        information as if they were labelled.
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices (see :class:`BaseStrategy`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import DOptimal
    >>> D = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [0.0, 0.0]])
    >>> sorted(DOptimal(random_state=0).select(D, batch_size=2).tolist())
    [0, 2]
    >>> D = np.array([[30.0, 0.0], [0.0, 1.0]])  # a long difference along a covered direction
    >>> DOptimal().select(D, labelled=np.array([[1.0, 0.0]]), batch_size=1).tolist()
    [0]
    >>> DOptimal(normalize="unit").select(D, labelled=np.array([[1.0, 0.0]]), batch_size=1).tolist()
    [1]
    """

    def _design(self, candidates, *, weight, leverage, A_inv, cap, k, rng):
        D, v = candidates.D, weight
        gain = leverage * v
        gain[~candidates.eligible] = -np.inf
        # Break exact ties at random, reproducibly: a tiny relative jitter.
        gain *= 1.0 + 1e-12 * rng.uniform(size=len(gain))
        return np.array(_greedy(D, v, gain, A_inv, k, cap), dtype=np.int64)


def _initial_gains(
    D: np.ndarray, sq: np.ndarray, L: np.ndarray | None, margin_lab: np.ndarray | None, prior_strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """``d_i^T A^{-1} d_i`` for every candidate and ``A^{-1}``, with ``A = prior_strength * I +
    sum_labelled v_j l_j l_j^T``.

    ``A`` is the identity plus a rank-``L`` term, so with fewer labelled pairs than features
    the quadratic forms cost O(M d L) by the Woodbury identity
    ``A^{-1} = (I - B^T (lambda I + B B^T)^{-1} B) / lambda`` (rows of ``B``: ``sqrt(v_j) l_j``);
    otherwise one O(M d^2) pass.
    """
    d = D.shape[1]
    if L is None:
        return sq / prior_strength, np.eye(d) / prior_strength
    B = L.astype(np.float64) * np.sqrt(outcome_variance(margin_lab, len(L)))[:, None]
    if len(L) < d:
        K = cho_factor(prior_strength * np.eye(len(L)) + B @ B.T)
        A_inv = (np.eye(d) - B.T @ cho_solve(K, B)) / prior_strength
        Bt = B.T.astype(D.dtype)
        gain = np.empty(len(D))
        for s in range(0, len(D), CHUNK):
            proj = (D[s : s + CHUNK] @ Bt).astype(np.float64)
            gain[s : s + CHUNK] = (
                sq[s : s + CHUNK] - np.einsum("ij,ij->i", proj, cho_solve(K, proj.T).T)
            ) / prior_strength
        return gain, A_inv
    A_inv = cho_solve(cho_factor(prior_strength * np.eye(d) + B.T @ B), np.eye(d))
    return _quadratic_form(D, A_inv), A_inv


def _sherman_morrison(A_inv: np.ndarray, d: np.ndarray, v: float) -> tuple[np.ndarray, float]:
    """Update ``A_inv`` in place to ``(A + v d d^T)^{-1}``; return ``u = A^{-1} d`` and
    ``c = v / (1 + v d^T u)`` (so the update is ``A_inv -= c u u^T``)."""
    u = A_inv @ d.astype(np.float64)
    c = v / (1.0 + v * float(d @ u))
    A_inv -= c * np.outer(u, u)
    return u, c


def _greedy(
    D: np.ndarray,
    v: np.ndarray,
    gain: np.ndarray,
    A_inv: np.ndarray,
    batch_size: int,
    cap: _PromptCap | None = None,
) -> list[int]:
    """Greedy picks: the largest gain ``v_i d_i^T A^{-1} d_i``, then a Sherman-Morrison
    update of ``A_inv`` and a downdate of the gains by ``v_i c (d_i^T u)^2``.

    Gains only decrease, so the downdate runs every pick on a shortlist of the candidates
    with the largest gains (a copy of their rows) and is applied to the rest of the pool
    in one pass only when the best shortlisted gain falls below the largest gain outside
    the shortlist: the same picks as downdating every candidate every time (O(M d) per
    pick), reading the pool far fewer times. ``gain`` and ``A_inv`` are updated in place.
    """
    M = len(D)
    size = min(M, max(16 * batch_size, 4096, M // 32))
    chosen: list[int] = []
    pending_u: list[np.ndarray] = []
    pending_c: list[float] = []
    while len(chosen) < batch_size:
        if pending_u:  # bring every gain up to date in one pass over the pool
            U = np.array(pending_u, dtype=D.dtype).T
            c = np.array(pending_c)
            for s in range(0, M, CHUNK):
                proj = (D[s : s + CHUNK] @ U).astype(np.float64)
                gain[s : s + CHUNK] -= v[s : s + CHUNK] * (proj**2 @ c)
            gain[chosen] = -np.inf
            pending_u, pending_c = [], []
        if size < M:
            short = np.argpartition(-gain, size)[: size + 1]
            short = short[np.argsort(-gain[short], kind="stable")]
            threshold, short = gain[short[-1]], short[:-1]
        else:
            short, threshold = np.arange(M), -np.inf
        D_short, v_short, g_short = D[short], v[short], gain[short]
        proj = np.empty(len(short), dtype=D.dtype)
        while len(chosen) < batch_size:
            j = int(np.argmax(g_short))
            if not g_short[j] >= threshold or not np.isfinite(g_short[j]):
                break
            i = int(short[j])
            chosen.append(i)
            u, c = _sherman_morrison(A_inv, D[i], v[i])
            pending_u.append(u)
            pending_c.append(c)
            np.matmul(D_short, u.astype(D.dtype), out=proj)
            g_short -= (c * v_short) * np.square(proj, dtype=np.float64)
            g_short[j] = -np.inf
            full = None if cap is None else cap.add(i)
            if full is not None:
                gain[full] = -np.inf
                g_short[full[short]] = -np.inf
        else:
            break
        if size >= M:
            raise RuntimeError("greedy selection ran out of finite gains")  # excluded by select
    return chosen


class VOptimal(BayesianDesign):
    """Greedy batch V-optimal (transductive) design: minimise the head's predictive variance
    over the candidate pool.

    With ``A = prior_strength * I + sum_{labelled} v_j l_j l_j^T`` the posterior precision of
    the linear reward direction, the variance of the predicted margin of pair ``k`` is
    ``d_k^T A^{-1} d_k``. The batch ``S`` is chosen one pair at a time to minimise its sum over
    the pool, ``tr(A^{-1} P)`` with ``P = sum_{pool} d_k d_k^T / M``. Adding candidate ``i``
    lowers it by

        ``v_i q_i / (1 + v_i h_i)``, with ``q_i = d_i^T A^{-1} P A^{-1} d_i`` and ``h_i = d_i^T A^{-1} d_i``,

    so a pair is worth asking when its direction is common in the pool (``q_i``), not only
    when it is unexplored (``h_i``): :class:`DOptimal` rewards leverage alone and so favours
    rare, extreme differences (an empty answer against a long one); this criterion weighs
    leverage by how much of the pool it informs. After each pick (``u = A^{-1} d``, ``c = v /
    (1 + v d^T u)``, ``z = A^{-1} P u``) both quadratic forms are downdated exactly,
    ``h_i -= c (d_i^T u)^2`` and ``q_i -= 2 c (d_i^T u)(d_i^T z) - c^2 (u^T P u)(d_i^T u)^2``:
    O(M d) per pick after one O(M d^2) pass, O(M d) memory.

    Parameters
    ----------
    prior_strength : float, default 0.1
        ``lambda``: the precision of the Gaussian prior on the reward direction, as in
        :class:`DOptimal`.
    normalize, max_norm, weighting, max_per_prompt, random_share, random_state
        As in :class:`DOptimal` (one implementation, in :class:`BayesianDesign`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import VOptimal
    >>> D = np.array([[1.0, 0.0], [0.9, 0.1], [0.95, 0.0], [1.0, 0.05], [0.0, 1.5]])
    >>> VOptimal(random_state=0).select(D, batch_size=1).tolist()  # the common direction
    [3]
    >>> DOptimal(random_state=0).select(D, batch_size=1).tolist()  # the longest difference
    [4]
    """

    def _design(self, candidates, *, weight, leverage, A_inv, cap, k, rng):
        D, v, eligible = candidates.D, weight, candidates.eligible
        h = leverage.copy()
        P = information_matrix(D, np.full(len(D), 1.0 / len(D)), 0.0)
        q = _quadratic_form(D, A_inv @ P @ A_inv)
        jitter = 1.0 + 1e-12 * rng.uniform(size=len(D))  # reproducible random tie-breaks
        chosen: list[int] = []
        for _ in range(k):
            score = np.where(eligible, v * q / (1.0 + v * h), -np.inf) * jitter
            score[chosen] = -np.inf
            i = int(np.argmax(score))
            chosen.append(i)
            full = cap.add(i)
            if full is not None:
                eligible = eligible & ~full
            u, c = _sherman_morrison(A_inv, D[i], v[i])
            uPu = float(u @ P @ u)
            z = A_inv @ (P @ u) + c * uPu * u  # the old inverse times P u (A_inv is updated)
            du = np.concatenate([D[s : s + CHUNK] @ u.astype(D.dtype) for s in range(0, len(D), CHUNK)])
            dz = np.concatenate([D[s : s + CHUNK] @ z.astype(D.dtype) for s in range(0, len(D), CHUNK)])
            du, dz = du.astype(np.float64), dz.astype(np.float64)
            h -= c * du**2
            q -= 2.0 * c * du * dz - c**2 * uPu * du**2
        return np.array(chosen, dtype=np.int64)


class PoolLeverage(BaseStrategy):
    """One-shot leverage rule of the active reward modeling reference: the top ``batch_size``
    candidates by ``v_i d_i^T M^{-1} d_i``.

    ``M = sum_{pool} v_i d_i d_i^T + ridge * I`` is the information of the *whole candidate
    pool* (plus, with ``past_aware=True``, that of the labelled pairs). The score is the
    derivative of ``log det M`` with respect to candidate ``i``'s weight, all scored once:
    nothing inside a batch stops near-duplicates. Kept to measure what greedy updating adds.

    Parameters
    ----------
    past_aware : bool, default False
        Add the labelled pairs' information to ``M``.
    ridge : float, default 1e-6
        Added to the diagonal of ``M`` (the reference's value).
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices (see :class:`BaseStrategy`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import PoolLeverage
    >>> D = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    >>> PoolLeverage(random_state=0).select(D, batch_size=1).tolist()
    [2]
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "past_aware": [BOOLEAN],
        "ridge": [Interval(numbers.Real, 0.0, None, closed="neither")],
        **BaseStrategy._parameter_constraints,
    }

    def __init__(
        self,
        past_aware: bool = False,
        ridge: float = 1e-6,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.past_aware = past_aware
        self.ridge = ridge
        self.random_state = random_state

    def _measure(self, candidates: _Candidates) -> np.ndarray:
        D, L = candidates.D, candidates.labelled
        v = outcome_variance(candidates.margin, len(D))
        base = None
        if self.past_aware and L is not None:
            base = information_matrix(L, outcome_variance(candidates.margin_labelled, len(L)), 0.0)
        M = information_matrix(D, v, self.ridge, base)
        return v * _quadratic_form(D, cho_solve(cho_factor(M), np.eye(len(M))))


class Random(BaseStrategy):
    """Uniformly random candidates (the baseline every other strategy must beat).

    Parameters
    ----------
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices (see :class:`BaseStrategy`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import Random
    >>> len(Random(random_state=0).select(np.eye(5), batch_size=3))
    3
    """

    _uses_head = False

    def _measure(self, candidates: _Candidates) -> None:
        return None  # no preference: the pick's seeded random order


class Uncertainty(BaseStrategy):
    """The candidates whose predicted outcome is closest to a coin flip: smallest
    ``|r(a) - r(b)|`` (p closest to 1/2). Without a head every pair is equally uncertain
    and the batch is random.

    Parameters
    ----------
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices (see :class:`BaseStrategy`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import Uncertainty
    >>> from embrm.heads import BTLinear
    >>> head = BTLinear(standardize=False).fit(np.array([[1.0, 0.0], [0.9, 0.1]]), np.zeros((2, 2)))
    >>> Uncertainty().select(np.array([[1.0, 0.0], [0.0, 1.0]]), head=head, batch_size=1).tolist()
    [1]
    """

    def _measure(self, candidates: _Candidates) -> np.ndarray:
        margin = candidates.margin
        return -(np.zeros(len(candidates.D)) if margin is None else np.abs(margin))


class MaxDifference(BaseStrategy):
    """The candidates with the largest predicted reward gap ``|r(a) - r(b)|`` (the most
    confident comparisons). Without a head the batch is random.

    Parameters
    ----------
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices (see :class:`BaseStrategy`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import MaxDifference
    >>> from embrm.heads import BTLinear
    >>> head = BTLinear(standardize=False).fit(np.array([[1.0, 0.0], [0.9, 0.1]]), np.zeros((2, 2)))
    >>> MaxDifference().select(np.array([[1.0, 0.0], [0.0, 1.0]]), head=head, batch_size=1).tolist()
    [0]
    """

    def _measure(self, candidates: _Candidates) -> np.ndarray:
        margin = candidates.margin
        return np.zeros(len(candidates.D)) if margin is None else np.abs(margin)


class KCenter(BaseStrategy):
    """Diversity baseline: greedy k-center (coreset) in difference space.

    Each pick is the candidate farthest from its nearest already labelled or chosen pair,
    with the sign-free distance ``min(||d_i - c||, ||d_i + c||)`` (``d`` and ``-d`` are the
    same pair). The first pick without labelled pairs is random. Ignores the head.

    Parameters
    ----------
    random_state : int, RandomState or None, default None
        Breaks ties and drives the random choices (see :class:`BaseStrategy`).

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.active import KCenter
    >>> D = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    >>> sorted(KCenter(random_state=0).select(D, labelled=D[:1], batch_size=1).tolist())
    [2]
    """

    _uses_head = False

    def _choose(
        self, candidates: _Candidates, cap: _PromptCap, k: int, rng: np.random.RandomState
    ) -> np.ndarray:
        """Farthest-point picks, one at a time (the nearest distances updated after each)."""
        D, L, sq, eligible = candidates.D, candidates.labelled, candidates.sq, candidates.eligible
        nearest = np.full(len(D), np.inf)

        def absorb(centres: np.ndarray) -> None:
            c_sq = np.einsum("ij,ij->i", centres, centres).astype(np.float64)
            for s in range(0, len(D), CHUNK):
                dots = np.abs(D[s : s + CHUNK] @ centres.T.astype(D.dtype)).astype(np.float64)
                dist = sq[s : s + CHUNK, None] + c_sq[None, :] - 2.0 * dots
                np.minimum(nearest[s : s + CHUNK], dist.min(axis=1), out=nearest[s : s + CHUNK])

        if L is not None:
            for s in range(0, len(L), 1024):
                absorb(L[s : s + 1024])
        # Ties go to the first of one random order, at every pick (zero distances included).
        order = np.argsort(-rng.uniform(size=len(D)), kind="stable")
        score = np.where(eligible, nearest, -np.inf)
        chosen = []
        for n in range(k):
            if n == 0 and L is None:
                i = int(rng.choice(np.flatnonzero(eligible)))
            else:
                i = int(order[np.argmax(score[order])])
            chosen.append(i)
            full = cap.add(i)
            if full is not None:
                eligible = eligible & ~full
            absorb(D[i : i + 1])
            score = np.where(eligible, nearest, -np.inf)
            score[chosen] = -np.inf
        return np.array(chosen)


#: Strategy class per CLI name.
STRATEGIES: dict[str, type[BaseStrategy]] = {
    "dopt": DOptimal,
    "vopt": VOptimal,
    "pool-leverage": PoolLeverage,
    "random": Random,
    "uncertainty": Uncertainty,
    "max-difference": MaxDifference,
    "k-center": KCenter,
}

#: The strategy used when none is named (``embrm select`` without ``--strategy``,
#: :func:`~embrm.active.select_queries` without ``strategy``): a name of
#: :data:`STRATEGIES` and its parameters.
DEFAULT_STRATEGY: tuple[str, dict[str, Any]] = ("vopt", {"normalize": "unit"})


def seeded(strategy: BaseStrategy, random_state: int | np.random.RandomState | None) -> BaseStrategy:
    """``strategy`` itself when it has a ``random_state`` of its own, else a clone seeded
    with ``random_state``: how the drivers (:func:`~embrm.active.select_queries`,
    :func:`~embrm.active.simulate_active`) seed a strategy without overriding a user's seed.

    Examples
    --------
    >>> from embrm.active import DOptimal
    >>> from embrm.active._strategies import seeded
    >>> seeded(DOptimal(), 3), seeded(DOptimal(random_state=1), 3)
    (DOptimal(random_state=3), DOptimal(random_state=1))
    """
    if getattr(strategy, "random_state", None) is not None or "random_state" not in strategy.get_params():
        return strategy
    return clone(strategy).set_params(random_state=random_state)


def default_strategy() -> BaseStrategy:
    """A new instance of :data:`DEFAULT_STRATEGY`.

    Examples
    --------
    >>> from embrm.active import default_strategy
    >>> default_strategy()
    VOptimal(normalize='unit')
    """
    name, params = DEFAULT_STRATEGY
    return STRATEGIES[name](**params)
