"""Test helpers, as scikit-learn ships ``make_classification`` and ``check_estimator``.

- :func:`make_preference_pairs`: pairs labelled by a planted linear reward, with controllable
  annotation noise and groups, over synthetic or real embeddings.
- :func:`make_scored_responses`: several scored responses per prompt with a planted reward.
- :func:`head_checks`: the named checks of the contract every reward head keeps;
  :func:`parametrize_with_checks` gives one pytest id per check, :func:`check_head` runs
  them all; run them on a new head.
- :func:`strategy_checks` / :func:`check_strategy`: the same for active strategies.
- :func:`make_tiny_causal_lm`: a tiny random Llama and a word-level chat tokenizer, built
  locally (no download), for fast tests of code that generates or trains with an LM.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.base import clone
from sklearn.utils import check_random_state

from embrm.data import ScoredResponses
from embrm.exceptions import EncoderMismatchError, NotFittedError

__all__ = [
    "PlantedPairs",
    "check_head",
    "check_strategy",
    "head_checks",
    "make_preference_pairs",
    "make_scored_responses",
    "make_tiny_causal_lm",
    "parametrize_with_checks",
    "strategy_checks",
]


@dataclass(frozen=True)
class PlantedPairs:
    """Preference pairs labelled by a known linear reward ``coef @ x``.

    Attributes
    ----------
    X_win, X_lose : ndarray of shape (n_pairs, n_features)
        Embeddings of the preferred and of the other response of each pair.
    groups : ndarray of shape (n_pairs,)
        Group (prompt) id of each pair.
    coef : ndarray of shape (n_features,)
        The planted reward direction (unit norm).
    label_error_rate : float
        Share of pairs whose label disagrees with the planted reward.
    """

    X_win: np.ndarray
    X_lose: np.ndarray
    groups: np.ndarray
    coef: np.ndarray
    label_error_rate: float

    def take(self, rows: Any) -> PlantedPairs:
        """The pairs at ``rows`` (a slice, indices or a mask)."""
        X_win, X_lose, groups = self.X_win[rows], self.X_lose[rows], self.groups[rows]
        return PlantedPairs(X_win, X_lose, groups, self.coef, self.label_error_rate)


def _anisotropic_embeddings(n: int, n_features: int, rng: np.random.RandomState) -> np.ndarray:
    """Unit-norm Gaussian vectors around one shared offset, variance decaying by coordinate."""
    scales = 1.0 / np.arange(1, n_features + 1) ** 0.5
    offset = 0.5 * rng.standard_normal(n_features) / np.sqrt(n_features)
    Z = rng.standard_normal((n, n_features)) * scales + offset
    return (Z / np.linalg.norm(Z, axis=1, keepdims=True)).astype(np.float32)


def _direction_of_variation(X: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """A unit direction along which the rows of ``X`` really vary: ``Cov(X) @ g``, g Gaussian.

    A direction drawn uniformly would put most of its weight where real embeddings barely
    vary (they fill a narrow cone): a reward no response could express.
    """
    Xc = X - X.mean(axis=0)
    u = Xc.T @ (Xc @ rng.standard_normal(X.shape[1]))
    return u / np.linalg.norm(u)


def make_preference_pairs(
    n_pairs: int = 400,
    n_features: int = 32,
    *,
    n_groups: int = 40,
    beta: float | None = 4.0,
    X: np.ndarray | None = None,
    coef: np.ndarray | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> PlantedPairs:
    """Pairs labelled by a Bradley-Terry annotator on a planted linear reward.

    A pair (a, b) is labelled a-preferred with probability ``sigmoid(beta * (r_a - r_b) / s)``
    for the planted reward ``r = coef @ x``, with ``s`` the standard deviation of the pairs'
    reward differences (the scale :func:`embrm.data.within_prompt_pairs` uses by default).

    Parameters
    ----------
    n_pairs : int, default 400
    n_features : int, default 32
        Dimension of the synthetic embeddings (ignored when ``X`` is given).
    n_groups : int, default 40
        Pairs are dealt into this many groups (prompts) at random.
    beta : float or None, default 4.0
        Annotation quality: large is almost noiseless, 0 is coin flips; None labels by the
        planted reward exactly.
    X : ndarray of shape (n_rows, n_features), optional
        Real embeddings to pair up: only the labels are simulated, along a direction in
        which the rows really vary. By default, unit-norm anisotropic Gaussian vectors.
    coef : ndarray of shape (n_features,), optional
        The planted reward direction; by default a random one.
    random_state : int, RandomState or None

    Returns
    -------
    PlantedPairs

    Examples
    --------
    >>> pairs = make_preference_pairs(200, 8, beta=None, random_state=0)
    >>> pairs.X_win.shape, pairs.label_error_rate
    ((200, 8), 0.0)
    >>> bool(((pairs.X_win - pairs.X_lose) @ pairs.coef > 0).all())
    True
    """
    rng = check_random_state(random_state)
    if X is None:
        A, B = np.split(_anisotropic_embeddings(2 * n_pairs, n_features, rng), 2)
        if coef is None:
            coef = rng.standard_normal(n_features) / np.arange(1, n_features + 1) ** 0.5
    else:
        X = np.asarray(X)
        if coef is None:
            coef = _direction_of_variation(X.astype(np.float64), rng)
        i = rng.randint(X.shape[0], size=n_pairs)
        j = (i + 1 + rng.randint(X.shape[0] - 1, size=n_pairs)) % X.shape[0]
        A, B = X[i], X[j]
    coef = np.asarray(coef, dtype=np.float64) / np.linalg.norm(coef)
    difference = A @ coef - B @ coef
    spread = difference.std()
    margin = difference / (spread if spread > 0 else 1.0)
    a_wins = margin > 0 if beta is None else rng.uniform(size=n_pairs) < expit(beta * margin)
    X_win = np.where(a_wins[:, None], A, B)
    X_lose = np.where(a_wins[:, None], B, A)
    groups = rng.randint(n_groups, size=n_pairs)
    errors = float(np.mean(X_win @ coef < X_lose @ coef))
    return PlantedPairs(X_win, X_lose, groups, coef, errors)


def make_scored_responses(
    n_prompts: int = 20,
    n_responses: int = 8,
    n_features: int = 16,
    *,
    noise: float = 0.0,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[ScoredResponses, np.ndarray]:
    """Scored responses with embeddings: golden score = planted linear reward + noise.

    Each prompt gets its own offset (as a judge's per-prompt reference does), which
    within-prompt comparisons cancel.

    Parameters
    ----------
    n_prompts, n_responses : int
        Prompts, and responses per prompt.
    n_features : int, default 16
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to each golden score (the planted reward
        has unit standard deviation).
    random_state : int, RandomState or None

    Returns
    -------
    data : ScoredResponses
        ``prompt_id``, ``prompt``, ``response`` (texts of varying length) and ``score``.
    X : ndarray of shape (n_prompts * n_responses, n_features)
        Row-aligned embeddings.

    Examples
    --------
    >>> data, X = make_scored_responses(n_prompts=3, n_responses=4, random_state=0)
    >>> len(data), X.shape
    (12, (12, 16))
    """
    rng = check_random_state(random_state)
    n = n_prompts * n_responses
    X = _anisotropic_embeddings(n, n_features, rng)
    coef = rng.standard_normal(n_features)
    reward = X @ coef
    reward = (reward - reward.mean()) / reward.std()
    prompt_id = np.repeat(np.arange(n_prompts), n_responses)
    score = reward + rng.standard_normal(n_prompts)[prompt_id] + noise * rng.standard_normal(n)
    lengths = rng.randint(1, 40, size=n)
    frame = pl.DataFrame(
        {
            "prompt_id": prompt_id,
            "prompt": [f"prompt {p}" for p in prompt_id],
            "response": [f"answer {i} " + "x" * int(k) for i, k in enumerate(lengths)],
            "score": score,
        }
    )
    return ScoredResponses(frame, name="synthetic"), X


#: The tiny LM's special tokens and chat template (``<|user|> text <|end|> <|assistant|> ``).
_TINY_SPECIAL = ["<unk>", "<pad>", "<eos>", "<|user|>", "<|assistant|>", "<|end|>"]
_TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def make_tiny_causal_lm(texts: Iterable[str], random_state: int = 0) -> tuple[Any, Any]:
    """A randomly initialised 2-layer Llama and a word-level tokenizer with a chat template.

    The vocabulary is the whitespace-separated words of ``texts`` plus six special tokens
    (unknown, padding, end of sequence and the chat roles); hidden size 16, at most 64
    positions. Built from a transformers config in memory, so it needs no download and a
    TRL training step on it takes a fraction of a second. Needs the ``policy`` extra
    (torch, transformers, tokenizers).

    Parameters
    ----------
    texts : iterable of str
        Texts whose words make the vocabulary (the prompts and answers a test uses).
    random_state : int, default 0
        Seeds the weights (``torch.manual_seed``).

    Returns
    -------
    model : transformers.LlamaForCausalLM
    tokenizer : transformers.PreTrainedTokenizerFast
        With ``pad_token``, ``eos_token`` and ``chat_template`` set.

    Examples
    --------
    >>> model, tokenizer = make_tiny_causal_lm(["apple pear plum"])
    >>> tokenizer.apply_chat_template([{"role": "user", "content": "pear"}], tokenize=False)
    '<|user|> pear <|end|> '
    >>> model.config.vocab_size  # six special tokens and three words
    9
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in t.split()} - set(_TINY_SPECIAL))
    vocab = {t: i for i, t in enumerate(_TINY_SPECIAL + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<eos>",
        additional_special_tokens=_TINY_SPECIAL[3:],
    )
    tokenizer.chat_template = _TINY_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=1,
        eos_token_id=2,
        bos_token_id=None,
    )
    torch.manual_seed(random_state)
    return LlamaForCausalLM(config), tokenizer


