"""Views of the sentence encoder (joint, windows, split), scalar features, names and presets."""

from __future__ import annotations

import numpy as np
import pytest

from embrm import Encoder
from embrm.embed import render_windows
from embrm.embed._representations import PRESETS, REPRESENTATIONS

PROMPT = "Explain how photosynthesis works, step by step."
SHORT = "Plants turn light, water and carbon dioxide into sugar and oxygen."
# ~600 word-piece tokens: well past the 254-token window of all-MiniLM-L6-v2
LONG = " ".join(
    f"Step {i}: the plant absorbs light in its chloroplasts and stores energy." for i in range(45)
)


@pytest.fixture(scope="module")
def tokenizer(encoder):
    return encoder.plain_tokenizer


def test_windows_cover_the_whole_response_within_the_window(tokenizer):
    texts, owner, n_tokens = render_windows([PROMPT, PROMPT], [SHORT, LONG], tokenizer, 254)
    assert owner[0] == 0 and owner.count(0) == 1
    assert texts[0] == PROMPT + "\n\n" + SHORT
    long_windows = [t for t, o in zip(texts, owner, strict=True) if o == 1]
    assert len(long_windows) >= 3
    pieces = [t.split("\n\n", 1)[1] for t in long_windows]
    assert " ".join(pieces).split() == LONG.split()  # nothing dropped, nothing repeated
    for t in long_windows:
        assert t.startswith(PROMPT + "\n\n")
        assert len(tokenizer.encode(t, add_special_tokens=False).ids) <= 254
    assert sum(n for n, o in zip(n_tokens, owner, strict=True) if o == 1) == len(
        tokenizer.encode(LONG, add_special_tokens=False).ids
    )


def test_empty_response_gives_one_window(tokenizer):
    texts, owner, n_tokens = render_windows([PROMPT], [""], tokenizer, 254)
    assert texts == [PROMPT + "\n\n"] and owner == [0] and n_tokens == [1]


def test_windows_view_pools_window_vectors(fresh_cache, tokenizer):
    enc = Encoder(cache_dir=fresh_cache, view="windows", show_progress=False)
    got = enc.encode_responses([PROMPT, PROMPT], [SHORT, LONG])
    texts, owner, weight = render_windows([PROMPT, PROMPT], [SHORT, LONG], tokenizer, 254)
    windows = enc.encode(texts)
    np.testing.assert_allclose(got[0], windows[0], atol=1e-6)  # one window: the window itself
    mask = np.asarray(owner) == 1
    expected = (windows[mask] * np.asarray(weight)[mask, None]).sum(axis=0)
    np.testing.assert_allclose(got[1], expected / np.linalg.norm(expected), atol=1e-5)


def test_windows_see_past_the_window_and_joint_does_not(fresh_cache):
    changed_end = LONG + " Finally, the sugar is burned to power the whole plant at night."
    joint = Encoder(cache_dir=fresh_cache, show_progress=False).encode_responses(
        [PROMPT] * 2, [LONG, changed_end]
    )
    windows = Encoder(cache_dir=fresh_cache, view="windows", show_progress=False).encode_responses(
        [PROMPT] * 2, [LONG, changed_end]
    )
    np.testing.assert_array_equal(joint[0], joint[1])
    assert float(windows[0] @ windows[1]) < 0.9999


def test_split_view_holds_response_and_fit_to_prompt(fresh_cache):
    enc = Encoder(cache_dir=fresh_cache, view="split", show_progress=False)
    X = enc.encode_responses([PROMPT, PROMPT], [SHORT, "I like trains."])
    p, r = enc.encode([PROMPT]), enc.encode([SHORT, "I like trains."])
    d = r.shape[1]
    assert X.shape == (2, 2 * d) and enc.dim == 2 * d
    np.testing.assert_allclose(X[:, :d], r, atol=1e-6)
    cosine = X[:, d:].sum(axis=1) / np.sqrt(d)
    np.testing.assert_allclose(cosine, (r @ p.T).ravel(), atol=1e-5)
    assert cosine[0] > cosine[1] + 0.2  # the on-topic answer fits its prompt better


def test_scalar_features_are_appended_and_named(fresh_cache, encoder):
    enc = Encoder(cache_dir=fresh_cache, scalar_features=("log_chars", "truncated"), show_progress=False)
    X = enc.encode_responses([PROMPT, PROMPT], [SHORT, LONG])
    base = encoder.encode_responses([PROMPT, PROMPT], [SHORT, LONG])
    assert X.shape == (2, base.shape[1] + 2) and enc.dim == base.shape[1] + 2
    np.testing.assert_array_equal(X[:, :-2], base)
    np.testing.assert_allclose(X[:, -2], np.log1p([len(SHORT), len(LONG)]), rtol=1e-6)
    np.testing.assert_array_equal(X[:, -1], [0.0, 1.0])
    assert enc.identity.endswith("+log_chars+truncated")


def test_every_representation_has_its_own_identity(fresh_cache, encoder):
    identities = {
        Encoder(cache_dir=fresh_cache, view=v, scalar_features=f).identity
        for v in ("joint", "windows", "split")
        for f in ((), ("log_chars",))
    }
    assert len(identities) == 6
    assert Encoder(cache_dir=fresh_cache).identity == encoder.cache.identity  # the default is unchanged


def test_named_representations_and_presets(fresh_cache):
    assert Encoder("minilm-windows", cache_dir=fresh_cache).view == "windows"
    assert Encoder("minilm+length", cache_dir=fresh_cache).scalar_features == ("log_chars", "truncated")
    assert set(PRESETS.values()) <= set(REPRESENTATIONS)
    assert (
        Encoder.preset("fast", cache_dir=fresh_cache).identity
        == Encoder(PRESETS["fast"], cache_dir=fresh_cache).identity
    )
    with pytest.raises(ValueError, match="Unknown preset 'turbo'"):
        Encoder.preset("turbo")
    with pytest.raises(ValueError, match="fixes view"):
        Encoder("minilm-windows", view="split", cache_dir=fresh_cache)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"view": "mean"}, "sentence encoder's view is one of"),
        ({"layer": 3}, "layer applies to causal LMs only"),
        ({"scalar_features": ("length",)}, "Unknown scalar features"),
    ],
)
def test_bad_options_say_what_to_choose(fresh_cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Encoder(cache_dir=fresh_cache, **kwargs)
