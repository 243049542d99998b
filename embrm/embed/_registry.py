"""The backends the :class:`~embrm.Encoder` knows, one line each, asked in order.

Each backend class says whether it ``accepts`` a model name; the first that does is built
from the Encoder's options. The sentence encoder accepts anything else, so it comes last.
"""

from __future__ import annotations

from embrm.embed._backend import Backend, BackendOptions
from embrm.embed._causal import CausalLMBackend
from embrm.embed._sentence import SentenceBackend
from embrm.embed._static import StaticBackend
from embrm.embed._tuned import TunedStaticBackend

#: Backend classes, asked in order whether they accept a model.
BACKENDS: tuple[type, ...] = (
    TunedStaticBackend,  # a folder holding a saved RewardTunedStatic (embrm.embed._tuned)
    StaticBackend,  # "all-MiniLM-L6-v2-static": a distilled token lookup (model2vec)
    CausalLMBackend,  # "SmolLM2-135M-Instruct", a .gguf file or a causal-LM folder
    SentenceBackend,  # anything else: a sentence-transformers model through ONNX Runtime
)


def resolve_backend(options: BackendOptions) -> Backend:
    """The first backend of ``BACKENDS`` that accepts ``options.model``, built from ``options``.

    Example
    -------
    >>> [b.name for b in BACKENDS if b.accepts("SmolLM2-135M-Instruct")]
    ['causal-lm', 'sentence']
    """
    for backend in BACKENDS:
        if backend.accepts(options.model):
            return backend(options)
    raise ValueError(f"No backend accepts the model {options.model!r}.")  # pragma: no cover