def _fail(head: Any, check: str, detail: str) -> None:
    raise AssertionError(f"{type(head).__name__} fails '{check}': {detail}")


def _seeded(head: Any, random_state: int) -> Any:
    """An unfitted clone of ``head`` with every ``random_state`` parameter (nested ones
    included) set to ``random_state``, as scikit-learn's checks seed estimators."""
    head = clone(head)
    seeds = {k: random_state for k in head.get_params(deep=True) if k.split("__")[-1] == "random_state"}
    return head.set_params(**seeds)


class _CheckData:
    """The planted pairs the head checks share (400 to fit, 300 held out, 32-d) and one fit
    of each head checked, made on first use."""

    n_features = 32

    def __init__(self, random_state: int, min_accuracy: float) -> None:
        data = make_preference_pairs(700, self.n_features, random_state=random_state)
        self.train, self.test = data.take(slice(0, 400)), data.take(slice(400, 700))
        self.random_state = random_state
        self.min_accuracy = min_accuracy
        self._fits: dict[int, tuple[Any, Any, Any]] = {}

    def fresh(self, head: Any) -> Any:
        """An unfitted, seeded clone of ``head``."""
        return _seeded(head, self.random_state)

    def fit(self, head: Any) -> Any:
        """A seeded clone of ``head`` fitted on the training pairs (``encoder_id="check"``)."""
        return self.fit_returning(head)[0]

    def fit_returning(self, head: Any) -> tuple[Any, Any]:
        """The fitted clone of :meth:`fit` and what its ``fit`` returned."""
        if id(head) not in self._fits:
            fitted = self.fresh(head)
            returned = fitted.fit(
                self.train.X_win, self.train.X_lose, groups=self.train.groups, encoder_id="check"
            )
            self._fits[id(head)] = (head, fitted, returned)  # the head is kept so its id stays its own
        return self._fits[id(head)][1:]


