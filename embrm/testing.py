"""Test helpers, as scikit-learn ships ``make_classification`` and ``check_estimator``.

- :func:`make_preference_pairs`: pairs labelled by a planted linear reward, with controllable
  annotation noise and groups, over synthetic or real embeddings.
- :func:`make_scored_responses`: several scored responses per prompt with a planted reward.
- :func:`check_head`: the contract every reward head keeps; run it on a new head.
- :func:`make_tiny_causal_lm`: a tiny random Llama and a word-level chat tokenizer, built
  locally (no download), for fast tests of code that generates or trains with an LM.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
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
    "make_preference_pairs",
    "make_scored_responses",
    "make_tiny_causal_lm",
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


def check_head(head: Any, *, random_state: int = 0, min_accuracy: float = 0.65) -> None:
    """Check that ``head`` keeps the contract of an embrm reward head.

    On planted synthetic pairs (400 to fit, 300 held out, 32-d): ``__init__`` stores
    parameters only and ``clone`` gives an unfitted copy; ``fit`` returns the head and
    records ``n_features_in_`` and ``encoder_id_``; ``reward`` gives finite float64 rewards
    that are not constant; ``score`` is the pairwise accuracy of those rewards, recovers the
    planted reward (at least ``min_accuracy`` held out) and swapping the sides gives its
    complement; ``predict_proba`` is a probability with ``p(a, b) + p(b, a) = 1``; two fits
    give identical rewards; ``save`` / :func:`embrm.heads.load` round-trips the rewards
    exactly; a head used before ``fit`` and input of another dimension are clear errors.

    Parameters
    ----------
    head : embrm head (unfitted)
        Settings small enough to fit 400 pairs in a second or two.
    random_state : int, default 0
        Seeds the synthetic pairs.
    min_accuracy : float, default 0.65
        Held-out pairwise accuracy the head must reach (the planted labels have about 10%
        label noise; a linear reward reaches about 0.85).

    Raises
    ------
    AssertionError
        Naming the head and the check it fails.

    Examples
    --------
    >>> from embrm.heads import BTLinear
    >>> check_head(BTLinear(alpha=10.0))
    """
    from embrm.heads import load

    data = make_preference_pairs(700, 32, random_state=random_state)
    train, test = data.take(slice(0, 400)), data.take(slice(400, 700))
    params = head.get_params(deep=False)
    if any(getattr(head, k) is not v for k, v in params.items()):
        _fail(head, "__init__ stores parameters only", "an attribute differs from its get_params value")
    for method, args in (("reward", (test.X_win,)), ("score", (test.X_win, test.X_lose))):
        try:
            getattr(clone(head), method)(*args)
        except NotFittedError:
            pass
        else:
            _fail(head, "use before fit", f"'{method}' on an unfitted head raised no NotFittedError")
    fitted = clone(head)
    if fitted.fit(train.X_win, train.X_lose, groups=train.groups, encoder_id="check") is not fitted:
        _fail(head, "fit returns self", "fit returned another object")
    if fitted.n_features_in_ != 32 or fitted.encoder_id_ != "check":
        _fail(head, "fit records what it saw", "n_features_in_ or encoder_id_ is wrong")
    if hasattr(clone(fitted), "n_features_in_"):
        _fail(head, "clone is unfitted", "a clone of a fitted head has n_features_in_")
    reward = fitted.reward(test.X_win)
    if reward.shape != (300,) or reward.dtype != np.float64 or not np.isfinite(reward).all():
        _fail(head, "reward", f"expected 300 finite float64 rewards, got {reward.shape} {reward.dtype}")
    if np.ptp(reward) == 0:
        _fail(head, "reward", "the rewards are constant")
    r_win, r_lose = reward, fitted.reward(test.X_lose)
    accuracy = fitted.score(test.X_win, test.X_lose)
    expected = float(np.mean((r_win > r_lose) + 0.5 * (r_win == r_lose)))
    if not np.isclose(accuracy, expected):
        _fail(head, "score is pairwise accuracy", f"score {accuracy} but rewards give {expected}")
    if accuracy < min_accuracy:
        _fail(head, "recovers a planted reward", f"held-out accuracy {accuracy:.3f} < {min_accuracy}")
    if not np.isclose(fitted.score(test.X_lose, test.X_win), 1 - accuracy):
        _fail(head, "score", "swapping the two sides does not give the complement")
    p = fitted.predict_proba(test.X_win, test.X_lose)
    q = fitted.predict_proba(test.X_lose, test.X_win)
    if not (((p >= 0) & (p <= 1)).all() and np.allclose(p + q, 1.0, atol=1e-12)):
        _fail(head, "predict_proba", "not a probability with p(a, b) + p(b, a) = 1")
    again = clone(head).fit(train.X_win, train.X_lose, groups=train.groups, encoder_id="check")
    if not np.array_equal(again.reward(test.X_win), reward):
        _fail(head, "deterministic", "two fits with the same settings give different rewards")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "head.npz"
        fitted.save(path)
        loaded = load(path, expected_encoder_id="check")
        if not np.array_equal(loaded.reward(test.X_win), reward):
            _fail(head, "save/load", "the loaded head gives other rewards")
    try:
        fitted.reward(np.zeros((2, 31)))
    except EncoderMismatchError:
        pass
    else:
        _fail(head, "dimension check", "rewarding 31-d input raised no EncoderMismatchError")
