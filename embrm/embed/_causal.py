"""The causal-LM backend: a decoder read through its hidden states (SmolLM2-135M-Instruct offline).

The LM reads the chat-formatted conversation (format ``chat-v1``, :mod:`embrm.embed._decoder`);
one pass stores the mean over the response's tokens and the state of the turn's closing
token at every probe layer, so the views ``mean`` and ``last`` and every layer share one
vector cache. The vector is the chosen layer and pooling, L2-normalised.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from embrm._core.stack import external_stacklevel
from embrm.embed._backend import BackendOptions, Plan, exporting, l2_normalise, pick
from embrm.embed._cache import pair_keys
from embrm.embed._decoder import (
    CHAT_FORMAT_VERSION,
    DEFAULT_DECODER,
    POOLINGS,
    DecoderSource,
    DecoderStates,
    export_decoder_onnx,
    resolve_decoder,
)
from embrm.embed._onnx import EXPORT_META, is_complete_export, reexport_hint, verified_files
from embrm.embed._store import locate_model


def is_causal_lm(model: str | os.PathLike | None) -> bool:
    """Whether ``model`` names a causal LM (read through its hidden states).

    Example
    -------
    >>> is_causal_lm("SmolLM2-135M-Instruct"), is_causal_lm(None)
    (True, False)
    """
    if model is None:
        return False
    path = Path(model).expanduser()
    if str(model) == DEFAULT_DECODER or (str(model).endswith(".gguf") and path.is_file()):
        return True
    config = path / "config.json"
    if path.is_dir() and config.is_file() and not (path / "modules.json").is_file():
        architectures = json.loads(config.read_text()).get("architectures") or []
        return any(a.endswith("ForCausalLM") for a in architectures)
    return False


class CausalLMBackend:
    """A causal LM's pooled hidden states at one probe layer.

    Parameters
    ----------
    options : BackendOptions
        ``view`` one of ``POOLINGS`` (default ``"mean"``); ``layer`` one of the probe layers
        (default: the one nearest the middle); batch size 8 by default. ``quantize`` warns:
        int8 distorts a causal LM's hidden states.

    Example
    -------
    >>> options = BackendOptions("SmolLM2-135M-Instruct", Path("~/.cache/embrm"))
    >>> CausalLMBackend(options).identity  # doctest: +SKIP
    'SmolLM2-135M-Instruct-b179c9523d0e-fp32-chat-v1+L15-mean'
    """

    name = "causal-lm"

    @staticmethod
    def accepts(model: object) -> bool:
        """Whether ``model`` names a causal LM."""
        return is_causal_lm(model)

    def __init__(self, options: BackendOptions) -> None:
        self.view = options.view or "mean"
        if self.view not in POOLINGS:
            raise ValueError(f"A causal LM's view is one of {POOLINGS}, got {self.view!r}.")
        if options.quantize:
            warnings.warn(
                "int8 dynamic quantisation distorts a causal LM's hidden states, because a "
                "few activation channels are huge (benchmarks/decoder_throughput.py compares "
                "them with fp32). Use quantize=False unless you have checked the int8 vectors.",
                UserWarning,
                stacklevel=external_stacklevel(),
            )
        self.options = options
        self.layer = options.layer
        self.source: DecoderSource = resolve_decoder(options.model, options.cache_dir)
        self.batch_size = options.batch_size or 8
        self.cache_identity = self.source.identity(options.variant)
        self.model_dir = locate_model(options.cache_dir, self.cache_identity)
        self.n_inference_calls = 0
        self._states: DecoderStates | None = None

    @property
    def identity(self) -> str:
        """Cache identity plus the pooled layer and view (``...+L15-mean``)."""
        return f"{self.cache_identity}+L{self.pooled_layer}-{self.view}"

    @property
    def decoder_states(self) -> DecoderStates:
        """The causal LM's pooled-states runner, exporting the model first if needed."""
        if self._states is None:
            with exporting(self.model_dir):
                export_decoder_onnx(self.source, self.options.variant, self.model_dir)
            self._states = DecoderStates(self.model_dir, self.options.device, self.options.num_threads)
        return self._states

    @property
    def session(self):
        """The ONNX Runtime session of the exported LM."""
        return self.decoder_states.session

    @property
    def plain_tokenizer(self) -> Tokenizer:
        """The LM's tokenizer without padding or truncation."""
        return self.decoder_states.tokenizer

    @property
    def pooled_layer(self) -> int:
        """The layer this backend pools (the probe layer nearest the middle by default)."""
        if self._states is not None:
            layers = list(self._states.layers)
        else:
            if not is_complete_export(self.model_dir):
                self.decoder_states  # noqa: B018 - export to learn the layers
            fix = reexport_hint(self.model_dir, "the causal LM")
            layers = json.loads(verified_files(self.model_dir, [EXPORT_META], fix)[EXPORT_META])["layers"]
        if self.layer is None:
            return min(layers, key=lambda k: abs(k - layers[-1] / 2))
        if self.layer not in layers:
            raise ValueError(f"layer must be one of the cached probe layers {layers}, got {self.layer}.")
        return self.layer

    def text_plan(self, texts: list[str]) -> Plan:
        """Not available: a causal LM reads (prompt, response) pairs."""
        raise ValueError(
            "encode() embeds raw texts with a sentence encoder or the static model; a causal LM "
            "reads (prompt, response) pairs: use encode_responses()."
        )

    def plan(self, prompts: list[str], responses: list[str]) -> Plan:
        """One key per pair (format ``chat-v1``); the stored states give the layer and view."""
        pairs = list(zip(prompts, responses, strict=True))

        def select(stored: np.ndarray) -> np.ndarray:
            states = self.decoder_states
            grid = stored.reshape(len(pairs), len(states.layers), len(POOLINGS), states.hidden_size)
            layer = states.layers.index(self.pooled_layer)
            return l2_normalise(np.ascontiguousarray(grid[:, layer, POOLINGS.index(self.view)]))

        keys = pair_keys(prompts, responses, CHAT_FORMAT_VERSION)
        return Plan(keys, lambda rows: pick(pairs, rows), lambda p: len(p[0]) + len(p[1]), select)

    def infer(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Pooled states of every probe layer of a batch of pairs (what the cache stores)."""
        vectors = self.decoder_states([p for p, _ in pairs], [r for _, r in pairs])
        self.n_inference_calls += 1
        return vectors

    def truncated(self, prompts: list[str], responses: list[str]) -> list[bool]:
        """Whether the LM's window cut the prompt or the response."""
        return self.decoder_states.render(prompts, responses)[2]

    def dim(self, cached: int | None = None) -> int:
        """The LM's hidden size."""
        return self.decoder_states.hidden_size

    def describe(self) -> dict:
        """Model file, layer, view and text format."""
        return {
            "backend": self.name,
            "model": self.source.name,
            "model_path": str(self.source.path / (self.source.gguf_file or "")),
            "variant": self.options.variant,
            "view": self.view,
            "layer": self.pooled_layer,
            "text_format": CHAT_FORMAT_VERSION,
        }
