"""Static embeddings distilled from a sentence encoder with model2vec: a token lookup and a mean.

``model2vec``'s ``distill`` runs the sentence encoder (all-MiniLM-L6-v2 by default) once
over every token of its vocabulary, reduces the token vectors with PCA and weights them by
token frequency (Zipf/SIF). Embedding a text is then a tokenisation, a lookup of one vector
per token, their mean and an L2 normalisation: no transformer at run time, no window, so the
**whole** text is read however long it is.

The distilled model is made once per source model, from the ``export`` extra (torch and
transformers run the source model), and kept in the cache directory under its own identity
(source model and weights, dimensions, vocabulary) with the checksum record every exported
model folder has (``checksums.json``, see :mod:`embrm.embed._onnx`), checked on each load;
embedding needs only ``model2vec`` itself (the ``static`` extra: numpy, tokenizers,
safetensors, no torch).

Texts with no known token (empty, whitespace, only characters the vocabulary lacks) embed
as the **zero vector**, never NaN.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._compat import import_optional
from ..exceptions import ModelLoadError
from ._onnx import (
    DEFAULT_MODEL,
    _hash_weights,
    install_export,
    is_complete_export,
    record_checksums,
    resolve_model,
    verify_folder,
)
from ._store import model_folders, model_store

#: The static model distilled from the shipped all-MiniLM-L6-v2 (``Encoder("static")``).
STATIC_MODEL = f"{DEFAULT_MODEL}-static"
#: Text format of the static joint view: ``"{prompt}\\n\\n{response}"``, nothing cut.
STATIC_TEXT_FORMAT = "pr-full-v1"
STATIC_VIEWS = ("joint", "split")
PCA_DIMS = 256
_META = "embrm_model.json"


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
    """Whether ``model`` names the static model."""
    return model is not None and str(model) == STATIC_MODEL


def resolve_static(cache_dir: Path, pca_dims: int = PCA_DIMS) -> StaticSource:
    """The recipe of the static model distilled from the shipped all-MiniLM-L6-v2.

    Without the source model's package (a run-time install: core + the ``static`` extra), the
    recipe is read from the model already distilled into ``cache_dir``.
    """
    try:
        source = resolve_model(None, cache_dir)
    except ImportError as exc:
        pattern = f"{DEFAULT_MODEL}-*-m2v{pca_dims}-vocab*-fp32/{_META}"
        found = sorted(
            (p for folder in model_folders(cache_dir) for p in folder.glob(pattern)),
            key=lambda p: p.stat().st_mtime,
        )
        if not found:
            raise ImportError(
                f"The static model is not distilled in {cache_dir} or the model store {model_store()} "
                "yet, and distilling it (once per machine) needs "
                "the source model: pip install torch==2.13.0 && pip install 'embrm[export]'. After that, "
                "embedding needs only pip install 'embrm[static]'."
            ) from exc
        meta = json.loads(found[-1].read_text())
        return StaticSource(
            name=DEFAULT_MODEL,
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


def distill_static(source: StaticSource, out_dir: Path) -> Path:
    """Distill ``source`` with model2vec into ``out_dir`` (once) and return the folder.

    Needs the ``export`` extra (model2vec's distillation runs the source model in torch);
    offline: the source is a local folder. A folder without a checksum record (an
    interrupted distillation) is distilled again and replaced.
    """
    if is_complete_export(out_dir):
        return out_dir
    import_optional("torch", "Distilling the static model (once)")
    import_optional("transformers", "Distilling the static model (once)")
    import_optional("skeletoken", "Distilling the static model (once)")
    import_optional("model2vec", "Distilling the static model (once)")
    from model2vec.distill import distill

    model = distill(
        model_name=str(source.path), pca_dims=source.pca_dims, device="cpu", quantize_to="float32"
    )
    save_static(model, source, out_dir)
    return out_dir


def save_static(model, source: StaticSource, out_dir: Path) -> None:
    """Write a ``model2vec.StaticModel`` into ``out_dir`` with the checksum record of its files.

    Written to a temporary folder and moved into place at the end, the record last, so an
    interrupted write leaves nothing a later load would take for a model.
    """
    import model2vec

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".distill-") as tmp:
        staging = Path(tmp) / "staging"
        model.save_pretrained(staging)
        meta = {
            "name": source.name,
            "source": str(source.path),
            "weights_sha256": source.weights_sha256,
            "vocabulary_sha256": source.vocabulary_sha256,
            "pca_dims": source.pca_dims,
            "dim": int(model.dim),
            "vocab_size": int(model.embedding.shape[0]),
            "model2vec_version": model2vec.__version__,
        }
        (staging / _META).write_text(json.dumps(meta, indent=2))  # fsynced with the record
        record_checksums(staging)
        install_export(staging, out_dir)


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
        meta = json.loads((model_dir / _META).read_text())
        dim = int(meta["dim"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"The static model in {model_dir} has no readable {_META}. {fix}") from exc
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