def _init_stores_parameters(head: Any, data: _CheckData) -> None:
    params = head.get_params(deep=False)
    built = type(head)(**params)
    changed = sorted(k for k, v in params.items() if getattr(built, k, None) is not v)
    extra = sorted(set(vars(built)) - set(params))
    if changed or extra:
        _fail(
            head,
            "init_stores_parameters",
            f"__init__ changes the parameters {changed} or sets the attributes {extra}",
        )


def _use_before_fit(head: Any, data: _CheckData) -> None:
    test = data.test
    for method, args in (
        ("reward", (test.X_win,)),
        ("score", (test.X_win, test.X_lose)),
        ("predict_proba", (test.X_win, test.X_lose)),
    ):
        try:
            getattr(data.fresh(head), method)(*args)
        except NotFittedError:
            continue
        except Exception as exc:
            _fail(
                head, "use_before_fit", f"'{method}' on an unfitted head raised {type(exc).__name__}: {exc}"
            )
        _fail(head, "use_before_fit", f"'{method}' on an unfitted head raised no NotFittedError")


def _fit_returns_self(head: Any, data: _CheckData) -> None:
    fitted, returned = data.fit_returning(head)
    if returned is not fitted:
        _fail(head, "fit_returns_self", f"fit returned {type(returned).__name__}, not the head itself")


