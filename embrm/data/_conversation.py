"""Conversations as text: the one rendering, the one "is it a conversation" rule, the one
content key, used by every reader, scorer and pool in embrm.

A prompt or an answer comes either as a string or as chat messages (TRL's conversational
format: a list of ``{"role": ..., "content": ...}`` dicts). The encoder reads strings, so a
conversation becomes text the same way wherever it enters (a data file, a Best-of-N call, a
TRL reward function, a candidate pool), and a head trained on it scores the same text later.

The rendering matches the built-in data sets:

- a **prompt** string is itself; a prompt of **one user message** is that message's content
  (AlpacaEval prompts are plain instructions);
- any other prompt (**several turns**, or a **system message**) takes the HH-RLHF layout:
  each message becomes ``"{speaker}: {content}"`` (``Human`` for ``user``, ``Assistant``
  for ``assistant``, ``System`` for ``system``, any other role capitalised), the turns are
  joined by a blank line, and ``"\\n\\nAssistant:"`` ends the text;
- an **answer** string is itself; an answer given as messages is the content of its
  assistant messages, joined by a blank line (messages of other roles, such as tool
  results, are not part of the answer). An answer with no assistant message is an error.

Every message needs a string ``role`` and a string ``content``; anything else, or text that
is not valid Unicode, raises a :class:`~embrm.exceptions.DataError` naming the text and
the message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from embrm._core.text import check_unicode
from embrm.exceptions import DataError

Message = Mapping[str, str]
#: A prompt or an answer: a string, or a conversation (a list of role/content messages).
Text = str | Sequence[Message]
#: How each role is introduced in a multi-turn prompt (other roles are capitalised).
SPEAKERS = {"user": "Human", "assistant": "Assistant", "system": "System"}
#: The end of a multi-turn prompt: the turn the answer fills.
PROMPT_END = "Assistant:"
TURN_SEPARATOR = "\n\n"


def _describe(value: Any) -> str:
    if value is None:
        return "null (a missing value)"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, bool | int | float):
        return f"the {'boolean' if isinstance(value, bool) else 'number'} {value!r}"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return f"a {type(value).__name__}"


def is_conversation(value: Any) -> bool:
    """Whether ``value`` is given as chat messages: a non-empty list (or tuple) of mappings.

    This is embrm's one rule for telling a conversation from a plain string; whether each
    message is well formed is checked when it is rendered.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_conversation([{"role": "user", "content": "Hi"}]), is_conversation("Hi")
    (True, False)
    """
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and len(value) > 0
        and all(isinstance(m, Mapping) for m in value)
    )


def _messages(value: Any, name: str) -> list[tuple[str, str]]:
    """``(role, content)`` of each message of ``value``; a clear error for anything else."""
    if not is_conversation(value):
        raise DataError(
            f"{name} must be a string or a non-empty list of {{'role': ..., 'content': ...}} "
            f"messages; got {_describe(value)}."
        )
    turns = []
    for k, message in enumerate(value):
        for field in ("role", "content"):
            if not isinstance(message.get(field), str):
                got = "no such key" if field not in message else _describe(message[field])
                raise DataError(
                    f"{name}, message {k}: {field!r} must be a string, got {got}. Give each "
                    "message as {'role': 'user' | 'assistant' | 'system', 'content': '<text>'}."
                )
        check_unicode(message["role"], f"{name}, message {k}, role")
        check_unicode(message["content"], f"{name}, message {k}, content")
        turns.append((message["role"], message["content"]))
    return turns


def render_prompt(prompt: Text, name: str = "prompt") -> str:
    """The text the encoder reads for a prompt (see the module's docstring for the layout).

    Parameters
    ----------
    prompt : str or list of messages
        A string, or chat messages with string ``role`` and ``content``.
    name : str, default "prompt"
        What the prompt is, for error messages (e.g. ``"prompts[3]"``).

    Returns
    -------
    str

    Raises
    ------
    DataError
        The prompt is neither a string nor well-formed messages, or holds a lone surrogate.

    Examples
    --------
    >>> render_prompt([{"role": "user", "content": "Name a colour."}])
    'Name a colour.'
    >>> print(render_prompt([{"role": "system", "content": "Be brief."},
    ...                      {"role": "user", "content": "Name a colour."}]))
    System: Be brief.
    <BLANKLINE>
    Human: Name a colour.
    <BLANKLINE>
    Assistant:
    """
    if isinstance(prompt, str):
        check_unicode(prompt, name)
        return prompt
    turns = _messages(prompt, name)
    if len(turns) == 1 and turns[0][0] == "user":
        return turns[0][1]
    lines = [f"{SPEAKERS.get(role, role.capitalize())}: {content}" for role, content in turns]
    return TURN_SEPARATOR.join([*lines, PROMPT_END])


def render_response(response: Text, name: str = "response") -> str:
    """The text the encoder reads for an answer: a string, or its assistant messages' content.

    Parameters
    ----------
    response : str or list of messages
        A string, or chat messages (TRL's completion ``[{"role": "assistant", ...}]``).
    name : str, default "response"
        What the answer is, for error messages (e.g. ``"candidates[0][2]"``).

    Returns
    -------
    str
        The string itself, or the assistant messages' contents joined by a blank line.

    Raises
    ------
    DataError
        Not a string or well-formed messages, no assistant message, or a lone surrogate.

    Examples
    --------
    >>> render_response([{"role": "assistant", "content": "Blue."}])
    'Blue.'
    """
    if isinstance(response, str):
        check_unicode(response, name)
        return response
    turns = _messages(response, name)
    answer = [content for role, content in turns if role == "assistant"]
    if not answer:
        roles = sorted({role for role, _ in turns})
        raise DataError(
            f"{name} is given as messages but has no assistant message (roles: {roles}), so it "
            "holds no answer to score. Give the answer as a string or as "
            "[{'role': 'assistant', 'content': '<answer>'}]."
        )
    return TURN_SEPARATOR.join(answer)


def render_conversation(messages: Sequence[Message]) -> str:
    """Chat messages as text: assistant messages only render as an answer, others as a prompt.

    Kept for code that renders a message list without saying what it is; prefer
    :func:`render_prompt` and :func:`render_response`, which this calls.

    Examples
    --------
    >>> render_conversation([{"role": "assistant", "content": "Hi"}])
    'Hi'
    >>> render_conversation([{"role": "user", "content": "Hi?"}])
    'Hi?'
    """
    if is_conversation(messages) and all(m.get("role") == "assistant" for m in messages):
        return render_response(messages, "messages")
    return render_prompt(messages, "messages")


def content_key(prompt: Text, response: Text) -> str:
    """A stable hash of a (prompt, response) pair, the same for every way of writing it.

    Both are rendered first (:func:`render_prompt`, :func:`render_response`), so a
    conversation and its text share a key. The prompt's length is part of what is hashed,
    so no two different pairs share a key whatever characters the texts hold.

    Parameters
    ----------
    prompt, response : str or list of messages

    Returns
    -------
    str
        32 hexadecimal characters (BLAKE2b, 16 bytes).

    Examples
    --------
    >>> content_key("a\\x1fb", "c") == content_key("a", "b\\x1fc")
    False
    >>> content_key([{"role": "user", "content": "Hi"}], "Yo") == content_key("Hi", "Yo")
    True
    """
    p, r = render_prompt(prompt), render_response(response)
    return hashlib.blake2b(f"{len(p)}:{p}{r}".encode(), digest_size=16).hexdigest()
