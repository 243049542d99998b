"""The model store: a model is exported or distilled once per machine, and every new vector
cache uses it (``embrm.embed._store``)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import embrm.embed._sentence as sentence_module
import embrm.embed._static as static_module
from embrm import Encoder

TEXTS = ["The capital of France is Paris.", "Bananas are yellow."]


def _only_if_complete(export):
    """``export`` (called on every load, returning at once when the model is there), refusing
    to export or distil anything."""

    def checked(source, *args):
        from embrm.embed._onnx import is_complete_export

        assert is_complete_export(args[-1]), f"{args[-1]} would be exported or distilled again"
        return export(source, *args)

    return checked


def test_a_new_cache_uses_the_stores_model_without_exporting(
    encoder, private_model_store, tmp_path, monkeypatch
):
    encoder.session  # noqa: B018 - the machine's export exists
    shutil.copytree(encoder.model_dir, private_model_store / encoder.model_dir.name)
    monkeypatch.setattr(sentence_module, "export_onnx", _only_if_complete(sentence_module.export_onnx))
    fresh = Encoder(cache_dir=tmp_path / "new-cache", show_progress=False)
    assert fresh.model_dir == private_model_store / encoder.model_dir.name
    np.testing.assert_allclose(fresh.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)
    assert not (tmp_path / "new-cache" / "models").exists()  # vectors only in the new cache
    assert fresh.cache.path.is_relative_to(tmp_path / "new-cache")


def test_a_new_cache_uses_the_stores_static_model_without_distilling(
    private_model_store, tmp_path, monkeypatch
):
    machine = Encoder("static", show_progress=False)  # the default cache: distilled once per machine
    machine.static_model  # noqa: B018
    shutil.copytree(machine.model_dir, private_model_store / machine.model_dir.name)
    monkeypatch.setattr(static_module, "distill_static", _only_if_complete(static_module.distill_static))
    fresh = Encoder("static", cache_dir=tmp_path / "new-cache", show_progress=False)
    assert fresh.identity == machine.identity
    np.testing.assert_array_equal(fresh.encode(TEXTS), machine.encode(TEXTS))
    assert not (tmp_path / "new-cache" / "models").exists()


def test_a_caches_own_model_folder_comes_first(encoder, private_model_store, tmp_path):
    encoder.session  # noqa: B018
    own = tmp_path / "cache" / "models" / encoder.model_dir.name
    shutil.copytree(encoder.model_dir, own)
    shutil.copytree(encoder.model_dir, private_model_store / encoder.model_dir.name)
    assert Encoder(cache_dir=tmp_path / "cache", show_progress=False).model_dir == own


def test_a_store_that_cannot_be_created_falls_back_to_the_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EMBRM_MODEL_DIR", str(blocker / "store"))  # below a file: never creatable
    from embrm.embed._store import locate_model

    assert locate_model(tmp_path / "cache", "m-fp32") == tmp_path / "cache" / "models" / "m-fp32"
    monkeypatch.setenv("EMBRM_MODEL_DIR", str(tmp_path / "store"))
    assert locate_model(tmp_path / "cache", "m-fp32") == tmp_path / "store" / "m-fp32"


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_a_damaged_model_in_the_store_is_refused(encoder, private_model_store, tmp_path, damage):
    from embrm.exceptions import ModelLoadError

    encoder.session  # noqa: B018
    copy = private_model_store / encoder.model_dir.name
    shutil.copytree(encoder.model_dir, copy)
    graph = copy / "model.onnx"
    if damage == "delete":
        (copy / "tokenizer.json").unlink()
    else:
        raw = bytearray(graph.read_bytes())
        raw[len(raw) // 2] ^= 1
        graph.write_bytes(bytes(raw))
    fresh = Encoder(cache_dir=tmp_path / "new-cache", show_progress=False)
    with pytest.raises(ModelLoadError, match="rm -r"):
        fresh.encode(TEXTS)