def _fit_records_input(head: Any, data: _CheckData) -> None:
    fitted = data.fit(head)
    seen = (getattr(fitted, "n_features_in_", None), getattr(fitted, "encoder_id_", None))
    if seen != (data.n_features, "check"):
        _fail(
            head,
            "fit_records_input",
            f"(n_features_in_, encoder_id_) is {seen}, not ({data.n_features}, 'check')",
        )


def _clone_is_unfitted(head: Any, data: _CheckData) -> None:
    fitted = data.fit(head)
    copy = clone(fitted)
    if hasattr(copy, "n_features_in_"):
        _fail(head, "clone_is_unfitted", "a clone of a fitted head has n_features_in_")
    if repr(copy.get_params(deep=False)) != repr(fitted.get_params(deep=False)):
        _fail(head, "clone_is_unfitted", "a clone has other parameters than the head")


def _reward_is_finite_float64(head: Any, data: _CheckData) -> None:
    reward = data.fit(head).reward(data.test.X_win)
    n = data.test.X_win.shape[0]
    if not (isinstance(reward, np.ndarray) and reward.shape == (n,) and reward.dtype == np.float64):
        _fail(head, "reward_is_finite_float64", f"expected {n} float64 rewards, got {reward!r:.80}")
    if not np.isfinite(reward).all():
        _fail(head, "reward_is_finite_float64", f"{int((~np.isfinite(reward)).sum())} rewards are not finite")


def _score_is_pairwise_accuracy(head: Any, data: _CheckData) -> None:
    fitted, test = data.fit(head), data.test
    r_win, r_lose = fitted.reward(test.X_win), fitted.reward(test.X_lose)
    hits = (r_win > r_lose) + 0.5 * (r_win == r_lose)
    weight = np.random.RandomState(data.random_state).uniform(0.1, 2.0, hits.size)
    for given, X_a, X_b, expected in (
        ("no weights", test.X_win, test.X_lose, float(np.mean(hits))),
        ("weights", test.X_win, test.X_lose, float(np.average(hits, weights=weight))),
        ("the sides swapped", test.X_lose, test.X_win, float(np.mean(1.0 - hits))),
    ):
        score = fitted.score(X_a, X_b, weight if given == "weights" else None)
        if not np.isclose(score, expected, rtol=0.0, atol=1e-12):
            _fail(
                head,
                "score_is_pairwise_accuracy",
                f"with {given}, score {score} but the rewards give {expected}",
            )


def _recovers_planted_reward(head: Any, data: _CheckData) -> None:
    fitted, test = data.fit(head), data.test
    reward = fitted.reward(test.X_win)
    if np.ptp(reward) == 0:
        _fail(head, "recovers_planted_reward", "the rewards are constant")
    accuracy = fitted.score(test.X_win, test.X_lose)
    if accuracy < data.min_accuracy:
        _fail(head, "recovers_planted_reward", f"held-out accuracy {accuracy:.3f} < {data.min_accuracy}")


def _predict_proba_is_probability(head: Any, data: _CheckData) -> None:
    fitted, test = data.fit(head), data.test
    p = fitted.predict_proba(test.X_win, test.X_lose)
    q = fitted.predict_proba(test.X_lose, test.X_win)
    if not (((p >= 0) & (p <= 1)).all() and np.allclose(p + q, 1.0, rtol=0.0, atol=1e-12)):
        _fail(head, "predict_proba_is_probability", "not a probability with p(a, b) + p(b, a) = 1")


