"""Prompt-grouped splits, cross-fitting by prompt, the baselines every reward report needs,
and the report object that reads an evaluation table.

The one place that joins data, heads and evaluation: every split keeps each prompt on one
side (:func:`group_kfold`, :func:`group_train_test_split`); in cross-fitting the training pairs
are built inside each fold from that fold's training prompts only, the fitted head scores the
held-out prompts, and the out-of-fold rewards of every fold are evaluated together. A
:class:`Report` reads the metric | value | ci_low | ci_high tables of :mod:`embrm.evaluate` by
metric name. The experiments, the benchmarks, the command line's ``train`` (through
``embrm.cli.workflow``) and the active-annotation simulation use these instead of writing their own
fold loops, splits or table parsers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.utils import check_random_state

from embrm._core.groups import Groups, group_codes, split_off_groups
from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs
from embrm.exceptions import DataError

PairBuilder = Callable[..., PreferencePairs]
Splits = int | Iterable[tuple[np.ndarray, np.ndarray]]

__all__ = [
    "CrossValRewards",
    "FoldFit",
    "Report",
    "attack_rank",
    "baseline_rewards",
    "cross_val_rewards",
    "group_kfold",
    "group_train_test_split",
    "length_features",
]


# -- prompt-grouped splits ---------------------------------------------------------------------
def _unique_groups(groups: np.ndarray, n_parts: int) -> np.ndarray:
    """The sorted distinct groups, checked to be enough for ``n_parts`` parts."""
    if groups.ndim != 1 or len(groups) == 0:
        raise DataError(f"groups must be a non-empty 1-d array, got shape {groups.shape}.")
    unique = np.unique(groups)
    if len(unique) < n_parts:
        raise DataError(
            f"Cannot split {len(unique)} distinct prompts into {n_parts} parts: each part "
            "needs at least one prompt."
        )
    return unique


def group_kfold(
    groups: ArrayLike, n_splits: int = 5, random_state: int | np.random.RandomState | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """K folds by group: prompts are shuffled (seeded) and dealt into ``n_splits`` folds.

    Parameters
    ----------
    groups : array-like of shape (n,)
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
    >>> groups = np.array([0, 0, 1, 1, 2, 2])
    >>> [groups[test].tolist() for _, test in group_kfold(groups, n_splits=3, random_state=0)]
    [[2, 2], [1, 1], [0, 0]]
    """
    groups = np.asarray(groups)
    unique = _unique_groups(groups, n_splits)
    # the prompt at position i of the shuffle goes to fold i % n_splits
    position = np.argsort(check_random_state(random_state).permutation(len(unique)))
    fold = (position % n_splits)[np.searchsorted(unique, groups)]
    for k in range(n_splits):
        yield np.flatnonzero(fold != k), np.flatnonzero(fold == k)


def group_train_test_split(
    groups: ArrayLike,
    test_size: float = 0.2,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a train and a test part with disjoint groups.

    ``round(test_size * n_prompts)`` prompts (at least one, and at least one left for
    training) go to the test part: the same draw as the validation slice the heads hold out
    for early stopping.

    Parameters
    ----------
    groups : array-like of shape (n,)
        Group (prompt) id of each row.
    test_size : float in (0, 1), default 0.2
        Share of groups (prompts) in the test part.
    random_state : int, RandomState or None
        Seeds the choice of test prompts; None draws a fresh one.

    Returns
    -------
    train_index, test_index : ndarray of int

    Examples
    --------
    >>> train, test = group_train_test_split(np.repeat(np.arange(10), 3), test_size=0.2, random_state=0)
    >>> len(train), len(test)
    (24, 6)
    """
    if not 0 < test_size < 1:
        raise DataError(f"test_size must be in (0, 1), got {test_size}.")
    groups = np.asarray(groups)
    _unique_groups(groups, 2)
    codes, n_groups = group_codes(groups)
    return split_off_groups(codes, n_groups, test_size, check_random_state(random_state))


# -- cross-fitting -----------------------------------------------------------------------------


