"""Scored responses of filler words in which one planted word decides the score, for the tests
of fitted representations (lexical features, the reward-tuned static model) to recover."""

from __future__ import annotations

import numpy as np
import polars as pl

from embrm.data import ScoredResponses


def planted_word_responses(
    words: list[str],
    marker: str,
    *,
    marks_good: bool,
    n_prompts: int,
    n_responses: int,
    n_words: tuple[int, int] = (8, 13),
    seed: int = 0,
    first_prompt_word: str | None = None,
) -> ScoredResponses:
    """``n_prompts`` x ``n_responses`` responses of ``n_words`` (low inclusive, high exclusive)
    random ``words``; every other response (the even ones when ``marks_good``, else the odd
    ones) has one word replaced by ``marker`` and scores +1 (``marks_good``) or -1, the rest 0,
    plus noise of 0.01. Length carries no signal. ``first_prompt_word`` is appended to every
    response of prompt 0 (a word only that prompt's responses hold)."""
    rng = np.random.RandomState(seed)
    rows = []
    for p in range(n_prompts):
        for r in range(n_responses):
            chosen = list(rng.choice(words, rng.randint(*n_words)))
            marked = r % 2 == (0 if marks_good else 1)
            if marked:
                chosen[rng.randint(len(chosen))] = marker
            if p == 0 and first_prompt_word is not None:
                chosen.append(first_prompt_word)
            score = (1.0 if marks_good else -1.0) * marked
            rows.append({"prompt_id": p, "prompt": f"question {p}", "response": " ".join(chosen),
                         "score": float(score + 0.01 * rng.randn())})  # fmt: skip
    return ScoredResponses(pl.DataFrame(rows))