def _deterministic(head: Any, data: _CheckData) -> None:
    train, X = data.train, data.test.X_win
    again = data.fresh(head)
    again.fit(train.X_win, train.X_lose, groups=train.groups, encoder_id="check")
    if not np.array_equal(again.reward(X), data.fit(head).reward(X)):
        _fail(head, "deterministic", "two fits with the same random_state give different rewards")


def _save_load_round_trip(head: Any, data: _CheckData) -> None:
    from embrm.heads import load

    fitted, X = data.fit(head), data.test.X_win
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "head.npz"
        fitted.save(path)
        loaded = load(path)
    if type(loaded) is not type(fitted) or loaded.encoder_id_ != fitted.encoder_id_:
        _fail(head, "save_load_round_trip", f"loaded a {type(loaded).__name__} for {loaded.encoder_id_!r}")
    if not np.array_equal(loaded.reward(X), fitted.reward(X)):
        _fail(head, "save_load_round_trip", "the loaded head gives other rewards")


def _dimension_check(head: Any, data: _CheckData) -> None:
    fitted = data.fit(head)
    other = np.zeros((2, data.n_features - 1))
    for method, args in (("reward", (other,)), ("score", (other, other))):
        try:
            getattr(fitted, method)(*args)
        except EncoderMismatchError:
            continue
        except Exception as exc:
            _fail(head, "dimension_check", f"'{method}' on 31-d input raised {type(exc).__name__}: {exc}")
        _fail(head, "dimension_check", f"'{method}' on 31-d input raised no EncoderMismatchError")


_HEAD_CHECKS = (
    _init_stores_parameters,
    _use_before_fit,
    _fit_returns_self,
    _fit_records_input,
    _clone_is_unfitted,
    _reward_is_finite_float64,
    _score_is_pairwise_accuracy,
    _recovers_planted_reward,
    _predict_proba_is_probability,
    _deterministic,
    _save_load_round_trip,
    _dimension_check,
)


def head_checks(
    head: Any, *, random_state: int = 0, min_accuracy: float = 0.65
) -> Iterator[tuple[str, Callable[[Any], None]]]:
    """The named checks of the contract every embrm reward head keeps.

    Each check is called with ``head`` (unfitted) and raises ``AssertionError`` naming the
    head and the check when the head breaks it. The checks run on planted synthetic pairs
    (400 to fit, 300 held out, 32-d) and fit seeded clones: every parameter named
    ``random_state`` (nested ones included) is set to ``random_state``, so a head that is
    random only through it fits the same way twice. The checks share one fit of ``head``.

    - ``init_stores_parameters``: ``__init__`` stores each parameter as given and sets no
      other attribute.
    - ``use_before_fit``: ``reward``, ``score`` and ``predict_proba`` on an unfitted head raise
      :class:`~embrm.exceptions.NotFittedError`.
    - ``fit_returns_self``: ``fit`` returns the head.
    - ``fit_records_input``: ``fit`` records ``n_features_in_`` and ``encoder_id_``.
    - ``clone_is_unfitted``: ``sklearn.base.clone`` of a fitted head is unfitted, with the
      same parameters.
    - ``reward_is_finite_float64``: one finite float64 reward per response.
    - ``score_is_pairwise_accuracy``: ``score`` is the (weighted) share of pairs whose first
      response gets more reward, ties one half, either way round.
    - ``recovers_planted_reward``: the rewards vary and reach ``min_accuracy`` held out.
    - ``predict_proba_is_probability``: in [0, 1], with ``p(a, b) + p(b, a) = 1``.
    - ``deterministic``: two fits give identical rewards.
    - ``save_load_round_trip``: ``save`` / :func:`embrm.heads.load` gives the same class,
      encoder identity and rewards (so the head's class must be in ``embrm.heads.HEADS``).
    - ``dimension_check``: ``reward`` and ``score`` on input of another dimension raise
      :class:`~embrm.exceptions.EncoderMismatchError`.

    Parameters
    ----------
    head : embrm head (unfitted)
        Settings small enough to fit 400 pairs in a few seconds.
    random_state : int, default 0
        Seeds the synthetic pairs and the head.
    min_accuracy : float, default 0.65
        Held-out pairwise accuracy the head must reach (the planted labels have about 10%
        label noise; a linear reward reaches about 0.85).

    Yields
    ------
    name : str
    check : callable
        ``check(head)`` returns None or raises ``AssertionError``.

    Examples
    --------
    >>> from embrm.heads import BTLinear
    >>> head = BTLinear(alpha=10.0)
    >>> for name, check in head_checks(head):
    ...     check(head)
    >>> [name for name, _ in head_checks(head)][:3]
    ['init_stores_parameters', 'use_before_fit', 'fit_returns_self']
    """
    data = _CheckData(random_state, min_accuracy)
    for check in _HEAD_CHECKS:
        yield check.__name__.lstrip("_"), functools.partial(check, data=data)


