"""The reward service's ASGI app: OpenRLHF's ``/get_reward``, the native ``/v1/rewards``,
``/health`` and ``/info``, over one micro-batched encoder."""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from embrm._core.compat import import_optional
from embrm._core.stack import external_stacklevel
from embrm._core.validation import check_head_encoder
from embrm.data import render_prompt, render_response
from embrm.exceptions import DataError
from embrm.serve._batching import MicroBatcher

#: Where ``embrm serve`` and its uvicorn workers read the bearer token from.
TOKEN_ENV = "EMBRM_SERVE_TOKEN"
#: The app's options as JSON, for uvicorn workers and Ray replicas that build their own app.
CONFIG_ENV = "EMBRM_SERVE_CONFIG"
#: Hosts that only this machine can reach: binding elsewhere needs a token.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The service's penalised rewards: ``lcb``, a lower confidence bound, mean - k * std.
PENALTIES = ("lcb",)
#: Old penalty names, kept for one release (each warns): ``uwo`` served mean - k * std, which
#: is ``lcb``; ``Ensemble(aggregate="uwo")`` is the published uwo, mean - λ * variance.
RENAMED_PENALTIES = {"uwo": "lcb"}

#: Defaults of :func:`create_app`'s limits, shared with the command line.
DEFAULT_MAX_BATCH = 256
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_ANSWERS = 4096
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_V1_FIELDS = ("prompts", "answers", "disagreement")


def _starlette() -> Any:
    return import_optional("starlette", "The reward service (embrm serve)", extra="serve")


