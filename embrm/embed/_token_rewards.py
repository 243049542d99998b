"""Token-level rewards: a linear head's reward of a static embedding, split over the tokens.

The static model (:mod:`embrm.embed._static`) embeds a text as ``x = S / ||S||`` where
``S = sum_t e_t`` is the sum of its tokens' (weighted) vectors. A head whose reward is affine
in its features, ``r(x) = a @ x + c``, then gives exactly

    r(x) = c + sum_t a @ e_t / ||S||,

so token ``t`` contributes ``a @ e_t / ||S||``. The norm couples the tokens (adding a token
rescales everyone's share), but for the text as it is, the shares add up to the reward.

- ``joint`` view (``"{prompt}\\n\\n{response}"`` as one text): the prompt's tokens take part
  too; their total is reported as ``prompt_contribution``.
- ``split`` view (``[r, sqrt(d) (p * r)]``): with the prompt fixed, the reward is affine in
  the response vector ``r`` with direction ``a_1 + sqrt(d) a_2 * p``; only response tokens
  contribute and ``prompt_contribution`` is 0.

In both, ``reward = constant + prompt_contribution + contributions.sum()`` to float
precision, where ``constant = head.reward(0)`` (for BT heads the reward of the zero vector,
which only fixes the reward's origin; only differences within a prompt mean anything).

Supported heads: those whose reward is affine in the features (:class:`~embrm.heads.BTLinear`,
the linear :class:`~embrm.heads.ClassifierHead`, :class:`~embrm.heads.DRM` with fixed
weights, averages of these); it is checked numerically. Not supported: MLP and LightGBM
heads (their reward is not a sum over features, so it does not split over tokens), and
transformer representations (MiniLM, SmolLM2, ``static+minilm``: a token's effect on the
vector depends on every other token through attention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embrm.embed._render import SEPARATOR
from embrm.exceptions import EncoderMismatchError


@dataclass
class TokenVectors:
    """One text's tokens as the static model reads them.

    Attributes
    ----------
    offsets : list of (int, int)
        Character span of each token in the text (unknown tokens are dropped, as model2vec does).
    vectors : ndarray of shape (n_tokens, dim)
        Each token's (weighted) vector; the text's embedding is their sum, L2-normalised.
    """

    offsets: list[tuple[int, int]]
    vectors: np.ndarray


def token_vectors(model, texts: list[str]) -> list[TokenVectors]:
    """Per-token vectors of ``texts`` through model2vec (``encode_as_sequence``), with offsets."""
    sequences = model.encode_as_sequence(list(texts), max_length=None, use_multiprocessing=False)
    encodings = model.tokenizer.encode_batch(list(texts), add_special_tokens=False)
    out = []
    for encoding, vectors in zip(encodings, sequences, strict=True):
        offsets = [o for i, o in zip(encoding.ids, encoding.offsets, strict=True) if i != model.unk_token_id]
        if len(offsets) != len(vectors):  # pragma: no cover - model2vec changed how it tokenises
            raise RuntimeError("model2vec's token sequence does not match its tokenizer's tokens.")
        out.append(
            TokenVectors(offsets, np.asarray(vectors, dtype=np.float64).reshape(len(offsets), model.dim))
        )
    return out


@dataclass
class TokenRewards:
    """One response's reward split over its tokens.

    Attributes
    ----------
    response : str
    tokens : list of str
        The response's tokens as substrings of ``response`` (unknown tokens are skipped: the
        static model ignores them).
    offsets : list of (int, int)
        Character span of each token in ``response``.
    contributions : ndarray of shape (n_tokens,)
        Each token's share of the reward.
    prompt_contribution : float
        The prompt tokens' total share (joint view; 0 under the split view).
    constant : float
        The head's reward of the zero vector.
    """

    response: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    contributions: np.ndarray
    prompt_contribution: float
    constant: float

    @property
    def reward(self) -> float:
        """``constant + prompt_contribution + contributions.sum()``: the head's reward."""
        return float(self.constant + self.prompt_contribution + self.contributions.sum())


