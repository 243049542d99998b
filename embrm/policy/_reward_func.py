"""An embrm reward head as a TRL reward function (GRPOTrainer, RLOOTrainer, ...)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from embrm._core.validation import check_head_encoder
from embrm.data import render_prompt, render_response
from embrm.exceptions import DataError
from embrm.policy._scoring import Text, rewards_of_texts


def render_completions(prompts: Sequence[Text], completions: Sequence[Text]) -> tuple[list[str], list[str]]:
    """TRL's ``prompts`` and ``completions`` (one prompt per completion, text or messages) as
    the prompt and answer texts the encoder reads, checked; the one rendering of embrm.data."""
    if isinstance(prompts, str) or isinstance(completions, str):
        raise DataError("prompts and completions must be lists (one per completion), not a string.")
    if len(prompts) != len(completions):
        raise DataError(
            f"The reward function got {len(prompts)} prompts and {len(completions)} "
            "completions; TRL passes one prompt per completion."
        )
    prompt_texts = [render_prompt(p, f"prompts[{i}]") for i, p in enumerate(prompts)]
    answer_texts = [render_response(c, f"completions[{i}]") for i, c in enumerate(completions)]
    return prompt_texts, answer_texts


def as_trl_reward_func(head: Any, encoder: Any, *, name: str | None = None) -> Callable[..., list[float]]:
    """Wrap a fitted head and its encoder as a reward function for TRL's online trainers.

    TRL calls a reward function as ``func(prompts=..., completions=..., completion_ids=...,
    **kwargs)`` (the other dataset columns and the trainer state arrive in ``kwargs``) and
    expects one float per completion. Prompts and completions may be plain text or
    conversational (lists of role/content messages), rendered to text as the readers render
    training data (:func:`embrm.data.render_prompt`, :func:`embrm.data.render_response`),
    so a head trained on a TRL conversational file gets the same text; both are embedded
    with ``encoder`` (through its cache) and scored by ``head``. TRL logs the rewards under
    the function's ``__name__``.

    Parameters
    ----------
    head : embrm.heads.BaseHead
        A fitted reward head.
    encoder : embrm.Encoder
        The encoder the head was trained on (checked now, not at the first training step).
    name : str, optional
        The function's ``__name__``; default ``embrm_<head class>`` with the head class
        in snake case, e.g. ``embrm_bt_linear``.

    Returns
    -------
    reward_func : callable
        ``reward_func(prompts=..., completions=..., completion_ids=None, **kwargs) -> list[float]``.

    Example
    -------
    >>> from trl import GRPOConfig, GRPOTrainer  # doctest: +SKIP
    >>> reward = as_trl_reward_func(head, encoder)  # doctest: +SKIP
    >>> trainer = GRPOTrainer(  # doctest: +SKIP
    ...     model=model, reward_funcs=reward, args=GRPOConfig(...), train_dataset=ds
    ... )
    """
    check_head_encoder(head, encoder)
    if name is None:
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type(head).__name__)
        name = f"embrm_{snake.lower()}"

    def reward_func(
        prompts: Sequence[Text],
        completions: Sequence[Text],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        prompt_texts, answer_texts = render_completions(prompts, completions)
        return [float(r) for r in rewards_of_texts(head, encoder, prompt_texts, answer_texts)]

    reward_func.__name__ = reward_func.__qualname__ = name
    reward_func.__doc__ = f"Reward of each completion under {type(head).__name__} on {encoder.identity}."
    return reward_func
