"""Exported models are checked against their checksum record before any vector is computed.

One flipped bit in an exported MiniLM weight gave vectors with cosine 0.28 to the true ones,
cached as if true. Every export (sentence encoder, causal LM, static model) now ends with
``checksums.json``; a load checks each file and builds the session from the checked bytes.
"""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

import embrm.embed._onnx as onnx_module
from embrm import Encoder
from embrm.embed import VectorCache
from embrm.embed._decoder import DecoderStates
from embrm.embed._onnx import CHECKSUMS, make_session, record_checksums
from embrm.exceptions import ModelLoadError

NEW_TEXT = "A sentence that no test has embedded before: the fault-matrix llama."


def _flip(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01  # one bit, same size
    path.write_bytes(bytes(data))


def _scratch(pristine, tmp_path):
    root = pristine.copy(tmp_path / "cache")
    return root, root / "models" / pristine.identity


DAMAGES = {
    "model.onnx bit flip": lambda d: _flip(d / "model.onnx"),
    "model.onnx truncated": lambda d: (d / "model.onnx").write_bytes((d / "model.onnx").read_bytes()[:4096]),
    "tokenizer.json bit flip": lambda d: _flip(d / "tokenizer.json"),
    "tokenizer.json deleted": lambda d: (d / "tokenizer.json").unlink(),
    "embrm_model.json edited": lambda d: (d / "embrm_model.json").write_text('{"pooling": "cls"}'),
    "checksums.json damaged": lambda d: _flip(d / CHECKSUMS, 5),
}
NAMED = {
    "model.onnx bit flip": "model.onnx differs from its recorded sha256",
    "model.onnx truncated": "model.onnx has 4096 bytes",
    "tokenizer.json bit flip": "tokenizer.json differs",
    "tokenizer.json deleted": "tokenizer.json is missing",
    "embrm_model.json edited": "embrm_model.json has",
    "checksums.json damaged": "checksum record .* is unreadable",
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_export_is_refused_before_any_vector(pristine_cache, tmp_path, damage):
    root, model_dir = _scratch(pristine_cache, tmp_path)
    assert (model_dir / CHECKSUMS).is_file()
    DAMAGES[damage](model_dir)
    encoder = Encoder(cache_dir=root, num_threads=1, show_progress=False)
    with pytest.raises(ModelLoadError, match=NAMED[damage]) as caught:
        encoder.encode([NEW_TEXT])
    assert f"rm -r '{model_dir}'" in str(caught.value)  # says how to export again
    assert encoder.n_inference_calls == 0
    cache = VectorCache(root, pristine_cache.identity)
    assert len(cache) == len(pristine_cache.texts)  # nothing computed, nothing cached
    # what was cached before stays readable: it was computed from the checked export
    np.testing.assert_array_equal(encoder.encode(pristine_cache.texts[:5]), pristine_cache.vectors[:5])


@pytest.mark.parametrize("state", ["no record", "no record, truncated graph"])
def test_an_export_without_a_checksum_record_is_exported_again(pristine_cache, tmp_path, monkeypatch, state):
    """A folder without ``checksums.json`` (an interrupted export, or one made before the
    record existed) cannot be checked: it is exported again and replaced, never trusted."""
    root, model_dir = _scratch(pristine_cache, tmp_path)
    true_graph = (model_dir / "model.onnx").read_bytes()
    (model_dir / CHECKSUMS).unlink()
    (model_dir / "stray.txt").write_text("left by an older export")
    if "truncated" in state:
        (model_dir / "model.onnx").write_bytes(true_graph[:1000])
    exports = []

    def export_graph(source, variant, tmp, out):  # the real export, minus torch's minute
        exports.append(variant)
        out.write_bytes(true_graph)

    monkeypatch.setattr(onnx_module, "_export_graph", export_graph)
    encoder = Encoder(cache_dir=root, num_threads=1, show_progress=False)
    vector = encoder.encode([pristine_cache.texts[0] + " (new)"])
    assert exports == ["fp32"] and encoder.n_inference_calls == 1
    assert sorted(p.name for p in model_dir.iterdir()) == [
        CHECKSUMS,
        "embrm_model.json",
        "model.onnx",
        "tokenizer.json",
    ]
    assert (model_dir / "model.onnx").read_bytes() == true_graph
    mode = (model_dir / "model.onnx").stat().st_mode & 0o777  # readable as the graph is (a shared cache)
    assert {(model_dir / f).stat().st_mode & 0o777 for f in (CHECKSUMS, "embrm_model.json")} == {mode}
    assert not list(model_dir.parent.glob(".*replaced*"))  # the old folder is gone
    again = Encoder(cache_dir=root, num_threads=1, show_progress=False)
    again.session  # noqa: B018 - a complete export is not exported again
    assert exports == ["fp32"]
    assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1.0, rel=1e-5)


def _tiny_decoder_export(folder, tokenizer_json):
    """A minimal causal-LM export: an ONNX graph with the decoder's inputs and outputs, the
    tokenizer, the export's record of layers and template, and the checksum record."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
        for n in ("input_ids", "attention_mask", "response_mask")
    ]
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ("mean", "last")
    ]
    nodes = [
        helper.make_node("Identity", ["input_ids"], ["mean"]),
        helper.make_node("Identity", ["attention_mask"], ["last"]),
    ]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    folder.mkdir(parents=True)
    onnx.save(model, folder / "model.onnx")
    shutil.copy(tokenizer_json, folder / "tokenizer.json")
    template = {"head": "<user>", "middle": "<assistant>", "tail": "<end>"}
    meta = {"layers": [1, 2], "hidden_size": 4, "template": template}
    (folder / "embrm_model.json").write_text(json.dumps(meta))
    record_checksums(folder)


@pytest.mark.parametrize("damage", ["none", "model.onnx", "tokenizer.json", "embrm_model.json", "no record"])
def test_the_causal_lm_export_is_checked_the_same_way(pristine_cache, tmp_path, damage):
    folder = tmp_path / "decoder"
    _tiny_decoder_export(folder, pristine_cache.root / "models" / pristine_cache.identity / "tokenizer.json")
    if damage == "no record":
        (folder / CHECKSUMS).unlink()
    elif damage != "none":
        _flip(folder / damage)
    if damage == "none":
        states = DecoderStates(folder, "cpu", 1)
        assert states.layers == (1, 2) and states.hidden_size == 4
        return
    match = "no checksum record" if damage == "no record" else f"{damage} differs from its recorded sha256"
    with pytest.raises(ModelLoadError, match=match):
        DecoderStates(folder, "cpu", 1)


def test_a_graph_onnx_runtime_cannot_parse_is_a_clear_error(tmp_path):
    """Where no record applies (``embrm doctor`` opens any exported graph), a truncated
    graph is still a ModelLoadError naming it, not ONNX Runtime's InvalidProtobuf."""
    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"\x08\x07" + b"\x00" * 100)
    with pytest.raises(ModelLoadError, match="cannot load .*model.onnx"):
        make_session(graph, "cpu", 1, name=str(graph))


