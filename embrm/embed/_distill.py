"""Distillation of the static model: a sentence encoder made into a token lookup, once.

``model2vec``'s ``distill`` runs the sentence encoder (all-MiniLM-L6-v2 by default) once
over every token of its vocabulary, reduces the token vectors with PCA and weights them by
token frequency (Zipf/SIF). It needs the ``export`` extra (torch and transformers run the
source model); the result is written into the cache directory under its own identity with
the checksum record every exported model folder has (``checksums.json``, see
:mod:`embrm.embed._onnx`). Loading and embedding with it is :mod:`embrm.embed._static`'s.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from embrm._core.compat import import_optional
from embrm.embed._onnx import install_export, is_complete_export, record_checksums

if TYPE_CHECKING:
    from embrm.embed._static import StaticSource

#: The distilled model's own record (source, hashes, dimensions), beside model2vec's files.
STATIC_META = "embrm_model.json"


def distill_static(source: StaticSource, out_dir: Path) -> Path:
    """Distill ``source`` with model2vec into ``out_dir`` (once) and return the folder.

    Needs the ``export`` extra (model2vec's distillation runs the source model in torch);
    offline: the source is a local folder. A folder without a checksum record (an
    interrupted distillation) is distilled again and replaced.

    Example
    -------
    >>> from embrm.embed._static import resolve_static
    >>> distill_static(resolve_static(cache), cache / "models" / "static")  # doctest: +SKIP
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

    Example
    -------
    >>> from model2vec.distill import distill  # doctest: +SKIP
    >>> save_static(distill(model_name=str(source.path), pca_dims=256), source, out_dir)  # doctest: +SKIP
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
        (staging / STATIC_META).write_text(json.dumps(meta, indent=2))  # fsynced with the record
        record_checksums(staging)
        install_export(staging, out_dir)

