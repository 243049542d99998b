"""RewardTunedStatic: per-token weights of the static model learned with the Bradley-Terry loss.

A small model2vec model with random vectors over MiniLM's vocabulary stands in for the
distilled one, written into a scratch cache where ``Encoder("static")`` looks for it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest
from _require import require

require("model2vec")

from _planted import planted_word_responses  # noqa: E402
from model2vec import StaticModel  # noqa: E402
from sklearn.base import clone  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from embrm import Encoder  # noqa: E402
from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs  # noqa: E402
from embrm.embed import FITTED_REPRESENTATIONS, RewardTunedStatic, token_rewards  # noqa: E402
from embrm.embed._distill import save_static  # noqa: E402
from embrm.embed._tuned import _MEMO, _normalise, _Objective, token_counts  # noqa: E402
from embrm.exceptions import DataError, ModelLoadError, NotFittedError  # noqa: E402
from embrm.heads import BTLinear  # noqa: E402
from embrm.model_selection import cross_val_rewards  # noqa: E402

DIM = 16
WORDS = "river stone cloud maple window garden copper violin orange winter basket".split()


@pytest.fixture
def tiny_cache(fresh_cache):
    """A scratch cache holding a small static model (random vectors) where Encoder("static")
    looks for its distilled model."""
    enc = Encoder("static", cache_dir=fresh_cache, show_progress=False)
    tokenizer = Tokenizer.from_file(str(enc.source.path / "tokenizer.json"))
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), DIM)).astype(np.float32)
    save_static(StaticModel(vectors, tokenizer, normalize=True, max_length=None), enc.source, enc.model_dir)
    return fresh_cache


def planted_scored(n_prompts: int = 24, n_responses: int = 4, seed: int = 0) -> ScoredResponses:
    """Responses of random filler words; those holding ``excellent`` score high (length and the
    other words carry no signal)."""
    return planted_word_responses(
        WORDS, "excellent", marks_good=True, n_prompts=n_prompts, n_responses=n_responses,
        n_words=(6, 10), seed=seed,
    )  # fmt: skip


def planted_pairs(n_prompts: int = 24, seed: int = 0) -> PreferencePairs:
    frame = planted_scored(n_prompts, seed=seed).frame  # good, bad, good, bad, ... per prompt
    return PreferencePairs(pl.DataFrame({
        "prompt": frame["prompt"].gather_every(2),
        "chosen": frame["response"].gather_every(2),
        "rejected": frame["response"].gather_every(2, offset=1),
    }))  # fmt: skip


def tuned(cache, **params) -> RewardTunedStatic:
    return RewardTunedStatic(cache_dir=cache, **{"max_iter": 60, "alpha": 1.0, **params})


def test_token_counts_reproduce_model2vec_encode(tiny_cache):
    model = Encoder("static", cache_dir=tiny_cache, show_progress=False).static_model
    texts = ["The river, the stone!", "", "   ", "copper " * 700 + "violin", "ünïcode 日本 ok"]
    C = token_counts(model, texts)
    x, _ = _normalise(C @ model.embedding.astype(np.float64))
    for row, ids in zip(C, model.tokenize(texts), strict=True):  # exactly the tokens model2vec reads
        assert dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) == dict(Counter(ids))
    expected = model.encode(texts, max_length=None, use_multiprocessing=False)  # a float32 mean
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-5)
    assert C[3].sum() == 701 and C[1].nnz == 0  # the whole long text; an empty text has no token
    assert np.all(x[1] == 0) and np.all(x[2] == 0)


def test_token_counts_are_the_same_when_the_memo_empties(tiny_cache, monkeypatch):
    model = Encoder("static", cache_dir=tiny_cache, show_progress=False).static_model
    texts = ["river stone river", "cloud maple", "garden copper violin", "river stone river"]
    first = token_counts(model, texts[:2])
    monkeypatch.setattr(_MEMO, "max_entries", _MEMO.size + 2)  # the next texts do not fit: it empties
    both = token_counts(model, texts)
    assert (both[:2] != first).nnz == 0 and (both[3] != first[0]).nnz == 0
    assert both[2].sum() == 3 and _MEMO.size == 3  # emptied, then the new text only


def test_weights_of_one_embed_as_the_static_encoder(tiny_cache):
    data = planted_scored(n_prompts=3)
    model = tuned(tiny_cache).fit(data, pairs=within_prompt_pairs(data))
    base = Encoder("static", cache_dir=tiny_cache, show_progress=False)
    table = base.static_model.embedding.astype(np.float64)
    ones = np.ones(table.shape[0])
    model._set_fitted(ones, model.direction_, model.scale_, table, base.static_model, base.identity)
    np.testing.assert_allclose(model.transform(data), data.embed(base), rtol=0, atol=2e-6)


def test_gradient_matches_finite_differences(tiny_cache):
    model = Encoder("static", cache_dir=tiny_cache, show_progress=False).static_model
    data = planted_scored(n_prompts=4)
    texts = [p + "\n\n" + r for p, r in zip(data.frame["prompt"], data.frame["response"], strict=True)]
    C = token_counts(model, texts)
    T = model.embedding.astype(np.float64)
    pairs = within_prompt_pairs(data)
    win, lose = pairs.frame["chosen_index"].to_numpy(), pairs.frame["rejected_index"].to_numpy()
    rng = np.random.default_rng(1)
    weight = rng.uniform(0.5, 1.5, win.size)
    objective = _Objective(C, T, win, lose, weight, rng.uniform(0.1, 0.3, DIM), 3.0, 2.0)
    theta = np.concatenate([rng.normal(0, 0.3, T.shape[0]), rng.normal(0, 1, DIM)])
    value, grad = objective(theta)
    seen = np.unique(C.indices)
    for i in [*seen[:6], T.shape[0], T.shape[0] + DIM - 1, int(np.setdiff1d(np.arange(50), seen)[0])]:
        step = np.zeros_like(theta)
        step[i] = 1e-6
        numeric = (objective(theta + step)[0] - objective(theta - step)[0]) / 2e-6
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-9), i
    assert value > 0 and np.abs(grad[seen]).max() > 1e-4


def test_the_token_that_decides_the_preference_gets_the_largest_weight(tiny_cache):
    pairs = planted_pairs()
    model = tuned(tiny_cache).fit(pairs)
    top = model.top_tokens(3)
    assert top[0]["token"] == "excellent" and top[0]["weight"] > 1.5
    assert top[0]["weight"] > 1.5 * top[1]["weight"]
    assert top[0]["n_texts"] == len(pairs) and len(top) == 6
    assert [t["weight"] for t in top[3:]] == sorted(t["weight"] for t in top[3:])
    unseen = model.n_texts_ == 0
    assert unseen.sum() > 1000 and np.all(model.weights_[unseen] == 1.0)  # never seen: weight 1
    X_win, X_lose = model.transform(pairs)
    assert np.mean(X_win @ model.direction_ > X_lose @ model.direction_) == 1.0
    assert model.n_iter_ >= 1 and model.loss_ < np.log(2)


def test_no_held_out_pair_reaches_fit_inside_cross_val_rewards(tiny_cache):
    seen: list[tuple[set, int]] = []

    class Spy(RewardTunedStatic):
        def fit(self, data, pairs=None):
            seen.append((set(data.frame["prompt"].to_list()), len(pairs)))
            return super().fit(data, pairs)

    data = planted_scored()
    result = cross_val_rewards(
        BTLinear(alpha=1.0), data, Spy(cache_dir=tiny_cache, max_iter=20), cv=3, random_state=0
    )
    prompts = np.array(data.frame["prompt"].to_list())
    for fit, (fitted_prompts, n_pairs) in zip(result.folds, seen, strict=True):
        assert fitted_prompts == set(prompts[fit.train_index])
        assert fitted_prompts.isdisjoint(prompts[fit.test_index])
        assert n_pairs == fit.n_train_pairs
        np.testing.assert_allclose(
            result.reward[fit.test_index],
            fit.head.reward(fit.representation.transform(data.take(fit.test_index))),
        )
    assert len(seen) == 3 and len({id(f.representation) for f in result.folds}) == 3
    assert np.mean(np.sign(result.reward[::2] - result.reward[1::2]) > 0) > 0.9  # out of fold
    pairs = planted_pairs()
    seen.clear()
    result = cross_val_rewards(
        BTLinear(alpha=1.0), pairs, Spy(cache_dir=tiny_cache, max_iter=20), cv=3, random_state=0
    )
    for fit, (fitted_prompts, n_pairs) in zip(result.folds, seen, strict=True):
        assert fitted_prompts == set(np.array(pairs.frame["prompt"].to_list())[fit.train_index])
        assert n_pairs == len(fit.train_index)
    assert len(seen) == 3


def test_save_load_and_encoder_use_the_tuned_table_with_its_own_identity(tiny_cache, tmp_path):
    pairs = planted_pairs()
    model = tuned(tiny_cache).fit(pairs)
    folder = model.save(tmp_path / "tuned")
    loaded = RewardTunedStatic.load(folder)
    for a, b in zip(loaded.transform(pairs), model.transform(pairs), strict=True):
        assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    assert loaded.identity == model.identity and loaded.get_params()["alpha"] == 1.0
    encoder = Encoder(folder, cache_dir=tiny_cache, show_progress=False)
    X_win, X_lose = pairs.embed(encoder)
    np.testing.assert_allclose(X_win, model.transform(pairs)[0], rtol=0, atol=2e-6)
    assert encoder.identity == f"{model.identity}-fp32+pr-full-v1" and encoder.is_static
    assert pairs.embed(encoder)[0].tobytes() == X_win.tobytes()
    assert encoder.last_stats["cached"] == 2 * len(pairs)  # the second read comes from the cache
    base = Encoder("static", cache_dir=tiny_cache, show_progress=False)
    assert encoder.cache.path != base.cache.path and model.identity.startswith(base.identity.split("+")[0])
    other = tuned(tiny_cache, alpha=3.0).fit(pairs)
    assert other.identity != model.identity  # another tuning, another cache identity
    head = BTLinear(alpha=1.0).fit(X_win, X_lose)
    split = token_rewards(
        head, encoder, pairs.frame["prompt"][:1].to_list(), pairs.frame["chosen"][:1].to_list()
    )
    assert split[0].reward == pytest.approx(head.reward(X_win[:1])[0], abs=1e-5)
    with pytest.raises(ValueError, match=r"^A tuned static model's view is one of \('joint', 'split'\), got "
                       r"'windows' \(it reads the whole text: no windows needed\)\.$"):
        Encoder(folder, cache_dir=tiny_cache, view="windows")
    with pytest.raises(ValueError, match=r"^layer and quantize do not apply to a tuned static model"):
        Encoder(folder, cache_dir=tiny_cache, layer=3)
    model.save(folder)  # a saved tuned model is replaced
    assert RewardTunedStatic.load(folder).identity == model.identity
    with pytest.raises(DataError, match="not a saved tuned static model"):
        model.save(base.model_dir)
    with pytest.raises(ModelLoadError, match="no saved tuned static model"):
        RewardTunedStatic.load(base.model_dir)
    (folder / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(ModelLoadError):
        RewardTunedStatic.load(folder)


def test_clone_params_and_misuse(tiny_cache):
    model = tuned(tiny_cache, alpha=2.0)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "weights_")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.transform(["a text"])
    with pytest.raises(DataError, match="needs its training pairs"):
        model.fit(planted_scored(n_prompts=2))
    with pytest.raises(ValueError, match="'alpha' parameter"):
        tuned(tiny_cache, alpha=-1.0).fit(planted_pairs(6))
    with pytest.raises(ValueError, match="static model's joint view"):
        tuned(tiny_cache, base="static-split").fit(planted_pairs(6))
    with pytest.raises(ValueError, match="RewardTunedStatic"):
        Encoder("static-tuned")
    assert FITTED_REPRESENTATIONS["static-tuned"] is RewardTunedStatic
    fitted = clone(model).fit(planted_pairs(6))
    assert clone(fitted).get_params() == model.get_params() and not hasattr(clone(fitted), "table_")
