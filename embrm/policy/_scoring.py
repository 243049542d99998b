"""Scoring a policy's candidate answers with a reward head, and Best-of-N picks among them.

Prompts and answers come either as plain text or in the conversational form TRL and chat
templates use (a list of ``{"role": ..., "content": ...}`` messages). The encoder reads a
(prompt, response) pair of strings, so a conversation becomes text by embrm's one rendering
(:func:`embrm.data.render_prompt`, :func:`embrm.data.render_response`), the one the
readers use for training data: a single user turn is its content; a longer dialogue, or
one with a system message, becomes ``Human: ... / Assistant: ...`` turns (the layout of the
HH-RLHF prompts) ending with ``Assistant:``; an answer given as messages is the content of
its assistant turn(s), and one with no assistant turn is an error. So a head trained on a
conversational file scores the same text here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embrm._core.validation import check_head_encoder
from embrm.data import is_conversation, render_prompt, render_response
from embrm.exceptions import DataError

Message = dict[str, str]
#: A prompt or an answer: a string, or a conversation (list of role/content messages).
Text = str | Sequence[Message]

def check_candidates(prompts: Sequence[Text], candidates: Sequence[Sequence[Text]]) -> None:
    """Refuse prompts and candidate lists that are not aligned, empty, or a single answer."""
    if isinstance(prompts, str) or isinstance(candidates, str):
        raise DataError("prompts and candidates must be sequences (one entry per prompt), not a string.")
    if len(prompts) != len(candidates):
        raise DataError(
            f"prompts and candidates must be aligned, one list of candidate answers per prompt; "
            f"got {len(prompts)} prompts and {len(candidates)} candidate lists."
        )
    if len(prompts) == 0:
        raise DataError("No prompts given: pass at least one prompt with its candidates.")
    for i, (prompt, answers) in enumerate(zip(prompts, candidates, strict=True)):
        render_prompt(prompt, f"prompts[{i}]")
        if isinstance(answers, str) or is_conversation(answers):
            raise DataError(
                f"candidates[{i}] must be a list of answers to prompt {i}, got a single answer; "
                "wrap it in a list."
            )
        if len(answers) == 0:
            raise DataError(
                f"Prompt {i} has an empty candidate list: every prompt needs at least one "
                "candidate answer. Drop the prompt or generate answers for it."
            )


def score_candidates(
    head: Any, encoder: Any, prompts: Sequence[Text], candidates: Sequence[Sequence[Text]]
) -> list[np.ndarray]:
    """Reward of every candidate answer of every prompt.

    All answers are embedded in one call (through the encoder's cache, so scoring the same
    answers again embeds nothing) and scored by ``head``.

    Parameters
    ----------
    head : embrm.heads.BaseHead
        A fitted reward head.
    encoder : embrm.Encoder
        The encoder the head was trained on.
    prompts : sequence of str or conversations
        One per prompt.
    candidates : sequence of sequences of str or conversations
        ``candidates[i]`` holds the answers to ``prompts[i]`` (at least one).

    Returns
    -------
    rewards : list of ndarray
        ``rewards[i][j]`` is the reward of ``candidates[i][j]``.

    Example
    -------
    >>> rewards = score_candidates(head, encoder, ["Name a colour."], [["Blue.", "No."]])  # doctest: +SKIP
    """
    check_head_encoder(head, encoder)
    check_candidates(prompts, candidates)
    flat_prompts, flat_answers, sizes = [], [], []
    for i, (prompt, answers) in enumerate(zip(prompts, candidates, strict=True)):
        text = render_prompt(prompt, f"prompts[{i}]")
        flat_answers.extend(render_response(a, f"candidates[{i}][{j}]") for j, a in enumerate(answers))
        flat_prompts.extend([text] * len(answers))
        sizes.append(len(answers))
    return np.split(rewards_of_texts(head, encoder, flat_prompts, flat_answers), np.cumsum(sizes)[:-1])


def rewards_of_texts(head: Any, encoder: Any, prompts: list[str], responses: list[str]) -> np.ndarray:
    """``head``'s reward of each rendered (prompt, response) pair, embedded in one call."""
    return head.reward(encoder.encode_responses(prompts, responses))


@dataclass(frozen=True)
class BestOfNPicks:
    """Best-of-N picks: per prompt, the candidate with the highest reward.

    Attributes
    ----------
    index : ndarray of shape (n_prompts,)
        Position of the pick in its prompt's candidate list.
    response : list
        The picked answers, as given.
    reward : ndarray of shape (n_prompts,)
        Reward of each pick.
    rewards : list of ndarray
        Reward of every candidate, per prompt (``rewards[i][index[i]] == reward[i]``).
    """

    index: np.ndarray
    response: list
    reward: np.ndarray
    rewards: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.index)


def pick_best_of_n(
    head: Any, encoder: Any, prompts: Sequence[Text], candidates: Sequence[Sequence[Text]]
) -> BestOfNPicks:
    """Pick, for each prompt, the candidate answer a reward head scores highest.

    Works from the core install: the candidates are any answers you already have (from
    an LM, a log, several systems). (:func:`embrm.evaluate.best_of_n` is another thing: the
    expected golden score of such a pick over random N-subsets, from reward arrays.)
    Ties are broken deterministically: among candidates sharing the highest reward, the
    earliest in the list wins.

    Parameters
    ----------
    head : embrm.heads.BaseHead
        A fitted reward head.
    encoder : embrm.Encoder
        The encoder the head was trained on (checked against ``head.encoder_id_``).
    prompts : sequence of str or conversations
        One per prompt.
    candidates : sequence of sequences of str or conversations
        ``candidates[i]`` holds the N answers to ``prompts[i]``; N may differ per prompt
        but must be at least one.

    Returns
    -------
    picks : BestOfNPicks
        Pick index, picked answer and its reward per prompt, plus every candidate's reward.

    Raises
    ------
    EncoderMismatchError
        The head was trained on another encoder's embeddings.
    DataError
        prompts and candidates differ in length, or a prompt has no candidates.

    Example
    -------
    >>> picks = pick_best_of_n(head, encoder, ["Name a colour."], [["Blue.", "I won't."]])  # doctest: +SKIP
    >>> picks.response[0], picks.reward[0]  # doctest: +SKIP
    """
    rewards = score_candidates(head, encoder, prompts, candidates)
    index = np.array([int(np.argmax(r)) for r in rewards], dtype=np.int64)
    return BestOfNPicks(
        index=index,
        response=[answers[i] for answers, i in zip(candidates, index, strict=True)],
        reward=np.array([r[i] for r, i in zip(rewards, index, strict=True)], dtype=np.float64),
        rewards=rewards,
    )
