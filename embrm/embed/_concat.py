"""A combined representation: the vectors of several encoders side by side.

``Encoder("static+minilm")`` builds a :class:`ConcatEncoder` of ``Encoder("static")`` and
``Encoder("minilm")`` (the ``parts`` of the named representation); each part reads and
writes its own cache, so its vectors are shared with the part used alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from embrm.embed._arrays import EmbeddingArray
from embrm.embed._encoder import Encoder, _check_pairs
from embrm.embed._representations import REPRESENTATIONS


class ConcatEncoder(Encoder):
    """Encoders whose vectors are concatenated, in order; identity ``concat(a;b)``.

    Built by ``Encoder(name)`` for a combined representation (same arguments, without view,
    layer, scalar features or quantisation) or by :meth:`Encoder.concat`.

    Example
    -------
    >>> from embrm import Encoder
    >>> encoder = Encoder("static+minilm")  # doctest: +SKIP
    >>> [part.identity for part in encoder.parts]  # doctest: +SKIP
    ['all-MiniLM-L6-v2-...-m2v256-...-fp32+pr-full-v1', 'all-MiniLM-L6-v2-...-fp32']
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        view: str | None = None,
        layer: int | None = None,
        scalar_features: Sequence[str] = (),
        quantize: bool = False,
        **shared: Any,
    ):
        if view is not None or layer is not None or scalar_features or quantize:
            raise ValueError(
                f"Representation {model!r} combines fixed representations; it takes no view, "
                "layer, scalar_features or quantize."
            )
        parts = REPRESENTATIONS[str(model)]["parts"]
        self._set_parts(tuple(Encoder(part, cache_dir, device, **shared) for part in parts), str(model))

    @classmethod
    def of(cls, encoders: Sequence[Encoder], name: str | None = None) -> ConcatEncoder:
        """The concatenation of already built ``encoders``."""
        if len(encoders) < 2 or not all(isinstance(e, Encoder) for e in encoders):
            raise ValueError(f"Encoder.concat needs two or more encoders; got {encoders!r}.")
        combined = object.__new__(cls)
        combined._set_parts(tuple(encoders), name)
        return combined

    def _set_parts(self, parts: tuple[Encoder, ...], name: str | None) -> None:
        self.parts = parts
        self.name = name
        self.cache_dir = parts[0].cache_dir
        self._write_cache = all(p.write_cache for p in parts)
        self.engine = parts[0].engine  # the parts' engine (one object when one was passed)
        self.view, self.layer, self.scalar_features, self.variant = "joint", None, (), "fp32"
        self.last_stats: dict[str, int] = {}
        self._dim: int | None = None

    @property
    def identity(self) -> str:
        """``concat(<part identity>;<part identity>...)``."""
        return "concat(" + ";".join(p.identity for p in self.parts) + ")"

    @property
    def n_inference_calls(self) -> int:
        """Inference calls made by the parts."""
        return sum(p.n_inference_calls for p in self.parts)

    @property
    def dim(self) -> int:
        """Sum of the parts' dimensions."""
        return sum(p.dim for p in self.parts)

    def __repr__(self) -> str:
        return f"ConcatEncoder(identity={self.identity!r})"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Not available: a combined representation reads (prompt, response) pairs."""
        raise ValueError(
            "encode() embeds raw texts with a sentence encoder or the static model; a combined "
            "representation reads (prompt, response) pairs: use encode_responses()."
        )

    def render_responses(self, prompts: Sequence[str], responses: Sequence[str]):
        """Not available: each part renders its own text."""
        raise ValueError("render_responses() is the sentence encoder's joint text format.")

    def encode_responses(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Each part's vectors of the rows, side by side (each part cached on its own)."""
        prompts, responses = _check_pairs(prompts, responses)
        vectors = np.hstack([np.asarray(p.encode_responses(prompts, responses)) for p in self.parts])
        self.last_stats = {k: sum(p.last_stats[k] for p in self.parts) for k in ("texts", "cached", "new")}
        return EmbeddingArray(vectors, self.identity)

    def cached_mask(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Rows every part has cached."""
        return np.logical_and.reduce([p.cached_mask(prompts, responses) for p in self.parts])

    def describe(self) -> dict:
        """Identity and each part's description."""
        return {"identity": self.identity, "model": self.name, "parts": [p.describe() for p in self.parts]}
