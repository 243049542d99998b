"""Ensembles of reward heads, with conservative aggregates and member disagreement."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from embrm._core.groups import group_means
from embrm._core.validation import RANDOM_STATE, HasMethods, Interval, Options, check_groups
from embrm.heads._base import BaseHead
from embrm.heads._bt import BTLinear
from embrm.heads._docs import shared_docs


@shared_docs
class Ensemble(BaseHead):
    """``n_members`` copies of a head, differing by data resampling and seed.

    Each member is a clone of ``base`` fitted on its own resample of the pairs (bootstrap
    or an 80% subsample, drawn by pair) with its own ``random_state`` where the base has
    one. Member rewards live on different scales, so each is standardised by the mean and
    standard deviation of its rewards on its own training responses. With standardised
    member rewards ``R_1..R_k`` of a response:

    - ``aggregate="mean"``: the mean ``R``;
    - ``aggregate="min"``: ``min_i R_i`` (worst-case optimisation);
    - ``aggregate="uwo"``: ``mean - uwo_penalty * Var_i(R_i)`` (uncertainty-weighted
      optimisation; the penalty is on the variance, not the standard deviation).

    Parameters
    ----------
    base : head, default=None
        The unfitted head to copy; ``None`` means ``BTLinear()``. Its parameters are
        reachable as ``base__<name>`` (``GridSearchCV`` and ``set_params`` work).
    n_members : int, default=5
        Number of members.
    aggregate : {"mean", "min", "uwo"}, default="mean"
        How the standardised member rewards are combined (see above).
    uwo_penalty : float, default=0.5
        Weight of the variance in ``aggregate="uwo"``.
    resample : {"bootstrap", "subsample"}, default="bootstrap"
        Bootstrap (n pairs drawn with replacement, as pair weights) or a random 80% of the
        pairs without replacement.
    random_state : int, RandomState or None, default=None
        Seeds the resamples and the members' seeds.

    Attributes
    ----------
    members_ : list of heads
        The fitted members.
    member_mean_, member_scale_ : ndarray of shape (n_members,)
        Standardisation of each member's reward.
    {fit_record}

    Examples
    --------
    >>> from embrm.heads import BTLinear, Ensemble
    >>> from embrm.testing import make_preference_pairs
    >>> data = make_preference_pairs(n_pairs=300, n_features=8, random_state=0)
    >>> head = Ensemble(BTLinear(alpha=1.0), n_members=3, random_state=0)
    >>> head = head.fit(data.X_win, data.X_lose)
    >>> head.member_rewards(data.X_win[:2]).shape
    (2, 3)
    >>> head.uncertainty(data.X_win[:2]).shape
    (2,)
    """

    #: Each member is fitted on a resample of the pairs, which must hold at least 2 distinct ones.
    _min_pairs: ClassVar[int] = 4
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "base": [HasMethods(("fit", "reward", "get_params")), None],
        "n_members": [Interval(numbers.Integral, 1, None)],
        "aggregate": [Options(("mean", "min", "uwo"))],
        "uwo_penalty": [Interval(numbers.Real, 0.0, None)],
        "resample": [Options(("bootstrap", "subsample"))],
        "random_state": [RANDOM_STATE],
    }

    def __init__(
        self,
        base: BaseHead | None = None,
        n_members: int = 5,
        aggregate: str = "mean",
        uwo_penalty: float = 0.5,
        resample: str = "bootstrap",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.base = base
        self.n_members = n_members
        self.aggregate = aggregate
        self.uwo_penalty = uwo_penalty
        self.resample = resample
        self.random_state = random_state

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        base = BTLinear() if self.base is None else self.base
        rng = check_random_state(self.random_state)
        n = X_win.shape[0]
        self.members_ = []
        means, scales = [], []
        for _ in range(self.n_members):
            member = clone(base)
            if "random_state" in member.get_params(deep=False):
                member.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
            if self.resample == "bootstrap":
                rows = np.empty(0, dtype=int)
                while rows.size < 2:  # a member needs two distinct pairs
                    counts = rng.multinomial(n, np.full(n, 1.0 / n))
                    rows = np.flatnonzero(counts)
                weight = sample_weight[rows] * counts[rows]
            else:
                rows = np.sort(rng.choice(n, size=max(2, round(0.8 * n)), replace=False))
                weight = sample_weight[rows]
            member.fit(
                X_win[rows],
                X_lose[rows],
                weight,
                groups=None if groups is None else groups[rows],
            )
            r = np.concatenate([member.reward(X_win[rows]), member.reward(X_lose[rows])])
            w = np.concatenate([weight, weight])
            mean = np.average(r, weights=w)
            means.append(mean)
            scales.append(np.sqrt(np.average((r - mean) ** 2, weights=w)) or 1.0)
            self.members_.append(member)
        self.member_mean_ = np.array(means)
        self.member_scale_ = np.array(scales)

    def member_rewards(self, X: Any) -> np.ndarray:
        """Standardised reward of every member.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        rewards : ndarray of shape (n_samples, n_members)
        """
        X = self._check_X(X, "member_rewards")
        return self._member_rewards(X)

    def uncertainty(self, X: Any, groups: Any = None) -> np.ndarray:
        """Member disagreement: the variance of the standardised member rewards.

        Without ``groups`` this is the quantity ``aggregate="uwo"`` penalises. With
        ``groups`` (the prompt of each response), each member's rewards are first centred
        within each group. A Bradley-Terry reward is identified only up to a constant per
        prompt, and members trained on within-prompt pairs disagree freely about that
        constant on a prompt unlike their training prompts, for every answer alike; centring
        removes that part and leaves the disagreement about how a response ranks against the
        other responses to its prompt, which is what Best-of-N and RLHF act on. That is the
        reading that flags a response unlike its prompt's other answers (for example a
        reward-hacking string); pass all candidate responses of a prompt in one call. A
        response alone in its group has uncertainty 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,), optional
            Group id (prompt id) of each response.

        Returns
        -------
        variance : ndarray of shape (n_samples,)
        """
        X = self._check_X(X, "uncertainty")
        groups = check_groups(groups, X.shape[0], per="response")
        R = self._member_rewards(X)
        if groups is not None:
            means, inverse = group_means(R, groups)
            R = R - means[inverse]
        return R.var(axis=1)

    def predict_proba(self, X_a: Any, X_b: Any) -> np.ndarray:
        """Mean over members of each member's P(a preferred over b).

        Parameters
        ----------
        X_a, X_b : array-like of shape (n_pairs, n_features)

        Returns
        -------
        proba : ndarray of shape (n_pairs,)
        """
        self._check_fitted("predict_proba")
        X_a, X_b, _ = self._check_pairs(X_a, X_b, None, names=("X_a", "X_b"))
        return np.mean([m.predict_proba(X_a, X_b) for m in self.members_], axis=0)

    def _member_rewards(self, X: np.ndarray) -> np.ndarray:
        raw = np.column_stack([m.reward(X) for m in self.members_])
        return (raw - self.member_mean_) / self.member_scale_

    def _reward(self, X: np.ndarray) -> np.ndarray:
        R = self._member_rewards(X)
        if self.aggregate == "mean":
            return R.mean(axis=1)
        if self.aggregate == "min":
            return R.min(axis=1)
        return R.mean(axis=1) - self.uwo_penalty * R.var(axis=1)