@dataclass
class FoldFit:
    """One head fitted on one fold's training part.

    Attributes
    ----------
    fold : int
        Position of the fold.
    train_index, test_index : ndarray of int
        Rows of the data (responses of a scored set, or pairs) on each side.
    head : fitted head
        A clone of the head passed to :func:`cross_val_rewards`, fitted on this fold.
    n_train_pairs : int
        Pairs the head was fitted on.
    label_error_rate : float or None
        Share of training pairs whose label disagrees with the golden score (pairs built from
        a scored set); None for given pairs.
    fit_seconds : float
        Wall time of ``fit`` alone.
    representation : fitted representation or None
        The clone of the representation passed as ``X`` to :func:`cross_val_rewards`, fitted
        on this fold's training part; None when ``X`` held the rows themselves.
    """

    fold: int
    train_index: np.ndarray
    test_index: np.ndarray
    head: Any
    n_train_pairs: int
    label_error_rate: float | None
    fit_seconds: float
    representation: Any = None


@dataclass
class CrossValRewards:
    """Out-of-fold rewards: every row scored by a head that never saw its prompt.

    Attributes
    ----------
    reward : ndarray of shape (n,) or None
        For a scored set: the reward of each response. NaN for rows that no fold held out
        (only when ``cv`` gives splits that do not cover every prompt).
    reward_win, reward_lose : ndarray of shape (n_pairs,) or None
        For pairs: the reward of the preferred and of the other response of each pair.
    folds : list of FoldFit
    groups : ndarray
        The group (prompt) id of each row of the data.
    """

    reward: np.ndarray | None
    reward_win: np.ndarray | None
    reward_lose: np.ndarray | None
    folds: list[FoldFit] = field(default_factory=list)
    groups: np.ndarray | None = None

    @property
    def held_out_mask(self) -> np.ndarray:
        """Boolean mask of the rows that some fold held out."""
        mask = np.zeros(len(self.groups), dtype=bool)
        for fit in self.folds:
            mask[fit.test_index] = True
        return mask

    @property
    def fit_seconds(self) -> float:
        """Mean wall time of one fold's ``fit``."""
        return float(np.mean([f.fit_seconds for f in self.folds]))

    @property
    def n_train_pairs(self) -> float:
        """Mean number of training pairs per fold."""
        return float(np.mean([f.n_train_pairs for f in self.folds]))

    @property
    def label_error_rate(self) -> float | None:
        """Mean realised label error rate of the training pairs (None for given pairs)."""
        rates = [f.label_error_rate for f in self.folds]
        return None if any(r is None for r in rates) else float(np.mean(rates))

    def held_out(self, method: str, *arrays: ArrayLike) -> np.ndarray:
        """Call a method of each fold's head on that fold's held-out rows.

        Parameters
        ----------
        method : str
            A method of the head, e.g. ``"predict_proba"`` or an ensemble's
            ``"uncertainty"``.
        *arrays : array-like, each of n rows
            Row-aligned with the cross-fitted data (responses, or pairs); each fold's head
            gets the rows it held out.

        Returns
        -------
        ndarray of shape (n,)
            NaN where no fold held the row out.
        """
        arrays = tuple(np.asanyarray(a) for a in arrays)
        out = np.full(len(self.groups), np.nan)
        for fit in self.folds:
            te = fit.test_index
            out[te] = getattr(fit.head, method)(*(a[te] for a in arrays))
        return out

    def fold_of(self, groups: ArrayLike) -> np.ndarray:
        """The fold that held each prompt out (-1 where none did).

        Parameters
        ----------
        groups : array-like of shape (m,)
            Prompt ids, in the id space of the cross-fitted data (for example the prompts of
            another answer set).

        Returns
        -------
        ndarray of int, shape (m,)
        """
        groups = np.asarray(groups)
        fold = np.full(len(groups), -1)
        for k, fit in enumerate(self.folds):
            fold[np.isin(groups, self.groups[fit.test_index])] = k
        return fold

    def reward_held_out(self, X: ArrayLike | ScoredResponses, groups: ArrayLike) -> np.ndarray:
        """Score rows of another set with the head of the fold that held their prompt out.

        For example the judge-hacking answer of each prompt: it is scored by the head that
        never saw that prompt, like the prompt's real answers.

        Parameters
        ----------
        X : array-like of shape (m, n_features), or ScoredResponses
            Embeddings of the other set, from the same encoder; or, when the folds fitted a
            representation (``X`` of :func:`cross_val_rewards` was one), the other set itself,
            which each fold's representation transforms.
        groups : array-like of shape (m,)
            Their prompt ids, in the id space of the cross-fitted data.

        Returns
        -------
        reward : ndarray of shape (m,)
            NaN for rows whose prompt no fold held out.
        """
        fitted = any(fit.representation is not None for fit in self.folds)
        if fitted != isinstance(X, ScoredResponses):
            raise DataError(
                "Pass the other set itself (ScoredResponses) when cross_val_rewards fitted a "
                "representation in each fold, and its embeddings otherwise."
            )
        X = X if fitted else np.asanyarray(X)
        fold = self.fold_of(groups)
        if len(fold) != len(X):
            raise DataError(f"X has {len(X)} rows but groups has {len(fold)}: pass one prompt id per row.")
        reward = np.full(len(fold), np.nan)
        for k, fit in enumerate(self.folds):
            rows = np.flatnonzero(fold == k)
            if rows.size:
                part = fit.representation.transform(X.take(rows)) if fitted else X[rows]
                reward[rows] = fit.head.reward(part)
        return reward