def parametrize_with_checks(
    heads: Iterable[Any], *, random_state: int = 0, min_accuracy: float = 0.65
) -> Any:
    """A ``pytest.mark.parametrize`` over every check of every head, one test id per
    (head, check), as scikit-learn's ``parametrize_with_checks``.

    The decorated test takes ``head`` and ``check`` and calls ``check(head)``; ids read
    ``<repr of the head>-<check name>`` (see :func:`head_checks`).

    Parameters
    ----------
    heads : iterable of embrm heads (unfitted)
    random_state, min_accuracy
        As in :func:`head_checks`.

    Returns
    -------
    decorator
        The ``pytest.mark.parametrize`` mark.

    Examples
    --------
    >>> from embrm.heads import BTLinear
    >>> mark = parametrize_with_checks([BTLinear(alpha=10.0)])
    >>> [p.id for p in mark.args[1]][:2]
    ['BTLinear(alpha=10.0)-init_stores_parameters', 'BTLinear(alpha=10.0)-use_before_fit']
    """
    import pytest

    params = [
        pytest.param(head, check, id=f"{' '.join(repr(head).split())}-{name}")
        for head in heads
        for name, check in head_checks(head, random_state=random_state, min_accuracy=min_accuracy)
    ]
    return pytest.mark.parametrize(("head", "check"), params)


def check_head(head: Any, *, random_state: int = 0, min_accuracy: float = 0.65) -> None:
    """Check that ``head`` keeps the contract of an embrm reward head: run every check of
    :func:`head_checks` in turn.

    Parameters
    ----------
    head, random_state, min_accuracy
        As in :func:`head_checks`.

    Raises
    ------
    AssertionError
        Naming the head and the first check it fails.

    Examples
    --------
    >>> from embrm.heads import BTLinear
    >>> check_head(BTLinear(alpha=10.0))
    """
    for _, check in head_checks(head, random_state=random_state, min_accuracy=min_accuracy):
        check(head)


class _StrategyCheckData:
    """The synthetic pools the strategy checks share.

    ``D``: 120 candidate differences (8-d, decaying spectrum) in 20 prompts of six, row 5 a
    self pair; ``labelled``: rows 10 and 11 (the latter in the other sign) already labelled;
    ``head``: a linear head fitted on other rows. ``planted``: 140 unit differences along six
    directions of very unequal size (100, 20 and four of 5), ``direction`` their direction.
    """

    def __init__(self, random_state: int) -> None:
        from embrm.heads import BTLinear

        rng = check_random_state(random_state)
        self.random_state = random_state
        self.D = rng.standard_normal((120, 8)) / np.sqrt(np.arange(1, 9))
        self.D[5] = 0.0
        self.groups = np.repeat(np.arange(20), 6)
        self.labelled = np.vstack([self.D[10], -self.D[11]])
        oriented = self.D[20:60] * np.sign(self.D[20:60, 0])[:, None]
        self.head = BTLinear(alpha=1.0).fit(oriented, np.zeros_like(oriented))
        sizes = [100, 20, 5, 5, 5, 5]
        self.direction = np.repeat(np.arange(6), sizes)
        planted = np.eye(6)[self.direction] + 0.05 * rng.standard_normal((len(self.direction), 6))
        self.planted = planted / np.linalg.norm(planted, axis=1, keepdims=True)

    def fresh(self, strategy: Any) -> Any:
        """A clone of ``strategy`` seeded with the checks' ``random_state``."""
        return _seeded(strategy, self.random_state)

    def select(self, strategy: Any, batch_size: int = 12, **params: Any) -> np.ndarray:
        """The picks of a seeded clone (with ``params`` set) on the pool, with labels, head
        and prompts."""
        chosen = self.fresh(strategy).set_params(**params)
        return chosen.select(
            self.D, labelled=self.labelled, head=self.head, batch_size=batch_size, groups=self.groups
        )


