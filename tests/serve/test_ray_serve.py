"""The service as a Ray Serve deployment on a local Ray: same rewards as in-process, two replicas
answering, the token enforced.

Run with ``bash scripts/test.sh -m slow tests/serve/test_ray_serve.py`` (the serve extra, which
``scripts/setup.sh`` installs)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _require import require
from _serving import SERVE_EXTRA, free_port, static_encoder

ray = require("ray", reason=SERVE_EXTRA)
serve = require("ray.serve", reason=SERVE_EXTRA)

from embrm.serve import ray_deployment  # noqa: E402

httpx = require("httpx", reason=SERVE_EXTRA)

pytest_plugins = ["_serve_fixtures"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_service(head_files, serve_cache):
    """Two replicas of the service behind Ray Serve's proxy on a free loopback port."""
    ray.init(
        num_cpus=2,
        object_store_memory=200_000_000,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = ray_deployment(
            head_files["bt"],
            replicas=2,
            num_cpus=0.5,
            token="ray-token",
            model="static",
            cache_dir=str(serve_cache),
        )
        serve.run(app, name="embrm-reward", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_ray_serve_replicas_give_the_in_process_rewards(ray_service, bt_head, serve_cache, texts):
    prompts, answers = texts[0][:8], texts[1][:8]
    auth = {"Authorization": "Bearer ray-token"}
    expected = bt_head.reward(static_encoder(serve_cache).encode_responses(prompts, answers))
    body = {"prompts": prompts, "answers": answers}
    pids = set()
    deadline = time.monotonic() + 60
    while len(pids) < 2 and time.monotonic() < deadline:  # Ray Serve spreads requests over both
        got = httpx.post(f"{ray_service}/v1/rewards", json=body, headers=auth, timeout=60)
        np.testing.assert_array_equal(got.json()["rewards"], expected)
        pids.add(httpx.get(f"{ray_service}/info", headers=auth, timeout=30).json()["stats"]["pid"])
    assert len(pids) == 2
    openrlhf = {"query": [p + a for p, a in zip(prompts, answers, strict=True)], "prompts": prompts}
    got = httpx.post(f"{ray_service}/get_reward", json=openrlhf, headers=auth, timeout=60).json()
    np.testing.assert_array_equal(got["rewards"], expected)


def test_ray_serve_keeps_the_token_and_the_json_errors(ray_service):
    assert httpx.post(f"{ray_service}/v1/rewards", json={"prompts": [], "answers": []}).status_code == 401
    assert httpx.get(f"{ray_service}/health", timeout=30).json() == {"status": "ok"}
    auth = {"Authorization": "Bearer ray-token"}
    got = httpx.post(f"{ray_service}/v1/rewards", content=b"{", headers=auth, timeout=30)
    assert (got.status_code, got.json()["field"]) == (400, "body")
