"""The pr-v2 text format: the response is never pushed out by a long prompt."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from embrm.embed import render_pairs


@pytest.fixture(scope="module")
def tokenizer(encoder) -> Tokenizer:
    return encoder.plain_tokenizer


def _n_tokens(tokenizer, text):
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def test_short_pair_is_kept_whole(tokenizer):
    texts, cut = render_pairs(["What is 2+2?"], ["It is 4."], tokenizer, 254)
    assert texts == ["What is 2+2?\n\nIt is 4."] and cut == [False]


def test_long_prompt_keeps_its_end_and_the_whole_response(tokenizer):
    prompt = " ".join(f"w{i}" for i in range(2000)) + " FINAL QUESTION?"
    response = "A short answer that must survive."
    (text,), (cut,) = render_pairs([prompt], [response], tokenizer, 254)
    assert cut
    assert text.endswith("FINAL QUESTION?\n\n" + response)
    assert _n_tokens(tokenizer, text) <= 254


def test_long_response_keeps_its_start_and_a_quarter_for_the_prompt(tokenizer):
    prompt = " ".join(f"q{i}" for i in range(500))
    response = "START " + " ".join(f"r{i}" for i in range(2000))
    (text,), _ = render_pairs([prompt], [response], tokenizer, 254)
    prompt_part, response_part = text.split("\n\n")
    assert response_part.startswith("START")
    assert _n_tokens(tokenizer, prompt_part) <= 254 // 4
    assert _n_tokens(tokenizer, text) <= 254


def test_short_response_leaves_room_for_more_prompt(tokenizer):
    prompt = " ".join(f"q{i}" for i in range(500))
    (text,), _ = render_pairs([prompt], ["Yes."], tokenizer, 254)
    prompt_part = text.split("\n\n")[0]
    assert _n_tokens(tokenizer, prompt_part) > 254 // 2


def test_cuts_never_exceed_the_budget(tokenizer):
    """Cuts fall on word boundaries, so the rendered text re-tokenises within budget."""
    rng = __import__("numpy").random.RandomState(0)
    words = ["unbelievable", "zzqx", "a", "tokenization", "!", "reward", "##", "embrm", "x1y2z3"]
    for _ in range(200):
        prompt = " ".join(rng.choice(words, size=rng.randint(1, 40)))
        response = " ".join(rng.choice(words, size=rng.randint(1, 40)))
        budget = int(rng.randint(6, 30))
        (text,), _ = render_pairs([prompt], [response], tokenizer, budget)
        assert _n_tokens(tokenizer, text) <= budget, (prompt, response, budget, text)
