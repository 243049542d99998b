"""The reward service as a Ray Serve deployment: the same ASGI app, in N replicas."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from embrm._core.compat import import_optional
from embrm.serve._app import TOKEN_ENV
from embrm.serve._server import build_app, check_binding

#: Name of the deployment and of the Ray Serve application.
DEPLOYMENT_NAME = "embrm-reward"


class RewardReplica:
    """One Ray Serve replica: builds the service's app from a saved head when it starts.

    Parameters
    ----------
    config : dict
        Keyword arguments of :func:`embrm.serve.build_app` (the head's path included).
    token : str or None
        Bearer token required on every route but ``/health``.
    """

    def __init__(self, config: dict[str, Any], token: str | None) -> None:
        self.config, self.token = config, token

    def __serve_build_asgi_app__(self) -> Any:
        return build_app(**self.config, token=self.token)


def ray_deployment(
    head_path: str | os.PathLike[str],
    *,
    replicas: int = 1,
    num_cpus: float = 1.0,
    token: str | None = None,
    **config: Any,
) -> Any:
    """The reward service as a bound Ray Serve deployment of ``replicas`` replicas.

    Each replica loads the head and builds its encoder and app as :func:`build_app` does,
    so every replica micro-batches its own requests; Ray Serve's proxy spreads requests over
    the replicas.

    Parameters
    ----------
    head_path : str or path
        A saved head, readable from every node at this path.
    replicas : int, default=1
    num_cpus : float, default=1.0
        CPUs Ray reserves for each replica.
    token : str, optional
        Bearer token required on every route but ``/health``.
    **config
        ``model``, ``cache_dir``, ``write_cache`` and the options of :func:`create_app`.

    Returns
    -------
    app : ray.serve.Application
        Run it with ``serve.run(app, route_prefix="/")``.

    Example
    -------
    >>> from ray import serve  # doctest: +SKIP
    >>> serve.run(ray_deployment("head.npz", replicas=2), route_prefix="/")  # doctest: +SKIP
    """
    serve = import_optional("ray.serve", "embrm serve --engine ray", extra="serve")
    if replicas < 1:
        raise ValueError(f"replicas must be 1 or more, got {replicas}.")
    config = {"head_path": str(Path(head_path).resolve()), **config}
    ingress = serve.ingress()(RewardReplica)
    deployment = serve.deployment(
        ingress, name=DEPLOYMENT_NAME, num_replicas=replicas, ray_actor_options={"num_cpus": num_cpus}
    )
    return deployment.bind(config, token)


def serve_on_ray(
    head_path: str | os.PathLike[str],
    *,
    replicas: int = 1,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    token: str | None = None,
    num_cpus: float = 1.0,
    **config: Any,
) -> None:
    """Serve a saved head on Ray Serve until SIGINT or SIGTERM, then shut the deployment down.

    The head is loaded and checked here first; then Ray is joined (``address``) or started
    locally on loopback, Ray Serve's HTTP proxy listens on ``host:port``, and the
    deployment of :func:`ray_deployment` runs at ``/``.

    Parameters
    ----------
    head_path : str or path
        A saved head.
    replicas : int, default=1
    host : str, default "127.0.0.1"
        Address of Ray Serve's HTTP proxy; anything but loopback needs ``token``.
    port : int, default 8000
    address : str, optional
        A running Ray cluster's address (default: start a local Ray).
    token : str, optional
        Bearer token (default ``$EMBRM_SERVE_TOKEN``).
    num_cpus : float, default=1.0
        CPUs reserved per replica.
    **config
        ``model``, ``cache_dir``, ``write_cache`` and the options of :func:`create_app`.

    Example
    -------
    >>> serve_on_ray("head.npz", replicas=2)  # doctest: +SKIP
    """
    ray = import_optional("ray", "embrm serve --engine ray", extra="serve")
    serve = import_optional("ray.serve", "embrm serve --engine ray", extra="serve")
    token = token or os.environ.get(TOKEN_ENV) or None
    check_binding(host, token)
    build_app(head_path, token=token, **config)  # a wrong head fails here, not in a replica
    if address is None:
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(
            ray_deployment(head_path, replicas=replicas, num_cpus=num_cpus, token=token, **config),
            name=DEPLOYMENT_NAME,
            route_prefix="/",
        )
        print(f"embrm serve: {replicas} Ray Serve replicas at http://{host}:{port}", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