def _clone_round_trip(strategy: Any, data: _StrategyCheckData) -> None:
    params = strategy.get_params(deep=False)
    if "random_state" not in params:
        _fail(strategy, "clone_round_trip", "it has no random_state parameter")
    copy = clone(strategy)
    if repr(copy.get_params(deep=False)) != repr(params):
        _fail(strategy, "clone_round_trip", "a clone has other parameters than the strategy")
    if repr(clone(strategy).set_params(**params).get_params(deep=False)) != repr(params):
        _fail(strategy, "clone_round_trip", "set_params(**get_params()) changes the parameters")


def _returns_distinct_eligible_rows(strategy: Any, data: _StrategyCheckData) -> None:
    for k in (1, 12, 117):  # 117: every row but the self pair and the two labelled
        picks = data.select(strategy, batch_size=k)
        if not (isinstance(picks, np.ndarray) and picks.dtype == np.int64 and picks.shape == (k,)):
            _fail(strategy, "returns_distinct_eligible_rows", f"expected {k} int64 rows, got {picks!r:.80}")
        if len(set(picks.tolist())) != k or picks.min() < 0 or picks.max() >= len(data.D):
            _fail(strategy, "returns_distinct_eligible_rows", f"{k} picks are not distinct rows of the pool")
        taken = sorted({5, 10, 11} & set(picks.tolist()))
        if taken:
            _fail(
                strategy,
                "returns_distinct_eligible_rows",
                f"picked {taken}: a self pair or an already labelled pair",
            )


def _deterministic(strategy: Any, data: _StrategyCheckData) -> None:
    seeded = data.fresh(strategy)
    first = seeded.select(data.D, labelled=data.labelled, head=data.head, batch_size=12, groups=data.groups)
    again = seeded.select(data.D, labelled=data.labelled, head=data.head, batch_size=12, groups=data.groups)
    other = data.select(strategy)
    if not (np.array_equal(first, again) and np.array_equal(first, other)):
        _fail(strategy, "deterministic", "two selections with the same random_state pick other rows")


def _respects_max_per_prompt(strategy: Any, data: _StrategyCheckData) -> None:
    if "max_per_prompt" not in strategy.get_params(deep=False):
        return
    for cap in (1, 2):
        # 20 prompts of six, rows 5, 10 and 11 out: every prompt can give ``cap`` pairs
        picks = data.select(strategy, batch_size=20 * cap, max_per_prompt=cap)
        counts = np.bincount(data.groups[picks], minlength=20)
        if not (counts == cap).all():
            _fail(
                strategy,
                "respects_max_per_prompt",
                f"max_per_prompt={cap}, batch of {20 * cap}: prompt counts {sorted(set(counts.tolist()))}",
            )


def _refuses_bad_input(strategy: Any, data: _StrategyCheckData) -> None:
    from embrm.exceptions import DataError

    seeded = data.fresh(strategy)
    cases = {
        "batch_size=0": lambda: seeded.select(data.D, batch_size=0),
        "a batch larger than the 117 candidates": lambda: seeded.select(
            data.D, labelled=data.labelled, batch_size=118
        ),
        "an empty pool": lambda: seeded.select(np.zeros((0, 8)), batch_size=1),
        "labelled pairs of another dimension": lambda: seeded.select(
            data.D, labelled=data.D[:2, :7], batch_size=1
        ),
    }
    for given, call in cases.items():
        try:
            call()
        except DataError:
            continue
        except Exception as exc:
            _fail(strategy, "refuses_bad_input", f"{given} raised {type(exc).__name__}: {exc}")
        _fail(strategy, "refuses_bad_input", f"{given} raised no DataError")


