"""The HTTP reward service (``embrm serve``): a saved head scoring answers for RL engines.

- :func:`create_app`: the Starlette ASGI app for a head and its encoder: OpenRLHF's
  ``POST /get_reward``, the native ``POST /v1/rewards``, ``GET /health``, ``GET /info``.
- :class:`MicroBatcher`: concurrent requests' answers scored in one encoder call.
- :func:`build_app` / :func:`serve`: the app for a saved head; run it with uvicorn.
- :func:`ray_deployment` / :func:`serve_on_ray`: the same app as a Ray Serve deployment.

The web stack is the ``serve`` extra (``pip install 'embrm[serve]'``: uvicorn, Starlette,
httpx, Ray Serve); it is imported when a function needs it. See docs/serve.md.
"""

from embrm.serve._app import (
    DEFAULT_MAX_ANSWERS,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_WAIT_MS,
    LOCAL_HOSTS,
    PENALTIES,
    TOKEN_ENV,
    BearerToken,
    create_app,
    split_query,
)
from embrm.serve._batching import MicroBatcher
from embrm.serve._ray import ray_deployment, serve_on_ray
from embrm.serve._server import build_app, check_binding, serve

__all__ = [
    "DEFAULT_MAX_ANSWERS",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_WAIT_MS",
    "PENALTIES",
    "LOCAL_HOSTS",
    "TOKEN_ENV",
    "BearerToken",
    "MicroBatcher",
    "build_app",
    "check_binding",
    "create_app",
    "ray_deployment",
    "serve",
    "serve_on_ray",
    "split_query",
]
