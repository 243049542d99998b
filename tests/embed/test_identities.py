"""Identities and vectors are those the Encoder gave before its backends were split apart.

``data/identities_v1.json`` and ``data/vectors_v1.npz`` were written by
``data/make_identities.py`` from the code as it was; every named representation recomputed
here in a scratch cache must give the same identity, the same vector-cache identities (so
caches written before still hold its vectors) and the same vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embrm import Encoder
from embrm.embed import model_store

DATA = Path(__file__).parent / "data"
RECORD = json.loads((DATA / "identities_v1.json").read_text())
MACHINE_STORE = model_store()  # read at collection, before the tests' private stores


@pytest.fixture(autouse=True)
def machine_models(monkeypatch):
    """The machine's exported models (only read here): no export per test."""
    monkeypatch.setenv("EMBRM_MODEL_DIR", str(MACHINE_STORE))


@pytest.fixture(scope="module")
def vectors():
    with np.load(DATA / "vectors_v1.npz") as saved:
        return {name: saved[name] for name in saved.files}


@pytest.mark.parametrize("name", list(RECORD["representations"]))
def test_identity_and_vectors_are_unchanged(name, vectors, tmp_path):
    expected = RECORD["representations"][name]
    n = expected["pairs"]
    encoder = Encoder(name, cache_dir=tmp_path, show_progress=False)
    assert encoder.identity == expected["identity"]
    parts = encoder.parts or (encoder,)
    assert [part.cache.identity for part in parts] == expected["cache_identities"]
    X = encoder.encode_responses(RECORD["prompts"][:n], RECORD["responses"][:n])
    assert X.encoder_id == expected["identity"]
    np.testing.assert_allclose(X, vectors[name], rtol=0, atol=1e-5)
    # read back from the cache just written: the same vectors again, nothing computed
    again = Encoder(name, cache_dir=tmp_path, show_progress=False)
    np.testing.assert_allclose(again.encode_responses(RECORD["prompts"][:n], RECORD["responses"][:n]),
                               vectors[name], rtol=0, atol=1e-5)
    assert again.n_inference_calls == 0


def test_concat_of_encoders_is_the_combined_representation(vectors, tmp_path):
    combined = Encoder.concat(Encoder("static", cache_dir=tmp_path), Encoder("minilm", cache_dir=tmp_path))
    expected = RECORD["representations"]["static+minilm"]
    assert combined.identity == expected["identity"] and combined.dim == 256 + 384
    X = combined.encode_responses(RECORD["prompts"], RECORD["responses"])
    np.testing.assert_allclose(X, vectors["static+minilm"], rtol=0, atol=1e-5)
    assert X.encoder_id == expected["identity"] and combined.last_stats == {"texts": 6, "cached": 0, "new": 6}
    assert combined.cached_mask(RECORD["prompts"], RECORD["responses"]).all()
    with pytest.raises(ValueError, match="Encoder.concat needs two or more encoders"):
        Encoder.concat(Encoder("static", cache_dir=tmp_path))


def test_the_cli_embeds_a_combined_representation(tmp_path, capsys):
    from embrm.cli import main

    data = tmp_path / "pairs.jsonl"
    rows = zip(RECORD["prompts"], RECORD["responses"], ["No.", "Red.", "Go away."], strict=True)
    data.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in rows))
    assert main(["embed", str(data), "--model", "static+minilm", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    identity = RECORD["representations"]["static+minilm"]["identity"]
    assert f"12 texts under {identity}: 12 new" in out  # 6 texts, each read by both parts