class RequestProblem(Exception):
    """A request the service refuses: the HTTP status, the field at fault and why."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def _error(status: int, field: str | None, message: str, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message, "field": field, "status": status}, status, headers=headers)


class _Scorer:
    """Rewards (and, for an ensemble, the members' disagreement) of rendered pairs."""

    def __init__(self, head: Any, encoder: Any, penalty: str | None, penalty_weight: float) -> None:
        self.head, self.encoder = head, encoder
        self.penalty, self.penalty_weight = penalty, penalty_weight
        self.is_ensemble = hasattr(head, "member_rewards")

    def warm_up(self) -> None:
        """Load the model and run it once (storing nothing), so the first request is not slow."""
        writes = getattr(self.encoder, "write_cache", None)
        if writes is not None:
            self.encoder.write_cache = False
        try:
            self(["embrm serve warm-up"], ["warm-up"])
        finally:
            if writes is not None:
                self.encoder.write_cache = writes

    def __call__(self, prompts: list[str], answers: list[str]) -> dict[str, np.ndarray]:
        X = self.encoder.encode_responses(prompts, answers)
        if not self.is_ensemble:
            return {"reward": np.asarray(self.head.reward(X), dtype=np.float64)}
        members = self.head.member_rewards(X)
        spread = members.std(axis=1)
        if self.penalty == "lcb":
            reward = members.mean(axis=1) - self.penalty_weight * spread
        else:
            reward = self.head.reward(X)
        return {"reward": np.asarray(reward, dtype=np.float64), "disagreement": spread}


async def _read_json(request: Any, max_bytes: int) -> Any:
    """The request's JSON body, refused past ``max_bytes`` (413) or when malformed (400)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise RequestProblem(
            413, "body", f"The body has {declared} bytes; this service takes at most {max_bytes}."
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestProblem(
                413, "body", f"The body is over {max_bytes} bytes, the most this service takes."
            )
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad encodings are ValueErrors
        raise RequestProblem(400, "body", f"The body is not valid JSON: {exc}") from None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestProblem(422, "body", f"The body must be a JSON object, got a JSON {_json_type(body)}.")
    return body


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _list(body: dict[str, Any], name: str, *, required: bool = True) -> list[Any] | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if name not in body:
        raise RequestProblem(422, name, f"{name!r} is missing: give a list.")
    if not isinstance(value, list):
        raise RequestProblem(422, name, f"{name!r} must be a list, got a JSON {_json_type(value)}.")
    return value


def _strings(values: list[Any], name: str) -> list[str]:
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise RequestProblem(
                422, f"{name}[{i}]", f"{name}[{i}] must be a string, got a JSON {_json_type(value)}."
            )
        _render(render_prompt, value, f"{name}[{i}]")  # refuses lone surrogates, naming the item
    return values


def _render(render: Callable[[Any, str], str], value: Any, name: str) -> str:
    try:
        return render(value, name)
    except DataError as exc:
        raise RequestProblem(422, name, str(exc)) from None


def _same_length(a: Sequence[Any], b: Sequence[Any], name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise RequestProblem(
            422,
            name_b,
            f"{name_a!r} and {name_b!r} must have one entry each per answer; got {len(a)} and {len(b)}.",
        )


def split_query(query: str, prompt: str) -> str:
    """The answer in an OpenRLHF ``query`` (the decoded prompt followed by the answer).

    The answer is what follows the first occurrence of ``prompt`` in ``query``: the query
    normally starts with its prompt, and text before it (a decoded BOS token) is dropped.

    Parameters
    ----------
    query : str
        The full text, prompt then answer.
    prompt : str
        The prompt the query starts with.

    Returns
    -------
    answer : str

    Raises
    ------
    ValueError
        ``prompt`` does not occur in ``query``.

    Example
    -------
    >>> split_query("<s>Name a colour. Blue.", "Name a colour.")
    ' Blue.'
    """
    at = query.find(prompt)
    if at < 0:
        raise ValueError("the query does not contain its prompt")
    return query[at + len(prompt) :]


def create_app(
    head: Any,
    encoder: Any,
    *,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
    max_answers: int = DEFAULT_MAX_ANSWERS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    token: str | None = None,
    penalty: str | None = None,
    penalty_weight: float = 0.0,
) -> Any:
    """The reward service as a Starlette ASGI app (run it with uvicorn or Ray Serve).

    Routes (every answer is JSON; errors are ``{"error": message, "field": name, "status":
    code}`` with the field at fault):

    - ``POST /v1/rewards``: ``{"prompts": [...], "answers": [...], "disagreement": false}``,
      each prompt and answer a string or chat messages (rendered by
      :func:`embrm.data.render_prompt` and :func:`embrm.data.render_response`, as for
      training) → ``{"rewards": [...]}``, plus ``"disagreement"`` (the standard deviation
      of the ensemble members' standardised rewards) when asked for and the head is an
      :class:`~embrm.heads.Ensemble`.
    - ``POST /get_reward``: OpenRLHF's remote reward protocol, ``{"query": [...],
      "prompts": [...], "labels": [...]}`` → ``{"rewards": [...], "scores": [...]}``. Each
      query is its prompt followed by the answer (see :func:`split_query`); without
      ``prompts`` the whole query is scored as the answer to an empty prompt. ``labels``
      are accepted and ignored.
    - ``GET /health``: ``{"status": "ok"}``, never behind the token.
    - ``GET /info``: embrm's version, the head's class, the representation's identity, the
      limits, the penalty and counters (requests, answers, batches, encoder calls).

    Refused: malformed JSON (400), a missing or wrong bearer token when ``token`` is set
    (401), an unknown route (404) or method (405), more than ``max_answers`` answers or
    ``max_bytes`` bytes (413), wrong types, unknown fields of ``/v1/rewards`` or lengths that
    disagree (422). No field names a file: requests carry texts only.

    Parameters
    ----------
    head : embrm.heads.BaseHead
        A fitted head, trained on ``encoder``'s representation.
    encoder : embrm.Encoder
        Embeds the answers; cached vectors are read, and new ones stored only if its
        ``write_cache`` is true.
    max_batch : int, default=256
        Most answers gathered into one encoder call (see :class:`MicroBatcher`).
    max_wait_ms : float, default=2.0
        How long a batch waits for more requests after its first.
    max_answers : int, default=4096
        Most answers in one request.
    max_bytes : int, default=16 MiB
        Largest request body.
    token : str, optional
        Bearer token required on every route but ``/health``.
    penalty : {"lcb"}, optional
        With an ensemble head, serve the lower confidence bound ``mean - penalty_weight * std``
        of the members' standardised rewards instead of the head's own aggregate. (The old
        name ``"uwo"`` warns and means the same.)
    penalty_weight : float, default=0.0
        The ``k`` of the penalty (0 or more).

    Returns
    -------
    app : starlette.applications.Starlette
        Its ``state.batcher`` is the :class:`MicroBatcher`.

    Example
    -------
    >>> from starlette.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app(head, encoder))  # doctest: +SKIP
    >>> client.post("/v1/rewards", json={"prompts": ["Hi"], "answers": ["Hello!"]}).json()  # doctest: +SKIP
    {'rewards': [0.41]}
    """
    _starlette()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from embrm import __version__

    check_head_encoder(
        head,
        encoder,
        encoder_name="the service's encoder",
        fix="Serve it with the representation it was trained on (embrm serve --model ...).",
    )
    for name, value in (("max_batch", max_batch), ("max_answers", max_answers), ("max_bytes", max_bytes)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer, 1 or more; got {value!r}.")
    if not (isinstance(max_wait_ms, int | float) and math.isfinite(max_wait_ms) and max_wait_ms >= 0):
        raise ValueError(f"max_wait_ms must be a finite number, 0 or more; got {max_wait_ms!r}.")
    if penalty in RENAMED_PENALTIES:
        warnings.warn(
            f"penalty={penalty!r} was renamed {RENAMED_PENALTIES[penalty]!r} (mean - k * std); the old "
            "name will be removed in the next release.",
            DeprecationWarning,
            stacklevel=external_stacklevel(),
        )
        penalty = RENAMED_PENALTIES[penalty]
    if penalty is not None and penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES} or None, got {penalty!r}.")
    if not (math.isfinite(penalty_weight) and penalty_weight >= 0):
        raise ValueError(f"penalty_weight must be a finite number, 0 or more; got {penalty_weight!r}.")
    scorer = _Scorer(head, encoder, penalty, penalty_weight)
    if penalty is not None and not scorer.is_ensemble:
        raise ValueError(
            f"penalty={penalty!r} penalises the disagreement of an ensemble's members, but the head "
            f"is a {type(head).__name__}: train an Ensemble head (embrm train --head ensemble)."
        )
    if penalty is None and penalty_weight:
        raise ValueError("penalty_weight applies with penalty='lcb' only.")
    batcher = MicroBatcher(scorer, max_batch=max_batch, max_wait_ms=max_wait_ms)

    async def score(prompts: list[str], answers: list[str]) -> dict[str, np.ndarray]:
        if not answers:
            return {"reward": np.zeros(0), "disagreement": np.zeros(0)}
        return await batcher.submit(prompts, answers)

    async def v1_rewards(request: Any) -> Any:
        body = _object(await _read_json(request, max_bytes))
        unknown = sorted(set(body) - set(_V1_FIELDS))
        if unknown:
            raise RequestProblem(
                422, unknown[0], f"Unknown field {unknown[0]!r}: /v1/rewards takes {', '.join(_V1_FIELDS)}."
            )
        prompts, answers = _list(body, "prompts"), _list(body, "answers")
        assert prompts is not None and answers is not None
        if len(answers) > max_answers:
            raise RequestProblem(
                413, "answers", f"{len(answers)} answers; this service takes at most {max_answers}."
            )
        _same_length(prompts, answers, "prompts", "answers")
        want_spread = body.get("disagreement", False)
        if not isinstance(want_spread, bool):
            raise RequestProblem(
                422,
                "disagreement",
                f"'disagreement' must be true or false, got a JSON {_json_type(want_spread)}.",
            )
        if want_spread and not scorer.is_ensemble:
            raise RequestProblem(
                422,
                "disagreement",
                f"The head is a {type(head).__name__}, not an Ensemble: it has no disagreement.",
            )
        prompt_texts = [_render(render_prompt, p, f"prompts[{i}]") for i, p in enumerate(prompts)]
        answer_texts = [_render(render_response, a, f"answers[{i}]") for i, a in enumerate(answers)]
        scores = await score(prompt_texts, answer_texts)
        result = {"rewards": scores["reward"].tolist()}
        if want_spread:
            result["disagreement"] = scores["disagreement"].tolist()
        return JSONResponse(result)

    async def get_reward(request: Any) -> Any:
        body = _object(await _read_json(request, max_bytes))
        queries = _list(body, "query")
        assert queries is not None
        if len(queries) > max_answers:
            raise RequestProblem(
                413, "query", f"{len(queries)} queries; this service takes at most {max_answers}."
            )
        queries = _strings(queries, "query")
        prompts = _list(body, "prompts", required=False)
        labels = _list(body, "labels", required=False)
        if labels is not None:
            _same_length(queries, labels, "query", "labels")
        if prompts is None:
            prompts, answers = [""] * len(queries), queries
        else:
            _same_length(queries, prompts, "query", "prompts")
            prompts = _strings(prompts, "prompts")
            answers = []
            for i, (query, prompt) in enumerate(zip(queries, prompts, strict=True)):
                try:
                    answers.append(split_query(query, prompt))
                except ValueError:
                    raise RequestProblem(
                        422,
                        f"query[{i}]",
                        f"query[{i}] does not contain prompts[{i}]: a query is its prompt then the answer.",
                    ) from None
        rewards = (await score(prompts, answers))["reward"].tolist()
        return JSONResponse({"rewards": rewards, "scores": rewards})

    async def health(request: Any) -> Any:
        return JSONResponse({"status": "ok"})

    async def info(request: Any) -> Any:
        return JSONResponse(
            {
                "embrm_version": __version__,
                "head": type(head).__name__,
                "representation": encoder.identity,
                "head_encoder_id": getattr(head, "encoder_id_", None),
                "dim": getattr(head, "n_features_in_", None),
                "ensemble": scorer.is_ensemble,
                "penalty": penalty,
                "penalty_weight": penalty_weight if penalty else None,
                "cache_writes": bool(getattr(encoder, "write_cache", True)),
                "limits": {
                    "max_batch": max_batch,
                    "max_wait_ms": max_wait_ms,
                    "max_answers": max_answers,
                    "max_bytes": max_bytes,
                },
                "stats": {
                    "requests": batcher.n_requests,
                    "answers": batcher.n_answers,
                    "batches": batcher.n_batches,
                    "encoder_calls": getattr(encoder, "n_inference_calls", None),
                    "pid": os.getpid(),
                },
            }
        )

    async def on_problem(request: Any, exc: RequestProblem) -> Any:
        return _error(exc.status, exc.field, exc.message)

    async def on_http(request: Any, exc: HTTPException) -> Any:
        field = "path" if exc.status_code == 404 else "method" if exc.status_code == 405 else None
        detail = {
            404: f"No route {request.url.path!r}: see GET /info for the service.",
            405: f"{request.method} is not allowed on {request.url.path!r}.",
        }
        return _error(
            exc.status_code, field, detail.get(exc.status_code, str(exc.detail)), dict(exc.headers or {})
        )

    async def on_data(request: Any, exc: DataError) -> Any:
        return _error(422, None, str(exc))

    async def on_crash(request: Any, exc: Exception) -> Any:
        return _error(500, None, f"Internal error while scoring ({type(exc).__name__}): {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        scorer.warm_up()
        yield
        batcher.close()

    app = Starlette(
        routes=[
            Route("/v1/rewards", v1_rewards, methods=["POST"]),
            Route("/get_reward", get_reward, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/info", info, methods=["GET"]),
        ],
        exception_handlers={
            RequestProblem: on_problem,
            HTTPException: on_http,
            DataError: on_data,
            Exception: on_crash,
        },
        middleware=_auth_middleware(token),
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.state.head, app.state.encoder = head, encoder
    return app


def _auth_middleware(token: str | None) -> list[Any]:
    from starlette.middleware import Middleware

    if not token:
        return []
    return [Middleware(BearerToken, token=token)]


class BearerToken:
    """ASGI middleware: every HTTP request but those to ``public`` paths needs
    ``Authorization: Bearer <token>``.

    Parameters
    ----------
    app : ASGI app
    token : str
        The token; compared in constant time.
    public : tuple of str, default ("/health",)
        Paths served without the token (they must reveal nothing).
    """

    def __init__(self, app: Any, token: str, public: tuple[str, ...] = ("/health",)) -> None:
        self.app, self.expected, self.public = app, f"Bearer {token}".encode(), public

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            reason = "Missing" if not given else "Wrong"
            response = _error(
                401,
                "Authorization",
                f"{reason} bearer token: send 'Authorization: Bearer <token>'.",
                {"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
