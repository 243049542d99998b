"""How a (prompt, response) pair becomes the one text the encoder sees.

The format is versioned: the version is part of every cache key, so changing this function
means bumping :data:`TEXT_FORMAT_VERSION` and nothing stale is ever returned.

Format ``pr-v2``
----------------
``"{prompt}\\n\\n{response}"``, cut to fit the encoder's window of ``max_tokens`` word-piece
tokens (special tokens excluded) with the response taking priority:

1. the response keeps up to ``max_tokens - min(prompt_tokens, prompt_budget)`` tokens from
   its start, where ``prompt_budget = max_tokens // 4``;
2. the prompt fills whatever the response leaves, keeping its **end** (the part closest to
   the response, where a multi-turn dialogue's last turn lies).

So a long prompt never pushes the response out of the window, a short response leaves room
for more of the prompt, and a response longer than the window keeps its beginning. Cuts are
made on word boundaries (through the tokenizer's offsets and word ids), so the cut text
never re-tokenises into more pieces; only a single word longer than the budget is cut
inside it. (``pr-v1`` cut on token boundaries, which could cut inside a word; it was never
released.)
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

TEXT_FORMAT_VERSION = "pr-v2"
SEPARATOR = "\n\n"


def _word_start(word_ids: list[int | None], k: int) -> int:
    """The first token index >= k that starts a word (k itself if none does)."""
    j = k
    while 0 < j < len(word_ids) and word_ids[j] is not None and word_ids[j] == word_ids[j - 1]:
        j += 1
    return j if j < len(word_ids) else k


def _cut_head(text: str, encoding, n_tokens: int) -> str:
    """Keep at most the first ``n_tokens`` tokens of ``text``, ending on a word boundary.

    Cutting inside a word can re-tokenise into more pieces; a single word longer than the
    budget is cut inside it.
    """
    offsets, word_ids = encoding.offsets, encoding.word_ids
    if n_tokens >= len(offsets):
        return text
    if n_tokens <= 0:
        return ""
    j = n_tokens  # the first token dropped: back off while it continues a kept word
    while j > 0 and word_ids[j] is not None and word_ids[j] == word_ids[j - 1]:
        j -= 1
    return text[: offsets[(j or n_tokens) - 1][1]]


def _cut_tail(text: str, encoding, n_tokens: int) -> str:
    """Keep at most the last ``n_tokens`` tokens of ``text``, starting on a word boundary."""
    offsets = encoding.offsets
    if n_tokens >= len(offsets):
        return text
    if n_tokens <= 0:
        return ""
    return text[offsets[_word_start(encoding.word_ids, len(offsets) - n_tokens)][0] :]


def render_pairs(
    prompts: Sequence[str],
    responses: Sequence[str],
    tokenizer: Tokenizer,
    max_tokens: int,
) -> tuple[list[str], list[bool]]:
    """Render (prompt, response) pairs into encoder texts under format ``pr-v2``.

    Parameters
    ----------
    prompts, responses : sequence of str
        Row-aligned prompts and responses.
    tokenizer : tokenizers.Tokenizer
        The encoder's tokenizer (its truncation and padding settings are not used).
    max_tokens : int
        Tokens available for the text, special tokens excluded.

    Returns
    -------
    texts : list of str
        One text per pair.
    truncated : list of bool
        Whether anything of the prompt or the response was cut.
    """
    sep_tokens = len(tokenizer.encode(SEPARATOR, add_special_tokens=False).ids)
    budget = max_tokens - sep_tokens
    prompt_budget = budget // 4
    enc_p = tokenizer.encode_batch(list(prompts), add_special_tokens=False)
    enc_r = tokenizer.encode_batch(list(responses), add_special_tokens=False)
    texts: list[str] = []
    truncated: list[bool] = []
    for prompt, response, ep, er in zip(prompts, responses, enc_p, enc_r, strict=True):
        n_p, n_r = len(ep.offsets), len(er.offsets)
        keep_r = min(n_r, budget - min(n_p, prompt_budget))
        keep_p = min(n_p, budget - keep_r)
        texts.append(_cut_tail(prompt, ep, keep_p) + SEPARATOR + _cut_head(response, er, keep_r))
        truncated.append(keep_p < n_p or keep_r < n_r)
    return texts, truncated
