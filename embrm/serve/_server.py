"""Running the reward service: a saved head behind uvicorn (or Ray Serve, see ``_ray``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from embrm._core.compat import import_optional
from embrm.exceptions import EmbrmError
from embrm.serve._app import (
    CONFIG_ENV,
    DEFAULT_MAX_ANSWERS,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_WAIT_MS,
    LOCAL_HOSTS,
    TOKEN_ENV,
    create_app,
)

#: Seconds uvicorn waits for in-flight requests after SIGTERM before closing them.
GRACEFUL_SHUTDOWN_S = 30


def build_app(
    head_path: str | os.PathLike[str],
    *,
    model: str = "static",
    cache_dir: str | os.PathLike[str] | None = None,
    write_cache: bool = False,
    token: str | None = None,
    **options: Any,
) -> Any:
    """The service for a saved head: its encoder built, the head loaded and checked against it.

    Parameters
    ----------
    head_path : str or path
        A head saved by ``head.save`` / ``embrm train --out``; loaded with
        ``expected_encoder_id`` set to the encoder's identity, so a head trained on another
        representation is refused.
    model : str, default "static"
        The representation (as ``embrm.Encoder(model)``).
    cache_dir : str or path, optional
        The embedding cache (default ``$EMBRM_CACHE_DIR`` or ``~/.cache/embrm``).
    write_cache : bool, default False
        Store the vectors of new answers in the cache (cached ones are always read).
    token : str, optional
        Bearer token required on every route but ``/health``.
    **options
        The limits and penalty of :func:`create_app`.

    Returns
    -------
    app : starlette.applications.Starlette

    Example
    -------
    >>> app = build_app("head.npz", model="static")  # doctest: +SKIP
    """
    from embrm.embed import Encoder
    from embrm.heads import load

    encoder = Encoder(model, cache_dir=cache_dir, show_progress=False, write_cache=write_cache)
    head = load(head_path, expected_encoder_id=encoder.identity)
    return create_app(head, encoder, token=token, **options)


def app_from_environment() -> Any:
    """The app a uvicorn worker builds: options from ``$EMBRM_SERVE_CONFIG`` (JSON, written by
    :func:`serve`), the token from ``$EMBRM_SERVE_TOKEN``."""
    config = json.loads(os.environ[CONFIG_ENV])
    return build_app(**config, token=os.environ.get(TOKEN_ENV) or None)


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a bearer token.

    Raises
    ------
    EmbrmError
        ``host`` is not a loopback address and no token is given.
    """
    if host not in LOCAL_HOSTS and not token:
        raise EmbrmError(
            f"Binding to {host!r} lets other machines call the service: give a bearer token "
            f"(--token or ${TOKEN_ENV}), or bind to 127.0.0.1."
        )


def serve(
    head_path: str | os.PathLike[str],
    *,
    model: str = "static",
    cache_dir: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    token: str | None = None,
    write_cache: bool = False,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
    max_answers: int = DEFAULT_MAX_ANSWERS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    penalty: str | None = None,
    penalty_weight: float = 0.0,
    access_log: bool = False,
) -> None:
    """Serve a saved head over HTTP with uvicorn until SIGINT or SIGTERM.

    The head and encoder are loaded (and checked) before the port is opened, so a wrong head
    fails at once. With ``workers`` above 1 each uvicorn worker process builds its own app
    (and micro-batcher) from the same options. SIGTERM stops accepting connections and lets
    in-flight requests finish (up to 30 s) before exiting.

    Parameters
    ----------
    head_path : str or path
        A saved head.
    model, cache_dir, write_cache
        As for :func:`build_app`.
    host : str, default "127.0.0.1"
        Address to bind; anything but loopback needs ``token``.
    port : int, default 8000
    workers : int, default 1
        uvicorn worker processes.
    token : str, optional
        Bearer token (default ``$EMBRM_SERVE_TOKEN``).
    max_batch, max_wait_ms, max_answers, max_bytes, penalty, penalty_weight
        As for :func:`create_app`.
    access_log : bool, default False
        Log every request (costs time under load).

    Example
    -------
    >>> serve("head.npz", port=8000)  # doctest: +SKIP
    """
    uvicorn = import_optional("uvicorn", "embrm serve", extra="serve")
    token = token or os.environ.get(TOKEN_ENV) or None
    check_binding(host, token)
    if workers < 1:
        raise EmbrmError(f"workers must be 1 or more, got {workers}.")
    options = dict(
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_answers=max_answers,
        max_bytes=max_bytes,
        penalty=penalty,
        penalty_weight=penalty_weight,
    )
    config = dict(
        head_path=str(Path(head_path).resolve()),
        model=model,
        cache_dir=str(cache_dir) if cache_dir else None,
        write_cache=write_cache,
        **options,
    )
    app = build_app(**config, token=token)  # checks head, encoder and options before binding
    run = dict(
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    if workers == 1:
        uvicorn.run(app, **run)
        return
    del app
    os.environ[CONFIG_ENV] = json.dumps(config)
    if token:
        os.environ[TOKEN_ENV] = token
    uvicorn.run("embrm.serve._server:app_from_environment", factory=True, workers=workers, **run)
