"""The labelling page's ASGI app: the page, and a small JSON API over one round.

Routes (the page and its two assets are fixed files of this package; no route takes a path,
so no request can read or write a file outside the round's folder):

- ``GET /``, ``GET /app.js``, ``GET /app.css``: the page (no data in it);
- ``GET /api/default-annotator``: the name given on the command line, if any;
- ``GET /api/state?annotator=NAME``: the annotator's progress and the next pair to label;
- ``POST /api/label`` ``{"annotator", "pair_id", "label", "seconds"}``: log a label;
- ``POST /api/undo`` ``{"annotator"}``: take back the annotator's latest label;
- ``POST /api/next-batch`` ``{"annotator"}``: refit on the labels so far and add a batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import polars as pl

from embrm._core.compat import import_optional
from embrm.annotate._aggregate import merge_votes
from embrm.annotate._log import LABEL_VALUES, check_annotator
from embrm.annotate._round import AnnotationRound
from embrm.exceptions import DataError
from embrm.serve import LOCAL_HOSTS, BearerToken

#: The page's files, served as they are (no build step).
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
#: Headers on every response: scripts and styles only from this server, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_BODY_BYTES = 64 * 1024

#: ``next_batch(labels, queued) -> queries`` (see :class:`embrm.annotate.NextBatch`).
NextBatchFn = Callable[[pl.DataFrame, list[str]], pl.DataFrame]


def _asset(name: str) -> bytes:
    return resources.files("embrm.annotate").joinpath("static", name).read_bytes()


def create_annotate_app(
    round_: AnnotationRound,
    *,
    annotator: str | None = None,
    token: str | None = None,
    public_host: bool = False,
    next_batch: NextBatchFn | None = None,
) -> Any:
    """The labelling page and its API for one round, as a Starlette app.

    Parameters
    ----------
    round_ : AnnotationRound
    annotator : str, optional
        The default annotator's name (the page can name another with ``?annotator=``).
    token : str, optional
        Bearer token required on the API (the page reads it from ``#token=`` in its address).
    public_host : bool, default False
        Accept any ``Host`` header (bound beyond loopback, behind ``token``); otherwise only
        loopback names are accepted, which stops DNS-rebinding pages from reading the round.
    next_batch : callable, optional
        ``next_batch(labels, queued) -> queries`` (a :class:`~embrm.annotate.NextBatch`):
        given the round's labels so far (``pair_id``, ``label`` a/b, one per pair by
        majority) and the ids already in the round, the next pairs to add to it.

    Example
    -------
    >>> from starlette.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_annotate_app(AnnotationRound("round/queries.csv")))  # doctest: +SKIP
    >>> client.get("/api/state", params={"annotator": "alice"}).json()["total"]  # doctest: +SKIP
    20
    """
    import_optional("starlette", "The labelling page (embrm annotate)", extra="serve")
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    if annotator is not None:
        check_annotator(annotator)
    assets = {path: (_asset(name), kind) for path, (name, kind) in ASSETS.items()}

    def state(name: str) -> dict[str, Any]:
        done, total, row = round_.progress(name)
        seconds = [e["seconds"] for e in round_.log.standing(name).values() if e.get("seconds") is not None]
        pair = None
        if row is not None:
            record = round_.queries().row(row, named=True)
            pair = {k: record.get(k) for k in ("pair_id", "prompt", "prompt_b", "response_a", "response_b")}
            pair["row"] = row
        return {
            "round_id": round_.round_id,
            "annotator": name,
            "labelled": done,
            "total": total,
            "seconds_per_label": sum(seconds) / len(seconds) if seconds else None,
            "pair": pair,
            "can_select": next_batch is not None,
        }

    async def page(request: Any) -> Any:
        body, kind = assets[request.url.path]
        return Response(body, media_type=kind)

    async def get_default_annotator(request: Any) -> Any:
        return JSONResponse({"annotator": annotator})

    async def get_state(request: Any) -> Any:
        name = check_annotator(request.query_params.get("annotator") or annotator)
        return JSONResponse(await run_in_threadpool(state, name))

    async def post_label(request: Any) -> Any:
        body = await _json_body(request)
        name = check_annotator(body.get("annotator"))
        label, pair_id, seconds = body.get("label"), body.get("pair_id"), body.get("seconds")
        if label not in LABEL_VALUES:
            raise DataError(f"'label' must be one of {list(LABEL_VALUES)}, got {label!r}.")
        if seconds is not None and not (isinstance(seconds, int | float) and 0 <= seconds < 1e6):
            raise DataError(f"'seconds' must be a number of seconds, got {seconds!r}.")

        def log() -> dict[str, Any]:
            round_.check_pairs([pair_id], "The label")
            round_.log.append(name, pair_id, label, seconds)
            return state(name)

        return JSONResponse(await run_in_threadpool(log))

    async def post_undo(request: Any) -> Any:
        name = check_annotator((await _json_body(request)).get("annotator"))

        def undo() -> dict[str, Any]:
            round_.log.append(name, None, "undo")
            return state(name)

        return JSONResponse(await run_in_threadpool(undo))

    async def post_next_batch(request: Any) -> Any:
        name = check_annotator((await _json_body(request)).get("annotator"))
        if next_batch is None:
            raise DataError("This round has no pool to select from: start `embrm annotate` with --pool.")

        def select() -> dict[str, Any]:
            merged = merge_votes(round_.votes(), "majority")
            labels = merged.filter(pl.col("label").is_in(["a", "b"])).select("pair_id", "label")
            added = round_.add_queries(next_batch(labels, round_.pair_ids()))
            return {**state(name), "added": added}

        return JSONResponse(await run_in_threadpool(select))

    async def on_data(request: Any, exc: DataError) -> Any:
        return JSONResponse({"error": str(exc)}, 422)

    async def on_bad_json(request: Any, exc: _BadBody) -> Any:
        return JSONResponse({"error": str(exc)}, exc.status)

    routes = [Route(path, page, methods=["GET"]) for path in assets]
    routes += [
        Route("/api/default-annotator", get_default_annotator, methods=["GET"]),
        Route("/api/state", get_state, methods=["GET"]),
        Route("/api/label", post_label, methods=["POST"]),
        Route("/api/undo", post_undo, methods=["POST"]),
        Route("/api/next-batch", post_next_batch, methods=["POST"]),
    ]
    hosts = ["*"] if public_host else [h if ":" not in h else f"[{h}]" for h in LOCAL_HOSTS]
    middleware = [Middleware(_SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    if token:
        middleware.append(Middleware(BearerToken, token=token, public=tuple(assets)))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={DataError: on_data, _BadBody: on_bad_json},
    )


class _BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _json_body(request: Any) -> dict[str, Any]:
    """The request's JSON object; only ``application/json`` (which a page of another site
    cannot send without a CORS preflight this app never grants), at most 64 KiB."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _BadBody(415, "Send the body as JSON with 'Content-Type: application/json'.")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _BadBody(413, f"The body is over {MAX_BODY_BYTES} bytes.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _BadBody(400, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _BadBody(422, "The body must be a JSON object.")
    return body


class _SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