def linear_form(head, n_features: int, random_state: int = 0) -> tuple[np.ndarray, float]:
    """``(a, c)`` with ``head.reward(X) == X @ a + c``, read off the head and checked.

    ``a`` and ``c`` are read from the rewards of the zero vector and the basis vectors, and
    checked on 16 random unit vectors (float32, as an encoder gives them).

    Parameters
    ----------
    head : fitted reward head
    n_features : int
    random_state : int, default 0
        Seeds the random unit vectors of the check.

    Example
    -------
    >>> coef, constant = linear_form(head, encoder.dim)  # doctest: +SKIP

    Raises
    ------
    ValueError
        When the head's reward is not affine in its features (MLP, LightGBM heads).
    """
    probe = np.vstack([np.zeros(n_features), np.eye(n_features)]).astype(np.float32)
    values = head.reward(probe)
    constant, coef = float(values[0]), values[1:] - values[0]
    X = np.random.default_rng(random_state).standard_normal((16, n_features))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    got, expected = head.reward(X), X.astype(np.float64) @ coef + constant
    spread = max(float(np.ptp(got)), 1e-12)
    if not np.allclose(got, expected, rtol=0, atol=1e-4 * spread):
        raise ValueError(
            f"token_rewards needs a head whose reward is linear in the features (BTLinear, the linear "
            f"ClassifierHead, DRM); {type(head).__name__}'s is not (off by up to "
            f"{np.abs(got - expected).max():.3g} on random unit vectors), so it does not split over tokens."
        )
    return coef, constant


def _shares(vectors: np.ndarray, direction: np.ndarray, normalize: bool) -> np.ndarray:
    total = vectors.sum(axis=0)
    if not len(vectors) or not total.any():
        return np.zeros(len(vectors))
    scale = 1.0 / np.linalg.norm(total) if normalize else 1.0 / len(vectors)
    return (vectors @ direction) * scale


def token_rewards(head, encoder, prompts: Sequence[str], responses: Sequence[str]) -> list[TokenRewards]:
    """Each response's tokens with their contributions to a linear head's reward.

    Parameters
    ----------
    head : fitted reward head
        Its reward must be affine in the features (see the module docstring), trained on
        ``encoder``'s vectors.
    encoder : embrm.Encoder
        A static representation (``"static"`` or ``"static-split"``) without scalar features.
    prompts, responses : sequence of str
        Row-aligned.

    Returns
    -------
    list of TokenRewards
        One per response; ``.reward`` equals ``head.reward(encoder.encode_responses(...))``.

    Example
    -------
    >>> enc = Encoder("static")                                        # doctest: +SKIP
    >>> head = BTLinear().fit(*pairs.embed(enc))                       # doctest: +SKIP
    >>> [(t.tokens, t.contributions) for t in token_rewards(head, enc, prompts, responses)]  # doctest: +SKIP
    """
    from embrm.embed._encoder import _check_pairs

    if not getattr(encoder, "is_static", False) or encoder.scalar_features:
        raise ValueError(
            f"token_rewards needs the static representation ('static' or 'static-split', no scalar "
            f"features), got {encoder.identity}: a transformer's vector is not a sum over tokens."
        )
    trained_on = getattr(head, "encoder_id_", None)
    if trained_on and trained_on != encoder.identity:
        raise EncoderMismatchError(
            f"The head was trained on {trained_on} vectors, not on {encoder.identity}'s."
        )
    prompts, responses = _check_pairs(prompts, responses)
    coef, constant = linear_form(head, encoder.dim)
    model = encoder.static_model
    out = []
    if encoder.view == "joint":
        texts = encoder.render_responses(prompts, responses)[0]
        for prompt, response, tv in zip(prompts, responses, token_vectors(model, texts), strict=True):
            shares = _shares(tv.vectors, coef, model.normalize)
            start = len(prompt) + len(SEPARATOR)
            own = np.array([s >= start for s, _ in tv.offsets], dtype=bool)
            offsets = [(s - start, e - start) for (s, e), o in zip(tv.offsets, own, strict=True) if o]
            out.append(
                TokenRewards(
                    response,
                    [response[s:e] for s, e in offsets],
                    offsets,
                    shares[own],
                    float(shares[~own].sum()),
                    constant,
                )
            )
        return out
    d = len(coef) // 2
    row_of = {p: i for i, p in enumerate(dict.fromkeys(prompts))}
    prompt_vectors = encoder.encode(list(row_of)).astype(np.float64)
    for prompt, response, tv in zip(prompts, responses, token_vectors(model, responses), strict=True):
        direction = coef[:d] + np.sqrt(d) * coef[d:] * prompt_vectors[row_of[prompt]]
        shares = _shares(tv.vectors, direction, model.normalize)
        out.append(
            TokenRewards(
                response, [response[s:e] for s, e in tv.offsets], list(tv.offsets), shares, 0.0, constant
            )
        )
    return out
