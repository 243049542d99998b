"""Validation shared by embrm's estimators: embedding arrays, pairs, weights, parameters.

Every check raises an error that names the argument and the problem, so a user who passes
the wrong array learns which one and why without reading a traceback.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from embrm._core.groups import Groups
from embrm.exceptions import DataError, EncoderMismatchError


def check_embeddings(
    X: Any,
    *,
    name: str = "X",
    n_features: int | None = None,
    encoder_id: str | None = None,
) -> np.ndarray:
    """Return ``X`` as a finite 2-D float32 or float64 array of embeddings.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings, one row per response.
    name : str, default="X"
        The argument's name, quoted in error messages.
    n_features : int, optional
        The dimension ``X`` must have (a fitted head's ``n_features_in_``).
    encoder_id : str, optional
        The encoder the head was trained on: quoted in the dimension message, and ``X``
        carrying another identity (an ``EmbeddingArray``) is refused.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float32 input is kept as float32; anything else becomes float64.

    Raises
    ------
    DataError
        ``X`` is not a non-empty 2-D numeric array or holds NaN or infinity.
    EncoderMismatchError
        ``X`` has a different number of columns than ``n_features``, or carries another
        encoder identity than ``encoder_id``.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{name} must hold numbers; got an array of dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array of embeddings (n_samples, n_features); "
            f"got an array with {arr.ndim} dimension(s) and shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {arr.shape}).")
    carried = encoder_id_of(X)
    if encoder_id is not None and carried is not None and carried != encoder_id:
        raise EncoderMismatchError(
            f"{name} holds embeddings from encoder {carried!r}, but this head was trained on "
            f"embeddings from {encoder_id!r}: embed with the encoder it was trained on."
        )
    arr = arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)
    if n_features is not None and arr.shape[1] != n_features:
        source = f" from encoder {encoder_id!r}" if encoder_id else ""
        raise EncoderMismatchError(
            f"{name} has {arr.shape[1]} features, but this head was trained on "
            f"{n_features}-d embeddings{source}: embed with the same encoder it was trained on."
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise DataError(
            f"{name} contains NaN or infinity in {bad.size} row(s) (first: row {bad[0]}); "
            "embeddings must be finite."
        )
    return arr


def check_head_encoder(
    head: Any,
    encoder: Any,
    *,
    encoder_name: str = "the encoder given",
    fix: str = (
        "Pass the encoder the head was trained with (embrm.Encoder(<same model and options>)) "
        "or train the head on this encoder's embeddings."
    ),
) -> None:
    """Refuse a non-head, or a head trained on another encoder's embeddings than ``encoder``'s.

    A head fitted on raw arrays records no encoder; then only the dimension is checked (when
    the head scores).

    Parameters
    ----------
    head : embrm.heads.BaseHead
        A fitted reward head (anything with ``reward``).
    encoder : embrm.Encoder
        Anything with ``encode_responses`` and ``identity``.
    encoder_name : str, default="the encoder given"
        How the message names ``encoder``.
    fix : str
        The last sentence of the message: what to do.

    Raises
    ------
    TypeError
        ``head`` is not a reward head or ``encoder`` not an encoder.
    EncoderMismatchError
        ``head.encoder_id_`` is another identity than ``encoder.identity``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> check_head_encoder(SimpleNamespace(reward=None, encoder_id_="a"),
    ...                    SimpleNamespace(encode_responses=None, identity="b"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    embrm.exceptions.EncoderMismatchError: This head was trained on embeddings from encoder 'a', ...
    """
    if not hasattr(head, "reward") or not hasattr(encoder, "encode_responses"):
        raise TypeError(
            "Pass a fitted embrm reward head (embrm.heads) and the embrm.Encoder it was "
            f"trained with; got {type(head).__name__} and {type(encoder).__name__}."
        )
    trained_on = getattr(head, "encoder_id_", None)
    if trained_on is not None and trained_on != encoder.identity:
        raise EncoderMismatchError(
            f"This head was trained on embeddings from encoder {trained_on!r}, but {encoder_name} "
            f"is {encoder.identity!r}: its rewards would be meaningless. {fix}"
        )


def check_output_file(path: Any, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a Path, once it is clear a file can be written there.

    Checked before any work is done, so a long job never fails at its last step: the
    folder must exist and be writable, the path must not be a folder, and its suffix must
    be one of ``suffixes`` (when given).

    Raises
    ------
    DataError
        With what is wrong and how to fix it.
    """
    path = Path(os.fspath(path)).expanduser()
    if suffixes and path.suffix.lower() not in suffixes:
        raise DataError(f"{what} must end in {' or '.join(suffixes)}, got {path.name!r}.")
    if path.is_dir():
        raise DataError(f"{what} {str(path)!r} is a folder; give a file name inside it.")
    folder = path.parent
    if not folder.is_dir():
        state = "is a file" if folder.exists() else "does not exist"
        raise DataError(
            f"Cannot write {what} {str(path)!r}: the folder {str(folder)!r} {state}. Create it first."
        )
    if not os.access(folder, os.W_OK):
        raise DataError(f"Cannot write {what} {str(path)!r}: the folder {str(folder)!r} is not writable.")
    return path


def encoder_id_of(X: Any) -> str | None:
    """The ``encoder_id`` an array carries (an ``EmbeddingArray`` from an ``Encoder``), else None."""
    value = getattr(X, "encoder_id", None)
    return value if isinstance(value, str) else None


def check_encoder_id(arrays: Iterable[Any], given: str | None, names: Iterable[str]) -> str | None:
    """The identity of the representation row-aligned ``arrays`` live in.

    ``given`` (an explicit ``encoder_id``) wins if the arrays carry none; otherwise the
    identity they all carry. None when unknown: no ``given`` and some array carries none.

    Raises
    ------
    DataError
        The arrays carry different identities (e.g. winners from one encoder, losers from
        another).
    EncoderMismatchError
        ``given`` differs from the identity the arrays carry.
    """
    carried = {name: encoder_id_of(X) for X, name in zip(arrays, names, strict=True)}
    known = {v for v in carried.values() if v is not None}
    if len(known) > 1:
        detail = ", ".join(f"{name} from {value!r}" for name, value in carried.items())
        raise DataError(
            f"The arrays come from different encoders ({detail}): embed every response with the same encoder."
        )
    if given is not None and known and given not in known:
        raise EncoderMismatchError(
            f"encoder_id={given!r} was passed, but the embeddings were made by {known.pop()!r}. "
            "Drop the encoder_id argument (the arrays carry it) or embed with that encoder."
        )
    if given is not None:
        return given
    return known.pop() if known and None not in carried.values() else None


def check_pairs(
    X_win: Any,
    X_lose: Any,
    sample_weight: Any = None,
    *,
    n_features: int | None = None,
    encoder_id: str | None = None,
    min_pairs: int = 1,
    estimator_name: str = "This head",
    names: tuple[str, str] = ("X_win", "X_lose"),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate row-aligned preference pairs and their weights.

    Parameters
    ----------
    X_win, X_lose : array-like of shape (n_pairs, n_features)
        Embeddings of the preferred and of the other response of each pair.
    sample_weight : array-like of shape (n_pairs,), optional
        Non-negative weight of each pair; ``None`` gives every pair weight 1.
    n_features, encoder_id : optional
        Passed to :func:`check_embeddings`.
    min_pairs : int, default=1
        Fewest pairs accepted.
    estimator_name : str, default="This head"
        Who needs ``min_pairs``, quoted in the message.
    names : tuple of str, default=("X_win", "X_lose")
        The two arguments' names, quoted in messages.

    Returns
    -------
    X_win, X_lose : ndarray of shape (n_pairs, n_features)
        Both in float64 unless both were float32.
    sample_weight : ndarray of shape (n_pairs,)
        float64 weights.
    """
    X_win = check_embeddings(X_win, name=names[0], n_features=n_features, encoder_id=encoder_id)
    X_lose = check_embeddings(X_lose, name=names[1], n_features=n_features, encoder_id=encoder_id)
    if X_win.shape != X_lose.shape:
        raise DataError(
            f"{names[0]} has shape {X_win.shape} but {names[1]} has shape {X_lose.shape}: "
            "they must be row-aligned pairs (row i of each is one pair) of the same dimension."
        )
    if X_win.dtype != X_lose.dtype:
        X_win, X_lose = X_win.astype(np.float64), X_lose.astype(np.float64)
    n_pairs = X_win.shape[0]
    if n_pairs < min_pairs:
        raise DataError(f"{estimator_name} needs at least {min_pairs} pairs; got {n_pairs}.")
    sample_weight = check_sample_weight(sample_weight, n_pairs)
    return X_win, X_lose, sample_weight


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    """Return non-negative, finite float64 weights of shape (n_samples,), not all zero."""
    if sample_weight is None:
        return np.ones(n_samples)
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.shape != (n_samples,):
        raise DataError(
            f"sample_weight must have shape ({n_samples},), one weight per pair; got shape {sw.shape}."
        )
    if not np.isfinite(sw).all() or (sw < 0).any():
        raise DataError("sample_weight must be finite and non-negative.")
    if not sw.any():
        raise DataError("sample_weight is zero for every pair: there is nothing to fit.")
    return sw


def check_groups(groups: Any, n_samples: int, per: str = "pair") -> np.ndarray | None:
    """Return ``groups`` as an array of shape (n_samples,), or ``None`` when not given.

    ``per`` names what a row is (``"pair"``, ``"response"``) in the error message.
    """
    if groups is None:
        return None
    arr = np.asarray(groups)
    if arr.shape != (n_samples,):
        raise DataError(
            f"groups must have shape ({n_samples},), one group id (e.g. prompt id) per {per}; "
            f"got shape {arr.shape}."
        )
    return arr


@dataclass(frozen=True)
class Interval:
    """Numbers of one kind in a range; ``None`` bounds are infinite and open, and NaN is in no
    range.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"``.

    Examples
    --------
    >>> import numbers
    >>> positive = Interval(numbers.Real, 0.0, None, closed="neither")
    >>> 0.1 in positive, 0.0 in positive, float("inf") in positive, float("nan") in positive
    (True, False, False, False)
    """

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            # NaN is in no range; an infinite end is open, as __str__ writes it
            if math.isnan(value) or (value > 0 and self.high is None) or (value < 0 and self.low is None):
                return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.kind is numbers.Integral else "a float"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{kind} in the range {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple

    def __contains__(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "one of {" + ", ".join(repr(v) for v in self.values) + "}"


@dataclass(frozen=True)
class HasMethods:
    """An object with the named methods (e.g. an unfitted head to copy)."""

    methods: tuple[str, ...]

    def __contains__(self, value: Any) -> bool:
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __str__(self) -> str:
        return "an object implementing " + ", ".join(repr(m) for m in self.methods)


class _RandomState:
    def __contains__(self, value: Any) -> bool:
        return (
            value is None
            or isinstance(value, np.random.RandomState)
            or (isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < 2**32)
        )

    def __str__(self) -> str:
        return "an int in the range [0, 2**32), a numpy RandomState instance or None"


class _IntSequence:
    def __contains__(self, value: Any) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) > 0
            and all(v in Interval(numbers.Integral, 1, None) for v in value)
        )

    def __str__(self) -> str:
        return "a non-empty tuple of positive ints"


#: Constraint for ``random_state`` parameters.
RANDOM_STATE = _RandomState()
#: Constraint for layer-size tuples such as ``hidden_layer_sizes``.
POSITIVE_INT_TUPLE = _IntSequence()


class _Boolean:
    def __contains__(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)

    def __str__(self) -> str:
        return "a bool"


#: Constraint for booleans.
BOOLEAN = _Boolean()


def validate_params(constraints: Mapping[str, Iterable[Any]], params: Mapping[str, Any], owner: str) -> None:
    """Check each parameter against its allowed constraints (any one may match).

    A constraint is ``None`` (the value ``None`` is allowed) or an object supporting ``in``
    and ``str`` (:class:`Interval`, :class:`Options`, :class:`HasMethods`, ...). The
    message follows scikit-learn's: "The 'alpha' parameter of BTLinear must be a float in
    the range [0.0, inf). Got -1 instead."
    """
    for name, allowed in constraints.items():
        value = params[name]
        allowed = list(allowed)
        if any(value is None if c is None else value in c for c in allowed):
            continue
        described = [str(c) for c in allowed if c is not None]
        if None in allowed:
            described.append("None")
        text = described[0] if len(described) == 1 else (", ".join(described[:-1]) + " or " + described[-1])
        raise ValueError(f"The {name!r} parameter of {owner} must be {text}. Got {value!r} instead.")


# -- rewards and scores (evaluation) ---------------------------------------------------------
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
        value = arr[row].item()
        raise DataError(f"'{name}' must hold binary labels 0/1 (or booleans); row {row} is {value!r}.")
    return arr


def check_reward_pairs(reward_win: ArrayLike, reward_lose: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate the rewards of the preferred and of the other response, one pair per row."""
    win = check_scores(reward_win, "reward_win")
    return win, check_scores(reward_lose, "reward_lose", win.size)


def check_scored(
    reward: ArrayLike, golden: ArrayLike, groups: ArrayLike
) -> tuple[np.ndarray, np.ndarray, Groups]:
    """Validate a scored response set: reward, golden score and prompt id per candidate."""
    r = check_scores(reward, "reward")
    return r, check_scores(golden, "golden", r.size), Groups.from_labels(groups, r.size)