def _designs_cover_more_than_random(strategy: Any, data: _StrategyCheckData) -> None:
    if "prior_strength" not in strategy.get_params(deep=False):
        return

    def covered(rows: np.ndarray) -> int:
        return len(set(data.direction[rows].tolist()))

    n = len(data.planted)
    design = covered(data.fresh(strategy).select(data.planted, batch_size=6))
    random = float(
        np.mean([covered(np.random.RandomState(s).choice(n, 6, replace=False)) for s in range(20)])
    )
    if design < random:
        _fail(
            strategy,
            "designs_cover_more_than_random",
            f"a batch of 6 covers {design} of 6 planted directions, random batches {random:.2f}",
        )


_STRATEGY_CHECKS = (
    _init_stores_parameters,
    _clone_round_trip,
    _returns_distinct_eligible_rows,
    _deterministic,
    _respects_max_per_prompt,
    _refuses_bad_input,
    _designs_cover_more_than_random,
)


def strategy_checks(strategy: Any, *, random_state: int = 0) -> Iterator[tuple[str, Callable[[Any], None]]]:
    """The named checks of the contract every embrm active strategy keeps.

    Each check is called with ``strategy`` and raises ``AssertionError`` naming the
    strategy and the check when the strategy breaks it. The checks select from small
    synthetic pools with seeded clones (``random_state`` set, as in :func:`head_checks`).

    - ``init_stores_parameters``: ``__init__`` stores each parameter as given and sets no
      other attribute.
    - ``clone_round_trip``: the strategy has a ``random_state`` parameter; a clone and
      ``set_params(**get_params())`` keep every parameter.
    - ``returns_distinct_eligible_rows``: ``select`` returns ``batch_size`` distinct int64
      rows of the pool (1, 12, and every candidate), never a self pair (zero difference) or
      an already labelled pair (either sign).
    - ``deterministic``: two selections with the same ``random_state`` pick the same rows.
    - ``respects_max_per_prompt``: with ``max_per_prompt`` 1 and 2 (strategies with that
      parameter), a batch as large as the prompts allow holds exactly that many pairs of
      every prompt.
    - ``refuses_bad_input``: ``batch_size=0``, a batch larger than the candidates left, an
      empty pool and labelled pairs of another dimension raise
      :class:`~embrm.exceptions.DataError`.
    - ``designs_cover_more_than_random``: a design (a strategy with ``prior_strength``) asked
      for six pairs of a pool of unit differences along six directions of very unequal
      size (100, 20 and four of 5) covers at least as many directions as uniformly random
      batches do on average.

    Parameters
    ----------
    strategy : embrm active strategy
    random_state : int, default 0
        Seeds the synthetic pools and the strategy.

    Yields
    ------
    name : str
    check : callable
        ``check(strategy)`` returns None or raises ``AssertionError``.

    Examples
    --------
    >>> from embrm.active import DOptimal
    >>> strategy = DOptimal()
    >>> for name, check in strategy_checks(strategy):
    ...     check(strategy)
    >>> [name for name, _ in strategy_checks(strategy)][:3]
    ['init_stores_parameters', 'clone_round_trip', 'returns_distinct_eligible_rows']
    """
    data = _StrategyCheckData(random_state)
    for check in _STRATEGY_CHECKS:
        yield check.__name__.lstrip("_"), functools.partial(check, data=data)


def check_strategy(strategy: Any, *, random_state: int = 0) -> None:
    """Check that ``strategy`` keeps the contract of an embrm active strategy: run every
    check of :func:`strategy_checks` in turn.

    Parameters
    ----------
    strategy, random_state
        As in :func:`strategy_checks`.

    Raises
    ------
    AssertionError
        Naming the strategy and the first check it fails.

    Examples
    --------
    >>> from embrm.active import KCenter
    >>> check_strategy(KCenter())
    """
    for _, check in strategy_checks(strategy, random_state=random_state):
        check(strategy)