class _RunsCode:
    """A pickle that would run code on load (it creates a marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickled_bin_in_a_model_folder_is_a_clear_error_and_runs_nothing(encoder, tmp_path):
    source = tmp_path / "my-model"
    shutil.copytree(encoder.source.path, source)
    (source / "model.safetensors").unlink()
    marker = tmp_path / "code-ran"
    (source / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _RunsCode(marker)}))
    custom = Encoder(source, cache_dir=tmp_path / "cache", num_threads=1, show_progress=False)
    with pytest.raises(
        ModelLoadError, match=r"pytorch_model\.bin\): a pickle .* never loads.*model\.safetensors"
    ):
        custom.encode(["hello"])
    assert not marker.exists()
    assert not list((tmp_path / "cache" / "models").glob("*/model.onnx"))


def test_a_static_model_distilled_before_the_record_is_checked_by_its_own_checksums(fresh_cache, monkeypatch):
    """A static model distilled before ``checksums.json`` existed recorded the sha256 of its
    weights, tokenizer and config in ``embrm_model.json`` at distillation: that record is
    used (no new distillation), and a flipped bit in the weights is still refused."""
    pytest.importorskip("model2vec")
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    import embrm.embed._distill as distill_module
    from embrm.embed._onnx import sha256_file

    encoder = Encoder("static", cache_dir=fresh_cache, show_progress=False)
    tokenizer = Tokenizer.from_file(str(encoder.source.path / "tokenizer.json"))
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 8)).astype(np.float32)
    distill_module.save_static(
        StaticModel(vectors, tokenizer, normalize=True), encoder.source, encoder.model_dir
    )
    folder = encoder.model_dir
    (folder / CHECKSUMS).unlink()  # the older layout: checksums inside embrm_model.json
    meta = json.loads((folder / "embrm_model.json").read_text())
    files = ("model.safetensors", "tokenizer.json", "config.json")
    meta["files_sha256"] = {f: sha256_file(folder / f) for f in files}
    (folder / "embrm_model.json").write_text(json.dumps(meta))
    monkeypatch.setattr(distill_module, "import_optional", _no_distillation(distill_module.import_optional))

    X = Encoder("static", cache_dir=fresh_cache, show_progress=False).encode(["paris"])
    assert X.shape == (1, 8) and np.isfinite(X).all()
    _flip(folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match="model.safetensors .*differs from its recorded sha256"):
        Encoder("static", cache_dir=fresh_cache, show_progress=False).encode(["london"])


def _no_distillation(real):
    def guarded(name, *args, **kwargs):
        if name in ("torch", "transformers", "skeletoken"):
            raise AssertionError("the static model was distilled again")
        return real(name, *args, **kwargs)

    return guarded