def _base_seed(random_state: int | np.random.RandomState | None) -> int:
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max // 2))


def _splits(groups: np.ndarray, cv: Splits, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(cv, (int, np.integer)):
        if cv < 2:
            raise DataError(f"cv must be at least 2 folds, got {cv}.")
        return list(group_kfold(groups, int(cv), random_state=seed))
    splits = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
    for tr, te in splits:
        shared = np.intersect1d(groups[tr], groups[te])
        if shared.size:
            raise DataError(
                f"A split puts {shared.size} prompt(s) on both sides (e.g. {shared[0]!r}): "
                "out-of-fold rewards would leak. Split by prompt, e.g. with "
                "embrm.model_selection.group_kfold."
            )
    return splits


def cross_val_rewards(
    head: Any,
    data: ScoredResponses | PreferencePairs,
    X: ArrayLike | tuple[ArrayLike, ArrayLike],
    *,
    cv: Splits = 5,
    pairs: PairBuilder | None = None,
    fit_params: dict[str, Any] | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> CrossValRewards:
    """Out-of-fold rewards by prompt-grouped cross-fitting.

    The prompts are dealt into folds; for each fold a clone of ``head`` is fitted on the
    other folds and rewards the held-out prompts. For a scored set, the training pairs are
    built inside each fold from that fold's training prompts only (so no label of a held-out
    prompt reaches the head); the out-of-fold rewards can then be evaluated together, e.g.
    with :func:`embrm.evaluate.evaluate_rewards`.

    Parameters
    ----------
    head : embrm head
        Cloned for every fold (``sklearn.base.clone``); the original stays unfitted.
    data : ScoredResponses or PreferencePairs
        Responses with golden scores (pairs are built per fold), or labelled pairs.
    X : array-like of shape (n, n_features), a tuple (X_win, X_lose), or a representation
        Embeddings row-aligned with ``data``: one row per response of a scored set, or the
        two arrays of ``PreferencePairs.embed`` for pairs. Or an unfitted *fitted
        representation* such as :class:`embrm.embed.LexicalFeatures` (anything with
        ``fit(part, pairs=...)`` and ``transform``): in each fold a clone is fitted on the
        training part only (``part``: the training responses, or pairs; ``pairs``: the
        fold's training pairs) and transforms the training and held-out rows, so no
        held-out text or label reaches it. Each fold's is kept in
        :attr:`FoldFit.representation`.
    cv : int or iterable of (train_index, test_index), default 5
        Number of folds by prompt (:func:`group_kfold`), or explicit splits (one
        split, e.g. from :func:`group_train_test_split`, scores only its test
        rows). Splits that share a prompt between sides are refused.
    pairs : callable, optional
        Scored sets only: ``pairs(train_part, random_state=...)`` returns the training
        :class:`~embrm.data.PreferencePairs` of a fold (with ``chosen_index`` and
        ``rejected_index`` into ``train_part``). Default :func:`embrm.data.within_prompt_pairs`
        with its defaults; pass e.g. ``functools.partial(within_prompt_pairs,
        pairs_per_prompt=50, beta=1.0)``.
    fit_params : dict, optional
        Extra keyword arguments of every ``fit`` (for example ``encoder_id``).
    random_state : int, RandomState or None
        Seeds the fold assignment (:func:`group_kfold`) and the pair builder:
        with an int ``s``, fold ``k`` builds its pairs with ``random_state=s + 1000 * k``; a
        RandomState ``rs`` (or None: numpy's global one) draws ``s = rs.randint(2**30 - 1)``.
        The head's own ``random_state`` is left as given.

    Returns
    -------
    CrossValRewards

    Examples
    --------
    >>> from embrm.heads import BTLinear
    >>> from embrm.testing import make_scored_responses
    >>> data, X = make_scored_responses(n_prompts=20, n_responses=6, random_state=0)
    >>> result = cross_val_rewards(BTLinear(), data, X, cv=4, random_state=0)
    >>> result.reward.shape, len(result.folds)
    ((120,), 4)
    """
    seed = _base_seed(random_state)
    fit_params = dict(fit_params or {})
    fitted = _is_representation(X)
    if isinstance(data, ScoredResponses):
        if not fitted:
            X = np.asanyarray(X)
            if X.ndim != 2 or len(X) != len(data):
                raise DataError(
                    f"X must have one row per response of the scored set ({len(data)}), got shape "
                    f"{X.shape}: embed it with data.embed(encoder)."
                )
        build = pairs if pairs is not None else within_prompt_pairs
        result = CrossValRewards(np.full(len(data), np.nan), None, None, groups=data.groups)
        for k, (tr, te) in enumerate(_splits(data.groups, cv, seed)):
            part = data.take(tr)
            train = build(part, random_state=seed + 1000 * k)
            representation, X_train, X_test = _fold_rows(X, data, part, train, tr, te)
            X_win, X_lose = train.gather(X_train)
            fit = _fit_fold(
                head,
                k,
                tr,
                te,
                X_win,
                X_lose,
                train.sample_weight,
                train.groups,
                fit_params,
                train.label_error_rate,
            )
            fit.representation = representation
            result.reward[te] = fit.head.reward(X_test)
            result.folds.append(fit)
        return result
    if not isinstance(data, PreferencePairs):
        raise DataError(
            f"data must be ScoredResponses or PreferencePairs, got {type(data).__name__}: build one "
            "with embrm.load_dataset or embrm.data.read_pairs / read_scored."
        )
    if pairs is not None:
        raise DataError("pairs= builds pairs from a scored set; data is already PreferencePairs.")
    if not fitted:
        if not (isinstance(X, tuple) and len(X) == 2):
            raise DataError(
                "For PreferencePairs, X must be the tuple (X_win, X_lose) of data.embed(encoder)."
            )
        X = tuple(np.asanyarray(a) for a in X)
        if len(X[0]) != len(data) or len(X[1]) != len(data):
            raise DataError(
                f"X_win and X_lose must have one row per pair ({len(data)}); got {len(X[0])} and {len(X[1])}."
            )
    weight = data.sample_weight
    result = CrossValRewards(None, np.full(len(data), np.nan), np.full(len(data), np.nan), groups=data.groups)
    for k, (tr, te) in enumerate(_splits(data.groups, cv, seed)):
        part = data.take(tr)
        representation, (X_win, X_lose), X_test = _fold_rows(X, data, part, part, tr, te)
        fit = _fit_fold(
            head,
            k,
            tr,
            te,
            X_win,
            X_lose,
            None if weight is None else weight[tr],
            data.groups[tr],
            fit_params,
            None,
        )
        fit.representation = representation
        result.reward_win[te] = fit.head.reward(X_test[0])
        result.reward_lose[te] = fit.head.reward(X_test[1])
        result.folds.append(fit)
    return result


def _is_representation(X: Any) -> bool:
    """Whether ``X`` is a fitted representation (an object with ``fit`` and ``transform``,
    e.g. :class:`embrm.embed.LexicalFeatures`) rather than rows of features."""
    return hasattr(X, "fit") and hasattr(X, "transform")


def _fold_rows(
    X: Any,
    data: ScoredResponses | PreferencePairs,
    part: ScoredResponses | PreferencePairs,
    train: PreferencePairs,
    train_index: np.ndarray,
    test_index: np.ndarray,
) -> tuple[Any, Any, Any]:
    """One fold's representation (a clone of ``X`` fitted on the training part ``part`` and
    its pairs ``train``, or None when ``X`` holds rows), and the rows of the training part
    and of the test part (a tuple (chosen, rejected) for pairs)."""
    if _is_representation(X):
        representation = clone(X).fit(part, pairs=train)
        return representation, representation.transform(part), representation.transform(data.take(test_index))
    if isinstance(X, tuple):
        return None, tuple(a[train_index] for a in X), tuple(a[test_index] for a in X)
    return None, X[train_index], X[test_index]


def _fit_fold(
    head: Any,
    k: int,
    train_index: np.ndarray,
    test_index: np.ndarray,
    X_win: np.ndarray,
    X_lose: np.ndarray,
    sample_weight: np.ndarray | None,
    groups: np.ndarray,
    fit_params: dict[str, Any],
    label_error_rate: float | None,
) -> FoldFit:
    fitted = clone(head)
    start = time.perf_counter()
    fitted.fit(X_win, X_lose, sample_weight, groups=groups, **fit_params)
    seconds = time.perf_counter() - start
    return FoldFit(k, train_index, test_index, fitted, X_win.shape[0], label_error_rate, seconds)


# -- baselines ---------------------------------------------------------------------------------
def response_length(data: ScoredResponses) -> np.ndarray:
    """Length of each response in characters, as floats."""
    return data.frame["response"].str.len_chars().to_numpy().astype(np.float64)


def length_features(data: ScoredResponses | PreferencePairs) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The feature of a length-only head: ``log(1 + characters)`` of each response.

    A head fitted on these features (``cross_val_rewards(BTLinear(), data,
    length_features(data))``) is the baseline that tells whether a representation sees more
    than length.

    Parameters
    ----------
    data : ScoredResponses or PreferencePairs

    Returns
    -------
    ndarray of shape (n, 1), or the tuple (for the chosen, for the rejected) for pairs.

    Examples
    --------
    >>> import polars as pl
    >>> from embrm.data import ScoredResponses
    >>> data = ScoredResponses(pl.DataFrame({"prompt_id": [0, 0], "prompt": ["q", "q"],
    ...                                      "response": ["", "abc"], "score": [0.0, 1.0]}))
    >>> length_features(data).ravel().round(3).tolist()
    [0.0, 1.386]
    """
    if isinstance(data, PreferencePairs):
        frame = data.frame
        return tuple(
            np.log1p(frame[c].str.len_chars().to_numpy().astype(np.float64))[:, None]
            for c in ("chosen", "rejected")
        )
    return np.log1p(response_length(data))[:, None]


def baseline_rewards(data: ScoredResponses) -> dict[str, np.ndarray]:
    """Training-free rewards every report sets a head against.

    ``random``: a constant (every tie averaged, so Best-of-N is exactly the mean score);
    ``longest``: the response length in characters; ``golden``: the golden score itself.
    The length-only *head* needs training: see :func:`length_features`.

    Parameters
    ----------
    data : ScoredResponses

    Returns
    -------
    dict of str to ndarray of shape (n,)

    Examples
    --------
    >>> import polars as pl
    >>> from embrm.data import ScoredResponses
    >>> data = ScoredResponses(pl.DataFrame({"prompt_id": [0, 0], "prompt": ["q", "q"],
    ...                                      "response": ["a", "bcd"], "score": [1.0, 0.0]}))
    >>> {k: v.tolist() for k, v in baseline_rewards(data).items()}
    {'random': [0.0, 0.0], 'longest': [1.0, 3.0], 'golden': [1.0, 0.0]}
    """
    return {
        "random": np.zeros(len(data)),
        "longest": response_length(data),
        "golden": data.scores.astype(np.float64),
    }


def attack_rank(
    reward: ArrayLike, groups: ArrayLike, reward_attack: ArrayLike, groups_attack: ArrayLike
) -> float:
    """How far an attack answer gets: the share of real answers ranked below it.

    For each prompt with an attack answer (for example the judge-hacking null-model string),
    the share of the prompt's real answers whose reward is below the attack's (ties count one
    half), averaged over prompts. 0 means the reward ranks the attack last everywhere; 1
    means first.

    Parameters
    ----------
    reward : array-like of shape (n,)
        Rewards of the real answers.
    groups : array-like of shape (n,)
        Their prompt ids.
    reward_attack : array-like of shape (m,)
        Reward of the attack answer of each prompt.
    groups_attack : array-like of shape (m,)
        Its prompt id: one attack answer per prompt.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> attack_rank([1.0, 2.0, 3.0, 5.0], [0, 0, 1, 1], [2.5, 0.0], [0, 1])
    0.5
    """
    reward = np.asarray(reward, dtype=np.float64)
    groups_attack = np.asarray(groups_attack)
    real = Groups.from_labels(groups, reward.size)
    attack = Groups.from_labels(groups_attack, groups_attack.size, "groups_attack")
    if np.any(attack.sizes > 1):
        raise DataError("groups_attack must hold one attack answer per prompt; a prompt id repeats.")
    position = np.searchsorted(attack.labels, real.labels)
    found = (position < attack.labels.size) & (
        attack.labels[np.minimum(position, attack.labels.size - 1)] == real.labels
    )
    if not found.all():
        missing = real.labels[~found][0]
        raise DataError(f"Prompt {missing!r} has real answers but no attack answer in groups_attack.")
    r_attack = np.asarray(reward_attack, dtype=np.float64)[np.argsort(groups_attack, kind="stable")]
    r_attack_per_row = r_attack[position[real.codes]]
    below = (reward < r_attack_per_row) + 0.5 * (reward == r_attack_per_row)
    return float(np.mean(np.bincount(real.codes, weights=below) / real.sizes))


# -- reports -----------------------------------------------------------------------------------
REPORT_COLUMNS = ("metric", "value", "ci_low", "ci_high")


class Report:
    """An evaluation report read by metric name: each metric's value and interval.

    Wraps the tidy table that :func:`embrm.evaluate.evaluate_rewards`,
    :func:`~embrm.evaluate.evaluate_pairs`, :func:`~embrm.evaluate.compare_rewards` and
    :func:`~embrm.evaluate.compare_pairs` return, one row per metric with columns ``metric``,
    ``value``, ``ci_low`` and ``ci_high`` (null where a metric has no interval: counts, or
    ``n_bootstrap=0``). The table itself stays the return value of those functions and comes
    back unchanged from :meth:`to_frame`.

    Parameters
    ----------
    frame : polars.DataFrame
        A report table of :mod:`embrm.evaluate`: the four columns above, each metric once.

    Examples
    --------
    >>> from embrm.evaluate import evaluate_pairs
    >>> report = Report(evaluate_pairs([2.0, 1.0, 0.5], [1.0, 1.0, 0.7], random_state=0))
    >>> report.metrics
    ['pairwise_accuracy', 'auc', 'n_pairs', 'n_ties', 'n_groups']
    >>> report.value("pairwise_accuracy"), report.interval("pairwise_accuracy")
    (0.5, (0.0, 1.0))
    >>> report.interval("n_pairs") is None
    True
    >>> report.to_dict(prefix="hh_", intervals=False)["hh_n_pairs"]
    3.0
    """

    def __init__(self, frame: pl.DataFrame):
        if not isinstance(frame, pl.DataFrame):
            raise DataError(
                f"Report reads a polars table, got {type(frame).__name__}: pass the return value "
                "of an embrm.evaluate function, e.g. Report(evaluate_rewards(...))."
            )
        missing = [c for c in REPORT_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(
                f"The report table lacks the column(s) {missing}: Report reads the metric | value | "
                "ci_low | ci_high tables of embrm.evaluate."
            )
        metrics = frame["metric"].to_list()
        repeated = sorted({m for m in metrics if metrics.count(m) > 1})
        if repeated:
            raise DataError(
                f"The report table holds metric {repeated[0]!r} more than once: one row per metric "
                "(report different sets separately, or name the metrics apart)."
            )
        self._frame = frame
        self._rows = {row[0]: row[1:] for row in frame.select(REPORT_COLUMNS).iter_rows()}

    def __repr__(self) -> str:
        return f"Report(metrics={self.metrics!r})"

    @property
    def metrics(self) -> list[str]:
        """The metric names, in the table's order."""
        return list(self._rows)

    def _row(self, metric: str) -> tuple[float | None, float | None, float | None]:
        if metric not in self._rows:
            raise DataError(f"The report has no metric {metric!r}; it has {self.metrics}.")
        return self._rows[metric]

    def value(self, metric: str) -> float | None:
        """The value of ``metric`` (None where the table holds null).

        Raises :class:`~embrm.exceptions.DataError` naming the report's metrics when it has
        no ``metric``.
        """
        return self._row(metric)[0]

    def interval(self, metric: str) -> tuple[float, float] | None:
        """The interval ``(ci_low, ci_high)`` of ``metric``, or None where it has none."""
        _, low, high = self._row(metric)
        return None if low is None or high is None else (low, high)

    def to_dict(self, prefix: str = "", intervals: bool = True) -> dict[str, float | None]:
        """The report as one flat row: ``{prefix + metric: value}``, and with ``intervals``
        ``prefix + metric + "_ci_low"`` and ``"_ci_high"`` for each metric that has one."""
        row: dict[str, float | None] = {}
        for metric in self._rows:
            row[prefix + metric] = self.value(metric)
            interval = self.interval(metric) if intervals else None
            if interval is not None:
                row[f"{prefix}{metric}_ci_low"], row[f"{prefix}{metric}_ci_high"] = interval
        return row

    def to_frame(self) -> pl.DataFrame:
        """The report table, as the evaluate function returned it."""
        return self._frame
