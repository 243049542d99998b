"""A running embrm reward service (``embrm serve``) as a TRL reward function."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from embrm._core.compat import import_optional
from embrm.exceptions import ServiceError
from embrm.policy._reward_func import render_completions
from embrm.policy._scoring import Text
from embrm.serve import TOKEN_ENV

_ROUTE = "/v1/rewards"


def as_remote_reward_func(
    url: str,
    *,
    token: str | None = None,
    timeout: float = 60.0,
    retries: int = 2,
    name: str = "embrm_remote",
) -> Callable[..., list[float]]:
    """A reward function for TRL's online trainers that asks a running ``embrm serve``.

    The same signature and rendering as :func:`as_trl_reward_func`: prompts and completions
    (text or chat messages) are rendered here by :func:`embrm.data.render_prompt` and
    :func:`embrm.data.render_response`, so a malformed one fails before any request, and the
    texts are posted to the service's ``/v1/rewards``. The service embeds and scores them
    exactly as ``as_trl_reward_func(head, encoder)`` would in-process.

    Parameters
    ----------
    url : str
        The service's base URL, e.g. ``"http://127.0.0.1:8000"`` (or its ``/v1/rewards``).
    token : str, optional
        Bearer token (default ``$EMBRM_SERVE_TOKEN``; none if unset).
    timeout : float, default=60.0
        Seconds to wait for one answer.
    retries : int, default=2
        Further tries after a connection failure or a 5xx answer (0.5 s, 1 s, ... apart); a
        4xx answer (bad input) is never retried.
    name : str, default "embrm_remote"
        The function's ``__name__`` (TRL logs rewards under it).

    Returns
    -------
    reward_func : callable
        ``reward_func(prompts=..., completions=..., completion_ids=None, **kwargs) -> list[float]``;
        raises :class:`~embrm.exceptions.ServiceError` when the service cannot be reached
        or refuses the request (its message kept).

    Example
    -------
    >>> reward = as_remote_reward_func("http://127.0.0.1:8000")  # doctest: +SKIP
    >>> reward(prompts=["Name a colour."], completions=["Blue."])  # doctest: +SKIP
    [0.83]
    """
    httpx = import_optional("httpx", "A reward function calling embrm serve", extra="serve")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}.")
    endpoint = url.rstrip("/")
    if not endpoint.endswith(_ROUTE):
        endpoint += _ROUTE
    token = token or os.environ.get(TOKEN_ENV) or None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(timeout=timeout, headers=headers)

    def reward_func(
        prompts: Sequence[Text],
        completions: Sequence[Text],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        prompt_texts, answer_texts = render_completions(prompts, completions)
        body = {"prompts": prompt_texts, "answers": answer_texts}
        for attempt in range(retries + 1):
            try:
                response = client.post(endpoint, json=body)
            except httpx.HTTPError as exc:
                problem = f"could not reach the reward service at {endpoint}: {exc}"
            else:
                if response.status_code == 200:
                    return [float(r) for r in response.json()["rewards"]]
                problem = (
                    f"the reward service at {endpoint} answered {response.status_code}: {_message(response)}"
                )
                if response.status_code < 500:
                    raise ServiceError(problem)
            if attempt < retries:
                time.sleep(0.5 * 2**attempt)
        raise ServiceError(problem + f" (after {retries + 1} tries)")

    reward_func.__name__ = reward_func.__qualname__ = name
    reward_func.__doc__ = f"Reward of each completion from the embrm reward service at {endpoint}."
    reward_func.client = client  # type: ignore[attr-defined] - close it with reward_func.client.close()
    return reward_func


def _message(response: Any) -> str:
    """The service's error message (``{"error": ..., "field": ...}``), else the raw text."""
    try:
        body = response.json()
        field = f" (field {body['field']})" if body.get("field") else ""
        return f"{body['error']}{field}"
    except Exception:
        return response.text[:500]
