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


WINDOWS_FORMAT_VERSION = "win-v1"


def render_windows(
    prompts: Sequence[str],
    responses: Sequence[str],
    tokenizer: Tokenizer,
    max_tokens: int,
) -> tuple[list[str], list[int], list[int]]:
    """Cut each response into consecutive windows, each with the prompt's end as context.

    Format ``win-v1``: every window is ``"{prompt end}\\n\\n{response piece}"``. The prompt
    end is the last ``min(prompt_tokens, max_tokens // 4)`` tokens of the prompt; the
    response is cut into consecutive, non-overlapping pieces that fill the rest of the
    window, on word boundaries. Nothing of the response is dropped; an empty response gives
    one window.

    Parameters
    ----------
    prompts, responses : sequence of str
        Row-aligned prompts and responses.
    tokenizer : tokenizers.Tokenizer
        The encoder's tokenizer.
    max_tokens : int
        Tokens available per window, special tokens excluded.

    Returns
    -------
    texts : list of str
        All windows, pair by pair.
    owner : list of int
        The pair each window belongs to.
    n_tokens : list of int
        Response tokens in each window (at least 1): the pooling weight.
    """
    sep_tokens = len(tokenizer.encode(SEPARATOR, add_special_tokens=False).ids)
    budget = max_tokens - sep_tokens
    enc_p = tokenizer.encode_batch(list(prompts), add_special_tokens=False)
    enc_r = tokenizer.encode_batch(list(responses), add_special_tokens=False)
    texts: list[str] = []
    owner: list[int] = []
    n_tokens: list[int] = []
    for row, (prompt, response, ep, er) in enumerate(zip(prompts, responses, enc_p, enc_r, strict=True)):
        context = _cut_tail(prompt, ep, min(len(ep.offsets), budget // 4))
        piece_budget = budget - min(len(ep.offsets), budget // 4)
        offsets, word_ids = er.offsets, er.word_ids
        start = 0
        while True:
            stop = min(start + piece_budget, len(offsets))
            if stop < len(offsets):  # end the piece on a word boundary when one is inside it
                j = stop
                while j > start and word_ids[j] is not None and word_ids[j] == word_ids[j - 1]:
                    j -= 1
                stop = j if j > start else stop
            begin_char = offsets[start][0] if start < len(offsets) else len(response)
            end_char = offsets[stop - 1][1] if stop > start else begin_char
            if stop >= len(offsets):
                end_char = len(response)
            texts.append(context + SEPARATOR + response[begin_char:end_char])
            owner.append(row)
            n_tokens.append(max(stop - start, 1))
            if stop >= len(offsets):
                break
            start = stop
    return texts, owner, n_tokens
