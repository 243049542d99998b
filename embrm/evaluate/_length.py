"""Length-controlled rewards: the part of a reward that response length does not explain.

A head that prefers longer answers can score well on a length-biased judge without seeing
anything else. Residualising its rewards on length within prompts, then evaluating the
residuals as rewards, asks what the head knows beyond length: a reward that is an exact
linear function of log length becomes constant within every prompt (a random pick), and a
reward uncorrelated with length within prompts keeps its ranking.

The length measure is ``log(1 + characters)`` (``log1p``, so that empty answers are
defined). One slope is fitted by least squares on the within-prompt deviations (each prompt
its own intercept: the fixed-effects, or "within", estimator), so it is estimable with any
number of candidates per prompt and is not fitted to any one prompt's noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from embrm._core.groups import Groups
from embrm._core.validation import check_scores
from embrm.evaluate._bon import bon_components
from embrm.exceptions import DataError

#: Residuals within this share of the reward's magnitude are rounding noise: set to zero.
_NOISE = 1e-12


def check_lengths(values: ArrayLike, name: str, n: int) -> np.ndarray:
    """Return response lengths as a finite, non-negative float array of ``n`` rows.

    Parameters
    ----------
    values : array-like of shape (n,)
        Lengths, e.g. characters per response.
    name : str
        Argument name, quoted in error messages.
    n : int
        Required number of rows.

    Returns
    -------
    lengths : ndarray of shape (n,), dtype float64

    Examples
    --------
    >>> check_lengths([3, 0, 12], "length", 3).tolist()
    [3.0, 0.0, 12.0]
    """
    arr = check_scores(values, name, n)
    if (arr < 0).any():
        row = int(np.flatnonzero(arr < 0)[0])
        raise DataError(
            f"'{name}' must hold response lengths (0 or more, e.g. characters); row {row} is "
            f"{float(arr[row])!r}. Pass the lengths themselves, not their logs or differences."
        )
    return arr


def length_residuals(reward: np.ndarray, length: np.ndarray, groups: Groups) -> np.ndarray:
    """Rewards minus their least-squares fit on log length within prompts (validated input).

    Returns each reward minus its prompt's mean reward and minus one slope times its
    ``log1p(length)`` deviation from the prompt's mean; residuals that are rounding noise
    (within 1e-12 of the reward's magnitude) are exactly zero, so that an exact linear
    function of log length ties every candidate of a prompt.
    """
    log_length = np.log1p(length)
    centred_reward = reward - groups.mean(reward)[groups.codes]
    centred_length = log_length - groups.mean(log_length)[groups.codes]
    spread = centred_length @ centred_length
    slope = (centred_reward @ centred_length) / spread if spread > 0 else 0.0
    residual = centred_reward - slope * centred_length
    scale = np.abs(reward).max() + abs(slope) * log_length.max()
    residual[np.abs(residual) <= _NOISE * scale] = 0.0
    return residual


def residualise_on_length(reward: ArrayLike, length: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """Length-controlled rewards: rewards with their linear trend in log length removed.

    Within prompts, fits ``reward = a_prompt + b * log(1 + length)`` by least squares (one
    slope ``b`` for all prompts, an intercept per prompt) and returns the residuals. Used
    as rewards, they rank each prompt's candidates by what the reward sees beyond length;
    :func:`evaluate_rewards` reports their Best-of-N as ``bon_lc@N`` when given lengths.

    Parameters
    ----------
    reward : array-like of shape (n_rows,)
        The head's reward of each candidate.
    length : array-like of shape (n_rows,)
        Length of each candidate, 0 or more (characters, say: the log of ``1 + length`` is
        used, so the unit only shifts the fit).
    groups : array-like of shape (n_rows,)
        Prompt id of each candidate.

    Returns
    -------
    residual : ndarray of shape (n_rows,)
        The length-controlled rewards; they average zero within each prompt. Within a
        prompt whose lengths are all equal they are the rewards minus their mean.

    Raises
    ------
    DataError
        On mismatched lengths, empty input, NaN or infinite values, or a negative length.

    Examples
    --------
    >>> import numpy as np
    >>> from embrm.evaluate import residualise_on_length
    >>> length = np.array([10, 100, 1000, 10, 100, 1000])
    >>> residualise_on_length(2 * np.log1p(length) + 1, length, [0, 0, 0, 1, 1, 1]).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    >>> residualise_on_length([1.0, 0.0, 2.0, 0.0, 1.0, 2.0], [5, 5, 5, 5, 5, 5], [0, 0, 0, 1, 1, 1]).tolist()
    [0.0, -1.0, 1.0, -1.0, 0.0, 1.0]
    """
    r = check_scores(reward, "reward")
    return length_residuals(r, check_lengths(length, "length", r.size), Groups.from_labels(groups, r.size))


def length_controlled_bon(
    reward: np.ndarray, golden: np.ndarray, length: np.ndarray, groups: Groups, ns: tuple[int | None, ...]
) -> np.ndarray:
    """Per-group exact Best-of-N of the length-controlled rewards, shape (n_groups, len(ns)).

    The same exact expectation as ``bon@N`` (ties broken uniformly), with
    :func:`residualise_on_length`'s residuals as the reward.
    """
    return bon_components(length_residuals(reward, length, groups), golden, groups, ns)[0]
