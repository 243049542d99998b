"""The static backend: embeddings distilled from a sentence encoder, a token lookup and a mean.

Embedding a text with the static model is a tokenisation, a lookup of one vector per token,
their mean and an L2 normalisation: no transformer at run time, no window, so the **whole**
text is read however long it is. The model is distilled once per source model
(:mod:`embrm.embed._distill`, the ``export`` extra) and kept in the cache directory under its
own identity (source model and weights, dimensions, vocabulary), its files checked on each
load; embedding needs only ``model2vec`` itself (the ``static`` extra: numpy, tokenizers,
safetensors, no torch).

Texts with no known token (empty, whitespace, only characters the vocabulary lacks) embed
as the **zero vector**, never NaN.

This module is also the example of a backend (docs/embedding.md, "Add a backend"):
:class:`StaticBackend` resolves its options, names its identities and cache keys, and
embeds a batch; one line in :mod:`embrm.embed._registry` makes ``Encoder("static")`` use it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embrm._core.compat import import_optional
from embrm.embed._backend import RAW_TEXT_FORMAT, BackendOptions, Plan, pick
from embrm.embed._cache import pair_keys, text_keys
from embrm.embed._distill import STATIC_META, distill_static
from embrm.embed._mpnet import MPNET_INSTALL, MPNET_MODEL
from embrm.embed._onnx import DEFAULT_MODEL, _hash_weights, resolve_model, verify_folder
from embrm.embed._render import SEPARATOR
from embrm.embed._sentence import SPLIT_FORMAT_VERSION, split_plan, view_dim
from embrm.embed._store import locate_model, model_folders, model_store
from embrm.exceptions import ModelLoadError

#: The static model distilled from the shipped all-MiniLM-L6-v2 (``Encoder("static")``).
STATIC_MODEL = f"{DEFAULT_MODEL}-static"
#: The static model distilled from all-mpnet-base-v2 (its five PyPI part packages).
MPNET_STATIC_MODEL = f"{MPNET_MODEL}-static"
#: Each static model's name and the sentence encoder it is distilled from.
STATIC_SOURCES: dict[str, str] = {STATIC_MODEL: DEFAULT_MODEL, MPNET_STATIC_MODEL: MPNET_MODEL}
#: Text format of the static joint view: ``"{prompt}\\n\\n{response}"``, nothing cut.
STATIC_TEXT_FORMAT = "pr-full-v1"
STATIC_VIEWS = ("joint", "split")
PCA_DIMS = 256


@dataclass(frozen=True)
class StaticSource:
    """The recipe of a distilled static model: which sentence encoder, how many dimensions.

    Attributes
    ----------
    name : str
        The source sentence encoder's name.
    path : Path
        The source model's folder.
    weights_sha256 : str
        Hash of the source weights.
    vocabulary_sha256 : str
        Hash of the source tokenizer (the vocabulary distilled).
    pca_dims : int
        Dimensions kept by PCA.
    """

    name: str
    path: Path
    weights_sha256: str
    vocabulary_sha256: str
    pca_dims: int = PCA_DIMS

    def identity(self, variant: str) -> str:
        """Cache identity: source model and weights, dimensions, vocabulary, ``variant``."""
        safe = self.name.replace("/", "__")
        vocabulary = self.vocabulary_sha256[:8]
        return f"{safe}-{self.weights_sha256[:12]}-m2v{self.pca_dims}-vocab{vocabulary}-{variant}"


def is_static(model: str | os.PathLike | None) -> bool:
    """Whether ``model`` names a static model (one of ``STATIC_SOURCES``).

    Example
    -------
    >>> is_static("all-mpnet-base-v2-static"), is_static("all-mpnet-base-v2")
    (True, False)
    """
    return model is not None and str(model) in STATIC_SOURCES


def _source_install(source_model: str) -> str:
    """How to install what distilling from ``source_model`` needs."""
    if source_model == MPNET_MODEL:
        return f"pip install torch==2.13.0 && pip install 'embrm[export]' && {MPNET_INSTALL}"
    return "pip install torch==2.13.0 && pip install 'embrm[export]'"


def resolve_static(
    cache_dir: Path, pca_dims: int = PCA_DIMS, source_model: str = DEFAULT_MODEL
) -> StaticSource:
    """The recipe of the static model distilled from ``source_model`` (the shipped
    all-MiniLM-L6-v2 by default, or all-mpnet-base-v2).

    Without the source model's package (a run-time install: core + the ``static`` extra), the
    recipe is read from the model already distilled into ``cache_dir`` or the model store.

    Example
    -------
    >>> source = resolve_static(Path("~/.cache/embrm"), source_model="all-mpnet-base-v2")  # doctest: +SKIP
    >>> source.identity("fp32")  # doctest: +SKIP
    'all-mpnet-base-v2-...-m2v256-vocab...-fp32'
    """
    if source_model not in STATIC_SOURCES.values():
        raise ValueError(f"A static model is distilled from one of {sorted(STATIC_SOURCES.values())}, "
                         f"got {source_model!r}.")
    try:
        source = resolve_model(source_model, cache_dir)
    except ImportError as exc:
        pattern = f"{source_model}-*-m2v{pca_dims}-vocab*-fp32/{STATIC_META}"
        found = sorted(
            (p for folder in model_folders(cache_dir) for p in folder.glob(pattern)),
            key=lambda p: p.stat().st_mtime,
        )
        if not found:
            raise ImportError(
                f"The static model of {source_model} is not distilled in {cache_dir} or the model "
                f"store {model_store()} yet, and distilling it (once per machine) needs the source "
                f"model: {_source_install(source_model)}. After that, embedding needs only "
                "pip install 'embrm[static]'."
            ) from exc
        meta = json.loads(found[-1].read_text())
        return StaticSource(
            name=source_model,
            path=Path(meta["source"]),
            weights_sha256=meta["weights_sha256"],
            vocabulary_sha256=meta["vocabulary_sha256"],
            pca_dims=pca_dims,
        )
    return StaticSource(
        name=source.name,
        path=source.path,
        weights_sha256=source.weights_sha256,
        vocabulary_sha256=_hash_weights(source.path / "tokenizer.json", cache_dir),
        pca_dims=pca_dims,
    )


def load_static(model_dir: Path):
    """The distilled model in ``model_dir`` as a ``model2vec.StaticModel``, checked.

    Raises
    ------
    ModelLoadError
        When a file is missing or differs from its recorded checksum (a partial or altered
        copy), when the vectors and the tokenizer's vocabulary disagree, or when a vector is
        not finite. The message says which folder to delete; the next use distills it again.
    """
    m2v = import_optional("model2vec", "Embedding with the static model")
    fix = (
        f"Delete that folder (rm -r '{model_dir}') and embed again: the static model is distilled "
        "afresh (needs the export extra: pip install torch==2.13.0 && pip install 'embrm[export]')."
    )
    verify_folder(model_dir, fix)
    try:
        meta = json.loads((model_dir / STATIC_META).read_text())
        dim = int(meta["dim"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"The static model in {model_dir} has no readable {STATIC_META}. {fix}") from exc
    quiet = logging.getLogger("model2vec")  # it warns that max_length=None overrides the config's 512
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        model = m2v.StaticModel.from_pretrained(model_dir, max_length=None, force_download=False)
    except ValueError as exc:  # model2vec: vectors and vocabulary of different sizes
        raise ModelLoadError(f"The static model in {model_dir} is inconsistent: {exc} {fix}") from exc
    finally:
        quiet.setLevel(level)
    n_vocab = model.tokenizer.get_vocab_size()
    if model.embedding.shape != (n_vocab, dim) or model.token_mapping is not None:
        raise ModelLoadError(
            f"The static model in {model_dir} has vectors of shape {model.embedding.shape} for a "
            f"vocabulary of {n_vocab} tokens and {dim} dimensions: they do not match. {fix}"
        )
    if not np.isfinite(model.embedding).all():
        raise ModelLoadError(f"The static model in {model_dir} holds non-finite vectors. {fix}")
    return model


def encode_static(model, texts: list[str]) -> np.ndarray:
    """Static vectors of ``texts`` (whole texts, no truncation), float32, L2-normalised.

    A text with no known token gives the zero vector.
    """
    vectors = model.encode(texts, max_length=None, use_multiprocessing=False, batch_size=len(texts) or 1)
    vectors = np.asarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():  # pragma: no cover - load_static checked every vector
        raise ModelLoadError("The static model produced non-finite vectors.")
    return vectors


class StaticBackend:
    """A static model (distilled from all-MiniLM-L6-v2 or all-mpnet-base-v2): whole texts, no
    transformer.

    Parameters
    ----------
    options : BackendOptions
        ``model`` one of ``STATIC_SOURCES`` (``"all-MiniLM-L6-v2-static"``,
        ``"all-mpnet-base-v2-static"``);
        ``view`` one of ``STATIC_VIEWS`` (default ``"joint"``: ``"{prompt}\\n\\n{response}"``,
        nothing cut); ``layer`` and ``quantize`` do not apply; batch size 1024 by default.

    Example
    -------
    >>> StaticBackend(BackendOptions(STATIC_MODEL, Path("~/.cache/embrm"))).identity  # doctest: +SKIP
    'all-MiniLM-L6-v2-53aa51172d14-m2v256-vocabbe50c362-fp32+pr-full-v1'
    """

    name = "static"

    @staticmethod
    def accepts(model: object) -> bool:
        """Whether ``model`` names the static model."""
        return is_static(model)

    #: What the error messages call this backend's model.
    described = "the static model"

    def __init__(self, options: BackendOptions) -> None:
        self.view = options.view or "joint"
        if self.view not in STATIC_VIEWS:
            raise ValueError(
                f"{self.described[0].upper()}{self.described[1:]}'s view is one of {STATIC_VIEWS}, "
                f"got {self.view!r} (it reads the whole text: no windows needed)."
            )
        if options.layer is not None or options.quantize:
            raise ValueError(f"layer and quantize do not apply to {self.described} (a token lookup).")
        self.batch_size = options.batch_size or 1024
        self.source, self.cache_identity, self.model_dir = self._locate(options)
        suffix = STATIC_TEXT_FORMAT if self.view == "joint" else SPLIT_FORMAT_VERSION
        self.identity = f"{self.cache_identity}+{suffix}"
        self.n_inference_calls = 0
        self._model = None

    def _locate(self, options: BackendOptions) -> tuple[StaticSource | Path, str, Path]:
        """The model's source, its vector cache identity and its folder in the model store."""
        source = resolve_static(options.cache_dir, source_model=STATIC_SOURCES[str(options.model)])
        cache_identity = source.identity(options.variant)
        return source, cache_identity, locate_model(options.cache_dir, cache_identity)

    @property
    def static_model(self):
        """The distilled ``model2vec.StaticModel``, distilling it into the cache first if needed."""
        if self._model is None:
            distill_static(self.source, self.model_dir)
            self._model = load_static(self.model_dir)
        return self._model

    def render(self, prompts: list[str], responses: list[str]) -> tuple[list[str], list[bool]]:
        """The joint view's texts, ``"{prompt}\\n\\n{response}"``; none is cut."""
        return [p + SEPARATOR + r for p, r in zip(prompts, responses, strict=True)], [False] * len(prompts)

    def text_plan(self, texts: list[str]) -> Plan:
        """Raw texts, each its own cache key."""
        return Plan(text_keys(texts, RAW_TEXT_FORMAT), lambda rows: pick(texts, rows), len)

    def plan(self, prompts: list[str], responses: list[str]) -> Plan:
        """Joint: one key per pair (format ``pr-full-v1``); split: as the sentence encoder's."""
        if self.view == "split":
            return split_plan(lambda texts: text_keys(texts, RAW_TEXT_FORMAT), prompts, responses)

        def render(rows: list[int]) -> list[str]:
            return self.render(pick(prompts, rows), pick(responses, rows))[0]

        return Plan(pair_keys(prompts, responses, STATIC_TEXT_FORMAT), render, len)

    def infer(self, texts: list[str]) -> np.ndarray:
        """Static vectors of a batch of texts."""
        self.n_inference_calls += 1
        return encode_static(self.static_model, texts)

    def truncated(self, prompts: list[str], responses: list[str]) -> list[bool]:
        """Never: the static model reads whole texts."""
        return [False] * len(prompts)

    def dim(self, cached: int | None = None) -> int:
        """Width of the view's vectors (``cached``: the cache's stored width, if known)."""
        return view_dim(self.infer, self.view, cached)

    def describe(self) -> dict:
        """Model, folders, dimensions, view and text format."""
        return {
            "backend": self.name,
            "model": self.source.name,
            "model_path": str(self.model_dir),
            "source_path": str(self.source.path),
            "variant": "fp32",
            "view": self.view,
            "dims": self.source.pca_dims,
            "text_format": STATIC_TEXT_FORMAT if self.view == "joint" else RAW_TEXT_FORMAT,
        }
